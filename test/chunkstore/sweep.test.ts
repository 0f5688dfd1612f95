/**
 * The GC sweep finishes a repack that a crash cut short: the packs the repack wrote hold only live
 * chunks, so they become the chunks' homes and the mostly dead packs they were copied from go.
 * Whatever the pack ids' order and wherever the first sweep stopped (any put or delete), the next sweep leaves every live chunk in exactly one pack and no
 * dead chunk anywhere. A live chunk stored twice keeps a copy that checks, never only a damaged one.
 */
import { describe, expect, it } from 'vitest'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { MemoryChunkIndex } from '../../src/chunkstore/chunk-index.js'
import { openChunkStore } from '../../src/chunkstore/chunk-store.js'
import { computeChunkId, loadChunkHasher } from '../../src/chunkstore/chunk-id.js'
import { CODEC_RAW } from '../../src/chunkstore/codec.js'
import { PACK_ENTRY_BYTES, PACK_TRAILER_BYTES, PackBuilder } from '../../src/chunkstore/pack.js'
import {
  checkStoredChunk,
  listPackIds,
  packKey,
  putSealedPack,
  readChunk,
  readPackFooter,
} from '../../src/chunkstore/pack-store.js'
import { sweepPacks } from '../../src/chunkstore/sweep.js'
import { decodeIndexObject } from '../../src/chunkstore/index-object.js'
import type { IndexEntry } from '../../src/chunkstore/index-object.js'
import { CairnError } from '../../src/core/errors.js'
import type { ChunkId, PackId } from '../../src/core/ids.js'
import type { BlobStore } from '../../src/core/ports.js'
import { asVersion1 } from './pack-v1.js'
import { watchedBlobs } from './watched-blobs.js'

const SMALL = { minSize: 256, avgSize: 1024, maxSize: 4096 }
/** Repack output of ~16 KiB packs: a repack writes several, and can be cut between them. */
const OPTIONS = { repackDeadShare: 0.25, packBytes: 16 * 1024 }

const rows = (n: number, seed: number) =>
  new TextEncoder().encode(
    Array.from({ length: n }, (_, i) => `{"row":${String(i * 7919 + seed)},"seed":${String(seed)}}\n`).join(
      '',
    ),
  )

/** `blobs`, except that its `failAt`-th put or delete fails (as a crash there would stop the sweep). */
function failingAt(blobs: BlobStore, failAt: number): BlobStore & { readonly failed: boolean } {
  let writes = 0
  const fail = () => ++writes === failAt
  const failure = () => Promise.reject(new CairnError('IO', 'this write fails', { op: 'test' }))
  return {
    properties: blobs.properties,
    put: (key, data, options) => (fail() ? failure() : blobs.put(key, data, options)),
    get: (key, range) => blobs.get(key, range),
    head: (key) => blobs.head(key),
    list: (prefix) => blobs.list(prefix),
    delete: (keys) => (fail() ? failure() : blobs.delete(keys)),
    get failed() {
      return writes >= failAt
    },
  }
}

/**
 * A chunk store of `parts` entries, a pack each, on a fresh simulated disk; every `every`-th chunk
 * of all but the last entry stays live (so those packs are mostly dead), the last entry's none.
 */
async function history(seed: number, parts: number, every: number, rowsPerPart = 600) {
  const disk = new SimDisk({ seed })
  const blobs = await createFsBlobStore({ vfs: disk, root: 'objects' })
  const store = await openChunkStore({ blobs, chunking: SMALL, workers: 0 })
  const live = new Set<ChunkId>()
  for (let part = 1; part <= parts; part++) {
    const put = await store.putEntry(rows(rowsPerPart, seed * 10 + part))
    await store.flush()
    if (part < parts) put.chunks.forEach((chunk, i) => i % every === 0 && live.add(chunk.id))
  }
  await store.close()
  return { disk, blobs, live }
}

