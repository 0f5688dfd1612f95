/**
 * The log's byte formats (documented in docs/FORMAT.md). All integers are little-endian; LSNs
 * are 64-bit on disk and safe integers in memory.
 *
 * Segment header, 40 bytes:
 *   0  magic "CAIRNWAL" (8)   8  version u16 (1)   10 header bytes u16 (40)   12 flags u32 (0)
 *   16 base LSN u64: the first LSN the segment holds
 *   24 salt (8 random bytes): seeds every frame CRC, so a frame from any other segment file
 *      (a stale copy, a recycled file) can never validate here
 *   32 reserved u32 (0)       36 CRC-32C of bytes 0..36
 *
 * Frame, one per group-commit batch (or appendMany), 28-byte header then the records:
 *   0  CRC-32C u32 over salt ++ bytes 4..28 ++ payload
 *   4  payload bytes u32      8  first LSN u64     16 synced LSN u64      24 record count u32
 *   28 payload: for each record, its length u32 then its bytes
 * A frame is all or nothing: its records are acknowledged together, so `appendMany` is atomic.
 * "Synced LSN" is the highest LSN known durable when the frame was written. Recovery uses it to
 * tell a torn tail (damage nobody was told was durable) from corruption (damage to a frame that
 * a later frame says was already durable).
 */
import { assert } from '../core/assert.js'
import { crc32c } from '../core/crc32c.js'
import { CairnError } from '../core/errors.js'
import { frameRecordsMax, walRecordBytesMax } from '../core/limits.js'

export const SEGMENT_MAGIC = 'CAIRNWAL'
export const SEGMENT_VERSION = 1
export const SEGMENT_HEADER_BYTES = 40
export const FRAME_HEADER_BYTES = 28
export const RECORD_PREFIX_BYTES = 4
/** The largest frame payload a reader accepts: one maximal record, or a full batch. */
export const FRAME_PAYLOAD_BYTES_MAX: number = walRecordBytesMax + RECORD_PREFIX_BYTES

const MAGIC_BYTES = new TextEncoder().encode(SEGMENT_MAGIC)
const TWO_POW_32 = 0x1_0000_0000

export interface SegmentHeader {
  readonly version: number
  readonly baseLsn: number
  readonly salt: Uint8Array
}

/** Why a header failed to decode; the caller turns it into a coded error with the path. */
export type HeaderProblem = 'short' | 'magic' | 'version' | 'checksum'

export interface FrameHeader {
  readonly payloadBytes: number
  readonly firstLsn: number
  readonly syncedLsn: number
  readonly count: number
}

function writeU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, value % TWO_POW_32, true)
  view.setUint32(offset + 4, Math.floor(value / TWO_POW_32), true)
}

function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset, true) + view.getUint32(offset + 4, true) * TWO_POW_32
}

export function encodeSegmentHeader(baseLsn: number, salt: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES)
  const view = new DataView(bytes.buffer)
  bytes.set(MAGIC_BYTES, 0)
  view.setUint16(8, SEGMENT_VERSION, true)
  view.setUint16(10, SEGMENT_HEADER_BYTES, true)
  writeU64(view, 16, baseLsn)
  bytes.set(salt.subarray(0, 8), 24)
  view.setUint32(36, crc32c(bytes.subarray(0, 36)), true)
  return bytes
}

export function decodeSegmentHeader(bytes: Uint8Array): SegmentHeader | HeaderProblem {
  if (bytes.length < SEGMENT_HEADER_BYTES) return 'short'
  for (let i = 0; i < MAGIC_BYTES.length; i++) if (bytes[i] !== MAGIC_BYTES[i]) return 'magic'
  const view = new DataView(bytes.buffer, bytes.byteOffset, SEGMENT_HEADER_BYTES)
  if (view.getUint32(36, true) !== crc32c(bytes.subarray(0, 36))) return 'checksum'
  const version = view.getUint16(8, true)
  if (version > SEGMENT_VERSION) return 'version'
  return { version, baseLsn: readU64(view, 16), salt: bytes.slice(24, 32) }
}

/**
 * Encodes records into one frame. They come as groups (one per append of the batch) so a batch
 * needs no flattening; the frame is the groups' records in order.
 */
