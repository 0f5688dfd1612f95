/**
 * Recovery on open: find where the log really ends, cut a torn tail, and refuse (or, when asked
 * by name, work around) damage anywhere else. Modes, after RocksDB's WAL recovery modes:
 *
 * | mode               | torn tail (last segment, never acknowledged) | damage before durable records, or in a sealed segment |
 * | ------------------ | -------------------------------------------- | ----------------------------------------------------- |
 * | `tolerateTornTail` | cut and reported (the default)                | `CORRUPT_LOG` naming segment, offset and LSN           |
 * | `absolute`         | `CORRUPT_LOG`                                 | `CORRUPT_LOG`                                          |
 * | `pointInTime`      | cut and reported                              | the log ends there: the rest is quarantined, reported  |
 * | `skipCorrupt`      | cut and reported                              | skipped; the missing LSNs are reported                 |
 *
 * The decision for damage at LSN L in the last segment: if any valid frame after it says the
 * log was durable through L or beyond ("synced LSN" >= L), the damaged frame had been synced, so
 * this is corruption. Otherwise no one was ever told L was durable: a torn tail. Only the last
 * segment can hold unsynced bytes (rotation syncs a segment before the next is created), so
 * damage in a sealed segment is always corruption. Damage inside the very last synced batch,
 * with nothing written after it, looks the same as a torn write and is reported as one.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import { joinPath, parentOf } from '../core/paths.js'
import type { Vfs, VfsFile } from '../core/ports.js'
import { assertNever } from '../core/assert.js'
import { walReadChunkBytes } from '../core/limits.js'
import { FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format.js'
import { WindowReader, nextNonZero, readFrameAt, surveyAfterDamage } from './segment-reader.js'
import type { DamageReason } from './segment-reader.js'
import { listSegments, readSegmentHeader } from './segments.js'
import type { SegmentRef } from './segments.js'

export const RECOVERY_MODES = ['tolerateTornTail', 'absolute', 'pointInTime', 'skipCorrupt'] as const
export type RecoveryMode = (typeof RECOVERY_MODES)[number]

/** What recovery found and did. */
export interface RecoveryReport {
  readonly mode: RecoveryMode
  readonly segments: number
  /** The first LSN the log holds (the next LSN to be written, if it holds none). */
  readonly firstLsn: number
  /** The last LSN the log holds (firstLsn - 1 if none). */
  readonly lastLsn: number
  readonly tempFilesRemoved: number
  /** A torn tail that was cut off. */
  tornTail?: {
    readonly segment: string
    readonly offset: number
    readonly bytesCut: number
    readonly reason: DamageReason
  }
  /** pointInTime: where the log was ended, what was quarantined. */
  dropped?: {
    readonly segment: string
    readonly offset: number
    readonly fromLsn: number
    readonly lsnMaxSeen: number
    readonly quarantined: string[]
  }
  /** skipCorrupt: the LSN ranges that were skipped (gaps in the log). */
  readonly skipped: { segment: string; offset: number; fromLsn: number; toLsn: number }[]
}

export interface SegmentState extends SegmentRef {
  readonly salt: Uint8Array
}

export interface RecoveredLog {
  readonly segments: SegmentState[]
  /** Where the last segment's valid frames end, and the next LSN to write. */
  readonly endOffset: number
  readonly nextLsn: number
  readonly report: RecoveryReport
}

interface ScanEnd {
  readonly offset: number
  readonly nextLsn: number
  readonly damage?: { readonly offset: number; readonly reason: DamageReason }
}

/** Scans frames from `offset` while each is valid and continues the LSN sequence. */
async function scanFrames(
  reader: WindowReader,
  salt: Uint8Array,
  offset: number,
  nextLsn: number,
): Promise<ScanEnd> {
  let at = offset
  let lsn = nextLsn
  for (;;) {
    const read = await readFrameAt(reader, at, salt)
    if (read.kind === 'end') return { offset: at, nextLsn: lsn }
    if (read.kind === 'damage') {
      // Zeros to the end of the file are the clean end of the log: space written ahead of the
      // last frame, or an append whose size reached the disk and whose data did not.
      if ((await nextNonZero(reader, at)) === reader.size) return { offset: at, nextLsn: lsn }
      return { offset: at, nextLsn: lsn, damage: { offset: at, reason: read.reason } }
    }
    if (read.header.firstLsn !== lsn)
      return { offset: at, nextLsn: lsn, damage: { offset: at, reason: 'lsn' } }
    lsn += read.header.count
    at += FRAME_HEADER_BYTES + read.header.payloadBytes
  }
}

