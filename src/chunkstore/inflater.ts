/**
 * Raw DEFLATE decoded straight into the caller's buffer, on one zlib stream per thread that is
 * reset between chunks, and never past the length the chunk's footer records: a chunk that would
 * inflate further is refused once it passes it, nothing allocated for the excess.
 *
 * Why not `inflateRawSync` per chunk: each call builds a zlib stream and a new output buffer, and
 * a restore of 268 MB in 16 KiB chunks made ~16,000 of each (page faults and GC work for every
 * byte restored). The stream's handle comes from zlib-handle.ts; where this Node lacks it, each
 * chunk goes through `inflateRawSync` instead.
 */
import { constants, createInflateRaw, inflateRawSync } from 'node:zlib'
import { reusableStream } from './zlib-handle.js'
import type { ReusableStream } from './zlib-handle.js'

/** Why a stored chunk did not decode to its recorded length, or `undefined` when it did. */
export type InflateProblem = string | undefined

export interface ChunkInflater {
  /**
   * Inflates all of `stored` into `out[at, at + rawLength)`; a problem when it is not one whole
   * DEFLATE stream of exactly `rawLength` bytes (then those bytes of `out` are undefined).
   */
  inflateInto(stored: Uint8Array, out: Uint8Array, at: number, rawLength: number): InflateProblem
}

/** One `inflateRawSync` call a chunk: the fallback, and the reference the tests compare with. */
export const plainInflater: ChunkInflater = {
  inflateInto(stored, out, at, rawLength) {
    let raw: Buffer
    try {
      // maxOutputLength stops inflation past the recorded size: a deflate bomb costs nothing.
      raw = inflateRawSync(stored, {
        maxOutputLength: Math.max(1, rawLength),
        chunkSize: Math.max(64, rawLength + 1),
      })
    } catch {
      return 'does not inflate within its recorded length'
    }
    if (raw.length !== rawLength) return `inflates to ${String(raw.length)} bytes`
    out.set(raw, at)
    return undefined
  },
}

class ReusedInflater implements ChunkInflater {
  #reused: ReusableStream | undefined
  #spare = new Uint8Array(0)

  constructor(reused: ReusableStream) {
    this.#reused = reused
  }

  inflateInto(stored: Uint8Array, out: Uint8Array, at: number, rawLength: number): InflateProblem {
    const reused = this.#reused ?? reusableStream(createInflateRaw())
    if (reused === undefined) return plainInflater.inflateInto(stored, out, at, rawLength)
    this.#reused = reused
    if (at + rawLength + 1 > out.length) {
      // No byte to spare after the chunk in `out`, and a stream that fills its room exactly cannot
      // be told from one that goes on: decode beside it, then copy.
      if (this.#spare.length < rawLength + 1) this.#spare = new Uint8Array(rawLength + 1)
      const problem = this.inflateInto(stored, this.#spare, 0, rawLength)
      if (problem === undefined) out.set(this.#spare.subarray(0, rawLength), at)
      return problem
    }
    const { handle, state, stream } = reused
    // Room for one byte past the record: output that reaches it is too long.
    const space = rawLength + 1
    try {
      handle.writeSync(constants.Z_FINISH, stored, 0, stored.length, out, at, space)
    } finally {
      if (!stream.destroyed) handle.reset()
    }
    if (stream.destroyed) {
      // zlib found the stream damaged or cut short (it reports that by destroying the stream).
      this.#reused = undefined
      return 'is not a whole DEFLATE stream'
    }
    const written = space - (state[0] as number)
    if (written > rawLength) return 'inflates past its recorded length'
    if (written !== rawLength) return `inflates to ${String(written)} bytes`
    if ((state[1] as number) !== 0) return 'has bytes after its DEFLATE stream'
    return undefined
  }
}

/** An inflater of its own: on a reused zlib stream where this Node allows, else `plainInflater`. */
export function createChunkInflater(): ChunkInflater {
  const reused = reusableStream(createInflateRaw())
  return reused === undefined ? plainInflater : new ReusedInflater(reused)
}

let threadInflater: ChunkInflater | undefined

/** This thread's inflater (made on first use). */
export function chunkInflater(): ChunkInflater {
  threadInflater ??= createChunkInflater()
  return threadInflater
}