export function encodeFrame(
  groups: readonly (readonly Uint8Array[])[],
  firstLsn: number,
  syncedLsn: number,
  salt: Uint8Array,
): Uint8Array {
  let payloadBytes = 0
  let count = 0
  for (const group of groups) {
    count += group.length
    for (const record of group) payloadBytes += RECORD_PREFIX_BYTES + record.length
  }
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payloadBytes)
  const view = new DataView(frame.buffer)
  view.setUint32(4, payloadBytes, true)
  writeU64(view, 8, firstLsn)
  writeU64(view, 16, syncedLsn)
  view.setUint32(24, count, true)
  let at = FRAME_HEADER_BYTES
  for (const group of groups) {
    for (const record of group) {
      view.setUint32(at, record.length, true)
      frame.set(record, at + RECORD_PREFIX_BYTES)
      at += RECORD_PREFIX_BYTES + record.length
    }
  }
  view.setUint32(0, frameChecksum(frame, salt), true)
  return frame
}

/** The CRC a frame must carry: over the salt, the header after the CRC field, and the payload. */
export function frameChecksum(frame: Uint8Array, salt: Uint8Array): number {
  return crc32c(frame.subarray(4), crc32c(salt))
}

/**
 * Reads a frame header and checks it is plausible (sizes within limits, LSNs ordered). Returns
 * undefined for an implausible header; the CRC is checked separately, once the payload is read.
 */
export function decodeFrameHeader(bytes: Uint8Array): FrameHeader | undefined {
  if (bytes.length < FRAME_HEADER_BYTES) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_BYTES)
  const payloadBytes = view.getUint32(4, true)
  const firstLsn = readU64(view, 8)
  const syncedLsn = readU64(view, 16)
  const count = view.getUint32(24, true)
  const plausible =
    payloadBytes <= FRAME_PAYLOAD_BYTES_MAX &&
    count >= 1 &&
    count <= frameRecordsMax &&
    count * RECORD_PREFIX_BYTES <= payloadBytes &&
    firstLsn >= 1 &&
    Number.isSafeInteger(firstLsn + count) &&
    syncedLsn < firstLsn
  return plausible ? { payloadBytes, firstLsn, syncedLsn, count } : undefined
}

/** The stored CRC of a frame. */
export function storedChecksum(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true)
}

/**
 * Splits a checked frame's payload into its records (views into `frame`). Returns undefined when
 * the record lengths do not add up to the payload exactly.
 */
export function decodeRecords(frame: Uint8Array, header: FrameHeader): Uint8Array[] | undefined {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length)
  const records: Uint8Array[] = []
  let at = FRAME_HEADER_BYTES
  const end = FRAME_HEADER_BYTES + header.payloadBytes
  for (let i = 0; i < header.count; i++) {
    if (at + RECORD_PREFIX_BYTES > end) return undefined
    const length = view.getUint32(at, true)
    at += RECORD_PREFIX_BYTES
    if (at + length > end) return undefined
    records.push(frame.subarray(at, at + length))
    at += length
  }
  return at === end ? records : undefined
}

/**
 * The payload bytes of records, checked against the limits before anything is queued.
 * Throws `LIMIT_EXCEEDED`; a non-Uint8Array record is a bug (AssertionError).
 */
export function measureRecords(records: readonly Uint8Array[]): number {
  if (records.length > frameRecordsMax) {
    throw new CairnError('LIMIT_EXCEEDED', `at most ${String(frameRecordsMax)} records per appendMany`, {
      op: 'wal.append',
    })
  }
  let bytes = 0
  for (const record of records) {
    assert(record instanceof Uint8Array, 'a record must be a Uint8Array')
    if (record.length > walRecordBytesMax) {
      throw new CairnError('LIMIT_EXCEEDED', `a record may hold at most ${String(walRecordBytesMax)} bytes`, {
        op: 'wal.append',
      })
    }
    bytes += RECORD_PREFIX_BYTES + record.length
  }
  if (bytes > walRecordBytesMax + RECORD_PREFIX_BYTES) {
    throw new CairnError(
      'LIMIT_EXCEEDED',
      `one appendMany may hold at most ${String(walRecordBytesMax)} bytes`,
      {
        op: 'wal.append',
      },
    )
  }
  return bytes
}
