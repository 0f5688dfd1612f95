/**
 * The chunk index caches: one contract for the in-memory index and the LMDB one, plus what only
 * LMDB has to prove: entries survive a reopen, a damaged value is CORRUPT_OBJECT (never a wrong
 * location), and deleting the cache file loses nothing a chunk store needs.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { open } from 'lmdb'
import { afterEach, describe, expect, it } from 'vitest'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { openLmdbChunkIndex } from '../../src/adapters/lmdb/lmdb-chunk-index.js'
import { createNodeVfs } from '../../src/adapters/node/node-vfs.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { MemoryChunkIndex } from '../../src/chunkstore/chunk-index.js'
import type { ChunkIndex } from '../../src/chunkstore/chunk-index.js'
import { openChunkStore } from '../../src/chunkstore/chunk-store.js'
import type { IndexEntry } from '../../src/chunkstore/index-object.js'
import type { ChunkId, PackId } from '../../src/core/ids.js'
import { expectBytes, makeTempDir } from '../helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

async function tempDir(): Promise<string> {
  const { dir, cleanup } = await makeTempDir()
  cleanups.push(cleanup)
  return dir
}

const hex = (n: number) => n.toString(16).padStart(64, '0')
const entry = (n: number, pack = 1): IndexEntry => ({
  chunkId: hex(n) as ChunkId,
  packId: hex(1000 + pack) as PackId,
  offset: n * 100,
  storedLength: 90 + (n % 7),
  rawLength: 100 + n,
  codec: n % 2 === 0 ? 0 : 1,
})

const implementations: [string, () => Promise<ChunkIndex>][] = [
  ['memory', () => Promise.resolve(new MemoryChunkIndex())],
  ['lmdb', async () => openLmdbChunkIndex({ path: join(await tempDir(), 'cache') })],
]

describe.each(implementations)('chunk index contract: %s', (_name, make) => {
  it('merges index objects atomically with their keys, and clears', async () => {
    const index = await make()
    expect(index.size).toBe(0)
    index.addIndexObject('index/a', [entry(1), entry(2)])
    index.addIndexObject('index/b', [entry(3, 2), entry(2)])
    expect(index.size).toBe(3)
    expect(index.get(hex(2) as ChunkId)).toEqual(entry(2))
    expect(index.get(hex(3) as ChunkId)).toEqual(entry(3, 2))
    expect(index.get(hex(9) as ChunkId)).toBeUndefined()
    expect(index.has(hex(3) as ChunkId)).toBe(true)
    expect(index.has(hex(9) as ChunkId)).toBe(false)
    expect([...index.indexObjects()].sort()).toEqual(['index/a', 'index/b'])
    expect([...index.entries()].map((e) => e.chunkId).sort()).toEqual([hex(1), hex(2), hex(3)])
    index.clear()
    expect(index.size).toBe(0)
    expect([...index.indexObjects()]).toEqual([])
    expect(index.get(hex(1) as ChunkId)).toBeUndefined()
    expect(index.has(hex(1) as ChunkId)).toBe(false)
    await index.close()
  })
})

describe('LMDB chunk index', () => {
  it('survives a reopen; a damaged value is CORRUPT_OBJECT; an unknown layout starts afresh', async () => {
    const path = join(await tempDir(), 'cache')
    const first = openLmdbChunkIndex({ path })
    first.addIndexObject('index/a', [entry(1), entry(2)])
    await first.close()
    const second = openLmdbChunkIndex({ path })
    expect(second.get(hex(2) as ChunkId)).toEqual(entry(2))
    expect([...second.indexObjects()]).toEqual(['index/a'])
    await second.close()
    // Damage one value and the version record behind the cache's back.
    const raw = open<Buffer, Buffer>({ path, encoding: 'binary', keyEncoding: 'binary' })
    await raw.put(Buffer.concat([Buffer.from([1]), Buffer.from(hex(1), 'hex')]), Buffer.from([1, 2, 3]))
    await raw.close()
    const third = openLmdbChunkIndex({ path })
    expect(() => third.get(hex(1) as ChunkId)).toThrow(expect.objectContaining({ code: 'CORRUPT_OBJECT' }))
    await third.close()
    const raw2 = open<Buffer, Buffer>({ path, encoding: 'binary', keyEncoding: 'binary' })
    await raw2.put(Buffer.from([0]), Buffer.from([99, 0]))
    await raw2.close()
    const fourth = openLmdbChunkIndex({ path })
    expect(fourth.size).toBe(0)
    expect([...fourth.indexObjects()]).toEqual([])
    await fourth.close()
  })

  it('a chunk store whose cache is deleted rebuilds it from the index objects, losing nothing', async () => {
    const dir = await tempDir()
    const blobs = await createFsBlobStore({ vfs: createNodeVfs({ root: dir }), root: 'objects' })
    const cachePath = join(dir, 'cache')
    const data = createRng(1).bytes(300_000)
    const store = await openChunkStore({ blobs, index: openLmdbChunkIndex({ path: cachePath }), workers: 0 })
    const put = await store.putEntry(data)
    await store.close()
    const cached = openLmdbChunkIndex({ path: cachePath })
    const before = [...cached.entries()].sort((a, b) => a.chunkId.localeCompare(b.chunkId))
    await cached.close()
    expect(before.length).toBe(new Set(put.chunks.map((c) => c.id)).size)
    // A warm cache: nothing to merge on open.
    const warm = await openChunkStore({ blobs, index: openLmdbChunkIndex({ path: cachePath }), workers: 0 })
    expect(warm.stats().lastSync.merged).toBe(0)
    await warm.close()
    await rm(cachePath, { recursive: true, force: true })
    const index = openLmdbChunkIndex({ path: cachePath })
    const rebuilt = await openChunkStore({ blobs, index, workers: 0 })
    expect(rebuilt.stats().lastSync.merged).toBeGreaterThan(0)
    expect([...index.entries()].sort((a, b) => a.chunkId.localeCompare(b.chunkId))).toEqual(before)
    expectBytes(await rebuilt.readEntryBytes(put.chunks), data)
    expect((await rebuilt.putEntry(data)).newBytes).toBe(0)
    await rebuilt.close()
  })
})
