/**
 * Raw DEFLATE at level 1, piece by piece, straight into the caller's buffer and within a byte
 * budget, on one zlib stream per thread that is reset between pieces.
 *
 * Why not `deflateRawSync` per piece: each call builds a zlib stream and frees it. A chunk's
 * pieces are small (8 KiB is typical on the chunk-store bench's database file, whose random pages
 * split its chunks), and that set-up was ~14% of a first version's encoding there. A reset stream
 * may choose another match than a fresh one where what an earlier piece left in its window
 * steers it, so the bytes can differ slightly; they inflate to the same piece (the tests hold
 * every piece to that, whatever came before it on the stream).
 *
 * The stream's handle comes from zlib-handle.ts; where this Node lacks it, every piece goes
 * through `deflateRawSync` instead.
 */
import { constants, createDeflateRaw, deflateRawSync } from 'node:zlib'
import { reusableStream } from './zlib-handle.js'
import type { ReusableStream } from './zlib-handle.js'

/** How a piece ends: flushed to a byte boundary (more pieces follow) or the stream's end. */
export type PieceEnd = 'flush' | 'final'

export interface PieceDeflater {
  /**
   * Deflates `input` into `out` at `at`, using at most `room` bytes; the bytes written, or
   * `undefined` when they would not fit (then what stands in `out[at, at + room)` is undefined).
   */
  deflateInto(input: Uint8Array, out: Uint8Array, at: number, room: number, end: PieceEnd): number | undefined
}

/** A deflate stream's handle, where this Node allows. */
function reuse(): ReusableStream | undefined {
  return reusableStream(createDeflateRaw({ level: 1 }))
}

class ReusedDeflater implements PieceDeflater {
  #reused: ReusableStream | undefined

  constructor(reused: ReusableStream) {
    this.#reused = reused
  }

  deflateInto(
    input: Uint8Array,
    out: Uint8Array,
    at: number,
    room: number,
    end: PieceEnd,
  ): number | undefined {
    const reused = this.#reused ?? reuse()
    if (reused === undefined) return plainDeflater.deflateInto(input, out, at, room, end)
    this.#reused = reused
    const { handle, state, stream } = reused
    // One byte more than the budget: output that fills all of it did not fit.
    const space = Math.min(room + 1, out.length - at)
    try {
      handle.writeSync(
        end === 'final' ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
        input,
        0,
        input.length,
        out,
        at,
        space,
      )
    } finally {
      // A stream zlib destroyed (on an error) has no handle left to reset.
      if (!stream.destroyed) handle.reset()
    }
    if (stream.destroyed) {
      // zlib reported an error on the stream: drop it, and let a fresh call report or redo it.
      this.#reused = undefined
      return plainDeflater.deflateInto(input, out, at, room, end)
    }
    const outLeft = state[0] as number
    const inLeft = state[1] as number
    const written = space - outLeft
    // Room left over means zlib took all the input and ended the piece (zlib's contract).
    if (outLeft === 0 || inLeft !== 0 || written > room) return undefined
    return written
  }
}

/** One `deflateRawSync` call a piece: the fallback, and the reference the tests compare with. */
export const plainDeflater: PieceDeflater = {
  deflateInto(input, out, at, room, end) {
    const deflated = deflateRawSync(input, {
      level: 1,
      ...(end === 'flush' ? { finishFlush: constants.Z_SYNC_FLUSH } : {}),
    })
    if (deflated.length > room || at + deflated.length > out.length) return undefined
    out.set(deflated, at)
    return deflated.length
  },
}

/** A deflater of its own: on a reused zlib stream where this Node allows, else `plainDeflater`. */
export function createPieceDeflater(): PieceDeflater {
  const reused = reuse()
  return reused === undefined ? plainDeflater : new ReusedDeflater(reused)
}

let threadDeflater: PieceDeflater | undefined

/** This thread's deflater (made on first use). */
export function pieceDeflater(): PieceDeflater {
  threadDeflater ??= createPieceDeflater()
  return threadDeflater
}
