/**
 * Bringing a `ChunkIndex` cache up to date with the index objects in a BlobStore.
 *
 * - Index objects the cache has not merged are read and merged (one atomic step each).
 * - An index object the cache merged but the store no longer lists means chunks may have gone:
 *   the cache starts again from nothing rather than keep entries that could point at deleted packs.
 * - An index object that does not decode is skipped and reported; then every pack that no merged
 *   entry names has its footer read, and its entries are merged (and, when the store may be
 *   written, put as a fresh index object so the next open need not read footers again; a damaged
 *   object whose content this reproduces exactly is overwritten). A read-only store keeps those
 *   entries in memory (`overlay`), never in the cache, which must only hold listed index objects.
 */
import { ahead } from '../core/ahead.js'
import { isCairnError } from '../core/errors.js'
import type { PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import type { ChunkIndex, IndexObjectEntries } from './chunk-index.js'
import { decodeIndexObject } from './index-object.js'
import type { IndexEntry } from './index-object.js'
import { listPackIds, putIndexObject, readPackFooter } from './pack-store.js'

/** Index entries merged in one commit at most (~77 bytes each: ~20 MB a batch). */
const BATCH_ENTRIES = 1 << 18

export interface IndexSyncReport {
  /** Index objects merged by this sync. */
  readonly merged: number
  /** Index objects that did not decode, by key, with why. */
  readonly damaged: readonly { readonly key: string; readonly error: Error }[]
  /** Packs whose entries came from their footers because no index object named them. */
  readonly packsFromFooters: number
  /** True when the cache was found to hold an index object the store no longer has, and was rebuilt. */
  readonly rebuilt: boolean
}

export async function syncIndex(
  blobs: BlobStore,
  cache: ChunkIndex,
  options: {
    readonly writable: boolean
    /** Where entries read from footers go when the store may not be written (not the cache). */
    readonly overlay: ChunkIndex
    /**
     * False in a shared object store: a pack no index object names is never indexed from its
     * footer, as it may be one a GC run is deleting (shared-gc.ts). Default true.
     */
    readonly footers?: boolean
    /**
     * Index objects whose entries the caller holds already (a sweep that just read or wrote them):
     * those listed are merged from here instead of read again.
     */
    readonly known?: ReadonlyMap<string, readonly IndexEntry[]>
  },
): Promise<IndexSyncReport> {
  const listed = new Set<string>()
  for await (const { key } of blobs.list('index/')) listed.add(key)
  let rebuilt = false
  for (const key of cache.indexObjects()) {
    if (!listed.has(key)) {
      cache.clear()
      rebuilt = true
      break
    }
  }
  const known = cache.indexObjects()
  let merged = 0
  const damaged: { key: string; error: Error }[] = []
  // Merged in batches: one commit (one sync, on disk) per batch rather than per object, with
  // memory bounded by the batch.
  let batch: IndexObjectEntries[] = []
  let batchEntries = 0
  const commit = () => {
    if (batch.length === 0) return
    cache.addIndexObjects(batch)
    merged += batch.length
    batch = []
    batchEntries = 0
  }
  const unknown = [...listed].sort().filter((key) => !known.has(key))
  const held = options.known ?? new Map<string, readonly IndexEntry[]>()
  // Fetched a few at a time (each get is a round trip; few, as an index object can be megabytes),
  // merged one by one in key order.
  const fetch = (key: string): Promise<Uint8Array | readonly IndexEntry[]> =>
    held.get(key) !== undefined ? Promise.resolve(held.get(key) ?? []) : blobs.get(key)
  for await (const [key, fetched] of ahead(unknown, Math.min(8, blobs.properties.concurrencyMax), fetch)) {
    let entries
    try {
      if (fetched.status === 'rejected') throw fetched.reason
      const value = fetched.value
      entries = value instanceof Uint8Array ? decodeIndexObject(value, key) : value
    } catch (error) {
      // Listed, then deleted (GC on another machine, in a shared object store): it is absent.
      if (isCairnError(error, 'NOT_FOUND')) continue
      if (!isCairnError(error, 'CORRUPT_OBJECT')) throw error
      damaged.push({ key, error })
      continue
    }
    batch.push({ key, entries })
    batchEntries += entries.length
    if (batchEntries >= BATCH_ENTRIES) commit()
  }
  commit()
  const damagedKeys = new Set(damaged.map((d) => d.key))
  const packsFromFooters =
    damaged.length > 0 && options.footers !== false
      ? await mergeUnindexedPacks(blobs, cache, options, damagedKeys)
      : 0
  return { merged, damaged, packsFromFooters, rebuilt }
}

/** Merges the footers of the packs no cached entry names; the count of such packs. */
async function mergeUnindexedPacks(
  blobs: BlobStore,
  cache: ChunkIndex,
  options: { readonly writable: boolean; readonly overlay: ChunkIndex },
  damaged: ReadonlySet<string>,
): Promise<number> {
  const named = new Set<PackId>()
  for (const entry of cache.entries()) named.add(entry.packId)
  let count = 0
  for (const packId of await listPackIds(blobs)) {
    if (named.has(packId)) continue
    let entries
    try {
      entries = await readPackFooter(blobs, packId)
    } catch (error) {
      // A damaged pack cannot be indexed; verify reports it.
      if (isCairnError(error, 'CORRUPT_OBJECT')) continue
      throw error
    }
    if (options.writable) cache.addIndexObject(await putIndexObject(blobs, entries, damaged), entries)
    else options.overlay.addIndexObject(`footer/${packId}`, entries)
    count++
  }
  return count
}
