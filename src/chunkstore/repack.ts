/**
 * GC's repack (the sweep's step 0, sweep.ts): the live chunks of packs that are mostly dead are
 * copied, as stored (not re-encoded), into new packs, each put with its index object before
 * anything old goes; the old packs then count as dead, and the sweep deletes them with the rest.
 *
 * A candidate whose data matches the CRC its writer recorded is copied as it is; one without (a
 * version 1 pack) or whose data changed has each live chunk checked against its id first, and one
 * that is damaged or unreadable is left where it is for verify to report, never copied.
 */
import { ahead } from '../core/ahead.js'
import { CairnError, isCairnError } from '../core/errors.js'
import type { ChunkId, PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import type { IndexEntry } from './index-object.js'
import { PACK_TRAILER_BYTES, PackBuilder, decodeWholePack, packFooterBytes } from './pack.js'
import { packKey, putSealedPack, readPackRange } from './pack-store.js'
import { ReadBuffers, packBuffers } from './read-buffers.js'

/** Stored chunks a repacked pack's check is split into (a message to the worker pool each). */
const CHECK_GROUPS = 4
/** Packs read ahead of the one being copied during a repack. */
const REPACK_AHEAD = 3

/** A pack to repack: all its entries, and the live ones to copy out. */
export interface RepackCandidate {
  readonly packId: PackId
  readonly entries: IndexEntry[]
  readonly liveEntries: IndexEntry[]
}

/**
 * Repacks `candidates`, in order. `livePacks` and `deadPacks` are the sweep's own: each new pack
 * joins the live ones (and leaves the dead, where a repack cut short wrote the same content),
 * each repacked candidate moves to the dead. Resolves once every new pack and its index object
 * are durable, with the index objects put and how many packs were repacked.
 */
export async function repackPacks(
  blobs: BlobStore,
  candidates: readonly RepackCandidate[],
  options: {
    readonly livePacks: Set<PackId>
    readonly deadPacks: Set<PackId>
    /** Object sizes as the sweep's listing saw them. */
    readonly listedSizes: ReadonlyMap<string, number>
    /** Checks stored chunks against their ids (sweep.ts `check`). */
    readonly check: (bytes: Uint8Array, entries: readonly IndexEntry[], base: number) => Promise<unknown>
    readonly packBytes: number
    readonly uniquePackIds: boolean
  },
): Promise<{ packsRepacked: number; added: Map<string, readonly IndexEntry[]> }> {
  const { livePacks, deadPacks, listedSizes, check, packBytes, uniquePackIds } = options
  let packsRepacked = 0
  let builder = new PackBuilder()
  // Buffers reused from pack to pack, for the candidates read and the packs sealed: fresh ones
  // meant fresh pages for every byte, slow to touch on a VM that gives freed memory back to its
  // host (read-buffers.ts). Bound: what the read-ahead and the put pipeline hold at once.
  const readBuffers = new ReadBuffers(2 * (REPACK_AHEAD + 1) * packBytes)
  /** Buffers taken from `readBuffers`: only these go back (a store's own may share memory). */
  const lentBuffers = new WeakSet<ArrayBufferLike>()
  const lend = (length: number) => {
    const buffer = readBuffers.take(length)
    lentBuffers.add(buffer.buffer)
    return buffer
  }
  const sealBuffers = packBuffers(packBytes)
  /** The put of the pack sealed last (pack, then its index object), while the next one fills. */
  let putting: Promise<void> = Promise.resolve()
  /** Index objects the repack put, with their entries. */
  const added = new Map<string, readonly IndexEntry[]>()
  const flushBuilder = async () => {
    if (builder.chunkCount === 0) return
    const into = sealBuffers.take(builder.sealedBytes).buffer as ArrayBuffer
    const sealed = builder.seal(into)
    builder = new PackBuilder()
    await putting // one put at a time: at most one sealed pack waits in memory
    putting = putSealedPack(blobs, sealed, { unique: uniquePackIds }).then((flushed) => {
      // The same content may already be there (a repack cut short wrote it): it lives now.
      livePacks.add(flushed.packId)
      deadPacks.delete(flushed.packId)
      added.set(flushed.indexKey, flushed.entries)
      // Put: its buffer seals a later pack.
      sealBuffers.give(sealed.bytes.buffer)
    })
    putting.catch(() => undefined) // awaited at the next flush or after the copying
  }
  const copied = new Set<ChunkId>()
  /** A repack candidate's data, checked; undefined when it is left as it is (unreadable, damaged). */
  const readChecked = async ({ packId, entries, liveEntries }: RepackCandidate) => {
    const listed = listedSizes.get(packKey(packId))
    const read = await readForRepack(blobs, packId, entries, liveEntries, listed, lend)
    if (read === undefined) return undefined
    const { data, intact } = read
    // Its data matches the CRC its writer recorded: the stored bytes are exactly those written, so
    // they are copied as they are (reads check each chunk against its id, as ever).
    if (intact) return data
    // A version 1 pack (no data CRC), or one whose data has changed: each live chunk is checked
    // before it is copied, in a few parallel groups (a worker message each; the dead
    // bytes between live chunks ride along, cheap next to inflating): a damaged chunk must not be
    // given a new home.
    const sorted = [...liveEntries].sort((a, b) => a.offset - b.offset)
    const liveBytes = sorted.reduce((sum, entry) => sum + entry.storedLength, 0)
    const groups: IndexEntry[][] = [[]]
    let groupBytes = 0
    for (const entry of sorted) {
      if (groupBytes >= liveBytes / CHECK_GROUPS) {
        groups.push([])
        groupBytes = 0
      }
      groups.at(-1)?.push(entry)
      groupBytes += entry.storedLength
    }
    try {
      await Promise.all(
        groups.map((group) => {
          const start = group[0]?.offset ?? 0
          const end = (group.at(-1)?.offset ?? 0) + (group.at(-1)?.storedLength ?? 0)
          // A copy of just the group, in a buffer of its own: the check hands it to a worker.
          return check(new Uint8Array(data.subarray(start, end)), group, start)
        }),
      )
    } catch (error) {
      // A damaged chunk stays where it is, in its pack, for verify to report: never copied.
      if (isCairnError(error, 'CORRUPT_OBJECT')) return undefined
      throw error
    }
    return data
  }
  // Packs ahead: the next candidates are read and checked while this one is copied and the new
  // packs are put. Reading is most of a repack's time once the data CRC spares the inflating: one
  // read at a time left a core idle. Memory: REPACK_AHEAD + 1 whole candidate packs, the pack
  // filling, one sealed pack waiting and the one being put (about 7 x packBytes at most, ~112 MB
  // with the default 16 MiB packs), plus a slow check's copies of one candidate's live groups.
  try {
    for await (const [item, outcome] of ahead(candidates, REPACK_AHEAD, readChecked)) {
      if (outcome.status === 'rejected') throw outcome.reason
      const data = outcome.value
      if (data === undefined) continue
      const { packId, liveEntries } = item
      for (const entry of liveEntries) {
        if (copied.has(entry.chunkId)) continue
        builder.add(entry.chunkId, entry.rawLength, {
          codec: entry.codec,
          bytes: data.slice(entry.offset, entry.offset + entry.storedLength),
        })
        copied.add(entry.chunkId)
        if (builder.dataBytes >= packBytes) await flushBuilder()
      }
      // Its live chunks are copied out (checks worked on copies too): the buffer reads another.
      if (lentBuffers.has(data.buffer)) readBuffers.give(data.buffer)
      livePacks.delete(packId)
      deadPacks.add(packId)
      packsRepacked++
    }
    await flushBuilder()
  } catch (error) {
    // The put in flight is never left running unobserved; the copying's failure is the one told.
    await putting.catch(() => undefined)
    throw error
  }
  // Every new pack and its index object are durable before the sweep deletes anything.
  await putting
  return { packsRepacked, added }
}

/**
 * A repack candidate read whole. `intact` when its footer decodes, records a data CRC its data
 * matches, and lists every live chunk where the index does: its stored bytes are then exactly as
 * written, found at CRC speed, where checking each chunk means inflating and hashing it.
 * Undefined for a pack that cannot be read or is shorter than its index says: it is left as it is
 * (verify reports it), never repacked. A pack larger than its index entries account for (chunks
 * the index does not name, or bytes appended) has only its indexed data read, never more.
 */
async function readForRepack(
  blobs: BlobStore,
  packId: PackId,
  entries: readonly IndexEntry[],
  liveEntries: readonly IndexEntry[],
  listedSize: number | undefined,
  /** A buffer of at least the given length to read into (the store may use one of its own). */
  buffer: (length: number) => Uint8Array,
): Promise<{ data: Uint8Array; intact: boolean } | undefined> {
  const key = packKey(packId)
  const indexedEnd = entries.reduce((end, entry) => Math.max(end, entry.offset + entry.storedLength), 0)
  // Packs are immutable: the size the sweep's listing saw is the size (a pack gone since fails
  // the read below, as NOT_FOUND).
  const size = listedSize ?? (await blobs.head(key))?.size
  if (size === undefined) throw new CairnError('NOT_FOUND', 'pack is missing', { op: 'gc.repack', path: key })
  // Shorter than its index says: damaged, so left as it is for verify to report (review: read
  // whole, its live chunks before the cut would have been copied and the damage deleted with it).
  if (size < indexedEnd) return undefined
  const whole = size <= indexedEnd + packFooterBytes(entries.length) + PACK_TRAILER_BYTES
  let data: Uint8Array
  try {
    data = whole
      ? await blobs.get(key, { offset: 0, length: size }, buffer(size))
      : await readPackRange(blobs, packId, 0, indexedEnd, buffer(indexedEnd))
  } catch (error) {
    if (isCairnError(error, 'CORRUPT_OBJECT') || isCairnError(error, 'OUT_OF_RANGE')) return undefined
    throw error
  }
  let pack: ReturnType<typeof decodeWholePack> | undefined
  try {
    if (whole) pack = decodeWholePack(data, key)
  } catch (error) {
    // A damaged footer: each live chunk is checked instead.
    if (!isCairnError(error, 'CORRUPT_OBJECT')) throw error
  }
  if (pack?.dataIntact === true) {
    const footer = new Map(pack.entries.map((entry) => [entry.offset, entry]))
    const agrees = liveEntries.every((entry) => {
      const found = footer.get(entry.offset)
      return (
        found?.id === entry.chunkId &&
        found.codec === entry.codec &&
        found.storedLength === entry.storedLength &&
        found.rawLength === entry.rawLength
      )
    })
    if (agrees) return { data, intact: true }
  }
  const dataEnd = pack?.dataBytes ?? data.length
  if (liveEntries.some((entry) => entry.offset + entry.storedLength > dataEnd)) return undefined
  return { data, intact: false }
}
