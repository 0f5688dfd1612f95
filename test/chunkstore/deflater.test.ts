import { constants, deflateRawSync, inflateRawSync } from 'node:zlib'
import fc from 'fast-check'
import { inflateSync } from 'fflate'
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { createPieceDeflater, plainDeflater } from '../../src/chunkstore/deflater.js'
import type { PieceDeflater, PieceEnd } from '../../src/chunkstore/deflater.js'
import { expectBytes } from '../helpers.js'
import { rows, zlibPiece } from './zlib-pieces.js'

/** Rows, random bytes or zeros: what a chunk's pieces hold. */
const piece = zlibPiece(400, 30_000)

/** What a deflated piece holds once inflated on its own (a flushed one has no final block). */
function inflatePiece(stored: Uint8Array, end: PieceEnd): Uint8Array {
  return inflateRawSync(stored, end === 'flush' ? { finishFlush: constants.Z_SYNC_FLUSH } : {})
}

const deflaters: [string, () => PieceDeflater][] = [
  ['a reused zlib stream', createPieceDeflater],
  ['deflateRawSync (the fallback)', () => plainDeflater],
]

describe('piece deflater', () => {
  it('reuses a zlib stream on this Node (the fast path is live, not the fallback)', () => {
    expect(createPieceDeflater()).not.toBe(plainDeflater)
  })

  for (const [name, make] of deflaters) {
    it(`property (${name}): every piece inflates alone to itself, whatever the stream deflated before`, () => {
      fc.assert(
        fc.property(fc.array(fc.tuple(piece, fc.boolean()), { minLength: 1, maxLength: 6 }), (pieces) => {
          const deflater = make()
          for (const [data, final] of pieces) {
            const end: PieceEnd = final ? 'final' : 'flush'
            const out = new Uint8Array(data.length + 1024)
            const written = deflater.deflateInto(data, out, 7, out.length - 7, end)
            if (written === undefined) throw new Error('a piece with room to spare did not fit')
            const stored = out.subarray(7, 7 + written)
            expectBytes(inflatePiece(stored, end), data)
            if (final) expectBytes(inflateSync(stored), data, 'fflate')
            // Within a few bytes of a fresh stream's output (the same zlib, the same level).
            const fresh = deflateRawSync(data, {
              level: 1,
              ...(final ? {} : { finishFlush: constants.Z_SYNC_FLUSH }),
            })
            expect(Math.abs(written - fresh.length)).toBeLessThanOrEqual(Math.max(8, fresh.length * 0.01))
          }
        }),
        { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 100) },
      )
    })

    it(`${name}: output that needs more than the room is refused, output that fits exactly is kept`, () => {
      const deflater = make()
      const data = rows(300)
      const out = new Uint8Array(data.length)
      // The same piece twice first, so the stream's leftovers are the same on every call below.
      deflater.deflateInto(data, out, 0, out.length, 'final')
      const needed = deflater.deflateInto(data, out, 0, out.length, 'final')
      if (needed === undefined) throw new Error('rows did not deflate')
      expect(needed).toBeLessThan(data.length / 5)
      expect(deflater.deflateInto(data, out, 100, needed, 'final')).toBe(needed)
      expectBytes(inflatePiece(out.subarray(100, 100 + needed), 'final'), data)
      expect(deflater.deflateInto(data, out, 0, needed - 1, 'final')).toBeUndefined()
      // Random bytes need more than they are: refused within their own length.
      const random = createRng(3).bytes(8000)
      expect(deflater.deflateInto(random, out, 0, random.length, 'flush')).toBeUndefined()
      // And the stream is whole after a refusal.
      const after = deflater.deflateInto(data, out, 0, out.length, 'flush')
      if (after === undefined) throw new Error('rows did not deflate after a refusal')
      expectBytes(inflatePiece(out.subarray(0, after), 'flush'), data)
    })
  }
})
