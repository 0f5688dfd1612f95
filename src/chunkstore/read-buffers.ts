/**
 * The buffers a restore reads its gets into (read-to-file.ts), and a GC repack its candidate packs
 * (repack.ts), reused from get to get. Only buffers taken from here may be given back: a store's
 * own may share its memory with other buffers (node's small ones do). A fresh buffer for every get
 * meant fresh pages, each faulted in on its first byte: a 268 MB restore took ~35,000 page
 * faults, and on a virtual machine whose host takes back freed memory (this one reports free
 * pages to it) a fault costs several microseconds. A buffer goes to a worker thread whole and
 * comes back with its reply (chunk-work.ts `place`), so one restore touches only a few of them.
 */

/** The smallest buffer made; larger ones are powers of two, so gets of about one size share them. */
const MIN_BYTES = 64 * 1024

export class ReadBuffers {
  /** Kept buffers, smallest first. */
  readonly #free: ArrayBuffer[] = []
  readonly #keepBytes: number
  #keptBytes = 0

  /** Keeps at most `keepBytes` of buffers between gets (the rest go to the garbage collector). */
  constructor(keepBytes: number) {
    this.#keepBytes = keepBytes
  }

  /** Bytes of buffers kept now, waiting for a get. */
  get keptBytes(): number {
    return this.#keptBytes
  }

  /**
   * A buffer of at least `length` bytes: the smallest kept one that fits, or a new one (not
   * zero-filled: reads fill it).
   */
  take(length: number): Uint8Array {
    const index = this.#free.findIndex((buffer) => buffer.byteLength >= length)
    if (index >= 0) {
      const buffer = this.#free.splice(index, 1)[0] as ArrayBuffer
      this.#keptBytes -= buffer.byteLength
      return new Uint8Array(buffer)
    }
    let size = MIN_BYTES
    while (size < length) size *= 2
    return new Uint8Array(Buffer.allocUnsafeSlow(size).buffer)
  }

  /**
   * Keeps `buffer` for a later get while the kept bytes stay within bounds. Anything else (a
   * buffer already kept, one handed to a thread and never given back: length 0) is let go.
   */
  give(buffer: ArrayBufferLike): void {
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0 || this.#free.includes(buffer)) return
    if (this.#keptBytes + buffer.byteLength > this.#keepBytes) return
    const at = this.#free.findIndex((kept) => kept.byteLength >= buffer.byteLength)
    this.#free.splice(at < 0 ? this.#free.length : at, 0, buffer)
    this.#keptBytes += buffer.byteLength
  }
}

/** A pack's bytes past its target size: the chunk that fills it, and its footer. */
const PACK_SPARE_BYTES = 1024 * 1024

/**
 * Buffers to seal packs of about `packBytes` into, reused from pack to pack (the chunk store's,
 * a GC repack's: one sealed pack waits while another is put). Kept: four packs' bytes, with room
 * to spare, at most; that is two buffers where a pack's size rounds up to twice it.
 */
export function packBuffers(packBytes: number): ReadBuffers {
  return new ReadBuffers(4 * (packBytes + PACK_SPARE_BYTES))
}
