/**
 * Reading frames out of one segment file with bounded memory: a window of about 1 MiB slides
 * forward as frames are consumed (a frame larger than the window is read on its own).
 * `readFrameAt` never trusts a length before checking it against the file size and the limits,
 * so a lying header costs a comparison, never an allocation. `checkSegmentBytes` checks a whole
 * segment held in memory (log shipping) with the same reader.
 */
import { CairnError } from '../core/errors.js'
import type { VfsFile } from '../core/ports.js'
import { walReadChunkBytes } from '../core/limits.js'
import {
  FRAME_HEADER_BYTES,
  SEGMENT_HEADER_BYTES,
  decodeFrameHeader,
  decodeRecords,
  decodeSegmentHeader,
  encodeFrame,
  frameChecksum,
  storedChecksum,
} from './format.js'
import type { FrameHeader } from './format.js'

/** Why the bytes at an offset are not a valid frame. */
export type DamageReason = 'short' | 'header' | 'checksum' | 'records' | 'lsn'

export type FrameRead =
  | {
      readonly kind: 'frame'
      readonly offset: number
      readonly header: FrameHeader
      readonly records: Uint8Array[]
    }
  | { readonly kind: 'end'; readonly offset: number }
  | { readonly kind: 'damage'; readonly offset: number; readonly reason: DamageReason }

/**
 * Sequential, windowed reads of one file whose size is fixed for the reader's life. Only `read`
 * is used, so bytes already in memory (a segment downloaded from an object store) can be read
 * through the same checks.
 */
export class WindowReader {
  readonly file: Pick<VfsFile, 'read'>
  readonly size: number
  #start = 0
  #window: Uint8Array = new Uint8Array(0)

  constructor(file: Pick<VfsFile, 'read'>, size: number) {
    this.file = file
    this.size = size
  }

