/**
 * Unsigned LEB128 varints for the key-value store's records and images: 7 bits a byte, low
 * bits first, the high bit set on every byte but the last. Values up to 2^35 - 1 (five bytes) are
 * accepted on read, far above any length the store writes; a longer or unterminated varint is
 * reported to the caller, which names the place (`CORRUPT_LOG` with its LSN, `CORRUPT_OBJECT`).
 */

/** The most bytes a varint may take here. */
const VARINT_BYTES_MAX = 5

/** How many bytes `value` (a non-negative safe integer) takes as a varint. */
export function varintBytes(value: number): number {
  let bytes = 1
  for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) bytes++
  return bytes
}

/** Writes `value` at `offset`; returns the offset after it. */
export function writeVarint(target: Uint8Array, offset: number, value: number): number {
  let at = offset
  let rest = value
  while (rest >= 128) {
    target[at++] = (rest % 128) | 0x80
    rest = Math.floor(rest / 128)
  }
  target[at++] = rest
  return at
}

/** A cursor over bytes being decoded; `fail` says why and where, and throws. */
export class ByteReader {
  readonly bytes: Uint8Array
  offset: number
  readonly #fail: (why: string, offset: number) => never

  constructor(bytes: Uint8Array, offset: number, fail: (why: string, offset: number) => never) {
    this.bytes = bytes
    this.offset = offset
    this.#fail = fail
  }

  get remaining(): number {
    return this.bytes.length - this.offset
  }

  byte(what: string): number {
    const value = this.bytes[this.offset]
    if (value === undefined) return this.#fail(`ends before its ${what}`, this.offset)
    this.offset++
    return value
  }

  varint(what: string, max: number): number {
    const start = this.offset
    let value = 0
    let scale = 1
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      const byte = this.bytes[this.offset]
      if (byte === undefined) return this.#fail(`ends inside its ${what}`, start)
      this.offset++
      value += (byte & 0x7f) * scale
      if ((byte & 0x80) === 0) {
        if (value > max) return this.#fail(`has a ${what} of ${String(value)}, above ${String(max)}`, start)
        return value
      }
      scale *= 128
    }
    return this.#fail(`has a ${what} longer than ${String(VARINT_BYTES_MAX)} bytes`, start)
  }

  /** `length` bytes, as a view (no copy). */
  take(length: number, what: string): Uint8Array {
    if (length > this.remaining) {
      return this.#fail(`ends inside its ${what} (${String(length)} bytes announced)`, this.offset)
    }
    const view = this.bytes.subarray(this.offset, this.offset + length)
    this.offset += length
    return view
  }

  fail(why: string, offset: number = this.offset): never {
    return this.#fail(why, offset)
  }
}
