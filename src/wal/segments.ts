/**
 * Segment files: their names, their creation, and listing them.
 *
 * A segment is named by the first LSN it holds, zero-padded so names sort as numbers:
 * `00000000000000000001.seg`. It is born whole: the header is written to a temp file, synced,
 * renamed to its name and the directory synced, all before any frame is written to it. A segment
 * under its final name therefore always has a durable header; a crash during creation leaves at
 * most a temp file, which the next open removes.
 */
import { randomBytes } from 'node:crypto'
import { CairnError, isCairnError } from '../core/errors.js'
import { joinPath } from '../core/paths.js'
import type { Vfs, VfsFile } from '../core/ports.js'
import { SEGMENT_HEADER_BYTES, decodeSegmentHeader, encodeSegmentHeader } from './format.js'
import type { SegmentHeader } from './format.js'

const NAME = /^(\d{20})\.seg$/
export const TEMP_PREFIX = '.tmp-'

/** A segment of the log as found on disk. */
export interface SegmentRef {
  readonly name: string
  readonly path: string
  readonly baseLsn: number
}

export function segmentName(baseLsn: number): string {
  return `${String(baseLsn).padStart(20, '0')}.seg`
}

/** The base LSN a segment file name stands for, or undefined when it is not a segment's name. */
export function baseLsnOfName(name: string): number | undefined {
  const digits = NAME.exec(name)?.[1]
  return digits === undefined ? undefined : Number(digits)
}

/** The segments in `dir`, oldest first, and the temp files a crashed creation left. */
export async function listSegments(
  vfs: Vfs,
  dir: string,
): Promise<{ segments: SegmentRef[]; temps: string[] }> {
  const names = await vfs.readdir(dir)
  const segments: SegmentRef[] = []
  const temps: string[] = []
  for (const name of names) {
    const match = NAME.exec(name)
    if (match?.[1] !== undefined) {
      segments.push({ name, path: joinPath(dir, name), baseLsn: Number(match[1]) })
    } else if (name.startsWith(TEMP_PREFIX)) {
      temps.push(joinPath(dir, name))
    }
  }
  segments.sort((a, b) => a.baseLsn - b.baseLsn)
  return { segments, temps }
}

/** Reads and checks a segment's header against its name. */
export async function readSegmentHeader(file: VfsFile, segment: SegmentRef): Promise<SegmentHeader> {
  const bytes = await file.read(0, SEGMENT_HEADER_BYTES)
  const header = decodeSegmentHeader(bytes)
  const place = { op: 'wal.open', path: segment.path, offset: 0 }
  if (header === 'version') {
    throw new CairnError('FORMAT_VERSION', 'the segment was written by a newer version of cairn', {
      ...place,
      hint: 'upgrade cairn to read this log',
    })
  }
  if (typeof header === 'string') {
    throw new CairnError('CORRUPT_LOG', `the segment header is damaged (${header})`, place)
  }
  if (header.baseLsn !== segment.baseLsn) {
    throw new CairnError(
      'CORRUPT_LOG',
      `the header says base LSN ${String(header.baseLsn)}, the name says ${String(segment.baseLsn)}`,
      place,
    )
  }
  return header
}

/**
 * Creates the segment that starts at `baseLsn`, durably (see the file comment), and returns it
 * open for writing with its salt. On failure nothing is left under the final name.
 */
export async function createSegment(
  vfs: Vfs,
  dir: string,
  baseLsn: number,
): Promise<{ segment: SegmentRef; file: VfsFile; salt: Uint8Array }> {
  const name = segmentName(baseLsn)
  const path = joinPath(dir, name)
  const temp = joinPath(dir, `${TEMP_PREFIX}${name}`)
  const salt = new Uint8Array(randomBytes(8))
  await removeIfPresent(vfs, temp)
  const file = await vfs.open(temp, 'createExclusive')
  let renamed = false
  try {
    await file.write(encodeSegmentHeader(baseLsn, salt), 0)
    await file.fdatasync()
    await vfs.rename(temp, path)
    renamed = true
    await vfs.fsyncDir(dir)
  } catch (error) {
    await file.close()
    // If this removal fails too, its error propagates and the log fail-stops: an empty segment
    // left under its final name would disagree with the records written after it elsewhere.
    await removeIfPresent(vfs, renamed ? path : temp)
    if (renamed) await vfs.fsyncDir(dir)
    throw error
  }
  // Reopen under the final name: a handle keeps the path it was opened with, and every error the
  // log reports from this segment must name the file that exists, not the temp name.
  await file.close()
  return { segment: { name, path, baseLsn }, file: await vfs.open(path, 'readWrite'), salt }
}

async function removeIfPresent(vfs: Vfs, path: string): Promise<void> {
  try {
    await vfs.unlink(path)
  } catch (error) {
    if (!isCairnError(error, 'NOT_FOUND')) throw error
  }
}
