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
 * A crash after step 1 or 2 leaves packs no index names (orphans: the next sweep removes them),
 * never an index entry naming a pack that is gone. The caller holds the store's lock (no writer
 * meanwhile), has flushed every pending chunk, and resyncs its index cache afterwards.
 */
import type { ChunkId, PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { decodeIndexObject } from './index-object.js'
import type { IndexEntry } from './index-object.js'
import { listPackIds, packKey, putIndexObject, readPackFooter } from './pack-store.js'

export interface SweepReport {
  readonly packsDeleted: number
  readonly bytesFreed: number
  readonly chunksLive: number
  readonly chunksDeleted: number
}

export async function sweepPacks(blobs: BlobStore, live: ReadonlySet<ChunkId>): Promise<SweepReport> {
  // Which packs hold a live chunk, from their footers (the truth about what a pack holds).
  const packs = await listPackIds(blobs)
  const listed = new Set(packs)
  const livePacks = new Set<PackId>()
  const deadChunks = new Map<PackId, number>()
  let chunksLive = 0
  for (const packId of packs) {
    let entries: IndexEntry[]
    try {
      entries = await readPackFooter(blobs, packId)
    } catch {
      livePacks.add(packId) // a pack that cannot be read is never deleted on a guess
      continue
    }
    const liveHere = entries.filter((entry) => live.has(entry.chunkId)).length
    chunksLive += liveHere
    if (liveHere > 0) livePacks.add(packId)
    else deadChunks.set(packId, entries.length)
  }

  // Steps 1 and 2: index objects.
  const named = new Set<PackId>()
  for await (const { key } of blobs.list('index/')) {
    let entries: IndexEntry[]
    try {
      entries = decodeIndexObject(await blobs.get(key), key)
    } catch {
      continue // a damaged index object is left for verify and repair
    }
    const kept = entries.filter((entry) => livePacks.has(entry.packId) || !listed.has(entry.packId))
    if (kept.length === entries.length) {
      for (const entry of entries) named.add(entry.packId)
      continue
    }
    if (kept.length > 0) {
      await putIndexObject(blobs, kept)
      for (const entry of kept) named.add(entry.packId)
    }
    await blobs.delete([key])
  }

  // Step 3: dead packs, then orphans.
  let packsDeleted = 0
  let bytesFreed = 0
  let chunksDeleted = 0
  for (const packId of packs) {
    const dead = deadChunks.has(packId)
    if (!dead && named.has(packId)) continue
    if (!dead && livePacks.has(packId) && !named.has(packId)) {
      // An orphan still holding live chunks cannot be read through any index: it is no use, but
      // it is not deleted either while a checkpoint names its chunks (verify reports them).
      continue
    }
    const key = packKey(packId)
    bytesFreed += (await blobs.head(key))?.size ?? 0
    await blobs.delete([key])
    packsDeleted++
    chunksDeleted += deadChunks.get(packId) ?? 0
  }
  return { packsDeleted, bytesFreed, chunksLive, chunksDeleted }
}
