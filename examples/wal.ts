// The README's log example: durable appends, a restart, and replay.
// Run: npm run build && npx tsx examples/wal.ts
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNodeVfs, openWal } from 'cairn'

const dir = await mkdtemp(join(tmpdir(), 'cairn-wal-'))
const vfs = createNodeVfs({ root: dir })
const encode = (value: object) => new TextEncoder().encode(JSON.stringify(value))

const wal = await openWal({ vfs, sync: 'always' }) // each append resolves once fdatasync'ed
await wal.append(encode({ op: 'put', key: 'hp', value: 100 }))
await Promise.all([1, 2, 3].map((i) => wal.append(encode({ op: 'put', key: `slot${i}`, value: i })))) // one group commit
await wal.appendMany([encode({ op: 'del', key: 'slot1' }), encode({ op: 'put', key: 'hp', value: 90 })]) // atomic
await wal.close()

const reopened = await openWal({ vfs }) // recovery: a torn tail would be cut and reported here
console.log('recovered LSNs', reopened.recovery.firstLsn, '..', reopened.recovery.lastLsn)
for await (const { lsn, data } of reopened.readLog({ from: 1 })) {
  console.log(lsn, new TextDecoder().decode(data))
}
await reopened.close()
await rm(dir, { recursive: true, force: true })
