/**
 * Packs and index objects in a BlobStore, in the order that keeps every index entry true:
 * the pack is put (durable, atomic) before the index object that names it. A crash between the
 * two leaves an orphan pack (counted, collected by GC), never an index entry without its pack.
 *
 * Keys: `packs/<first 2 hex>/<pack id>` (pack id = BLAKE3-256 of the pack's bytes) and
 * `index/<index id>` (BLAKE3-256 of the index object). Both are content-addressed, so putting
 * one that already exists is a no-op, and a retried put after an ambiguous failure is harmless.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { ChunkId, PackId } from '../core/ids.js'
import { parsePackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { computeChunkId } from './chunk-id.js'
import { decodeChunk } from './codec.js'
import { decodeIndexObject, encodeIndexObject } from './index-object.js'
import type { IndexEntry } from './index-object.js'
import { PACK_TRAILER_BYTES, decodePackFooter, decodePackTrailer } from './pack.js'
import type { PackBuilder, PackEntry } from './pack.js'

export function packKey(id: PackId): string {
  return `packs/${id.slice(0, 2)}/${id}`
}

/** The index entry for a chunk of pack `packId`. */
function indexEntryOf(entry: PackEntry, packId: PackId): IndexEntry {
  return {
    chunkId: entry.id,
    packId,
    offset: entry.offset,
    storedLength: entry.storedLength,
    rawLength: entry.rawLength,
    codec: entry.codec,
  }
}

/** Puts an object under a content-derived key; an existing one holds the same bytes. */
async function putContent(store: BlobStore, key: string, bytes: Uint8Array): Promise<void> {
  try {
    await store.put(key, bytes, { ifAbsent: true })
  } catch (error) {
    if (!isCairnError(error, 'ALREADY_EXISTS')) throw error
  }
}

/**
 * Seals the builder's pack, puts it, then puts the index object listing its chunks. Resolves
 * once both are durable, with the new index entries. Call `loadChunkHasher()` first.
 */
export async function flushPack(
  store: BlobStore,
  builder: PackBuilder,
): Promise<{ packId: PackId; entries: IndexEntry[] }> {
  const { bytes, entries } = builder.seal()
  const packId = computeChunkId(bytes) as string as PackId
  await putContent(store, packKey(packId), bytes)
  const indexEntries = entries.map((entry) => indexEntryOf(entry, packId))
  const index = encodeIndexObject(indexEntries)
  await putContent(store, `index/${computeChunkId(index)}`, index)
  return { packId, entries: indexEntries }
}

/** Every index entry from every index object, by chunk id (the merged index). */
export async function loadIndex(store: BlobStore): Promise<Map<ChunkId, IndexEntry>> {
  const merged = new Map<ChunkId, IndexEntry>()
  for await (const { key } of store.list('index/')) {
    for (const entry of decodeIndexObject(await store.get(key), key)) merged.set(entry.chunkId, entry)
  }
  return merged
}

/** The ids of every pack in the store. */
export async function listPackIds(store: BlobStore): Promise<PackId[]> {
  const ids: PackId[] = []
  for await (const { key } of store.list('packs/'))
    ids.push(parsePackId(key.slice(key.lastIndexOf('/') + 1), 'pack.list'))
  return ids
}

/**
 * A chunk's raw bytes, read by a ranged get of its pack and checked against its id: a mismatch
 * is `CORRUPT_OBJECT` naming pack, offset and chunk, never wrong bytes.
 */
export async function readChunk(store: BlobStore, entry: IndexEntry): Promise<Uint8Array> {
  const key = packKey(entry.packId)
  const where = `${key}@${String(entry.offset)}`
  let stored: Uint8Array
  try {
    stored = await store.get(key, { offset: entry.offset, length: entry.storedLength })
  } catch (error) {
    if (isCairnError(error, 'OUT_OF_RANGE')) {
      throw new CairnError('CORRUPT_OBJECT', `pack is shorter than its index says`, {
        op: 'chunk.read',
        path: where,
        cause: error,
      })
    }
    throw error
  }
  const raw = decodeChunk(entry.codec, stored, entry.rawLength, where)
  if (computeChunkId(raw) !== entry.chunkId) {
    throw new CairnError('CORRUPT_OBJECT', `chunk ${entry.chunkId.slice(0, 8)} does not hash to its id`, {
      op: 'chunk.read',
      path: where,
    })
  }
  return raw
}

/**
 * The merged index rebuilt from the pack footers alone (when index objects are missing or
 * damaged): two ranged gets per pack, the trailer then exactly the footer it names. A pack whose
 * footer does not decode is `CORRUPT_OBJECT`, naming it.
 */
export async function rebuildIndexFromPacks(store: BlobStore): Promise<Map<ChunkId, IndexEntry>> {
  const merged = new Map<ChunkId, IndexEntry>()
  for (const packId of await listPackIds(store)) {
    const key = packKey(packId)
    const size = (await store.head(key))?.size ?? 0
    if (size < PACK_TRAILER_BYTES) {
      throw new CairnError('CORRUPT_OBJECT', 'pack is shorter than its trailer', {
        op: 'index.rebuild',
        path: key,
      })
    }
    const trailer = await store.get(key, { offset: size - PACK_TRAILER_BYTES, length: PACK_TRAILER_BYTES })
    const { footerBytes } = decodePackTrailer(trailer, size, key)
    const tailBytes = footerBytes + PACK_TRAILER_BYTES
    const tail = await store.get(key, { offset: size - tailBytes, length: tailBytes })
    for (const entry of decodePackFooter(tail, size, key)) merged.set(entry.id, indexEntryOf(entry, packId))
  }
  return merged
}
