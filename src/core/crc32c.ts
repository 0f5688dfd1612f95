/**
 * CRC-32C (Castagnoli, polynomial 0x82F63B78, reflected), the checksum of iSCSI, ext4 metadata,
 * RocksDB and LevelDB logs. `zlib.crc32` is CRC-32 (IEEE), a different polynomial.
 *
 * Two implementations, chosen by size (measured here, ns per call):
 *
 * | bytes        | 128 | 512 | 1,024 | 4,096 | 1 MiB            |
 * | ------------ | --- | --- | ----- | ----- | ---------------- |
 * | slice-by-8 JS| 222 | 675 | 1,287 | 4,604 | ~1.1 ms (0.9 GB/s) |
 * | @node-rs/crc32 (native) | 572 | 663 | 914 | 1,881 | ~0.27 ms (3.9 GB/s) |
 *
 * The native binding costs ~0.5 us a call, so small inputs (a log record) stay in JavaScript and
 * large ones (a group-commit frame, a replay window) go native: the log's CRC of a 256 KiB frame
 * drops from ~290 us to ~70 us. Where the binding cannot load (an unsupported platform), the
 * JavaScript table serves every size. Loading a native module is the one thing this core file
 * does beyond pure computation; it has no I/O.
 */
import { createRequire } from 'node:module'

type NativeCrc32c = (input: Buffer, initialState?: number) => number

/** Inputs from this size up are checksummed natively, when the binding is available. */
const NATIVE_MIN_BYTES = 1024

const native: NativeCrc32c | undefined = loadNative()

function loadNative(): NativeCrc32c | undefined {
  try {
    const binding = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: NativeCrc32c }
    return typeof binding.crc32c === 'function' ? binding.crc32c : undefined
  } catch {
    // No prebuilt binary for this platform (or the package is absent): the JavaScript table
    // computes the same checksum, only slower for large inputs.
    return undefined
  }
}

/** True when large inputs are checksummed by the native binding. */
export const crc32cIsNative: boolean = native !== undefined

// Eight 256-entry tables laid end to end: TABLE[t * 256 + n]. One flat typed array keeps every
// lookup a bounds-checked load on one object, which is what makes slice-by-8 fast in V8.
const TABLE: Int32Array = buildTable()

function buildTable(): Int32Array {
  const table = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    table[n] = c
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n] as number
    for (let t = 1; t < 8; t++) {
      c = (c >>> 8) ^ (table[c & 0xff] as number)
      table[t * 256 + n] = c
    }
  }
  return table
}

// Whole 32-bit words can be read through an Int32Array only on a little-endian machine.
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1
// Below this size the typed view costs more than it saves.
const WORD_PATH_MIN_BYTES = 256

/**
 * Extends a running CRC-32C with `data`. Start with `crc = 0`; `crc32c(b, crc32c(a))` equals
 * `crc32c(a ++ b)`. Returns an unsigned 32-bit integer.
 */
export function crc32c(data: Uint8Array, crc = 0): number {
  if (native !== undefined && data.length >= NATIVE_MIN_BYTES) {
    return native(Buffer.from(data.buffer, data.byteOffset, data.length), crc) >>> 0
  }
  return crc32cTable(data, crc)
}

/** The JavaScript slice-by-8 implementation, for every size. Exported for tests and benches. */
export function crc32cTable(data: Uint8Array, crc = 0): number {
  const t = TABLE
  let c = ~crc | 0
  let i = 0
  const n = data.length
  // Typed-array reads in range are numbers; the casts only tell TypeScript what V8 already knows.
  if (LITTLE_ENDIAN && n >= WORD_PATH_MIN_BYTES) {
    const head = (4 - (data.byteOffset & 3)) & 3
    while (i < head) {
      c = (t[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8)
      i += 1
    }
    const pairs = (n - i) >>> 3
    const words = new Int32Array(data.buffer, data.byteOffset + i, pairs * 2)
    for (let k = 0; k < pairs * 2; k += 2) {
      const lo = c ^ (words[k] as number)
      const hi = words[k + 1] as number
      c =
        (t[1792 + (lo & 0xff)] as number) ^
        (t[1536 + ((lo >>> 8) & 0xff)] as number) ^
        (t[1280 + ((lo >>> 16) & 0xff)] as number) ^
        (t[1024 + (lo >>> 24)] as number) ^
        (t[768 + (hi & 0xff)] as number) ^
        (t[512 + ((hi >>> 8) & 0xff)] as number) ^
        (t[256 + ((hi >>> 16) & 0xff)] as number) ^
        (t[hi >>> 24] as number)
    }
    i += pairs * 8
  } else {
    const end8 = n - (n % 8)
    while (i < end8) {
      const lo =
        c ^
        ((data[i] as number) |
          ((data[i + 1] as number) << 8) |
          ((data[i + 2] as number) << 16) |
          ((data[i + 3] as number) << 24))
      c =
        (t[1792 + (lo & 0xff)] as number) ^
        (t[1536 + ((lo >>> 8) & 0xff)] as number) ^
        (t[1280 + ((lo >>> 16) & 0xff)] as number) ^
        (t[1024 + (lo >>> 24)] as number) ^
        (t[768 + (data[i + 4] as number)] as number) ^
        (t[512 + (data[i + 5] as number)] as number) ^
        (t[256 + (data[i + 6] as number)] as number) ^
        (t[data[i + 7] as number] as number)
      i += 8
    }
  }
  while (i < n) {
    c = (t[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8)
    i += 1
  }
  return ~c >>> 0
}
