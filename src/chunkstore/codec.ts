/**
 * How a chunk is stored: a codec byte per chunk (part of the pack format) and the stored bytes.
 *
 * - `0` raw: the chunk as is.
 * - `1` deflate: raw DEFLATE (RFC 1951, no zlib or gzip wrapper), level 1. Any inflater reads it
 *   (node:zlib and fflate are both tested); zstd can come later as another codec byte.
 *
 * Compression is only paid where it pays. Deflate crawls at ~15-45 MB/s on random bytes
 * (against ~150-240 MB/s on text, BENCHMARKS.md), so a chunk is first judged by the order-0
 * entropy of four 1 KiB windows spread over it (histograms: a few µs). When every window is at
 * 7.6 bits a byte or more (random, encrypted, already compressed; 1 KiB of random bytes measures
 * ~7.8) the chunk is stored raw without deflate ever seeing it. When the least is below 7.0 the
 * chunk is deflated at once; between, a deflate probe of the lowest window decides. Windows, not
 * one sample: a chunk that starts with a random page and goes on with rows still compresses.
 * Whatever the path, deflated bytes are kept only when they save at least 10%. Decoding refuses,
 * before allocating more than the recorded raw length, any stored chunk that would inflate past
 * it: `CORRUPT_OBJECT`.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { CairnError } from '../core/errors.js'

export const CODEC_RAW = 0
export const CODEC_DEFLATE = 1
export type Codec = typeof CODEC_RAW | typeof CODEC_DEFLATE

/** True for a codec byte this cairn reads. */
export function isCodec(value: number): value is Codec {
  return value === CODEC_RAW || value === CODEC_DEFLATE
}

const WINDOW_BYTES = 1024
const WINDOWS = 4
/** When every window has at least this many bits a byte, the chunk is taken as incompressible. */
const ENTROPY_RAW = 7.6
/** When some window has less, deflate at once; between the two, a probe decides. */
const ENTROPY_SURE = 7.0
/** Store compressed only when it saves at least this share of the bytes. */
const WORTHWHILE_RATIO = 0.9

const histogram = new Uint32Array(256)
/** c * log2(c) for every count a window can reach: the entropy sum without a log per byte value. */
const C_LOG_C = Float64Array.from({ length: WINDOW_BYTES + 1 }, (_, c) => (c === 0 ? 0 : c * Math.log2(c)))

/**
 * Order-0 entropy of `sample` in bits a byte (0 to 8): log2(n) - sum(c log2 c) / n over the byte
 * counts c. Run on four windows of every new chunk, so the sum reads a table (a log per byte
 * value was ~60% of this function's time) for samples up to a window.
 */
export function sampleEntropy(sample: Uint8Array): number {
  const n = sample.length
  if (n === 0) return 0
  histogram.fill(0)
  for (let i = 0; i < n; i++) histogram[sample[i] as number] = (histogram[sample[i] as number] as number) + 1
  let sum = 0
  for (let b = 0; b < 256; b++) {
    const count = histogram[b] as number
    sum += count <= WINDOW_BYTES ? (C_LOG_C[count] as number) : count * Math.log2(count)
  }
  return Math.max(0, Math.log2(n) - sum / n)
}

export interface StoredChunk {
  readonly codec: Codec
  readonly bytes: Uint8Array
}

/** Compresses a chunk when that pays, else keeps it raw. */
export function encodeChunk(data: Uint8Array, compression: 'deflate' | 'none' = 'deflate'): StoredChunk {
  if (compression === 'none' || data.length === 0) return { codec: CODEC_RAW, bytes: data }
  // The window of least entropy, among WINDOWS spread evenly over the chunk.
  let least = data.length < WINDOW_BYTES ? 0 : 8
  let leastAt = 0
  // Only whole windows: a few bytes always look compressible. A chunk under a window is
  // simply deflated (it costs little).
  const step = Math.max(WINDOW_BYTES, Math.floor(data.length / WINDOWS))
  for (let at = 0; at + WINDOW_BYTES <= data.length; at += step) {
    const entropy = sampleEntropy(data.subarray(at, at + WINDOW_BYTES))
    if (entropy < least) {
      least = entropy
      leastAt = at
    }
  }
  if (least >= ENTROPY_RAW) return { codec: CODEC_RAW, bytes: data }
  if (least >= ENTROPY_SURE) {
    const probe = data.subarray(leastAt, leastAt + 4 * WINDOW_BYTES)
    if (deflateRawSync(probe, { level: 1 }).length > probe.length * WORTHWHILE_RATIO) {
      return { codec: CODEC_RAW, bytes: data }
    }
  }
  const packed = deflateRawSync(data, { level: 1 })
  return packed.length <= data.length * WORTHWHILE_RATIO
    ? { codec: CODEC_DEFLATE, bytes: new Uint8Array(packed.buffer, packed.byteOffset, packed.length) }
    : { codec: CODEC_RAW, bytes: data }
}

/**
 * The chunk's raw bytes. `rawLength` comes from the pack footer; a stored chunk that decodes to
 * any other length, or is not valid for its codec, is `CORRUPT_OBJECT` naming `where`.
 */
export function decodeChunk(codec: number, stored: Uint8Array, rawLength: number, where: string): Uint8Array {
  const corrupt = (why: string, cause?: unknown) =>
    new CairnError('CORRUPT_OBJECT', `chunk ${why}`, { op: 'chunk.decode', path: where, cause })
  if (codec === CODEC_RAW) {
    if (stored.length !== rawLength)
      throw corrupt(`is ${String(stored.length)} bytes, its footer says ${String(rawLength)}`)
    return stored
  }
  if (codec !== CODEC_DEFLATE) throw corrupt(`has unknown codec ${String(codec)}`)
  let raw: Buffer
  try {
    // maxOutputLength stops inflation at the recorded size: a deflate bomb costs nothing. One
    // output buffer a byte larger than the recorded size: zlib's default 16 KiB pieces, joined
    // after, cost a copy of most chunks (measured: ~10-20% of inflate's time on 8-64 KiB chunks),
    // and a buffer filled exactly makes node allocate a second one to look for more output.
    raw = inflateRawSync(stored, {
      maxOutputLength: Math.max(1, rawLength),
      chunkSize: Math.max(64, rawLength + 1),
    })
  } catch (error) {
    throw corrupt('does not inflate within its recorded length', error)
  }
  if (raw.length !== rawLength)
    throw corrupt(`inflates to ${String(raw.length)} bytes, its footer says ${String(rawLength)}`)
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.length)
}
