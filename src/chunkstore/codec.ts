/**
 * How a chunk is stored: a codec byte per chunk (part of the pack format) and the stored bytes.
 *
 * - `0` raw: the chunk as is.
 * - `1` deflate: raw DEFLATE (RFC 1951, no zlib or gzip wrapper), level 1. Any inflater reads it
 *   (node:zlib and fflate are both tested); zstd can come later as another codec byte.
 *
 * Compression is only paid where it pays. Deflate crawls at ~55 MB/s on random bytes against
 * ~200 MB/s on rows of text (measured here), and inflating what it made of them is slow too. So
 * the chunk is judged 1 KiB window by window first, by how many distinct byte values a sample of
 * every third byte holds (~340 samples: random bytes show ~175-200, text and rows under 90,
 * bf16 tensors ~115-135, measured). A stride of three, not four, so a sample visits every byte of
 * 2-, 4- and 8-byte records. Runs of windows that look random are written as DEFLATE *stored*
 * blocks (the bytes as they are, behind a 5-byte header) and only the rest goes through deflate,
 * each piece ending on a byte boundary (a sync flush), all in one valid DEFLATE stream: the
 * database file of the chunk-store bench, whose 4 KiB random blob pages sit among its rows,
 * encodes ~10% faster, inflates ~15% faster and stores ~2% fewer bytes than deflating every
 * window. A chunk that is random throughout is stored raw without deflate ever seeing it.
 * Whatever the path, deflated bytes are kept only when they save at least 10%, and deflate writes
 * straight into the caller's buffer, stopping as soon as it passes that mark (deflater.ts: one zlib
 * stream per thread, reset between pieces, not a new one per piece). Decoding works the same
 * way (inflater.ts) and refuses, without allocating past the recorded raw length, any stored
 * chunk that would inflate past it: `CORRUPT_OBJECT`.
 */
import { CairnError } from '../core/errors.js'
import { pieceDeflater } from './deflater.js'
import { chunkInflater } from './inflater.js'
import { wasmCutter } from './gear-wasm.js'
import type { WasmCutter } from './gear-wasm.js'

export const CODEC_RAW = 0
export const CODEC_DEFLATE = 1
export type Codec = typeof CODEC_RAW | typeof CODEC_DEFLATE

/** True for a codec byte this cairn reads. */
export function isCodec(value: number): value is Codec {
  return value === CODEC_RAW || value === CODEC_DEFLATE
}

const WINDOW_BYTES = 1024
/** Every this many bytes of a window is sampled. */
const SAMPLE_STRIDE = 3
/** A window whose sample holds at least this many distinct byte values is taken as random. */
const RANDOM_DISTINCT = 150
/** Random runs shorter than this stay in the deflated piece around them (a deflate call costs ~10 µs). */
const STORED_RUN_MIN = 2 * WINDOW_BYTES
/** Store compressed only when it saves at least this share of the bytes. */
const WORTHWHILE_RATIO = 0.9
/** DEFLATE stored blocks: a header byte (BFINAL, BTYPE 00, padding), LEN and NLEN; at most 65,535 bytes. */
const STORED_HEADER_BYTES = 5
const STORED_BLOCK_MAX = 65_535
/** An empty final stored block: ends a stream whose last piece was flushed, not finished. */
const FINAL_EMPTY_BLOCK = Uint8Array.of(1, 0, 0, 0xff, 0xff)

const seen = new Uint8Array(256)

/** How many distinct byte values `data[start, start + WINDOW_BYTES)` shows, every third byte. */
export function windowDistinct(data: Uint8Array, start: number): number {
  seen.fill(0)
  let distinct = 0
  const end = Math.min(data.length, start + WINDOW_BYTES)
  for (let i = start; i < end; i += SAMPLE_STRIDE) {
    const byte = data[i] as number
    if (seen[byte] === 0) {
      seen[byte] = 1
      distinct++
    }
  }
  return distinct
}