/** The segments with their headers' salts (each header read and checked against its name). */
export async function withSalts(vfs: Vfs, refs: readonly SegmentRef[]): Promise<SegmentState[]> {
  const segments: SegmentState[] = []
  for (const segment of refs) {
    const file = await vfs.open(segment.path, 'read')
    try {
      segments.push({ ...segment, salt: (await readSegmentHeader(file, segment)).salt })
    } finally {
      await file.close()
    }
  }
  return segments
}

/** Opens the log directory, recovers it under `mode`, and tells where writing resumes. */
export async function recoverLog(
  vfs: Vfs,
  dir: string,
  mode: RecoveryMode,
  firstLsn: number,
): Promise<RecoveredLog> {
  await vfs.mkdir(dir, { recursive: true })
  await vfs.fsyncDir(parentOf(dir))
  const listed = await listSegments(vfs, dir)
  for (const temp of listed.temps) await vfs.unlink(temp)
  if (listed.temps.length > 0) await vfs.fsyncDir(dir)

  const segments = await withSalts(vfs, listed.segments)
  const report: RecoveryReport = {
    mode,
    segments: segments.length,
    firstLsn: segments[0]?.baseLsn ?? firstLsn,
    lastLsn: (segments[0]?.baseLsn ?? firstLsn) - 1,
    tempFilesRemoved: listed.temps.length,
    skipped: [],
  }
  if (segments.length === 0) return { segments, endOffset: 0, nextLsn: firstLsn, report }

  // Sealed segments were synced whole before the next was created; in the default mode they
  // are verified as they are read (readLog), not at every open. The other modes check all.
  const verifyAll = mode !== 'tolerateTornTail'
  let expected = segments[0]?.baseLsn ?? firstLsn
  let endOffset = SEGMENT_HEADER_BYTES
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]
    const next = segments[i + 1]
    if (segment === undefined) break
    const isLast = next === undefined
    if (!isLast && !verifyAll) {
      expected = next.baseLsn
      continue
    }
    if (segment.baseLsn !== expected) {
      const ended = await onGap(vfs, dir, mode, segments, i, expected, report)
      if (ended !== undefined) return ended
      expected = segment.baseLsn
    }
    const outcome = await recoverSegment(vfs, dir, mode, segment, isLast, expected, report)
    expected = outcome.nextLsn
    endOffset = outcome.endOffset
    if (outcome.endsLog) {
      const kept = segments.slice(0, i + 1)
      await quarantineSegments(vfs, dir, segments.slice(i + 1), report)
      return finish(kept, outcome.endOffset, expected, report)
    }
  }
  return finish(segments, endOffset, expected, report)
}

function finish(
  segments: SegmentState[],
  endOffset: number,
  nextLsn: number,
  report: RecoveryReport,
): RecoveredLog {
  return {
    segments,
    endOffset,
    nextLsn,
    report: { ...report, segments: segments.length, lastLsn: nextLsn - 1 },
  }
}

/** A segment that does not start where the previous one ended: records are missing. */
async function onGap(
  vfs: Vfs,
  dir: string,
  mode: RecoveryMode,
  segments: SegmentState[],
  index: number,
  expected: number,
  report: RecoveryReport,
): Promise<RecoveredLog | undefined> {
  const segment = segments[index]
  if (segment === undefined) return undefined
  const message = `the log jumps from LSN ${String(expected - 1)} to ${String(segment.baseLsn)}: a segment is missing or damaged`
  switch (mode) {
    case 'tolerateTornTail':
    case 'absolute':
      throw new CairnError('CORRUPT_LOG', message, { op: 'wal.open', path: segment.path, lsn: expected })
    case 'pointInTime': {
      const previous = segments[index - 1]
      report.dropped = {
        segment: segment.path,
        offset: 0,
        fromLsn: expected,
        lsnMaxSeen: segment.baseLsn,
        quarantined: [],
      }
      await quarantineSegments(vfs, dir, segments.slice(index), report)
      const endOffset = previous === undefined ? SEGMENT_HEADER_BYTES : (await vfs.stat(previous.path)).size
      return finish(segments.slice(0, index), endOffset, expected, report)
    }
    case 'skipCorrupt':
      report.skipped.push({ segment: segment.path, offset: 0, fromLsn: expected, toLsn: segment.baseLsn - 1 })
      return undefined
    default:
      return assertNever(mode, 'unknown recovery mode')
  }
}

interface SegmentOutcome {
  readonly endOffset: number
  readonly nextLsn: number
  /** pointInTime stopped here: later segments are dropped. */
  readonly endsLog: boolean
}

