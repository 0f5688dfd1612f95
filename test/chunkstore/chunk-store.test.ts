/**
 * The chunk store as users see it: entries in, chunk lists out, every chunk stored once.
 *
 * Round trip of arbitrary entries (fast-check), on the calling thread and on workers; identical
 * content gives identical ids across entries and is stored once; an insertion shifts only the
 * chunks around it; pending chunks read back before `flush`; a reopened store finds its chunks
 * through the index objects (and, with the index objects damaged, through the pack footers);
 * a flipped bit is CORRUPT_OBJECT on read and a problem in `verify` naming pack, chunk and
 * offset; a crash before every I/O of a put + flush leaves a store that verifies clean and
 * reads every chunk its index names.
 */
import { Readable } from 'node:stream'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { CRASH_MODELS } from '../../src/adapters/sim/crash.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { MemoryChunkIndex } from '../../src/chunkstore/chunk-index.js'
import { openChunkStore } from '../../src/chunkstore/chunk-store.js'
import type { ChunkStore, ChunkStoreOptions } from '../../src/chunkstore/chunk-store.js'
import { packKey } from '../../src/chunkstore/pack-store.js'
import { isCairnError } from '../../src/core/errors.js'
import type { BlobStore } from '../../src/core/ports.js'
import { expectBytes, expectCairnError } from '../helpers.js'
import { watchedBlobs } from './watched-blobs.js'

const SMALL = { minSize: 256, avgSize: 1024, maxSize: 4096 }
const open: ChunkStore[] = []
afterAll(async () => {
  await Promise.all(open.map((store) => store.close().catch(() => undefined)))
})

async function storeOn(
  disk: SimDisk,
  options: Partial<ChunkStoreOptions> = {},
): Promise<{ store: ChunkStore; blobs: BlobStore }> {
  const blobs = await createFsBlobStore({ vfs: disk, root: 'objects' })
  const store = await openChunkStore({ blobs, chunking: SMALL, packBytes: 64 * 1024, workers: 0, ...options })
  open.push(store)
  return { store, blobs }
}

const text = (n: number, seed = 0) =>
  new TextEncoder().encode(
    Array.from({ length: n }, (_, i) => `{"row":${String(i + seed)},"state":"active"}\n`).join(''),
  )