/**
 * The runs of whole windows that look random, as start, end pairs in order; runs shorter than
 * `STORED_RUN_MIN` are left out (except one covering the whole chunk). A last partial window is
 * never random: a few bytes always look compressible. The windows are counted in WebAssembly where
 * it runs (`cutter`, gear-wasm.ts: ~3x the JavaScript loop), else by `windowDistinct`: the same
 * counts.
 */
export function randomRuns(data: Uint8Array, cutter: WasmCutter | null = wasmCutter()): number[] {
  const runs: number[] = []
  if (data.length < WINDOW_BYTES) return runs
  if (cutter !== null) cutter.load(data)
  let runStart = -1
  const close = (end: number) => {
    if (runStart >= 0 && (end - runStart >= STORED_RUN_MIN || (runStart === 0 && end === data.length)))
      runs.push(runStart, end)
    runStart = -1
  }
  let at = 0
  for (; at + WINDOW_BYTES <= data.length; at += WINDOW_BYTES) {
    const distinct = cutter === null ? windowDistinct(data, at) : cutter.distinct(at, at + WINDOW_BYTES)
    if (distinct >= RANDOM_DISTINCT) {
      if (runStart < 0) runStart = at
    } else close(at)
  }
  close(at)
  return runs
}

/** `data` as stored blocks (none final) into `out` at `at`; returns where they end. */
function putStoredBlocks(out: Uint8Array, at: number, data: Uint8Array): number {
  for (let from = 0; from < data.length; from += STORED_BLOCK_MAX) {
    const length = Math.min(STORED_BLOCK_MAX, data.length - from)
    out[at] = 0
    out[at + 1] = length & 0xff
    out[at + 2] = length >>> 8
    out[at + 3] = ~length & 0xff
    out[at + 4] = (~length >>> 8) & 0xff
    out.set(data.subarray(from, from + length), at + STORED_HEADER_BYTES)
    at += STORED_HEADER_BYTES + length
  }
  return at
}

/**
 * One DEFLATE stream of `data` into `out` at `at`, within `room` bytes: `runs` as stored blocks,
 * the other pieces deflated, each flushed to a byte boundary, the last one finished (or an empty
 * final block ends the stream). The bytes written, or `undefined` when the stream would not fit.
 */
function deflateAround(
  data: Uint8Array,
  runs: readonly number[],
  out: Uint8Array,
  at: number,
  room: number,
): number | undefined {
  const deflater = pieceDeflater()
  const limit = at + room
  let put = at
  let from = 0
  for (let i = 0; i < runs.length; i += 2) {
    const start = runs[i] as number
    const end = runs[i + 1] as number
    if (start > from) {
      const written = deflater.deflateInto(data.subarray(from, start), out, put, limit - put, 'flush')
      if (written === undefined) return undefined
      put += written
    }
    const stored = data.subarray(start, end)
    if (put + stored.length + STORED_HEADER_BYTES * Math.ceil(stored.length / STORED_BLOCK_MAX) > limit)
      return undefined
    put = putStoredBlocks(out, put, stored)
    from = end
  }
  if (from < data.length) {
    const written = deflater.deflateInto(data.subarray(from), out, put, limit - put, 'final')
    if (written === undefined) return undefined
    put += written
  } else {
    if (put + FINAL_EMPTY_BLOCK.length > limit) return undefined
    out.set(FINAL_EMPTY_BLOCK, put)
    put += FINAL_EMPTY_BLOCK.length
  }
  return put - at
}

export interface StoredChunk {
  readonly codec: Codec
  readonly bytes: Uint8Array
}

/** A chunk's stored form as written into a caller's buffer: its codec and length. */
export interface StoredForm {
  readonly codec: Codec
  readonly length: number
}

/**
 * Writes a chunk's stored form into `out` at `at`, which must have room for `data.length` bytes
 * (a raw chunk is copied there): deflated when that saves at least 10%, else raw. Deflate stops
 * as soon as its output passes that mark.
 */
