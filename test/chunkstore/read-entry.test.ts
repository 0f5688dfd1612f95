/**
 * How an entry is read back: the plan of ranged gets for a window (every chunk fetched exactly
 * once, near chunks of a pack merged, never more dead bytes than chunk bytes, gets bounded), and a
 * later version whose chunks alternate between packs read byte-exact with a few gets per pack
 * rather than one per stretch, never more gets at once than the store serves; a get that fails
 * fails the read, with every other get settled.
 */
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { MemoryBlobStore } from '../../src/adapters/memory/memory-blob-store.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { openChunkStore } from '../../src/chunkstore/chunk-store.js'
import type { ChunkStore } from '../../src/chunkstore/chunk-store.js'
import type { IndexEntry } from '../../src/chunkstore/index-object.js'
import { planReads } from '../../src/chunkstore/read-entry.js'
import { CairnError } from '../../src/core/errors.js'
import type { ChunkId, PackId } from '../../src/core/ids.js'
import type { ByteRange } from '../../src/core/ports.js'
import { expectBytes, expectCairnError } from '../helpers.js'

const MiB = 1024 * 1024
const open: ChunkStore[] = []
afterAll(async () => {
  await Promise.all(open.map((store) => store.close().catch(() => undefined)))
})

/** Entries laid out in packs as a writer lays them: back to back, then read in any order. */
const layout = fc
  .array(fc.array(fc.integer({ min: 1, max: 300_000 }), { minLength: 1, maxLength: 40 }), {
    minLength: 1,
    maxLength: 4,
  })
  .map((packs) => {
    const entries: IndexEntry[] = []
    packs.forEach((lengths, p) => {
      let offset = 0
      for (const [i, storedLength] of lengths.entries()) {
        entries.push({
          // Ended by '-': "2-1" and "2-10" padded alike were one id, which a real index never
          // places twice (the plan reads each id once).
          chunkId: `${String(p)}-${String(i)}-`.padEnd(64, '0') as ChunkId,
          packId: String(p).repeat(64) as PackId,
          offset,
          storedLength,
          rawLength: storedLength * 2,
          codec: 1,
        })
        offset += storedLength
      }
    })
    return entries
  })
  .chain((entries) =>
    fc
      .array(fc.nat(entries.length - 1), { minLength: 1, maxLength: 120 })
      .map((picks) => picks.map((i) => entries[i] as IndexEntry)),
  )

describe('reading an entry', () => {
  it('property: a window plan fetches every chunk once, merges only near chunks of one pack, and bounds each get', () => {
    fc.assert(
      fc.property(layout, (entries) => {
        const plan = planReads(entries)
        // Each chunk asked for is found where the order says, and fetched by exactly one read.
        expect(plan.order).toHaveLength(entries.length)
        entries.forEach((entry, i) => {
          const at = plan.order[i] as { read: number; index: number }
          expect(plan.reads[at.read]?.entries[at.index]).toEqual(entry)
        })
        const fetched = plan.reads.flatMap((read) =>
          read.entries.map((e) => `${e.packId}@${String(e.offset)}`),
        )
        expect(new Set(fetched).size).toBe(fetched.length)
        expect(new Set(fetched)).toEqual(new Set(entries.map((e) => `${e.packId}@${String(e.offset)}`)))
        for (const read of plan.reads) {
          let live = 0
          let end = read.offset
          for (const entry of read.entries) {
            expect(entry.packId).toBe(read.packId)
            expect(entry.offset).toBeGreaterThanOrEqual(end) // ascending, no overlap
            expect(entry.offset - end).toBeLessThanOrEqual(256 * 1024)
            end = entry.offset + entry.storedLength
            live += entry.storedLength
          }
          expect(read.offset + read.length).toBe(end)
          expect(read.length - live).toBe(read.gapBytes)
          expect(read.gapBytes).toBeLessThanOrEqual(live)
          if (read.entries.length > 1) expect(read.length).toBeLessThanOrEqual(4 * MiB)
        }
      }),
      { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 300) },
    )
  })

  it('a later version whose chunks alternate between packs reads byte-exact, a few gets per pack', async () => {
    const gets: { key: string; range: ByteRange | undefined }[] = []
    const blobs = new (class extends MemoryBlobStore {
      override get(key: string, range?: ByteRange): Promise<Uint8Array> {
        gets.push({ key, range })
        return super.get(key, range)
      }
    })()
    const store = await openChunkStore({ blobs, workers: 0, packBytes: 4 * MiB })
    open.push(store)
    // 6 MiB of text-like pages, then a version with a 4 KiB page rewritten every 96 KiB.
    const rng = createRng(3)
    const first = new Uint8Array(6 * MiB).map(() => 97 + rng.int(12))
    await store.putEntry(first)
    await store.flush()
    const second = first.slice()
    for (let at = 0; at < second.length; at += 96 * 1024) second.fill(rng.int(256), at, at + 4096)
    const put = await store.putEntry(second)
    await store.flush()

    gets.length = 0
    expectBytes(await store.readEntryBytes(put.chunks), second)
    // One get per stretch of chunks in one pack would be this many; the plan needs far fewer.
    const located = put.chunks.map((ref) => store.packOf(ref.id))
    const stretches = located.filter((pack, i) => i === 0 || pack !== located[i - 1]).length
    const packs = new Set(located).size
    expect(stretches).toBeGreaterThan(100)
    expect(gets.length).toBeLessThanOrEqual(packs * 6)
    expect(gets.length).toBeLessThan(stretches / 8)
  })

  it('an entry spread over many packs is read with no more gets at once than the store serves', async () => {
    let running = 0
    let most = 0
    const blobs = new (class extends MemoryBlobStore {
      override readonly properties = { ...new MemoryBlobStore().properties, concurrencyMax: 8 }
      override async get(key: string, range?: ByteRange): Promise<Uint8Array> {
        running++
        most = Math.max(most, running)
        try {
          await new Promise((resolve) => setTimeout(resolve, 1))
          return await super.get(key, range)
        } finally {
          running--
        }
      }
    })()
    // One chunk a pack: every chunk of a window is a read of its own.
    const store = await openChunkStore({ blobs, workers: 0, packChunks: 1 })
    open.push(store)
    const rng = createRng(8)
    const data = new Uint8Array(4 * MiB).map(() => rng.int(256))
    const put = await store.putEntry(data)
    await store.flush()
    expect(put.chunks.length).toBeGreaterThan(100)
    most = 0
    expectBytes(await store.readEntryBytes(put.chunks), data)
    expect(most).toBeGreaterThan(1)
    expect(most).toBeLessThanOrEqual(8)
  })

  it('a get that fails fails the read, and the other gets of its window all settle first', async () => {
    let failNext = false
    let running = 0
    const blobs = new (class extends MemoryBlobStore {
      override async get(key: string, range?: ByteRange): Promise<Uint8Array> {
        running++
        try {
          if (failNext && key.startsWith('packs/')) {
            failNext = false
            throw new CairnError('IO', 'disk went away', { op: 'blob.get', path: key })
          }
          await new Promise((resolve) => setTimeout(resolve, 5))
          return await super.get(key, range)
        } finally {
          running--
        }
      }
    })()
    const store = await openChunkStore({ blobs, workers: 0, packBytes: 256 * 1024 })
    open.push(store)
    const rng = createRng(5)
    const data = new Uint8Array(3 * MiB).map(() => rng.int(256))
    const put = await store.putEntry(data)
    await store.flush()
    failNext = true
    await expectCairnError(store.readEntryBytes(put.chunks), 'IO')
    expect(running).toBe(0)
  })
})