describe('sweep', () => {
  it('a repack cut short before its deletions is finished by the next sweep, for any pack id order', async () => {
    let cut = 0
    for (let seed = 1; seed <= 8; seed++) {
      for (let failAt = 1; ; failAt++) {
        // Three packs; every other chunk of the first two stays live: both about half dead.
        const { blobs, live } = await history(seed, 3, 2)
        const failing = failingAt(blobs, failAt)
        const first = await sweepPacks(failing, live, OPTIONS).then(
          () => 'done',
          (error: unknown) => error,
        )
        if (first === 'done') {
          expect(failing.failed).toBe(false)
          break
        }
        expect(first).toMatchObject({ code: 'IO' })
        cut++
        const report = await sweepPacks(blobs, live, OPTIONS)
        expect(report.chunksLive).toBe(live.size)
        const held = new Map<ChunkId, number>()
        for (const packId of await listPackIds(blobs))
          for (const entry of await readPackFooter(blobs, packId))
            held.set(entry.chunkId, (held.get(entry.chunkId) ?? 0) + 1)
        const where = `seed ${String(seed)}, write ${String(failAt)} failed`
        expect(
          [...held.keys()].filter((id) => !live.has(id)),
          `${where}: dead chunks left`,
        ).toEqual([])
        expect(
          [...held].filter(([, n]) => n > 1),
          `${where}: chunks held twice`,
        ).toEqual([])
        expect(held.size).toBe(live.size)
      }
    }
    expect(cut).toBeGreaterThan(16)
  })

  it('a live chunk stored twice, one copy damaged: the good copy is the one kept, repacking or not', async () => {
    await loadChunkHasher()
    for (const repackDeadShare of [0.5, 1]) {
      const disk = new SimDisk({ seed: 7 })
      const blobs = await createFsBlobStore({ vfs: disk, root: 'objects' })
      const rng = createRng(7)
      const chunk = () => {
        const bytes = rng.bytes(1000)
        return { id: computeChunkId(bytes), bytes }
      }
      const pack = async (chunks: { id: ChunkId; bytes: Uint8Array }[]) => {
        const builder = new PackBuilder()
        for (const c of chunks) builder.add(c.id, c.bytes.length, { codec: CODEC_RAW, bytes: c.bytes })
        return (await putSealedPack(blobs, builder.seal())).packId
      }
      const x = chunk()
      // x in two packs; the one with the larger live share (a third against a fifth) would be
      // its home, and that copy is damaged.
      const first = await pack([x, chunk(), chunk()])
      await pack([x, chunk(), chunk(), chunk(), chunk()])
      disk.rot(`objects/${packKey(first)}`, 10, 3)
      await sweepPacks(blobs, new Set([x.id]), { repackDeadShare, packBytes: 1 << 20 })
      let good = 0
      for (const packId of await listPackIds(blobs))
        for (const entry of await readPackFooter(blobs, packId))
          if (entry.chunkId === x.id)
            await readChunk(blobs, entry).then(
              () => good++,
              () => undefined,
            )
      expect(good, `repackDeadShare ${String(repackDeadShare)}: a readable copy of x is left`).toBe(1)
    }
  })

  it('a pack whose data matches its CRC is copied without inflating a chunk; a damaged one, or a version 1 pack, has each live chunk checked first', async () => {
    await loadChunkHasher()
    const disk = new SimDisk({ seed: 11 })
    const blobs = await createFsBlobStore({ vfs: disk, root: 'objects' })
    const rng = createRng(11)
    const live = new Set<ChunkId>()
    /** A pack of three chunks, the first live: two thirds dead, due for repacking. */
    const pack = async (version: 1 | 2) => {
      const builder = new PackBuilder()
      for (let i = 0; i < 3; i++) {
        const bytes = rng.bytes(1000)
        const id = computeChunkId(bytes)
        if (i === 0) live.add(id)
        builder.add(id, bytes.length, { codec: CODEC_RAW, bytes })
      }
      const sealed = builder.seal()
      if (version === 2) return (await putSealedPack(blobs, sealed)).packId
      const bytes = asVersion1(sealed.bytes, sealed.entries.length)
      const tailBytes = sealed.entries.length * PACK_ENTRY_BYTES + PACK_TRAILER_BYTES
      return (await putSealedPack(blobs, { bytes, entries: sealed.entries, tailBytes })).packId
    }
    const intact = await pack(2)
    const rotted = await pack(2)
    const old = await pack(1)
    // A dead chunk's bytes rot: the data no longer matches its CRC, the live chunk still checks.
    disk.rot(`objects/${packKey(rotted)}`, 1500, 2)
    const checked = new Set<PackId>()
    const report = await sweepPacks(blobs, live, {
      repackDeadShare: 0.5,
      packBytes: 1 << 20,
      check: (bytes, entries, base) => {
        for (const entry of entries) {
          checked.add(entry.packId)
          checkStoredChunk(
            entry,
            bytes.subarray(entry.offset - base, entry.offset - base + entry.storedLength),
          )
        }
        return Promise.resolve()
      },
    })
    expect([...checked].sort()).toEqual([rotted, old].sort())
    expect(report).toMatchObject({ packsRepacked: 3, packsDeleted: 3, chunksLive: 3 })
    const packs = await listPackIds(blobs)
    expect(packs).not.toContain(intact)
    const held = new Set<ChunkId>()
    for (const packId of packs)
      for (const entry of await readPackFooter(blobs, packId)) {
        await readChunk(blobs, entry)
        held.add(entry.chunkId)
      }
    expect(held).toEqual(live)
  })

  it('a repack candidate shorter than its index says is left as it is, its damage there for verify', async () => {
    await loadChunkHasher()
    const disk = new SimDisk({ seed: 12 })
    const blobs = await createFsBlobStore({ vfs: disk, root: 'objects' })
    const rng = createRng(12)
    const builder = new PackBuilder()
    const live = new Set<ChunkId>()
    for (let i = 0; i < 3; i++) {
      const bytes = rng.bytes(1000)
      const id = computeChunkId(bytes)
      if (i === 0) live.add(id)
      builder.add(id, bytes.length, { codec: CODEC_RAW, bytes })
    }
    const { packId } = await putSealedPack(blobs, builder.seal())
    // Cut inside its last (dead) chunk: the live one before the cut still reads and checks.
    const file = await disk.open(`objects/${packKey(packId)}`, 'readWrite')
    await file.truncate(2500)
    await file.close()
    const report = await sweepPacks(blobs, live, { repackDeadShare: 0.5, packBytes: 1 << 20 })
    expect(report.packsRepacked).toBe(0)
    expect(await listPackIds(blobs)).toContain(packId)
  })

  it('power lost at any I/O of a sweep, repack included: every index entry names a pack that is there, every live chunk reads back', async () => {
    let halts = 0
    for (let seed = 1; seed <= 3; seed++) {
      for (let at = 1; ; at++) {
        const { disk, blobs, live } = await history(seed, 4, 3)
        disk.haltAtIo(disk.ioCount + at)
        // Small output packs: the repack writes several, and is cut between any two of its I/Os.
        const finished = await sweepPacks(blobs, live, { ...OPTIONS, packBytes: 1024 }).then(
          () => true,
          () => false,
        )
        for (const model of ['clearCache', 'prefixPerFile', 'weak'] as const) {
          const after = await createFsBlobStore({ vfs: disk.crash(model), root: 'objects' })
          const where = `seed ${String(seed)}, power lost at I/O ${String(at)}, ${model}`
          const packs = new Set(await listPackIds(after))
          const index = new Map<ChunkId, IndexEntry>()
          for await (const { key } of after.list('index/')) {
            for (const entry of decodeIndexObject(await after.get(key), key)) {
              expect(packs.has(entry.packId), `${where}: ${key} names a missing pack`).toBe(true)
              index.set(entry.chunkId, entry)
            }
          }
          for (const id of live) {
            const entry = index.get(id)
            expect(entry, `${where}: live chunk ${id.slice(0, 8)} has no index entry`).toBeDefined()
            if (entry !== undefined) await readChunk(after, entry)
          }
        }
        halts++
        if (finished) break
      }
    }
    expect(halts).toBeGreaterThan(60)
  })

  it('a repack reads its candidates into a few buffers, reused from pack to pack, and seals its packs into those of packs already put', async () => {
    // 24 packs with about half their chunks dead, nearly all repack candidates; small packs, so
    // the repack seals several.
    const { blobs, live } = await history(15, 25, 2, 6000)
    const { blobs: watching, puts, reads } = watchedBlobs(blobs)
    const store = await openChunkStore({ blobs: watching, chunking: SMALL, workers: 0, packBytes: 64 * 1024 })
    const report = await store.sweep(live, { repackDeadShare: 0.4 })
    expect(report.packsRepacked).toBeGreaterThanOrEqual(20)
    expect(reads.length).toBe(report.packsRepacked)
    // Four read at once at most (the one copied and three ahead): the others reuse them.
    expect(new Set(reads).size).toBeLessThanOrEqual(5)
    expect(puts.length).toBeGreaterThanOrEqual(3)
    expect(new Set(puts).size).toBeLessThanOrEqual(3)
    expect((await store.verify({ readData: true })).problems).toEqual([])
    await store.close()
  })

  it('a sweep reads each index object once and no pack size twice; the cache it leaves equals one rebuilt from the store', async () => {
    const { blobs, live } = await history(7, 5, 3)
    const gets = new Map<string, number>()
    let packHeads = 0
    const counting: BlobStore = {
      properties: blobs.properties,
      put: (key, data, options) => blobs.put(key, data, options),
      get: (key, range) => {
        if (range === undefined) gets.set(key, (gets.get(key) ?? 0) + 1)
        return blobs.get(key, range)
      },
      head: (key) => {
        if (key.startsWith('packs/')) packHeads++
        return blobs.head(key)
      },
      list: (prefix) => blobs.list(prefix),
      delete: (keys) => blobs.delete(keys),
    }
    const index = new MemoryChunkIndex()
    const store = await openChunkStore({ blobs: counting, index, chunking: SMALL, workers: 0 })
    // An entry whose chunks all stay live: its pack and index object are left as they are.
    const kept = await store.putEntry(rows(300, 99))
    await store.flush()
    for (const chunk of kept.chunks) live.add(chunk.id)
    const before: string[] = []
    for await (const { key } of blobs.list('index/')) before.push(key)
    gets.clear()
    const report = await store.sweep(live, { repackDeadShare: 0.25 })
    expect(report.packsRepacked).toBeGreaterThan(0)
    expect(report.packsDeleted).toBeGreaterThan(0)
    // Each index object there before is read once, by the sweep; the cache is rebuilt from what
    // the sweep read or wrote, so neither those nor the repack's new ones are read again.
    const indexReads = [...gets].filter(([key]) => key.startsWith('index/'))
    expect(indexReads.map(([key]) => key).sort()).toEqual(before.sort())
    for (const [key, reads] of indexReads) expect(reads, key).toBe(1)
    // Sizes come from the sweep's listing: no pack is asked for its size.
    expect(packHeads).toBe(0)
    await store.close()
    const fresh = new MemoryChunkIndex()
    await (await openChunkStore({ blobs, index: fresh, chunking: SMALL, workers: 0 })).close()
    expect(new Map([...index.entries()].map((entry) => [entry.chunkId, entry]))).toEqual(
      new Map([...fresh.entries()].map((entry) => [entry.chunkId, entry])),
    )
    expect(index.indexObjects()).toEqual(fresh.indexObjects())
  })
})