export function encodeChunkInto(
  data: Uint8Array,
  out: Uint8Array,
  at: number,
  compression: 'deflate' | 'none' = 'deflate',
): StoredForm {
  if (at + data.length > out.length)
    throw new CairnError('OUT_OF_RANGE', `no room for a ${String(data.length)}-byte chunk at ${String(at)}`, {
      op: 'chunk.encode',
    })
  const raw = (): StoredForm => {
    out.set(data, at)
    return { codec: CODEC_RAW, length: data.length }
  }
  if (compression === 'none' || data.length === 0) return raw()
  const runs = randomRuns(data)
  let random = 0
  for (let i = 0; i < runs.length; i += 2) random += (runs[i + 1] as number) - (runs[i] as number)
  // Stored blocks alone would keep these bytes: when that already misses the mark, deflate nothing.
  if (random > data.length * WORTHWHILE_RATIO) return raw()
  const room = Math.floor(data.length * WORTHWHILE_RATIO)
  const written =
    runs.length === 0
      ? pieceDeflater().deflateInto(data, out, at, room, 'final')
      : deflateAround(data, runs, out, at, room)
  return written === undefined ? raw() : { codec: CODEC_DEFLATE, length: written }
}

/** Compresses a chunk when that pays, else keeps it raw (the chunk itself, not a copy). */
export function encodeChunk(data: Uint8Array, compression: 'deflate' | 'none' = 'deflate'): StoredChunk {
  const out = new Uint8Array(data.length)
  const form = encodeChunkInto(data, out, 0, compression)
  if (form.codec === CODEC_RAW) return { codec: CODEC_RAW, bytes: data }
  return { codec: form.codec, bytes: out.subarray(0, form.length) }
}

function corruptChunk(why: string, where: string): CairnError {
  return new CairnError('CORRUPT_OBJECT', `chunk ${why}`, { op: 'chunk.decode', path: where })
}

/** What the stored bytes say, checked before any work or buffer: a raw chunk's length, the codec. */
function checkStoredForm(codec: number, stored: Uint8Array, rawLength: number, where: string): void {
  if (codec === CODEC_RAW && stored.length !== rawLength)
    throw corruptChunk(`is ${String(stored.length)} bytes, its footer says ${String(rawLength)}`, where)
  if (codec !== CODEC_RAW && codec !== CODEC_DEFLATE)
    throw corruptChunk(`has unknown codec ${String(codec)}`, where)
}

/**
 * Decodes a stored chunk into `out` at `at` (room for `rawLength` bytes, and one more spares a
 * copy). `rawLength` comes from the pack footer; a stored chunk that decodes to any other length,
 * or is not valid for its codec, is `CORRUPT_OBJECT` naming `where`, and what stands in those
 * bytes of `out` is then undefined.
 */
export function decodeChunkInto(
  codec: number,
  stored: Uint8Array,
  rawLength: number,
  out: Uint8Array,
  at: number,
  where: string,
): void {
  checkStoredForm(codec, stored, rawLength, where)
  if (at + rawLength > out.length)
    throw new CairnError('OUT_OF_RANGE', `no room for a ${String(rawLength)}-byte chunk at ${String(at)}`, {
      op: 'chunk.decode',
      path: where,
    })
  if (codec === CODEC_RAW) {
    out.set(stored, at)
    return
  }
  // Never past the recorded length: a deflate bomb costs nothing (inflater.ts).
  const problem = chunkInflater().inflateInto(stored, out, at, rawLength)
  if (problem !== undefined)
    throw corruptChunk(`${problem}, its footer says ${String(rawLength)} bytes`, where)
}

/** The chunk's raw bytes (a raw chunk's are `stored` itself); errors as `decodeChunkInto`'s. */
export function decodeChunk(codec: number, stored: Uint8Array, rawLength: number, where: string): Uint8Array {
  checkStoredForm(codec, stored, rawLength, where)
  if (codec === CODEC_RAW) return stored
  // One byte to spare: the inflater tells a stream that ends from one that goes on without a copy.
  const out = new Uint8Array(rawLength + 1)
  decodeChunkInto(codec, stored, rawLength, out, 0, where)
  return out.subarray(0, rawLength)
}
