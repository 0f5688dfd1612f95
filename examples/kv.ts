// The key-value store: durable writes, reads, an ordered scan, and a reopen that finds it all.
// Run: npm run build && npx tsx examples/kv.ts
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openKv } from 'cairn'

const dir = await mkdtemp(join(tmpdir(), 'cairn-kv-'))
const bytes = (text: string) => new TextEncoder().encode(text)
const text = (value: Uint8Array | undefined) => (value === undefined ? '-' : new TextDecoder().decode(value))

const kv = await openKv({ dir }) // keys are bytes, or strings (their UTF-8 bytes)
await kv.put('user:1', bytes('ada')) // durable (written and fdatasync'ed) when it resolves
await Promise.all([kv.put('user:2', bytes('grace')), kv.put('user:3', bytes('linus'))]) // one group commit
await kv.delete('user:3')
await kv.batch([
  { type: 'put', key: 'user:4', value: bytes('barbara') },
  { type: 'put', key: 'config:theme', value: bytes('dark') },
]) // atomic: all or none after a crash
console.log('get user:1', text(kv.get('user:1')))
for (const [key, value] of kv.scan({ prefix: 'user:' })) console.log('scan', text(key), text(value))
await kv.close() // checkpoints the map

const reopened = await openKv({ dir }) // the newest checkpoint, then the log after it
console.log('reopened', reopened.size, 'keys:', [...reopened.scan()].map(([key]) => text(key)).join(' '))
await reopened.close()
await rm(dir, { recursive: true, force: true })
