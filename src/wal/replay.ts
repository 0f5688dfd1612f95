/**
 * Reading the log in order with bounded memory: one segment open at a time, read through a
 * sliding window, every frame's CRC and LSN checked as it is read. Damage met here (bit rot in a
 * sealed segment since the last open) is `CORRUPT_LOG` naming segment, offset and LSN, except in
 * `skipCorrupt` mode, which resynchronises on the next valid frame and leaves a gap.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { Vfs, VfsFile } from '../core/ports.js'
import { FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './format.js'
import type { RecoveryMode, SegmentState } from './recovery.js'
import { WindowReader, readFrameAt, surveyAfterDamage } from './segment-reader.js'

/** One record of the log. */
export interface LogRecord {
  readonly lsn: number
  readonly data: Uint8Array
}

export interface ReplayRange {
  /** The first LSN wanted; below the log's first LSN it is `NOT_FOUND` (truncated). */
  readonly from: number
  /** The last LSN wanted, inclusive. */
  readonly to: number
}

/** Yields every record with `from <= lsn <= to`, in order. */
export async function* replaySegments(
  vfs: Vfs,
  segments: readonly SegmentState[],
  range: ReplayRange,
  mode: RecoveryMode,
  options: {
    /**
     * A reader beside a writer: damage in the last segment ends the log (a frame being written),
     * and the log may end before `to`.
     */
    readonly tailDamageEnds?: boolean
  } = {},
): AsyncGenerator<LogRecord> {
  const first = segments[0]
  if (first === undefined || range.from > range.to) return
  if (range.from < first.baseLsn) {
    throw new CairnError(
      'NOT_FOUND',
      `LSN ${String(range.from)} was truncated; the log starts at ${String(first.baseLsn)}`,
      {
        op: 'wal.readLog',
        lsn: range.from,
        hint: 'read from a checkpoint, then from its LSN + 1',
      },
    )
  }
  let index = 0
  for (let i = 0; i < segments.length; i++) if ((segments[i]?.baseLsn ?? Infinity) <= range.from) index = i
  let expected = segments[index]?.baseLsn ?? first.baseLsn
  for (let i = index; i < segments.length && expected <= range.to; i++) {
    const segment = segments[i]
    if (segment === undefined) break
    if (segment.baseLsn !== expected) {
      if (mode !== 'skipCorrupt') {
        throw new CairnError(
          'CORRUPT_LOG',
          `records ${String(expected)}..${String(segment.baseLsn - 1)} are missing`,
          {
            op: 'wal.readLog',
            path: segment.path,
            lsn: expected,
          },
        )
      }
      expected = segment.baseLsn
    }
    const file = await openSegment(vfs, segment)
    try {
      const reader = new WindowReader(file, await file.size())
      let at = SEGMENT_HEADER_BYTES
      while (expected <= range.to) {
        const read = await readFrameAt(reader, at, segment.salt)
        if (read.kind === 'end') break
        if (read.kind === 'damage' && options.tailDamageEnds === true && i === segments.length - 1) break
        if (read.kind === 'damage' || read.header.firstLsn !== expected) {
          const reason = read.kind === 'damage' ? read.reason : 'lsn'
          if (mode !== 'skipCorrupt') {
            throw new CairnError('CORRUPT_LOG', `${reason} at the frame for LSN ${String(expected)}`, {
              op: 'wal.readLog',
              path: segment.path,
              offset: at,
              lsn: expected,
              hint: 'restore from a checkpoint, or open with recovery: "skipCorrupt" to skip the damage',
            })
          }
          const survey = await surveyAfterDamage(reader, at, segment.salt, expected)
          if (survey.resume === undefined) break
          at = survey.resume.offset
          expected = survey.resume.firstLsn
          continue
        }
        for (const [k, data] of read.records.entries()) {
          const lsn = read.header.firstLsn + k
          if (lsn > range.to) return
          if (lsn >= range.from) yield { lsn, data: data.slice() }
        }
        expected += read.header.count
        at += FRAME_HEADER_BYTES + read.header.payloadBytes
      }
    } finally {
      await file.close()
    }
  }
  // A reader beside the writer reads to wherever the log ends now; `to` is only an upper bound.
  if (expected <= range.to && mode !== 'skipCorrupt' && options.tailDamageEnds !== true) {
    throw new CairnError(
      'CORRUPT_LOG',
      `the log ends at LSN ${String(expected - 1)}, before ${String(range.to)}`,
      {
        op: 'wal.readLog',
        lsn: expected,
      },
    )
  }
}

async function openSegment(vfs: Vfs, segment: SegmentState): Promise<VfsFile> {
  try {
    return await vfs.open(segment.path, 'read')
  } catch (error) {
    if (!isCairnError(error, 'NOT_FOUND')) throw error
    throw new CairnError('NOT_FOUND', 'the segment was truncated while it was being read', {
      op: 'wal.readLog',
      path: segment.path,
      cause: error,
    })
  }
}