describe('chunk store', () => {
  it('property: any entry round-trips, from bytes, pieces or a Readable, inline and on workers', async () => {
    const inline = (await storeOn(new SimDisk({ seed: 1 }))).store
    const pooled = (await storeOn(new SimDisk({ seed: 2 }), { workers: 2 })).store
    await pooled.warm()
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 30_000 }),
          fc.nat(600).map((n) => text(n)),
        ),
        fc.constantFrom('bytes', 'pieces', 'readable'),
        fc.boolean(),
        async (data, form, onWorkers) => {
          const store = onWorkers ? pooled : inline
          const source =
            form === 'bytes'
              ? data
              : form === 'pieces'
                ? [data.subarray(0, 1000), data.subarray(1000)]
                : Readable.from([Buffer.from(data)])
          const put = await store.putEntry(source)
          expect(put.logicalBytes).toBe(data.length)
          expect(put.chunks.reduce((sum, c) => sum + c.length, 0)).toBe(data.length)
          expectBytes(await store.readEntryBytes(put.chunks), data, 'pending')
          await store.flush()
          expectBytes(await store.readEntryBytes(put.chunks), data, 'durable')
        },
      ),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 60) },
    )
  })

  it('identical content is stored once, across entries; an insertion changes only nearby chunks', async () => {
    const { store } = await storeOn(new SimDisk({ seed: 3 }))
    const data = createRng(3).bytes(100_000)
    const first = await store.putEntry(data)
    expect(first.newBytes).toBe(data.length)
    const again = await store.putEntry(data)
    expect(again.chunks).toEqual(first.chunks)
    expect(again.newBytes).toBe(0)
    expect(again.storedBytes).toBe(0)
    const edited = new Uint8Array(data.length + 10)
    edited.set(data.subarray(0, 50_000), 0)
    edited.set(createRng(4).bytes(10), 50_000)
    edited.set(data.subarray(50_000), 50_010)
    const shifted = await store.putEntry(edited)
    const before = new Set(first.chunks.map((c) => c.id))
    const fresh = shifted.chunks.filter((c) => !before.has(c.id))
    expect(fresh.length).toBeGreaterThan(0)
    expect(fresh.length).toBeLessThanOrEqual(2)
    expect(shifted.newBytes).toBeLessThanOrEqual(2 * SMALL.maxSize)
    await store.flush()
    expectBytes(await store.readEntryBytes(shifted.chunks), edited)
    // Compressible data is stored compressed.
    const rows = await store.putEntry(text(2000, 7))
    expect(rows.storedBytes).toBeLessThan(rows.newBytes / 2)
  })

  it('a reopened store finds its chunks through the index objects, or through the footers when those are damaged', async () => {
    const disk = new SimDisk({ seed: 5 })
    const { store, blobs } = await storeOn(disk)
    const data = text(5000)
    const put = await store.putEntry(data)
    await store.close()
    const reopened = (await storeOn(disk)).store
    expect(reopened.stats().lastSync.merged).toBeGreaterThan(0)
    expect((await reopened.putEntry(data)).newBytes).toBe(0)
    expectBytes(await reopened.readEntryBytes(put.chunks), data)
    await reopened.close()
    // Damage every index object: the footers still give every chunk, and a fresh index object
    // is written so the next open need not read footers again.
    const indexKeys: string[] = []
    for await (const { key } of blobs.list('index/')) indexKeys.push(key)
    for (const key of indexKeys) disk.rot(`objects/${key}`, 25, 3)
    const repaired = (await storeOn(disk)).store
    const sync = repaired.stats().lastSync
    expect(sync.damaged.map((d) => d.key).sort()).toEqual(indexKeys.sort())
    expect(sync.packsFromFooters).toBeGreaterThan(0)
    expectBytes(await repaired.readEntryBytes(put.chunks), data)
    await repaired.close()
    const after = (await storeOn(disk)).store
    expect(after.stats().lastSync.packsFromFooters).toBe(0)
    expectBytes(await after.readEntryBytes(put.chunks), data)
  })

  it('a cache that names an index object the store no longer has is rebuilt, never trusted', async () => {
    const disk = new SimDisk({ seed: 6 })
    const index = new MemoryChunkIndex()
    const { store, blobs } = await storeOn(disk, { index })
    const put = await store.putEntry(createRng(6).bytes(50_000))
    await store.flush()
    // Everything is deleted behind the cache's back (as a GC from elsewhere might).
    const keys: string[] = []
    for await (const { key } of blobs.list('')) keys.push(key)
    await blobs.delete(keys)
    const again = await openChunkStore({ blobs, index, chunking: SMALL, workers: 0 })
    open.push(again)
    expect(again.stats().lastSync.rebuilt).toBe(true)
    expect(again.has(put.chunks[0]!.id)).toBe(false)
    // So the same data is stored again rather than deduplicated against chunks that are gone.
    expect((await again.putEntry(createRng(6).bytes(50_000))).newBytes).toBe(50_000)
  })

  it('a flipped bit is CORRUPT_OBJECT on read and a verify problem naming pack, chunk and offset', async () => {
    const disk = new SimDisk({ seed: 7 })
    const { store } = await storeOn(disk)
    const data = createRng(7).bytes(20_000)
    const put = await store.putEntry(data)
    await store.flush()
    expect(await store.verify({ readData: true })).toMatchObject({ ok: true, problems: [] })
    const report = await store.verify({ readData: true })
    expect(report.chunksChecked).toBe(new Set(put.chunks.map((c) => c.id)).size)
    const [pack] = await disk.readdir('objects/packs').then((dirs) => dirs.map((d) => `objects/packs/${d}`))
    const [name] = await disk.readdir(pack!)
    disk.rot(`${pack!}/${name!}`, 5000, 4)
    await expectCairnError(store.readEntryBytes(put.chunks), 'CORRUPT_OBJECT')
    const damaged = await store.verify({ readData: true })
    expect(damaged.ok).toBe(false)
    expect(damaged.problems).toHaveLength(1)
    const problem = damaged.problems[0]!
    expect(problem.code).toBe('CORRUPT_OBJECT')
    expect(problem.pack).toBe(name)
    expect(problem.where).toBe(`${packKey(name as never)}@${String(problem.offset)}`)
    expect(put.chunks.some((c) => c.id === problem.chunk)).toBe(true)
    expect(problem.offset).toBeLessThanOrEqual(5000)
    // Without readData the footers and index still agree: the damage is in chunk data only.
    expect((await store.verify()).ok).toBe(true)
  })

  it('verify reports an index entry whose pack is gone, and counts orphan packs', async () => {
    const disk = new SimDisk({ seed: 8 })
    const { store, blobs } = await storeOn(disk)
    await store.putEntry(createRng(8).bytes(100_000))
    await store.flush()
    const packs: string[] = []
    for await (const { key } of blobs.list('packs/')) packs.push(key)
    expect(packs.length).toBeGreaterThan(1)
    await blobs.delete([packs[0]!])
    const report = await store.verify()
    expect(report.ok).toBe(false)
    expect(report.problems.every((p) => p.code === 'MISSING_CHUNK' && p.where.startsWith(packs[0]!))).toBe(
      true,
    )
    const indexKeys: string[] = []
    for await (const { key } of blobs.list('index/')) indexKeys.push(key)
    await blobs.delete(indexKeys)
    expect((await store.verify()).orphanPacks).toBe(packs.length - 1)
  })

  it('bad sources and options are typed errors; a closed store says CLOSED', async () => {
    const { store } = await storeOn(new SimDisk({ seed: 9 }))
    await expectCairnError(store.putEntry(Readable.from(['text'])), 'BAD_OPTION')
    await expectCairnError(store.putEntry(42 as never), 'BAD_OPTION')
    // A reader that says it read more than it was given room for.
    let closed = false
    const lying = {
      readInto: (target: Uint8Array) => Promise.resolve(target.length + 1),
      close: () => {
        closed = true
        return Promise.resolve()
      },
    }
    await expectCairnError(store.putEntry(lying), 'BAD_OPTION')
    expect(closed).toBe(true)
    await expectCairnError(
      store.readEntryBytes([{ id: 'ab'.repeat(32) as never, length: 3 }]),
      'MISSING_CHUNK',
    )
    const blobs = await createFsBlobStore({ vfs: new SimDisk({ seed: 10 }), root: 'o' })
    await expectCairnError(openChunkStore({ blobs, packBytes: 10 }), 'BAD_OPTION')
    await expectCairnError(openChunkStore({ blobs, workers: -1 }), 'BAD_OPTION')
    await expectCairnError(openChunkStore({ blobs, compression: 'zip' as never }), 'BAD_OPTION')
    await store.close()
    expect(() => store.putEntry(new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'CLOSED' }))
  })

  it('a reader refused before it is read (bad option, read-only store, closed store) is closed once', async () => {
    const closes: string[] = []
    const reader = (name: string) => ({
      readInto: () => Promise.reject(new Error(`${name} was read`)),
      close: () => {
        closes.push(name)
        return Promise.resolve()
      },
    })
    const { store, blobs } = await storeOn(new SimDisk({ seed: 11 }))
    expect(() => store.putEntry(reader('bad option'), { chunking: { avgSize: 3 } })).toThrow(
      expect.objectContaining({ code: 'BAD_OPTION' }),
    )
    await store.close()
    expect(() => store.putEntry(reader('closed store'))).toThrow(expect.objectContaining({ code: 'CLOSED' }))
    const readOnly = await openChunkStore({ blobs, readOnly: true, workers: 0 })
    await expectCairnError(readOnly.putEntry(reader('read-only store')), 'NOT_SUPPORTED')
    await readOnly.close()
    await new Promise((resolve) => setImmediate(resolve))
    expect(closes).toEqual(['bad option', 'closed store', 'read-only store'])
  })

  for (const workers of [0, 2]) {
    it(`seals packs into the buffers of packs already put, every pack still whole (workers: ${String(workers)})`, async () => {
      const disk = new SimDisk({ seed: 14 })
      const root = await createFsBlobStore({ vfs: disk, root: 'objects' })
      const { blobs, puts: buffers } = watchedBlobs(root)
      const store = await openChunkStore({ blobs, packBytes: 2 * 1024 * 1024, workers })
      open.push(store)
      // Random bytes, stored raw: a 2 MiB pack per 2 MiB span read, ~12 packs in one flush.
      const data = createRng(14).bytes(24 * 1024 * 1024)
      const put = await store.putEntry(data)
      await store.flush()
      expect(buffers.length).toBeGreaterThanOrEqual(12)
      // Two kept (one pack waits while another is put), a third while both are in use.
      expect(new Set(buffers).size).toBeLessThanOrEqual(3)
      expectBytes(await store.readEntryBytes(put.chunks), data)
      expect((await store.verify({ readData: true })).problems).toEqual([])
    })
  }

  it('a failed pack put keeps its chunks pending and readable; the next flush puts them', async () => {
    const disk = new SimDisk({ seed: 12 })
    const { store } = await storeOn(disk)
    const data = createRng(12).bytes(40_000)
    const put = await store.putEntry(data)
    disk.setSpaceBudget(disk.usedBytes() + 1000) // the pack cannot fit
    await expectCairnError(store.flush(), 'DISK_FULL')
    expect(store.stats().chunksPending).toBeGreaterThan(0)
    expectBytes(await store.readEntryBytes(put.chunks), data, 'pending after the failure')
    disk.setSpaceBudget(undefined)
    await store.flush()
    expect(store.stats().chunksPending).toBe(0)
    const reopened = (await storeOn(disk)).store
    expectBytes(await reopened.readEntryBytes(put.chunks), data, 'durable after the retry')
    expect((await reopened.verify({ readData: true })).problems).toEqual([])
  })

  it('a crash before every I/O of put + flush leaves a store that verifies clean and reads all it indexes', async () => {
    const entries = [text(800), createRng(11).bytes(9000)]
    const run = async (disk: SimDisk) => {
      const { store } = await storeOn(disk, { packBytes: 64 * 1024 })
      const puts = []
      for (const data of entries) puts.push(await store.putEntry(data))
      await store.flush()
      return puts
    }
    const probe = new SimDisk({ seed: 1 })
    const base = probe.ioCount
    await run(probe)
    const total = probe.ioCount - base
    let checked = 0
    for (let k = 1; k <= total + 1; k++) {
      const disk = new SimDisk({ seed: k })
      disk.haltAtIo(disk.ioCount + k)
      let puts
      try {
        puts = await run(disk)
      } catch (error) {
        if (!disk.halted || !isCairnError(error, 'IO')) throw error
      }
      for (const model of CRASH_MODELS) {
        const booted = await storeOn(disk.crash(model, createRng(k)))
        const report = await booted.store.verify({ readData: true })
        expect(report.problems).toEqual([])
        // A flush that resolved is wholly readable after any crash.
        if (puts !== undefined) {
          for (const [i, put] of puts.entries())
            expectBytes(await booted.store.readEntryBytes(put.chunks), entries[i])
        }
        await booted.store.close()
        checked++
      }
    }
    expect(total).toBeGreaterThan(10)
    expect(checked).toBe((total + 1) * CRASH_MODELS.length)
  })
})
