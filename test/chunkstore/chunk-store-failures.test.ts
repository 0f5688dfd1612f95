/**
 * The chunk store when things fail mid-way (each case a bug found in review):
 * - a pack put that fails during a multi-pack ingest on workers: no chunk is left claimed that
 *   will never be stored, nothing is deduplicated against such a chunk, the process sees no
 *   unhandled rejection, and once puts work again everything is stored and reads back;
 * - one failed background put does not fail every later entry;
 * - `putEntry` called after `close()` began is CLOSED, and what was accepted before is durable;
 * - packs never hold more chunks than a reader accepts (`packChunks`);
 * - a pending raw chunk read back is a copy, not the pack's own bytes;
 * - a read-only open of a store with a damaged index object does not poison the cache.
 */
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { openLmdbChunkIndex } from '../../src/adapters/lmdb/lmdb-chunk-index.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { openChunkStore } from '../../src/chunkstore/chunk-store.js'
import type { ChunkStore, ChunkStoreOptions } from '../../src/chunkstore/chunk-store.js'
import { CairnError } from '../../src/core/errors.js'
import type { BlobStore } from '../../src/core/ports.js'
import { expectBytes, expectCairnError, makeTempDir } from '../helpers.js'

const SMALL = { minSize: 256, avgSize: 1024, maxSize: 4096 }
const stores: ChunkStore[] = []
const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close().catch(() => undefined)))
  for (const cleanup of cleanups) await cleanup()
})

/** A BlobStore whose pack puts fail while `failing()` says so. */
function flaky(inner: BlobStore, failing: (key: string) => boolean): BlobStore {
  return {
    properties: inner.properties,
    put: (key, data, options) =>
      failing(key)
        ? Promise.reject(
            new CairnError('IO', 'injected put failure', { op: 'blob.put', path: key, retryable: true }),
          )
        : inner.put(key, data, options),
    get: (key, range) => inner.get(key, range),
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    delete: (keys) => inner.delete(keys),
  }
}

async function open(blobs: BlobStore, options: Partial<ChunkStoreOptions> = {}): Promise<ChunkStore> {
  const store = await openChunkStore({ blobs, chunking: SMALL, packBytes: 64 * 1024, workers: 0, ...options })
  stores.push(store)
  return store
}

describe('chunk store failures', () => {
  it('a pack put failing mid-ingest on workers leaves nothing claimed that will not be stored', async () => {
    const disk = new SimDisk({ seed: 1 })
    const inner = await createFsBlobStore({ vfs: disk, root: 'objects' })
    let packPuts = 0
    let broken = true
    const blobs = flaky(inner, (key) => key.startsWith('packs/') && broken && ++packPuts >= 3)
    const store = await open(blobs, { workers: 2 })
    await store.warm()
    const data = createRng(1).bytes(3 * 1024 * 1024)
    await expect(store.putEntry(data)).rejects.toThrow('injected put failure')
    await expectCairnError(store.flush(), 'IO')
    broken = false
    // Every chunk of the entry either is pending with its bytes (it will be stored) or was
    // given back: putting the entry again stores whatever was given back.
    const again = await store.putEntry(data)
    await store.flush()
    expect(store.stats().chunksPending).toBe(0)
    expectBytes(await store.readEntryBytes(again.chunks), data)
    const reopened = await open(inner)
    expectBytes(await reopened.readEntryBytes(again.chunks), data, 'after reopening')
    expect((await reopened.verify({ readData: true })).problems).toEqual([])
  })

  it('one failed background put does not fail the entries after it', async () => {
    const disk = new SimDisk({ seed: 2 })
    const inner = await createFsBlobStore({ vfs: disk, root: 'objects' })
    let failures = 1
    const blobs = flaky(inner, (key) => key.startsWith('packs/') && failures-- > 0)
    const store = await open(blobs)
    const entries = [1, 2, 3].map((seed) => createRng(seed).bytes(300_000))
    const puts = []
    for (const data of entries) puts.push(await store.putEntry(data))
    await store.flush()
    for (const [i, put] of puts.entries()) expectBytes(await store.readEntryBytes(put.chunks), entries[i])
  })

  it('putEntry after close() began is CLOSED; what was accepted before is durable', async () => {
    const disk = new SimDisk({ seed: 3 })
    const blobs = await createFsBlobStore({ vfs: disk, root: 'objects' })
    const store = await open(blobs)
    const data = createRng(3).bytes(50_000)
    const accepted = store.putEntry(data)
    const closing = store.close()
    expect(() => store.putEntry(new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'CLOSED' }))
    const put = await accepted
    await closing
    const reopened = await open(blobs)
    expectBytes(await reopened.readEntryBytes(put.chunks), data)
  })

  it('a pack is sealed at packChunks chunks, whatever its bytes', async () => {
    const disk = new SimDisk({ seed: 4 })
    const blobs = await createFsBlobStore({ vfs: disk, root: 'objects' })
    const store = await open(blobs, { packChunks: 10, packBytes: 64 * 1024 * 1024 })
    const put = await store.putEntry(createRng(4).bytes(100_000))
    await store.flush()
    const distinct = new Set(put.chunks.map((c) => c.id)).size
    expect(store.stats().packsWritten).toBe(Math.ceil(distinct / 10))
    await expectCairnError(open(blobs, { packChunks: 0 }), 'BAD_OPTION')
  })

  it('a pending raw chunk is read back as a copy: changing it does not change what is stored', async () => {
    const store = await open(await createFsBlobStore({ vfs: new SimDisk({ seed: 5 }), root: 'objects' }))
    const data = createRng(5).bytes(3000) // random: stored raw
    const put = await store.putEntry(data)
    const pending = await store.readEntryBytes(put.chunks)
    for await (const piece of store.readEntry(put.chunks)) piece.fill(0)
    pending.fill(0)
    await store.flush()
    expectBytes(await store.readEntryBytes(put.chunks), data)
  })

  it('a read-only open of a store with a damaged index object keeps the cache clean', async () => {
    const { dir, cleanup } = await makeTempDir()
    cleanups.push(cleanup)
    const disk = new SimDisk({ seed: 6 })
    const blobs = await createFsBlobStore({ vfs: disk, root: 'objects' })
    const writer = await open(blobs)
    const data = createRng(6).bytes(40_000)
    const put = await writer.putEntry(data)
    await writer.close()
    for await (const { key } of blobs.list('index/')) disk.rot(`objects/${key}`, 30, 2)
    const cachePath = join(dir, 'cache')
    for (const round of [1, 2]) {
      const reader = await open(blobs, { readOnly: true, index: openLmdbChunkIndex({ path: cachePath }) })
      const sync = reader.stats().lastSync
      expect(sync.rebuilt, `round ${String(round)}`).toBe(false)
      expect(sync.packsFromFooters).toBeGreaterThan(0)
      expectBytes(await reader.readEntryBytes(put.chunks), data)
      await expectCairnError(reader.putEntry(new Uint8Array(5)), 'NOT_SUPPORTED')
      await reader.close()
    }
  })
})
