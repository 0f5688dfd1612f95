/**
 * How a chunk is stored: a codec byte per chunk (part of the pack format) and the stored bytes.
 *
 * - `0` raw: the chunk as is.
 * - `1` deflate: raw DEFLATE (RFC 1951, no zlib or gzip wrapper), level 1. Any inflater reads it
 *   (node:zlib and fflate are both tested); zstd can come later as another codec byte.
 *
 * Compression is only paid where it pays: a probe deflates at most the first 8 KiB, and a chunk
 * whose probe does not shrink by 10% is stored raw (deflate crawls at ~15-45 MB/s on random bytes,
 * against ~150-240 MB/s on text, BENCHMARKS.md). Decoding refuses, before allocating more than
 * the recorded raw length, any stored chunk that would inflate past it: `CORRUPT_OBJECT`.
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

const PROBE_BYTES = 8 * 1024
/** Store compressed only when it saves at least this share of the bytes. */
const WORTHWHILE_RATIO = 0.9

export interface StoredChunk {
  readonly codec: Codec
  readonly bytes: Uint8Array
}

/** Compresses a chunk when that pays, else keeps it raw. */
export function encodeChunk(data: Uint8Array, compression: 'deflate' | 'none' = 'deflate'): StoredChunk {
  if (compression === 'none' || data.length === 0) return { codec: CODEC_RAW, bytes: data }
  const probe = data.subarray(0, PROBE_BYTES)
  if (deflateRawSync(probe, { level: 1 }).length > probe.length * WORTHWHILE_RATIO) {
    return { codec: CODEC_RAW, bytes: data }
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
    // maxOutputLength stops inflation at the recorded size: a deflate bomb costs nothing.
    raw = inflateRawSync(stored, { maxOutputLength: Math.max(1, rawLength) })
  } catch (error) {
    throw corrupt('does not inflate within its recorded length', error)
  }
  if (raw.length !== rawLength)
    throw corrupt(`inflates to ${String(raw.length)} bytes, its footer says ${String(rawLength)}`)
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.length)
}
