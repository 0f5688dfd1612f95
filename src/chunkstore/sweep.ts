/**
 * The sweep of garbage collection: given the chunks still live, remove the packs that hold none
 * of them, in an order a crash at any point cannot hurt:
 *
 * 1. An index object that names a dead pack and a live one is replaced first: a new index object
 *    listing only the live packs' entries is put (durable), then the old one is deleted.
 * 2. Index objects naming only dead packs are deleted.
 * 3. Only then are the dead packs deleted, and packs no index object names (orphans of a crash
 *    between a pack and its index object, or of an earlier sweep cut short).
 *
 * Before all that, packs mostly dead (by stored bytes) are repacked (repack.ts): their live chunks
 * are copied into new packs, put with their index objects first; the old packs are then dead like
 * the rest.
 *
 * A crash after step 1 or 2 leaves packs no index names (orphans: the next sweep removes them),
 * never an index entry naming a pack that is gone. The caller holds the store's lock (no writer
 * meanwhile), has flushed every pending chunk, and resyncs its index cache afterwards.
 */
import { ahead } from '../core/ahead.js'
import { isCairnError } from '../core/errors.js'
import { parsePackId } from '../core/ids.js'
import type { ChunkId, PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { decodeIndexObject } from './index-object.js'
import type { IndexEntry } from './index-object.js'
import { checkStoredChunk, packKey, putIndexObject, readPackFooter, readPackRange } from './pack-store.js'
import { repackPacks } from './repack.js'
import type { RepackCandidate } from './repack.js'

/** Index objects put, and objects' sizes asked for, at once. */
const SWEEP_WIDTH = 8

export interface SweepReport {
  readonly packsDeleted: number
  readonly packsRepacked: number
  /** Bytes of the packs and index objects deleted (the caller adds manifests and tombstones). */
  readonly bytesFreed: number
  /** Live chunks found in the packs, each once. */
  readonly chunksLive: number
  /** Chunks no checkpoint reaches, gone with their packs, each once. */
  readonly chunksDeleted: number
}

/** What a sweep gives back besides its report. */
export interface SweepOutcome extends SweepReport {
  /** With `condemnOnly`: the packs that would be deleted. */
  readonly condemned: readonly PackId[]
  /**
   * After a full sweep, every index object the store holds, with its entries (read or written by
   * the sweep): the index cache is rebuilt from them without reading them all again. Undefined
   * with `condemnOnly`.
   */
  readonly indexObjects?: ReadonlyMap<string, readonly IndexEntry[]>
}

export async function sweepPacks(
  blobs: BlobStore,
  live: ReadonlySet<ChunkId>,
  options: {
    /** Repack a pack whose stored bytes are at least this share dead (1: never). */
    readonly repackDeadShare: number
    readonly packBytes: number
    /**
     * Checks stored chunks lying back to back in `bytes` (its first byte at pack offset `base`)
     * against their ids, rejecting with `CORRUPT_OBJECT`; the chunk store's worker pool does it,
     * taking `bytes` (a buffer of its own) with it.
     */
    readonly check?: (bytes: Uint8Array, entries: readonly IndexEntry[], base: number) => Promise<unknown>
    /**
     * Repack, then stop: delete nothing, and give back the packs that would be deleted (the first
     * phase of GC in a shared object store: snapshot/shared-gc.ts).
     */
    readonly condemnOnly?: boolean
    /** Salt the new packs' ids (pack-store.ts `putSealedPack`). */
    readonly uniquePackIds?: boolean
  },
): Promise<SweepOutcome> {
  const check =
    options.check ??
    ((bytes: Uint8Array, entries: readonly IndexEntry[], base: number) => {
      for (const entry of entries)
        checkStoredChunk(entry, bytes.subarray(entry.offset - base, entry.offset - base + entry.storedLength))
      return Promise.resolve()
    })
  // Which packs hold a live chunk (from the index objects, or the footers of packs none names).
  // Sizes as listed: the repack and the report need them, and a head each is a round trip.
  const listedSizes = new Map<string, number>()
  const packs: PackId[] = []
  for await (const { key, size } of blobs.list('packs/')) {
    packs.push(parsePackId(key.slice(key.lastIndexOf('/') + 1), 'gc.sweep'))
    listedSizes.set(key, size)
  }
  packs.sort()
  const livePacks = new Set<PackId>()
  const deadPacks = new Set<PackId>()
  const repack: RepackCandidate[] = []
  /** Live chunks found in a readable pack, each once. */
  const present = new Set<ChunkId>()
  // Packs some index object names: only those can be read, so only those can be a chunk's home.
  const indexed = new Set<PackId>()
  // Read once, used again in steps 1 and 2 (index objects a repack adds name only live packs).
  const indexObjects = new Map<string, IndexEntry[]>()
  const indexKeys: string[] = []
  for await (const { key, size } of blobs.list('index/')) {
    indexKeys.push(key)
    listedSizes.set(key, size)
  }
  // Fetched a few at a time (each get is a round trip; few, as an index object can be megabytes),
  // taken in listing order.
  for await (const [key, fetched] of ahead(indexKeys, Math.min(8, blobs.properties.concurrencyMax), (k) =>
    blobs.get(k),
  )) {
    // A damaged index object stops the sweep: a pack it names might be deleted while a cache
    // elsewhere still trusts it. Repair (a writable open) or verify first.
    let entries: IndexEntry[]
    try {
      if (fetched.status === 'rejected') throw fetched.reason
      entries = decodeIndexObject(fetched.value, key)
    } catch (error) {
      // Deleted since the listing (a run on another machine, in a shared object store).
      if (isCairnError(error, 'NOT_FOUND')) continue
      throw error
    }
    indexObjects.set(key, entries)
    for (const entry of entries) indexed.add(entry.packId)
  }
  // What each pack holds: for the packs index objects name, their entries (an index object lists
  // whole packs, written from the same entries as the footer), each chunk once (two objects name
  // the same pack after a replacement cut short); for the others (orphans), the footer.
  const footers = new Map<PackId, IndexEntry[] | undefined>()
  const source = new Map<PackId, string>()
  for (const [key, entries] of indexObjects) {
    for (const entry of entries) {
      const from = source.get(entry.packId)
      if (from === undefined) {
        source.set(entry.packId, key)
        footers.set(entry.packId, [entry])
      } else if (from === key) footers.get(entry.packId)?.push(entry)
    }
  }
  for (const packId of packs) {
    if (footers.has(packId)) continue
    try {
      footers.set(packId, await readPackFooter(blobs, packId))
    } catch {
      footers.set(packId, undefined) // a pack that cannot be read is never deleted on a guess
    }
  }
  /** Each indexed pack's live share of stored bytes, counting every live chunk it holds. */
  const liveShare = new Map<PackId, number>()
  for (const packId of packs) {
    const entries = footers.get(packId)
    if (entries === undefined || !indexed.has(packId)) continue
    let total = 0
    let liveBytes = 0
    for (const entry of entries) {
      total += entry.storedLength
      if (live.has(entry.chunkId)) liveBytes += entry.storedLength
    }
    liveShare.set(packId, total === 0 ? 0 : liveBytes / total)
  }
  // A live chunk held by several packs (a repack cut short, or stored twice) lives in one: the
  // indexed pack with the largest live share (ties: the first in id order) whose copy checks
  // against the id. Its copies elsewhere are dead, so nothing stays twice; the fully live packs a
  // cut-short repack wrote win over the mostly dead ones it copied from, so the next run completes
  // that repack; and a damaged copy never costs the good one. When no copy checks, all are kept.
  const holders = new Map<ChunkId, PackId[]>()
  for (const packId of packs) {
    if (!liveShare.has(packId)) continue
    for (const entry of footers.get(packId) ?? []) {
      if (!live.has(entry.chunkId)) continue
      const held = holders.get(entry.chunkId)
      if (held === undefined) holders.set(entry.chunkId, [packId])
      else held.push(packId)
    }
  }
  const byChunk = new Map<PackId, Map<ChunkId, IndexEntry>>()
  const entryIn = (packId: PackId, chunkId: ChunkId): IndexEntry | undefined => {
    let map = byChunk.get(packId)
    if (map === undefined) {
      map = new Map((footers.get(packId) ?? []).map((entry) => [entry.chunkId, entry]))
      byChunk.set(packId, map)
    }
    return map.get(chunkId)
  }
  const home = new Map<ChunkId, PackId>()
  for (const [chunkId, held] of holders) {
    if (held.length === 1) {
      home.set(chunkId, held[0] as PackId)
      continue
    }
    // Packs are in id order: a stable sort by share keeps id order among equals.
    const ranked = [...held].sort((a, b) => (liveShare.get(b) ?? 0) - (liveShare.get(a) ?? 0))
    for (const packId of ranked) {
      const entry = entryIn(packId, chunkId)
      if (entry === undefined) continue
      try {
        // A copy of its own: the check may hand its buffer to a worker thread.
        const bytes = new Uint8Array(await readPackRange(blobs, packId, entry.offset, entry.storedLength))
        await check(bytes, [entry], entry.offset)
      } catch (error) {
        if (isCairnError(error, 'CORRUPT_OBJECT') || isCairnError(error, 'OUT_OF_RANGE')) continue
        if (isCairnError(error, 'NOT_FOUND')) continue
        throw error
      }
      home.set(chunkId, packId)
      break
    }
  }
  byChunk.clear()
  for (const packId of packs) {
    const entries = footers.get(packId)
    if (entries === undefined) {
      livePacks.add(packId) // a pack that cannot be read is never deleted on a guess
      continue
    }
    // Live here: homed here, or live with no indexed home at all (kept wherever it is).
    const liveEntries = entries.filter(
      (entry) => live.has(entry.chunkId) && (home.get(entry.chunkId) ?? packId) === packId,
    )
    for (const entry of liveEntries) present.add(entry.chunkId)
    if (liveEntries.length === 0) {
      deadPacks.add(packId)
      continue
    }
    livePacks.add(packId)
    const totalBytes = entries.reduce((sum, entry) => sum + entry.storedLength, 0)
    const liveBytes = liveEntries.reduce((sum, entry) => sum + entry.storedLength, 0)
    if (totalBytes > 0 && 1 - liveBytes / totalBytes >= options.repackDeadShare) {
      repack.push({ packId, entries, liveEntries })
    }
  }

  // Step 0: repack mostly dead packs (repack.ts); the old packs then count as dead.
  const { packsRepacked, added } = await repackPacks(blobs, repack, {
    livePacks,
    deadPacks,
    listedSizes,
    check,
    packBytes: options.packBytes,
    uniquePackIds: options.uniquePackIds === true,
  })
  if (options.condemnOnly === true) {
    return {
      packsDeleted: 0,
      packsRepacked,
      bytesFreed: 0,
      chunksLive: present.size,
      chunksDeleted: 0,
      // Indexed packs only: an orphan may be a pack whose writer has yet to put its index object
      // (condemned-delete.ts explains why deleting it would be unsafe).
      condemned: packs.filter((packId) => deadPacks.has(packId) && indexed.has(packId)),
    }
  }

  // Steps 1 and 2: index objects. Every replacement is put before any object goes, and every
  // object that goes is gone (one batch) before any pack does.
  const named = new Set<PackId>()
  const replaced: IndexEntry[][] = []
  const doomedIndex: string[] = []
  for (const [key, entries] of indexObjects) {
    // Entries of a pack that is gone are dropped too: kept, they would let a new checkpoint
    // deduplicate against a chunk nobody can read (verify reports the checkpoints that lost it).
    const kept = entries.filter((entry) => livePacks.has(entry.packId))
    if (kept.length === entries.length) {
      for (const entry of entries) named.add(entry.packId)
      added.set(key, entries)
      continue
    }
    if (kept.length > 0) {
      replaced.push(kept)
      for (const entry of kept) named.add(entry.packId)
    }
    doomedIndex.push(key)
  }
  for await (const [kept, put] of ahead(replaced, SWEEP_WIDTH, (kept) => putIndexObject(blobs, kept))) {
    if (put.status === 'rejected') throw put.reason
    added.set(put.value, kept)
  }
  let bytesFreed = await sizeOf(blobs, doomedIndex, listedSizes)
  if (doomedIndex.length > 0) await blobs.delete(doomedIndex)

  // Step 3: dead packs, then orphans.
  /** Chunks gone with the deleted packs (not live anywhere), each once. */
  const deletedChunks = new Set<ChunkId>()
  const doomedPacks: PackId[] = []
  for (const packId of packs) {
    const dead = deadPacks.has(packId)
    if (!dead && named.has(packId)) continue
    if (!dead && livePacks.has(packId) && !named.has(packId)) {
      // An orphan still holding live chunks cannot be read through any index: it is no use, but
      // it is not deleted either while a checkpoint names its chunks (verify reports them).
      continue
    }
    doomedPacks.push(packId)
    for (const entry of footers.get(packId) ?? [])
      if (!live.has(entry.chunkId)) deletedChunks.add(entry.chunkId)
  }
  const packKeys = doomedPacks.map(packKey)
  bytesFreed += await sizeOf(blobs, packKeys, listedSizes)
  if (packKeys.length > 0) await blobs.delete(packKeys)
  const packsDeleted = doomedPacks.length
  return {
    packsDeleted,
    packsRepacked,
    bytesFreed,
    chunksLive: present.size,
    chunksDeleted: deletedChunks.size,
    condemned: [],
    indexObjects: added,
  }
}

/**
 * The bytes the objects `keys` hold: their listed sizes, or for those not listed, asked a few at
 * a time (those gone already count nothing).
 */
async function sizeOf(
  blobs: BlobStore,
  keys: readonly string[],
  listed: ReadonlyMap<string, number>,
): Promise<number> {
  let bytes = 0
  const unlisted: string[] = []
  for (const key of keys) {
    const size = listed.get(key)
    if (size === undefined) unlisted.push(key)
    else bytes += size
  }
  for await (const [, head] of ahead(unlisted, SWEEP_WIDTH, (key) => blobs.head(key))) {
    if (head.status === 'rejected') throw head.reason
    bytes += head.value?.size ?? 0
  }
  return bytes
}
