// The README's chunk store example: two versions of a save file, stored once where they agree.
// Run: npm run build && npx tsx examples/chunkstore.ts
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createFsBlobStore, createNodeVfs, openChunkStore, openLmdbChunkIndex } from 'cairn'

const dir = await mkdtemp(join(tmpdir(), 'cairn-chunks-'))
const blobs = await createFsBlobStore({ vfs: createNodeVfs({ root: dir }), root: 'objects' })
const index = openLmdbChunkIndex({ path: join(dir, 'index-cache') }) // a cache: deletable, rebuilt on open
const store = await openChunkStore({ blobs, index })

const rows = Array.from({ length: 20_000 }, (_, i) => `{"id":${String(i)},"hp":100,"zone":"north"}\n`)
const v1 = new TextEncoder().encode(rows.join(''))
rows[12_345] = '{"id":12345,"hp":7,"zone":"south"}\n' // one row changes
const v2 = new TextEncoder().encode(rows.join(''))

const first = await store.putEntry(v1) // cut into chunks, each stored once, compressed
const second = await store.putEntry(v2) // only the chunk around the change is new
await store.flush() // packs, then the index objects that name them: durable from here
console.log('v1', first.logicalBytes, 'bytes,', first.chunks.length, 'chunks,', first.storedBytes, 'stored')
console.log(
  'v2',
  second.logicalBytes,
  'bytes,',
  second.newChunks,
  'new chunk(s),',
  second.storedBytes,
  'stored',
)

const back = await store.readEntryBytes(second.chunks) // every chunk checked against its BLAKE3 id
console.log('v2 reads back', new TextDecoder().decode(back) === new TextDecoder().decode(v2))
const report = await store.verify({ readData: true })
console.log('verify', report.ok, report.chunksChecked, 'chunks')
await store.close()
await rm(dir, { recursive: true, force: true })
