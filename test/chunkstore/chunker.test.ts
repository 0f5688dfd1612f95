/**
 * The chunker's invariants: chunks concatenate to the input; sizes respect min/max; the stream
 * cuts exactly as the one-shot buffer does however the input is split (bounded memory does not
 * change the chunks); identical content cuts identically; an insertion changes only the chunks
 * around it; bad parameters are BAD_OPTION.
 */
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { chunkBuffer, chunkStream, parseChunking } from '../../src/chunkstore/chunker.js'
import { collect, expectBytes, sameBytes } from '../helpers.js'

const small = parseChunking({ minSize: 256, avgSize: 1024, maxSize: 4096 })

/** The input as an async stream split at `cuts`, each piece arriving on a later turn. */
async function* pieces(data: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0
  for (const cut of [...cuts, data.length].sort((a, b) => a - b)) {
    const to = Math.min(cut, data.length)
    await Promise.resolve()
    if (to > at) yield data.subarray(at, to)
    at = Math.max(at, to)
  }
}

const digest = (chunk: Uint8Array) => createHash('sha256').update(chunk).digest('hex')

describe('chunker', () => {
  it('property: chunks concatenate to the input, respect the bounds, and the stream cuts like the buffer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 40_000 }),
        fc.array(fc.nat(40_000), { maxLength: 12 }),
        fc.constantFrom<'cdc' | 'fixed'>('cdc', 'fixed'),
        async (data, cuts, mode) => {
          const params = parseChunking({ mode, minSize: 256, avgSize: 1024, maxSize: 4096 })
          const whole = chunkBuffer(data, params)
          expectBytes(Buffer.concat(whole), data, 'concatenation')
          whole.forEach((chunk, i) => {
            expect(chunk.length).toBeLessThanOrEqual(params.maxSize)
            if (i < whole.length - 1)
              expect(chunk.length).toBeGreaterThanOrEqual(Math.min(params.minSize, params.avgSize))
          })
          const streamed = await collect(chunkStream(pieces(data, cuts), params))
          expect(streamed.map((c) => c.length)).toEqual(whole.map((c) => c.length))
          streamed.forEach((chunk, i) => {
            expect(sameBytes(chunk, whole[i])).toBe(true)
          })
        },
      ),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 100) },
    )
  })

  it('cuts random data into chunks that average near avgSize', () => {
    const data = createRng(1).bytes(2 * 1024 * 1024)
    const chunks = chunkBuffer(data, parseChunking())
    const average = data.length / chunks.length
    expect(average).toBeGreaterThan(8 * 1024)
    expect(average).toBeLessThan(32 * 1024)
  })

  it('the same content cuts the same way wherever it appears', () => {
    const block = createRng(2).bytes(256 * 1024)
    const a = chunkBuffer(Buffer.concat([createRng(3).bytes(5000), block]), small).map(digest)
    const b = chunkBuffer(Buffer.concat([createRng(4).bytes(777), block]), small).map(digest)
    const shared = a.filter((id) => b.includes(id))
    expect(shared.length).toBeGreaterThan(a.length * 0.9)
  })

  it('inserting 10 bytes into 1 MiB changes only the chunks around the insertion', () => {
    const data = createRng(5).bytes(1024 * 1024)
    const edited = Buffer.concat([data.subarray(0, 500_000), createRng(6).bytes(10), data.subarray(500_000)])
    const before = new Set(chunkBuffer(data, parseChunking()).map(digest))
    const after = chunkBuffer(edited, parseChunking()).map(digest)
    const changed = after.filter((id) => !before.has(id))
    expect(changed.length).toBeGreaterThanOrEqual(1)
    expect(changed.length).toBeLessThanOrEqual(2)
  })

  it('refuses bad parameters with BAD_OPTION', () => {
    const bad = [
      { minSize: 2048, avgSize: 1024 },
      { avgSize: 3000 },
      { maxSize: 1 },
      { minSize: 1.5 },
      { mode: 'rolling' as 'cdc' },
      { avgSize: 1 << 30, maxSize: 1 << 30 },
    ]
    for (const options of bad)
      expect(() => parseChunking(options)).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }))
  })
})
