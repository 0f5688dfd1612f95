/**
 * The buffers a restore reads its gets into (read-buffers.ts): a buffer given back is handed out
 * again for a get it fits, never to two gets at once, and no more than the bound is kept.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ReadBuffers } from '../../src/chunkstore/read-buffers.js'

const KiB = 1024

describe('ReadBuffers', () => {
  it('hands a buffer given back out again, the smallest that fits; makes powers of two from 64 KiB', () => {
    const buffers = new ReadBuffers(1024 * KiB)
    const small = buffers.take(10)
    expect(small.byteLength).toBe(64 * KiB)
    const large = buffers.take(300 * KiB)
    expect(large.byteLength).toBe(512 * KiB)
    buffers.give(large.buffer)
    buffers.give(small.buffer)
    expect(buffers.keptBytes).toBe(576 * KiB)
    expect(buffers.take(60 * KiB).buffer).toBe(small.buffer)
    expect(buffers.take(60 * KiB).buffer).toBe(large.buffer)
    expect(buffers.keptBytes).toBe(0)
  })

  it('keeps no more than its bound, nor a buffer twice, nor one handed to a thread (detached)', () => {
    const buffers = new ReadBuffers(128 * KiB)
    const [a, b, c] = [buffers.take(1), buffers.take(1), buffers.take(1)]
    buffers.give(a.buffer)
    buffers.give(a.buffer)
    buffers.give(b.buffer)
    buffers.give(c.buffer) // past the bound: let go
    expect(buffers.keptBytes).toBe(128 * KiB)
    const handed = buffers.take(1)
    structuredClone(handed.buffer, { transfer: [handed.buffer as ArrayBuffer] })
    buffers.give(handed.buffer)
    expect(buffers.keptBytes).toBe(64 * KiB)
  })

  it('property: no buffer is handed out twice at once, and what is kept stays within the bound', () => {
    const op = fc.oneof(
      fc.integer({ min: 0, max: 600 * KiB }).map((length) => ({ take: length })),
      fc.nat(20).map((index) => ({ give: index })),
    )
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2048 * KiB }), fc.array(op, { maxLength: 60 }), (bound, ops) => {
        const buffers = new ReadBuffers(bound)
        const out: Uint8Array[] = []
        for (const step of ops) {
          if ('take' in step) {
            const got = buffers.take(step.take)
            expect(got.byteLength).toBeGreaterThanOrEqual(step.take)
            expect(out.some((held) => held.buffer === got.buffer)).toBe(false)
            out.push(got)
          } else if (out.length > 0) {
            const [given] = out.splice(step.give % out.length, 1) as [Uint8Array]
            buffers.give(given.buffer)
          }
          expect(buffers.keptBytes).toBeLessThanOrEqual(bound)
        }
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 200) },
    )
  })
})
