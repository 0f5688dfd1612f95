/**
 * The second phase of GC in a shared object store: deleting what an earlier run condemned, once
 * the caller has listed the manifests again (snapshot/shared-gc.ts). The index objects are listed
 * here, after that listing, so every chunk a listed manifest names is found in them.
 *
 * A condemned pack is deleted when:
 * - each chunk in it that is live now has another copy in a pack that exists, is indexed, and
 *   that no unfinished run condemned (`protectedPacks`, this run's own included): two runs
 *   deleting at once never take each other's last copy. A live chunk without one is first
 *   copied (checked) into a new pack: a condemned pack is never handed back to the writers, so a
 *   second deleter of the same run, stalled since it decided, harms nobody when it wakes;
 * - it is indexed, and every index object naming it names only packs deleted too. An orphan may be
 *   a pack whose writer has not put its index object yet: deleted now, that index object would
 *   later name a pack that is gone. And an index object is never rewritten here: a run rewriting
 *   it at the same time could put back the entries of a pack this one deletes.
 *
 * Then the index objects go (durably), and only then the packs, in sweep.ts's crash-safe order.
 * Index objects naming only packs that are gone are removed as well: nothing can be read through
 * them, and a writer must not deduplicate against them.
 */
import { isCairnError } from '../core/errors.js'
import type { ChunkId, PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { decodeIndexObject } from './index-object.js'
import type { IndexEntry } from './index-object.js'
import { PackBuilder } from './pack.js'
import { checkStoredChunk, listPackIds, packKey, putSealedPack, readPackRange } from './pack-store.js'

export interface CondemnedDeleteReport {
  readonly packsDeleted: number
  /** Condemned packs kept: unreadable, or an index object ties them to a pack kept. */
  readonly packsSpared: number
  /** Live chunks copied out of condemned packs first (a checkpoint put since needs them). */
  readonly chunksRescued: number
  readonly bytesFreed: number
  readonly chunksDeleted: number
}

export async function deleteCondemnedPacks(
  blobs: BlobStore,
  options: {
    readonly condemned: readonly PackId[]
    readonly live: ReadonlySet<ChunkId>
    readonly protectedPacks: ReadonlySet<string>
    readonly packBytes: number
  },
): Promise<CondemnedDeleteReport> {
  const packsOfObject = new Map<string, Set<PackId>>()
  const entriesOf = new Map<PackId, IndexEntry[]>()
  const holders = new Map<ChunkId, Set<PackId>>()
  // Each pack's entries from the first index object naming it (two do after a rewrite cut short).
  const source = new Map<PackId, string>()
  for await (const { key } of blobs.list('index/')) {
    let entries: IndexEntry[]
    try {
      entries = decodeIndexObject(await blobs.get(key), key)
    } catch (error) {
      if (isCairnError(error, 'NOT_FOUND')) continue // deleted since the listing, by another run
      throw error
    }
    packsOfObject.set(key, new Set(entries.map((entry) => entry.packId)))
    for (const entry of entries) {
      const held = holders.get(entry.chunkId)
      if (held === undefined) holders.set(entry.chunkId, new Set([entry.packId]))
      else held.add(entry.packId)
      const from = source.get(entry.packId)
      if (from === undefined) {
        source.set(entry.packId, key)
        entriesOf.set(entry.packId, [entry])
      } else if (from === key) entriesOf.get(entry.packId)?.push(entry)
    }
  }
  // Listed after the index objects (which are put after their packs): a pack a listed index
  // object names is listed here unless it is gone. Listed before them, a pack put in between
  // would look gone, and the index object naming it be deleted (the proof found that).
  const present = new Set<PackId>(await listPackIds(blobs))
  const safeCopy = (chunkId: ChunkId, besides: PackId) => {
    for (const packId of holders.get(chunkId) ?? []) {
      if (packId !== besides && present.has(packId) && !options.protectedPacks.has(packId)) return true
    }
    return false
  }
  const condemned = new Set(options.condemned)
  const doomed = new Set<PackId>()
  const rescue = new Map<PackId, IndexEntry[]>()
  for (const packId of condemned) {
    const entries = entriesOf.get(packId)
    if (!present.has(packId) || entries === undefined) continue // gone already, or an orphan
    const needed = entries.filter(
      (entry) => options.live.has(entry.chunkId) && !safeCopy(entry.chunkId, packId),
    )
    if (needed.length > 0) rescue.set(packId, needed)
    doomed.add(packId)
  }
  const chunksRescued = await rescueChunks(blobs, rescue, options.packBytes, doomed)
  // A pack stays when an index object names it beside a pack that stays (until nothing changes).
  for (let changed = true; changed;) {
    changed = false
    for (const packs of packsOfObject.values()) {
      if (![...packs].some((packId) => doomed.has(packId))) continue
      if ([...packs].every((packId) => doomed.has(packId) || !present.has(packId))) continue
      for (const packId of packs) changed = doomed.delete(packId) || changed
    }
  }
  let bytesFreed = 0
  for (const [key, packs] of packsOfObject) {
    // Naming only packs deleted now or gone before.
    if (![...packs].every((packId) => doomed.has(packId) || !present.has(packId))) continue
    bytesFreed += (await blobs.head(key))?.size ?? 0
    await blobs.delete([key])
  }
  const chunksDeleted = new Set<ChunkId>()
  for (const packId of doomed) {
    const key = packKey(packId)
    bytesFreed += (await blobs.head(key))?.size ?? 0
    await blobs.delete([key])
    for (const entry of entriesOf.get(packId) ?? [])
      if (!options.live.has(entry.chunkId)) chunksDeleted.add(entry.chunkId)
  }
  const packsSpared = [...condemned].filter((packId) => present.has(packId) && !doomed.has(packId)).length
  return {
    packsDeleted: doomed.size,
    packsSpared,
    bytesFreed,
    chunksDeleted: chunksDeleted.size,
    chunksRescued,
  }
}

/**
 * Copies the live chunks of condemned packs that have no safe copy into new packs (unique ids),
 * each checked against its id first. A pack that cannot be read is left as it is (taken out of
 * `doomed`: never deleted on a guess); one gone meanwhile was deleted by another deleter of the
 * run, whose second listing found these chunks dead: only a checkpoint that will be withdrawn
 * stands on them.
 */
async function rescueChunks(
  blobs: BlobStore,
  rescue: ReadonlyMap<PackId, readonly IndexEntry[]>,
  packBytes: number,
  doomed: Set<PackId>,
): Promise<number> {
  let builder = new PackBuilder()
  let rescued = 0
  const copied = new Set<ChunkId>()
  const flush = async () => {
    if (builder.chunkCount > 0) await putSealedPack(blobs, builder.seal(), { unique: true })
    builder = new PackBuilder()
  }
  for (const [packId, entries] of rescue) {
    const copies: { entry: IndexEntry; stored: Uint8Array }[] = []
    try {
      for (const entry of entries) {
        if (copied.has(entry.chunkId)) continue
        const stored = await readPackRange(blobs, packId, entry.offset, entry.storedLength)
        checkStoredChunk(entry, stored)
        copies.push({ entry, stored })
      }
    } catch (error) {
      if (isCairnError(error, 'NOT_FOUND')) continue
      if (isCairnError(error, 'CORRUPT_OBJECT') || isCairnError(error, 'OUT_OF_RANGE')) {
        doomed.delete(packId)
        continue
      }
      throw error
    }
    for (const { entry, stored } of copies) {
      builder.add(entry.chunkId, entry.rawLength, { codec: entry.codec, bytes: stored })
      copied.add(entry.chunkId)
      rescued++
      if (builder.dataBytes >= packBytes) await flush()
    }
  }
  await flush()
  return rescued
}
