/**
 * Parallel ingest gives exactly the sequential chunks: spans cut on their own and stitched
 * (span.ts) equal one pass of the chunker over the whole entry, for any data, any span
 * size and any split of the input, on the calling thread and on worker threads. New chunks are
 * claimed once and added in order; a failed ingest gives back every claim it did not add. An
 * EntryReader (short reads included) gives the same chunks as pieces, and is closed once.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChunkId } from '../../src/core/ids.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { computeChunkId, loadChunkHasher } from '../../src/chunkstore/chunk-id.js'
import { inlineChunkWork } from '../../src/chunkstore/chunk-work.js'
import { workerChunkWork } from '../../src/chunkstore/worker-pool.js'
import type { ChunkWork } from '../../src/chunkstore/chunk-work.js'
import { chunkBuffer, parseChunking } from '../../src/chunkstore/chunker.js'
import { decodeChunk } from '../../src/chunkstore/codec.js'
import { ingestEntry } from '../../src/chunkstore/ingest.js'
import type { IngestSink } from '../../src/chunkstore/ingest.js'
import type { EntryReader } from '../../src/chunkstore/source.js'

const pool = workerChunkWork(2)
// Loaded before the properties run, so their jobs go to the threads (not the calling thread).
beforeAll(() => pool.ready())
afterAll(() => pool.close())

function* split(data: Uint8Array, cuts: readonly number[]): Generator<Uint8Array> {
  let at = 0
  for (const cut of cuts.filter((c) => c > 0 && c < data.length).sort((a, b) => a - b)) {
    if (cut > at) yield data.subarray(at, cut)
    at = cut
  }
  if (at < data.length) yield data.subarray(at)
}

/** The pieces as an async stream, each arriving on a later turn. */
async function* pieces(data: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  for (const piece of split(data, cuts)) {
    await Promise.resolve()
    yield piece
  }
}

/**
 * The same bytes through an EntryReader: each read gives at most the next step's byte count (short
 * reads, as a file or a socket may), on a later turn; it counts its closes.
 */
function reader(data: Uint8Array, cuts: readonly number[]): EntryReader & { readonly closes: number } {
  const steps = cuts.length > 0 ? cuts.map((cut) => 1 + (cut % 5000)) : [data.length + 1]
  let at = 0
  let step = 0
  let closes = 0
  return {
    async readInto(target) {
      await Promise.resolve()
      const count = Math.min(target.length, data.length - at, steps[step++ % steps.length] ?? 1)
      target.set(data.subarray(at, at + count))
      at += count
      return count
    },
    close() {
      closes++
      return Promise.resolve()
    },
    get closes() {
      return closes
    },
  }
}

/** A sink that records what it is asked, holding the stored forms in memory. */
function recordingSink(known: ReadonlySet<ChunkId> = new Set()) {
  const claims = new Set<ChunkId>()
  const added: { id: ChunkId; raw: Uint8Array }[] = []
  const released: ChunkId[] = []
  const sink: IngestSink = {
    claim: (id) => {
      if (known.has(id) || claims.has(id)) return false
      claims.add(id)
      return true
    },
    add: (id, length, stored) => {
      added.push({ id, raw: decodeChunk(stored.codec, stored.bytes, length, 'test') })
    },
    release: (id) => {
      claims.delete(id)
      released.push(id)
    },
    afterSpan: () => Promise.resolve(),
  }
  return { sink, claims, added, released }
}

/** Data with repeats, so some chunks recur within an entry. */
const entryData = fc
  .tuple(fc.uint8Array({ minLength: 1, maxLength: 6000 }), fc.nat(5), fc.uint8Array({ maxLength: 30_000 }))
  .map(([block, repeats, tail]) => {
    const out = new Uint8Array(block.length * repeats + tail.length)
    for (let i = 0; i < repeats; i++) out.set(block, i * block.length)
    out.set(tail, block.length * repeats)
    return out
  })

