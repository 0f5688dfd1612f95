/**
 * Raw DEFLATE at level 1, piece by piece, straight into the caller's buffer and within a byte
 * budget, on one zlib stream per thread that is reset between pieces.
 *
 * Why not `deflateRawSync` per piece: each call builds a zlib stream and frees it. A chunk's
 * pieces are small (8 KiB is typical on the chunk-store bench's database file, whose random pages
 * split its chunks), and that set-up was ~10% of a first version's encoding there. A reset stream
 * gives the same bytes: the tests hold the output to fresh `deflateRawSync` calls.
 *
 * The stream's handle is reached through node:zlib's own fields (`_handle`, `_writeState`: what
 * its synchronous functions use). Where a Node lacks them, every piece goes through
 * `deflateRawSync` instead, so nothing but speed depends on them.
 */
import { constants, createDeflateRaw, deflateRawSync } from 'node:zlib'
import type { DeflateRaw } from 'node:zlib'

/** What node:zlib's native handle offers its synchronous path. */
interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inputOffset: number,
    inputLength: number,
    output: Uint8Array,
    outputOffset: number,
    outputLength: number,
  ): void
  reset(): void
}

/** A zlib stream's handle and the array it reports room left in (output, then input). */
interface Reused {
  readonly stream: DeflateRaw
  readonly handle: ZlibHandle
  readonly state: Uint32Array
}

/** How a piece ends: flushed to a byte boundary (more pieces follow) or the stream's end. */
export type PieceEnd = 'flush' | 'final'

export interface PieceDeflater {
  /**
   * Deflates `input` into `out` at `at`, using at most `room` bytes; the bytes written, or
   * `undefined` when they would not fit (then what stands in `out[at, at + room)` is undefined).
   */
  deflateInto(input: Uint8Array, out: Uint8Array, at: number, room: number, end: PieceEnd): number | undefined
}

function hasHandle(value: unknown): value is ZlibHandle {
  if (typeof value !== 'object' || value === null) return false
  const fields = value as Partial<Record<keyof ZlibHandle, unknown>>
  return typeof fields.writeSync === 'function' && typeof fields.reset === 'function'
}

/** The stream's handle, when this Node's zlib has the fields its synchronous path uses. */
function reuse(): Reused | undefined {
  const stream = createDeflateRaw({ level: 1 })
  // A failing handle destroys its stream with an error event: never let that one go unheard.
  stream.on('error', () => undefined)
  const fields = stream as unknown as { _handle?: unknown; _writeState?: unknown }
  const state = fields._writeState
  const handle = fields._handle
  if (!hasHandle(handle) || !(state instanceof Uint32Array) || state.length < 2) {
    stream.destroy()
    return undefined
  }
  return { stream, handle, state }
}

class ReusedDeflater implements PieceDeflater {
  #reused: Reused | undefined

  constructor(reused: Reused) {
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
      handle.reset()
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
