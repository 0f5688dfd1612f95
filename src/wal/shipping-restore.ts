/**
 * Restoring a log from shipped segments (shipping.ts) into an empty local directory, so that
 * `openWal` opens it as a normal log: another machine's recovery, or a point-in-time restore.
 *
 * Each needed segment is downloaded, checked frame by frame (`CORRUPT_LOG` naming the key and
 * offset), and written as the log creates its own segments: a temp file, fdatasync, rename to
 * its name, fsync of the directory. The last one is downloaded first, so a restore past the
 * shipped end fails before anything is written. Segments are written oldest first, so after a crash the
 * directory holds whole segments forming a prefix of the restored log, and at most a temp file
 * (which a rerun, or `openWal`, removes). A rerun accepts the segments already there when they
 * are byte-identical to what it would write, so restoring again after a crash just finishes.
 *
 * Last, an empty segment (a header, a fresh salt) is created at the restored last LSN + 1, and
 * becomes the log's active segment: the restored segments stay sealed, byte-identical to the
 * shipped ones (but the one cut at `toLsn`), so shipping from the restored log to the same bucket
 * goes on without a conflict, and a log cut at `toLsn` and written on is told apart from the
 * bucket's history (the shipper refuses it, `ALREADY_EXISTS`, instead of mixing two histories).
 */
import { CairnError, isCairnError } from '../core/errors.js'
import { joinPath, parentOf } from '../core/paths.js'
import type { BlobStore, Vfs } from '../core/ports.js'
import { SEGMENT_HEADER_BYTES } from './format.js'
import { TEMP_PREFIX, baseLsnOfName, createSegment, readSegmentHeader, segmentName } from './segments.js'
import { checkSegmentBytes } from './segment-reader.js'
import { SHIPPED_PREFIX, listShipped, readWholeFile, sameBytes } from './shipping.js'
import type { ShippedSegment } from './shipping.js'

export interface RestoreOptions {
  /**
   * The first LSN wanted (a checkpoint's LSN + 1). The restore starts at the shipped segment
   * holding it, so the log may also hold records before it. Default: the bucket's first LSN.
   * It may be the shipped log's last LSN + 1 (nothing to replay; the log continues there).
   */
  readonly fromLsn?: number
  /**
   * Point in time: the restored log ends exactly at this LSN; later records are not restored,
   * even from the middle of a frame (its prefix is re-encoded). A frame does not record where
   * one `appendMany` ends inside it, so a `toLsn` inside an `appendMany` keeps part of it: pick
   * a boundary of your own (a checkpoint's LSN). `>= fromLsn - 1`. Default: the shipped end.
   */
  readonly toLsn?: number
}

export interface RestoreResult {
  /** Shipped segments restored (the empty active segment created after them not counted). */
  readonly segments: number
  /** The restored log's first LSN: the first restored segment's base LSN. */
  readonly firstLsn: number
  readonly lastLsn: number
}

const OP = 'wal.restore'

/**
 * Restores the shipped log into `logDir` (missing or empty, or holding what an interrupted
 * restore of the same range left), see the file comment. Errors: `BAD_OPTION`; `NOT_FOUND`
 * naming the missing LSN range (nothing shipped, records pruned or never shipped, a missing
 * segment between two shipped ones, `toLsn` past the shipped end); `CORRUPT_LOG` naming the key
 * and offset; `ALREADY_EXISTS` when the directory holds anything else.
 */
export async function restoreShippedLog(
  blobs: BlobStore,
  vfs: Vfs,
  logDir: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  const { fromLsn, toLsn } = options
  if (fromLsn !== undefined && (!Number.isSafeInteger(fromLsn) || fromLsn < 1)) {
    throw new CairnError('BAD_OPTION', 'fromLsn must be an integer >= 1', { op: OP })
  }
  if (toLsn !== undefined && (!Number.isSafeInteger(toLsn) || toLsn < Math.max(1, (fromLsn ?? 1) - 1))) {
    throw new CairnError('BAD_OPTION', 'toLsn must be an integer >= 1 and >= fromLsn - 1', { op: OP })
  }
  const shipped = await listShipped(blobs)
  const first = shipped[0]
  if (first === undefined) {
    throw new CairnError('NOT_FOUND', 'no segment is shipped in the bucket', { op: OP, path: SHIPPED_PREFIX })
  }
  const from = fromLsn ?? first.baseLsn
  // The first segment needed holds `from`, or, for an empty range (toLsn = fromLsn - 1), `toLsn`.
  const anchor = Math.min(from, toLsn ?? from)
  if (anchor < first.baseLsn) {
    throw missing(anchor, first.baseLsn - 1, first.key, `the bucket's log starts at ${String(first.baseLsn)}`)
  }
  const plan = shipped.slice(
    lastIndexAtOrBelow(shipped, anchor),
    toLsn === undefined ? shipped.length : lastIndexAtOrBelow(shipped, toLsn) + 1,
  )
  // The last segment first: a restore past the shipped end fails before anything is written.
  const last = plan[plan.length - 1] ?? first
  const download = (segment: ShippedSegment, cutAfter?: number) =>
    blobs
      .get(segment.key)
      .then((bytes) => checkSegmentBytes(bytes, segment.baseLsn, { op: OP, path: segment.key }, cutAfter))
  const lastChecked = await download(last, toLsn)
  checkEnd(lastChecked.lastLsn, shipped, last, toLsn ?? from - 1)

  const existing = await prepareDir(vfs, logDir, plan)
  let expected = plan[0]?.baseLsn ?? first.baseLsn
  for (const segment of plan) {
    if (segment.baseLsn > expected) {
      throw missing(expected, segment.baseLsn - 1, segment.key, 'no shipped segment holds them')
    }
    if (segment.baseLsn < expected) {
      throw new CairnError(
        'CORRUPT_LOG',
        `the shipped segment before ${segment.key} holds LSNs up to ${String(expected - 1)}, past its base: the bucket holds two histories`,
        { op: OP, path: segment.key, offset: 0, lsn: segment.baseLsn },
      )
    }
    const checked = segment === last ? lastChecked : await download(segment)
    await writeSegment(vfs, logDir, segment.name, checked.bytes, existing)
    expected = checked.lastLsn + 1
  }
  await createActiveSegment(vfs, logDir, expected, existing)
  return { segments: plan.length, firstLsn: plan[0]?.baseLsn ?? expected, lastLsn: expected - 1 }
}

