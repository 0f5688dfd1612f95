/**
 * A node:zlib stream's native handle, for callers that run one stream piece after piece (reset
 * between pieces) straight into their own buffers: deflater.ts and inflater.ts. A stream per
 * piece (what `deflateRawSync` and `inflateRawSync` make) costs an allocation, page faults and
 * JavaScript plumbing per call, which on 16 KiB chunks was a large share of the work.
 *
 * The handle is reached through node:zlib's own fields (`_handle`, `_writeState`: what its
 * synchronous functions use). Where a Node lacks them, `reusableStream` says so and callers
 * fall back to the synchronous functions: nothing but speed depends on these fields.
 */
import type { DeflateRaw, InflateRaw } from 'node:zlib'

/** What node:zlib's native handle offers its synchronous path. */
export interface ZlibHandle {
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

/** A stream, its handle, and the array the handle reports room left in (output, then input). */
export interface ReusableStream {
  readonly stream: DeflateRaw | InflateRaw
  readonly handle: ZlibHandle
  readonly state: Uint32Array
}

function hasHandle(value: unknown): value is ZlibHandle {
  if (typeof value !== 'object' || value === null) return false
  const fields = value as Partial<Record<keyof ZlibHandle, unknown>>
  return typeof fields.writeSync === 'function' && typeof fields.reset === 'function'
}

/** `stream`'s handle, when this Node's zlib has the fields its synchronous path uses (else it is closed). */
export function reusableStream(stream: DeflateRaw | InflateRaw): ReusableStream | undefined {
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