async function recoverSegment(
  vfs: Vfs,
  dir: string,
  mode: RecoveryMode,
  segment: SegmentState,
  isLast: boolean,
  expected: number,
  report: RecoveryReport,
): Promise<SegmentOutcome> {
  const file = await vfs.open(segment.path, 'read')
  let cutAt: number | undefined
  let result: SegmentOutcome
  try {
    const reader = new WindowReader(file, await file.size())
    let scan = await scanFrames(reader, segment.salt, SEGMENT_HEADER_BYTES, expected)
    for (;;) {
      const { damage } = scan
      if (damage === undefined) {
        result = { endOffset: scan.offset, nextLsn: scan.nextLsn, endsLog: false }
        break
      }
      const survey = await surveyAfterDamage(reader, damage.offset, segment.salt, scan.nextLsn)
      const corrupt = !isLast || survey.syncedLsnMax >= scan.nextLsn
      const place = { op: 'wal.open', path: segment.path, offset: damage.offset, lsn: scan.nextLsn }
      const why = `${damage.reason} at the frame for LSN ${String(scan.nextLsn)}`
      if (mode === 'absolute' || (mode === 'tolerateTornTail' && corrupt)) {
        const after = survey.framesAfter > 0 ? `; ${String(survey.framesAfter)} valid frames follow it` : ''
        throw new CairnError(
          'CORRUPT_LOG',
          `${corrupt ? 'damage in the log' : 'a torn tail'}: ${why}${after}`,
          {
            ...place,
            hint: corrupt
              ? 'restore from a checkpoint, or open with recovery: "pointInTime" or "skipCorrupt" to accept the loss'
              : 'open with the default recovery mode to cut the torn tail',
          },
        )
      }
      if (mode === 'skipCorrupt' && survey.resume !== undefined) {
        report.skipped.push({
          segment: segment.path,
          offset: damage.offset,
          fromLsn: scan.nextLsn,
          toLsn: survey.resume.firstLsn - 1,
        })
        scan = await scanFrames(reader, segment.salt, survey.resume.offset, survey.resume.firstLsn)
        continue
      }
      if (corrupt && mode === 'pointInTime') {
        report.dropped = {
          segment: segment.path,
          offset: damage.offset,
          fromLsn: scan.nextLsn,
          lsnMaxSeen: survey.lsnMax,
          quarantined: [],
        }
        cutAt = damage.offset
        result = { endOffset: damage.offset, nextLsn: scan.nextLsn, endsLog: true }
        break
      }
      if (!isLast) {
        // skipCorrupt, a sealed segment that ends in damage: the next segment says where to resume.
        result = { endOffset: damage.offset, nextLsn: scan.nextLsn, endsLog: false }
        break
      }
      report.tornTail = {
        segment: segment.path,
        offset: damage.offset,
        bytesCut: reader.size - damage.offset,
        reason: damage.reason,
      }
      cutAt = damage.offset
      result = { endOffset: damage.offset, nextLsn: scan.nextLsn, endsLog: false }
      break
    }
  } finally {
    await file.close()
  }
  if (cutAt !== undefined)
    await cutSegment(vfs, dir, segment, cutAt, mode === 'pointInTime' ? report : undefined)
  return result
}

/** Cuts a segment at `offset` durably; with a report, first copies the cut bytes aside. */
async function cutSegment(
  vfs: Vfs,
  dir: string,
  segment: SegmentState,
  offset: number,
  report?: RecoveryReport,
) {
  const file = await vfs.open(segment.path, 'readWrite')
  try {
    if (report?.dropped !== undefined) {
      const aside = joinPath(dir, `quarantine-${segment.name}-${String(offset)}.bin`)
      await copyRange(vfs, file, offset, aside)
      report.dropped.quarantined.push(aside)
    }
    await file.truncate(offset)
    await file.fdatasync()
  } finally {
    await file.close()
  }
}

async function copyRange(vfs: Vfs, source: VfsFile, offset: number, target: string) {
  const out = await vfs.open(target, 'create')
  try {
    await out.truncate(0)
    const size = await source.size()
    for (let at = offset; at < size; at += walReadChunkBytes) {
      await out.write(await source.read(at, Math.min(walReadChunkBytes, size - at)), at - offset)
    }
    await out.fdatasync()
  } finally {
    await out.close()
  }
  await vfs.fsyncDir(parentOf(target))
}

/** Renames whole segments aside (`<name>.dropped`) so nothing is deleted on a guess. */
async function quarantineSegments(vfs: Vfs, logDir: string, dropped: SegmentState[], report: RecoveryReport) {
  for (const segment of dropped) {
    const aside = `${segment.path}.dropped`
    try {
      await vfs.rename(segment.path, aside)
    } catch (error) {
      if (!isCairnError(error, 'NOT_FOUND')) throw error
    }
    report.dropped?.quarantined.push(aside)
  }
  if (dropped.length > 0) await vfs.fsyncDir(logDir)
}
