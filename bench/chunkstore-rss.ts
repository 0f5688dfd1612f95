/**
 * Peak RSS while storing and restoring one entry of N bytes, in a process of its own so nothing
 * else is counted: `tsx bench/chunkstore-rss.ts <dir> <bytes>` prints one JSON line. The entry is
 * made as it streams (never held whole), from the bench's page mix, so the figure shows what the
 * chunk store holds, which must not grow with the entry.
 */
import { createFsBlobStore, createNodeVfs } from '../src/index.js'
import { openChunkStore } from '../src/chunkstore/chunk-store.js'
import { createRng } from '../src/adapters/sim/rng.js'
import { peakRssBytes } from './lib.js'
import { PAGE_BYTES } from './versioned-file.js'

async function* entry(bytes: number): AsyncGenerator<Uint8Array> {
  const rng = createRng(7)
  const text = new TextEncoder().encode('id=00000001;name=alpha_1f;state=active;score=12.5\n'.repeat(82))
  for (let at = 0; at < bytes; at += 1 << 20) {
    const piece = new Uint8Array(Math.min(1 << 20, bytes - at))
    for (let p = 0; p < piece.length; p += PAGE_BYTES) {
      const page = rng.chance(0.5) ? rng.bytes(PAGE_BYTES) : text.subarray(0, PAGE_BYTES)
      piece.set(page.subarray(0, Math.min(PAGE_BYTES, piece.length - p)), p)
    }
    yield piece
    await Promise.resolve()
  }
}

async function main(dir: string, bytes: number): Promise<void> {
  const blobs = await createFsBlobStore({ vfs: createNodeVfs({ root: dir, io: 'async' }), root: 'objects' })
  const store = await openChunkStore({ blobs })
  const started = performance.now()
  const put = await store.putEntry(entry(bytes))
  await store.flush()
  const putMs = performance.now() - started
  const rssAfterPut = peakRssBytes()
  let read = 0
  for await (const piece of store.readEntry(put.chunks)) read += piece.length
  await store.close()
  if (read !== bytes) throw new Error(`read back ${String(read)} bytes of ${String(bytes)}`)
  console.log(JSON.stringify({ bytes, putMs, maxRssPut: rssAfterPut, maxRss: peakRssBytes() }))
}

await main(process.argv[2] ?? '.', Number(process.argv[3] ?? 0))
