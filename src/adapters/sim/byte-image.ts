/**
 * The contents of one simulated file: a growable byte buffer with a logical size. Appends are
 * amortised O(1), so a simulated log of many megabytes costs what a real one does.
 */

/** A growable byte array with a logical size; bytes past the size are always zero. */
export class ByteImage {
  #buffer: Uint8Array
  #size: number

  constructor(initial?: Uint8Array) {
    this.#buffer = new Uint8Array(Math.max(64, initial?.length ?? 0))
    this.#size = 0
    if (initial !== undefined) this.write(0, initial)
  }

  get size(): number {
    return this.#size
  }

  /** Writes `data` at `offset`, growing the image (a gap reads as zeros). */
  write(offset: number, data: Uint8Array): void {
    const end = offset + data.length
    this.#reserve(end)
    this.#buffer.set(data, offset)
    if (end > this.#size) this.#size = end
  }

  /** Cuts or extends (with zeros) to `size` bytes. */
  truncate(size: number): void {
    if (size < this.#size) this.#buffer.fill(0, size, this.#size)
    else this.#reserve(size)
    this.#size = size
  }

  /** A copy of `length` bytes from `offset`, clipped to the size. */
  read(offset: number, length: number): Uint8Array {
    const end = Math.min(this.#size, offset + length)
    return end <= offset ? new Uint8Array(0) : this.#buffer.slice(offset, end)
  }

  /** Flips bit `bit` of the byte at `offset` (bit rot). */
  flipBit(offset: number, bit: number): void {
    const byte = this.#buffer[offset]
    if (byte === undefined || offset >= this.#size) throw new RangeError(`no byte at offset ${offset}`)
    this.#buffer[offset] = byte ^ (1 << bit)
  }

  /** A copy of the whole image. */
  snapshot(): Uint8Array {
    return this.#buffer.slice(0, this.#size)
  }

  clone(): ByteImage {
    return new ByteImage(this.snapshot())
  }

  #reserve(capacity: number): void {
    if (capacity <= this.#buffer.length) return
    const next = new Uint8Array(Math.max(capacity, this.#buffer.length * 2))
    next.set(this.#buffer.subarray(0, this.#size))
    this.#buffer = next
  }
}