/** The index of the last segment whose base LSN is <= lsn (the one that would hold it), or -1. */
function lastIndexAtOrBelow(shipped: readonly ShippedSegment[], lsn: number): number {
  let found = -1
  for (const [i, segment] of shipped.entries()) if (segment.baseLsn <= lsn) found = i
  return found
}

/** The last restored segment must reach `needed` (toLsn, or fromLsn - 1). */
function checkEnd(
  lastLsn: number,
  shipped: readonly ShippedSegment[],
  segment: ShippedSegment,
  needed: number,
): void {
  if (lastLsn >= needed) return
  const next = shipped.find((s) => s.baseLsn > segment.baseLsn)
  if (next !== undefined)
    throw missing(lastLsn + 1, next.baseLsn - 1, next.key, 'no shipped segment holds them')
  throw missing(lastLsn + 1, needed, segment.key, `the shipped log ends at LSN ${String(lastLsn)}`)
}

function missing(fromLsn: number, toLsn: number, key: string, why: string): CairnError {
  return new CairnError(
    'NOT_FOUND',
    `records ${String(fromLsn)}..${String(toLsn)} are not in the bucket: ${why}`,
    {
      op: OP,
      path: key,
      lsn: fromLsn,
    },
  )
}

/**
 * Creates the directory if needed, removes temp files an interrupted restore left, and returns
 * the segment names already there: each must be one of the plan's or lie after it (the active
 * segment an interrupted restore created last); anything else is `ALREADY_EXISTS`.
 */
async function prepareDir(vfs: Vfs, dir: string, plan: readonly ShippedSegment[]): Promise<Set<string>> {
  await vfs.mkdir(dir, { recursive: true })
  await vfs.fsyncDir(parentOf(dir))
  const planned = new Set(plan.map((s) => s.name))
  const lastBase = plan.at(-1)?.baseLsn ?? 0
  const existing = new Set<string>()
  const temps: string[] = []
  for (const name of await vfs.readdir(dir)) {
    const base = baseLsnOfName(name)
    if (name.startsWith(TEMP_PREFIX)) temps.push(joinPath(dir, name))
    else if (base !== undefined && (planned.has(name) || base > lastBase)) existing.add(name)
    else throw notEmpty(joinPath(dir, name))
  }
  for (const temp of temps) await vfs.unlink(temp)
  if (temps.length > 0) await vfs.fsyncDir(dir)
  return existing
}

/** Writes a segment durably under its name, or accepts an identical one already there. */
async function writeSegment(
  vfs: Vfs,
  dir: string,
  name: string,
  bytes: Uint8Array,
  existing: Set<string>,
): Promise<void> {
  const path = joinPath(dir, name)
  if (existing.delete(name)) {
    const found = await readWholeFile(vfs, path)
    if (!sameBytes(found, bytes)) throw notEmpty(path)
    return
  }
  const temp = joinPath(dir, `${TEMP_PREFIX}${name}`)
  const file = await vfs.open(temp, 'createExclusive')
  try {
    await file.write(bytes, 0)
    await file.fdatasync()
  } finally {
    await file.close()
  }
  await vfs.rename(temp, path)
  await vfs.fsyncDir(dir)
}

/** The empty active segment at `baseLsn`: created, or accepted if an interrupted restore made it. */
async function createActiveSegment(
  vfs: Vfs,
  dir: string,
  baseLsn: number,
  existing: Set<string>,
): Promise<void> {
  const name = segmentName(baseLsn)
  const path = joinPath(dir, name)
  const others = [...existing].filter((n) => n !== name)
  if (others[0] !== undefined) throw notEmpty(joinPath(dir, others[0]))
  if (existing.has(name)) {
    const file = await vfs.open(path, 'read')
    try {
      await readSegmentHeader(file, { name, path, baseLsn })
      if ((await file.size()) === SEGMENT_HEADER_BYTES) return
    } catch (error) {
      if (!isCairnError(error, 'CORRUPT_LOG')) throw error
    } finally {
      await file.close()
    }
    throw notEmpty(path)
  }
  await (await createSegment(vfs, dir, baseLsn)).file.close()
}

function notEmpty(path: string): CairnError {
  return new CairnError('ALREADY_EXISTS', `${path} is in the way: restore needs an empty log directory`, {
    op: OP,
    path,
    hint: 'restore into an empty or missing directory (a rerun after an interrupted restore of the same range is fine)',
  })
}
