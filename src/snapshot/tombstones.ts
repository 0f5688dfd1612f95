/**
 * Tombstones: the soft delete of retention. `tombstones/<checkpoint id>` marks a checkpoint as
 * dropped: it leaves `checkpoints()`, `'latest'` and `recover()`, but its manifest and chunks stay
 * (it can still be read by id) until GC, after a grace period, removes them. Put once, if absent.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { CheckpointId } from '../core/ids.js'
import { parseCheckpointId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'

const PREFIX = 'tombstones/'

export interface Tombstone {
  /** When it was written, in milliseconds since the epoch. */
  readonly at: number
  readonly reasons: readonly string[]
}

/** Puts a checkpoint's tombstone; an existing one is kept (it holds the earlier time). */
export async function putTombstone(blobs: BlobStore, id: CheckpointId, tombstone: Tombstone): Promise<void> {
  try {
    await blobs.put(`${PREFIX}${id}`, new TextEncoder().encode(JSON.stringify(tombstone)), { ifAbsent: true })
  } catch (error) {
    if (!isCairnError(error, 'ALREADY_EXISTS')) throw error
  }
}

/**
 * Every tombstone, by checkpoint id. One that does not decode still drops its checkpoint, but with
 * an unknown time (Infinity): its grace period never passes, so GC never deletes on a guess.
 */
export async function listTombstones(blobs: BlobStore): Promise<Map<CheckpointId, Tombstone>> {
  const found = new Map<CheckpointId, Tombstone>()
  for await (const { key } of blobs.list(PREFIX)) {
    let id: CheckpointId
    try {
      id = parseCheckpointId(key.slice(PREFIX.length), 'tombstone.list')
    } catch {
      continue // not a tombstone: a stray file
    }
    let tombstone: Tombstone = { at: Number.POSITIVE_INFINITY, reasons: [] }
    try {
      const parsed = JSON.parse(new TextDecoder().decode(await blobs.get(key))) as Partial<Tombstone> | null
      if (parsed !== null && typeof parsed === 'object' && typeof parsed.at === 'number')
        tombstone = { at: parsed.at, reasons: Array.isArray(parsed.reasons) ? parsed.reasons : [] }
    } catch (error) {
      if (isCairnError(error, 'NOT_FOUND')) continue
      if (!(error instanceof SyntaxError) && !isCairnError(error)) throw error
    }
    found.set(id, tombstone)
  }
  return found
}

export function tombstoneError(why: string, checkpoint?: string): CairnError {
  return new CairnError('BAD_OPTION', why, {
    op: 'store.applyRetention',
    ...(checkpoint === undefined ? {} : { checkpoint }),
  })
}