describe('ingest', () => {
  it('property: stitched spans give exactly the sequential chunks, inline and on workers, from pieces or a reader', async () => {
    await loadChunkHasher()
    await fc.assert(
      fc.asyncProperty(
        entryData,
        fc.integer({ min: 1, max: 9000 }),
        fc.array(fc.nat(40_000), { maxLength: 6 }),
        fc.constantFrom<'cdc' | 'fixed'>('cdc', 'fixed'),
        fc.boolean(),
        fc.boolean(),
        async (data, spanBytes, cuts, mode, onWorkers, asReader) => {
          const params = parseChunking({ mode, minSize: 256, avgSize: 1024, maxSize: 4096 })
          const work: ChunkWork = onWorkers ? pool : inlineChunkWork()
          const { sink, added } = recordingSink()
          const read = reader(data, cuts)
          const result = await ingestEntry(
            asReader ? read : pieces(data, cuts),
            params,
            work,
            'deflate',
            sink,
            {
              depth: 3,
              spanBytes,
            },
          )
          expect(read.closes).toBe(asReader ? 1 : 0)
          const expected = chunkBuffer(data, params)
          expect(result.chunks.map((c) => c.length)).toEqual(expected.map((c) => c.length))
          expect(result.chunks.map((c) => c.id)).toEqual(expected.map((c) => computeChunkId(c)))
          expect(result.logicalBytes).toBe(data.length)
          // Each distinct chunk added once, in order of first appearance, with its bytes.
          const firsts = [...new Set(result.chunks.map((c) => c.id))]
          expect(added.map((a) => a.id)).toEqual(firsts)
          expect(result.newChunks).toBe(firsts.length)
          for (const { id, raw } of added) expect(computeChunkId(raw)).toBe(id)
        },
      ),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 150) },
    )
  })

  it('chunks the sink already holds are neither compressed nor added', async () => {
    await loadChunkHasher()
    const data = createRng(3).bytes(300_000)
    const params = parseChunking({ minSize: 1024, avgSize: 4096, maxSize: 16_384 })
    const all = chunkBuffer(data, params).map((c) => computeChunkId(c))
    const known = new Set(all.filter((_, i) => i % 2 === 0))
    const { sink, added } = recordingSink(known)
    const result = await ingestEntry(pieces(data, [77_777]), params, pool, 'deflate', sink, {
      depth: 4,
      spanBytes: 50_000,
    })
    expect(added.map((a) => a.id)).toEqual(all.filter((id) => !known.has(id)))
    expect(result.newBytes).toBe(added.reduce((sum, a) => sum + a.raw.length, 0))
    expect(result.logicalBytes).toBe(data.length)
  })

  it('a source that fails mid-entry gives back every claim not added', async () => {
    await loadChunkHasher()
    const data = createRng(4).bytes(200_000)
    const params = parseChunking({ minSize: 1024, avgSize: 4096, maxSize: 16_384 })
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield data.subarray(0, 120_000)
      await Promise.resolve()
      throw new Error('source broke')
    }
    const { sink, claims, added, released } = recordingSink()
    await expect(
      ingestEntry(failing(), params, pool, 'deflate', sink, { depth: 2, spanBytes: 30_000 }),
    ).rejects.toThrow('source broke')
    // What was added stays claimed (it is in the pack); nothing else is left claimed.
    expect([...claims].sort()).toEqual(added.map((a) => a.id).sort())
    for (const id of released) expect(added.some((a) => a.id === id)).toBe(false)
  })

  it('a reader is closed once when the ingest fails, and its claims not added are given back', async () => {
    await loadChunkHasher()
    const data = createRng(5).bytes(200_000)
    const params = parseChunking({ minSize: 1024, avgSize: 4096, maxSize: 16_384 })
    let at = 0
    let closes = 0
    const failing: EntryReader = {
      readInto(target) {
        if (at >= 120_000) return Promise.reject(new Error('reader broke'))
        const count = Math.min(target.length, 7_000)
        target.set(data.subarray(at, at + count))
        at += count
        return Promise.resolve(count)
      },
      close() {
        closes++
        return Promise.resolve()
      },
    }
    const { sink, claims, added } = recordingSink()
    await expect(
      ingestEntry(failing, params, pool, 'deflate', sink, { depth: 2, spanBytes: 30_000 }),
    ).rejects.toThrow('reader broke')
    expect(closes).toBe(1)
    expect([...claims].sort()).toEqual(added.map((a) => a.id).sort())
  })

  it("a reader whose close fails too after a failed read: the read's error is the one told", async () => {
    await loadChunkHasher()
    const params = parseChunking({ minSize: 1024, avgSize: 4096, maxSize: 16_384 })
    let closes = 0
    const broken: EntryReader = {
      readInto: () => Promise.reject(new Error('read failed')),
      close() {
        closes++
        return Promise.reject(new Error('close failed'))
      },
    }
    const { sink } = recordingSink()
    await expect(
      ingestEntry(broken, params, pool, 'deflate', sink, { depth: 2, spanBytes: 30_000 }),
    ).rejects.toThrow('read failed')
    expect(closes).toBe(1)
  })
})
