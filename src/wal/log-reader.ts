/**
 * Reading a log without opening it for writing: what a read-only store does beside a live writer.
 * Nothing is changed on disk (no recovery, no temp files removed, no tail cut). Sealed segments
 * are checked as they are read (damage is `CORRUPT_LOG`); in the last segment, the first frame
 * that does not check is taken as the end: the writer may be writing it, or a crash tore it.
 */
import { isCairnError } from '../core/errors.js'
import type { Vfs } from '../core/ports.js'
import { withSalts } from './recovery.js'
import { replaySegments } from './replay.js'
import type { LogRecord } from './replay.js'
import { listSegments } from './segments.js'

/** The records with `from <= lsn <= to` of the log in `dir`, read-only. */
export async function* readLogReadOnly(
  vfs: Vfs,
  dir: string,
  range: { readonly from?: number; readonly to?: number } = {},
): AsyncGenerator<LogRecord> {
  let listed
  try {
    listed = await listSegments(vfs, dir)
  } catch (error) {
    if (isCairnError(error, 'NOT_FOUND')) return // no log yet
    throw error
  }
  const segments = await withSalts(vfs, listed.segments)
  const first = segments[0]?.baseLsn ?? 1
  yield* replaySegments(
    vfs,
    segments,
    { from: range.from ?? first, to: range.to ?? Number.MAX_SAFE_INTEGER },
    'tolerateTornTail',
    { tailDamageEnds: true },
  )
}