  /** `length` bytes at `offset` (a view; valid until the next call). The caller checks bounds. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const end = offset + length
    if (offset < this.#start || end > this.#start + this.#window.length) {
      const want = Math.min(this.size - offset, Math.max(length, walReadChunkBytes))
      this.#window = await this.file.read(offset, want)
      this.#start = offset
      if (this.#window.length < length) return this.#window
    }
    return this.#window.subarray(offset - this.#start, end - this.#start)
  }
}

/** Reads and checks the frame at `offset`. */
export async function readFrameAt(
  reader: WindowReader,
  offset: number,
  salt: Uint8Array,
): Promise<FrameRead> {
  if (offset === reader.size) return { kind: 'end', offset }
  if (reader.size - offset < FRAME_HEADER_BYTES) return { kind: 'damage', offset, reason: 'short' }
  const header = decodeFrameHeader(await reader.read(offset, FRAME_HEADER_BYTES))
  if (header === undefined) return { kind: 'damage', offset, reason: 'header' }
  const frameBytes = FRAME_HEADER_BYTES + header.payloadBytes
  if (offset + frameBytes > reader.size) return { kind: 'damage', offset, reason: 'short' }
  const frame = await reader.read(offset, frameBytes)
  if (frame.length < frameBytes) return { kind: 'damage', offset, reason: 'short' }
  if (storedChecksum(frame) !== frameChecksum(frame, salt))
    return { kind: 'damage', offset, reason: 'checksum' }
  const records = decodeRecords(frame, header)
  if (records === undefined) return { kind: 'damage', offset, reason: 'records' }
  return { kind: 'frame', offset, header, records }
}

/** What lies after damage: the valid frames found by scanning forward byte by byte. */
export interface DamageSurvey {
  /** The first valid frame after the damage, where reading can resume (skip-corrupt mode). */
  readonly resume?: { readonly offset: number; readonly firstLsn: number }
  /** The highest "synced LSN" any later valid frame carries: how far the log was durable. */
  readonly syncedLsnMax: number
  /** The highest LSN in any later valid frame (what a cut drops, at most). */
  readonly lsnMax: number
  readonly framesAfter: number
}

/**
 * Scans forward from `offset` for valid frames whose LSNs are at least `lsnMin`, following each
 * one found to the next. Linear in the bytes after the damage; run only when damage is found.
 */
export async function surveyAfterDamage(
  reader: WindowReader,
  offset: number,
  salt: Uint8Array,
  lsnMin: number,
): Promise<DamageSurvey> {
  let resume: DamageSurvey['resume']
  let syncedLsnMax = 0
  let lsnMax = 0
  let framesAfter = 0
  let at = offset + 1
  while (at + FRAME_HEADER_BYTES <= reader.size) {
    // Every frame header has a nonzero byte in its first 28 (its count, at the latest), so a
    // run of zeros (written ahead, or a write whose data never landed) is skipped in one step.
    const nonZero = await nextNonZero(reader, at)
    if (nonZero - at >= FRAME_HEADER_BYTES) {
      at = nonZero - FRAME_HEADER_BYTES + 1
      continue
    }
    const found = await readFrameAt(reader, at, salt)
    if (found.kind !== 'frame' || found.header.firstLsn < lsnMin) {
      at += 1
      continue
    }
    resume ??= { offset: at, firstLsn: found.header.firstLsn }
    syncedLsnMax = Math.max(syncedLsnMax, found.header.syncedLsn)
    lsnMax = Math.max(lsnMax, found.header.firstLsn + found.header.count - 1)
    framesAfter += 1
    at += FRAME_HEADER_BYTES + found.header.payloadBytes
  }
  return { ...(resume === undefined ? {} : { resume }), syncedLsnMax, lsnMax, framesAfter }
}

/** The offset of the first nonzero byte at or after `offset`, or the file size if there is none. */
export async function nextNonZero(reader: WindowReader, offset: number): Promise<number> {
  for (let at = offset; at < reader.size;) {
    const bytes = await reader.read(at, Math.min(walReadChunkBytes, reader.size - at))
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return at + i
    at += bytes.length
  }
  return reader.size
}

/** A segment checked whole in memory. */
export interface CheckedSegment {
  /** The segment's bytes; cut after `cutAfter`, when given, with its last frame re-encoded. */
  readonly bytes: Uint8Array
  /** The last LSN the (cut) bytes hold; base LSN - 1 when they hold no frame. */
  readonly lastLsn: number
}

/**
 * Checks a whole segment held in memory with the log's own reader: the header (and its base LSN
 * against `baseLsn`), then every frame's plausibility, CRC, records and LSN, back to back to the
 * last byte. `CORRUPT_LOG` (or `FORMAT_VERSION`) names `place.path` and the offset.
 *
 * With `cutAfter`, frames after that LSN are neither read nor kept, and a frame holding it in
 * the middle is re-encoded with only its records up to it (same first LSN, synced LSN and salt),
 * so the result ends exactly at `cutAfter` (or earlier, if the segment does).
 */
export async function checkSegmentBytes(
  bytes: Uint8Array,
  baseLsn: number,
  place: { readonly op: string; readonly path: string },
  cutAfter?: number,
): Promise<CheckedSegment> {
  const header = decodeSegmentHeader(bytes)
  if (header === 'version') {
    throw new CairnError('FORMAT_VERSION', 'the segment was written by a newer version of cairn', {
      ...place,
      offset: 0,
      hint: 'upgrade cairn to read this log',
    })
  }
  if (typeof header === 'string' || header.baseLsn !== baseLsn) {
    const why =
      typeof header === 'string' ? header : `base LSN ${String(header.baseLsn)}, not ${String(baseLsn)}`
    throw new CairnError('CORRUPT_LOG', `the segment header is damaged (${why})`, { ...place, offset: 0 })
  }
  const reader = new WindowReader(
    { read: (position, length) => Promise.resolve(bytes.subarray(position, position + length)) },
    bytes.length,
  )
  let at = SEGMENT_HEADER_BYTES
  let lsn = baseLsn
  while (cutAfter === undefined || lsn <= cutAfter) {
    const read = await readFrameAt(reader, at, header.salt)
    if (read.kind === 'end') break
    if (read.kind === 'damage' || read.header.firstLsn !== lsn) {
      const reason = read.kind === 'damage' ? read.reason : 'lsn'
      throw new CairnError('CORRUPT_LOG', `${reason} at the frame for LSN ${String(lsn)}`, {
        ...place,
        offset: at,
        lsn,
      })
    }
    const { firstLsn, count, syncedLsn } = read.header
    if (cutAfter !== undefined && firstLsn + count - 1 > cutAfter) {
      const kept = read.records.slice(0, cutAfter - firstLsn + 1)
      const frame = encodeFrame([kept], firstLsn, syncedLsn, header.salt)
      const cut = new Uint8Array(at + frame.length)
      cut.set(bytes.subarray(0, at))
      cut.set(frame, at)
      return { bytes: cut, lastLsn: cutAfter }
    }
    lsn += count
    at += FRAME_HEADER_BYTES + read.header.payloadBytes
  }
  return { bytes: at === bytes.length ? bytes : bytes.subarray(0, at), lastLsn: lsn - 1 }
}
