/**
 * Packs and index objects in a BlobStore, in the order that keeps every index entry true:
 * the pack is put (durable, atomic) before the index object that names it. A crash between the
 * two leaves an orphan pack (counted, collected by GC), never an index entry without its pack.
 *
 * Keys: `packs/<first 2 hex>/<pack id>` (pack id = BLAKE3-256 of the pack's footer and trailer) and
 * `index/<index id>` (BLAKE3-256 of the index object). Both are content-addressed, so putting
 * one that already exists is a no-op, and a retried put after an ambiguous failure is harmless.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { ChunkId, PackId } from '../core/ids.js'
import { parsePackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { randomBytes } from 'node:crypto'
import { computeChunkId } from './chunk-id.js'
import { decodeChunk, decodeChunkInto } from './codec.js'
import { decodeIndexObject, encodeIndexObject } from './index-object.js'
import type { IndexEntry } from './index-object.js'
import { PACK_TRAILER_BYTES, decodePackFooter, decodePackTrailer } from './pack.js'
import type { PackBuilder, PackEntry, SealedPack } from './pack.js'

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

/**
 * Puts an object under a content-derived key. An existing one names the same content: for an
 * index object the same bytes; for a pack the same chunks (ids, codecs, lengths), its id being
 * the hash of its footer.
 */
async function putContent(store: BlobStore, key: string, bytes: Uint8Array): Promise<void> {
  try {
    await store.put(key, bytes, { ifAbsent: true })
  } catch (error) {
    if (!isCairnError(error, 'ALREADY_EXISTS')) throw error
  }
}

/** A pack once put, with the index object that names its chunks. */
export interface FlushedPack {
  readonly packId: PackId
  readonly indexKey: string
  readonly entries: readonly IndexEntry[]
}

/**
 * Seals the builder's pack, puts it, then puts the index object listing its chunks. Resolves
 * once both are durable, with the new index entries. Call `loadChunkHasher()` first.
 */
export function flushPack(store: BlobStore, builder: PackBuilder): Promise<FlushedPack> {
  return putSealedPack(store, builder.seal())
}

/**
 * A pack's id: the BLAKE3-256 of its footer and trailer, which list every chunk's id, codec and
 * lengths, in order. That names the content as surely as hashing the whole pack would (chunk ids
 * already hash the data) at a thousandth of the cost.
 */
export function packIdOf(sealed: SealedPack, nonce?: Uint8Array): PackId {
  const tail = sealed.bytes.subarray(sealed.bytes.length - sealed.tailBytes)
  if (nonce === undefined) return computeChunkId(tail) as string as PackId
  const salted = new Uint8Array(tail.length + nonce.length)
  salted.set(tail)
  salted.set(nonce, tail.length)
  return computeChunkId(salted) as string as PackId
}

/**
 * `flushPack` for a pack already sealed (kept by the caller so a failed put can be retried).
 * With `unique`, the pack id is salted with random bytes: in a shared object store a pack key is
 * never used twice, so a GC run that decided long ago to delete a pack can never delete a new pack
 * of the same content put since (docs/SHARED.md). The caller keeps the id for retries of the put.
 */
export async function putSealedPack(
  store: BlobStore,
  sealed: SealedPack & { packId?: PackId },
  options: { readonly unique?: boolean } = {},
): Promise<FlushedPack> {
  sealed.packId ??= packIdOf(sealed, options.unique === true ? randomBytes(16) : undefined)
  const packId = sealed.packId
  await putContent(store, packKey(packId), sealed.bytes)
  const entries = sealed.entries.map((entry) => indexEntryOf(entry, packId))
  const indexKey = await putIndexObject(store, entries)
  return { packId, indexKey, entries }
}

/**
 * Puts an index object listing `entries`; resolves with its key once it is durable. A key in
 * `replacing` names a damaged object of the same content: it is overwritten in one atomic put
 * (a put of a key that exists would keep what is there), so there is no moment without it.
 */
export async function putIndexObject(
  store: BlobStore,
  entries: readonly IndexEntry[],
  replacing: ReadonlySet<string> = new Set(),
): Promise<string> {
  const index = encodeIndexObject(entries)
  const key = `index/${computeChunkId(index)}`
  if (replacing.has(key)) await store.put(key, index)
  else await putContent(store, key, index)
  return key
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
  return checkStoredChunk(entry, await readPackRange(store, entry.packId, entry.offset, entry.storedLength))
}

/**
 * Bytes `[offset, offset + length)` of a pack (read into `into` where the store does: BlobStore
 * `get`); a pack shorter than that is `CORRUPT_OBJECT`.
 */
export async function readPackRange(
  store: BlobStore,
  packId: PackId,
  offset: number,
  length: number,
  into?: Uint8Array,
): Promise<Uint8Array> {
  const key = packKey(packId)
  try {
    return await store.get(key, { offset, length }, into)
  } catch (error) {
    if (!isCairnError(error, 'OUT_OF_RANGE')) throw error
    throw packTooShort(key, offset, error)
  }
}

/** The error of a get past a pack's end: `CORRUPT_OBJECT` naming the pack and the offset. */
export function packTooShort(key: string, offset: number, cause?: unknown): CairnError {
  return new CairnError('CORRUPT_OBJECT', 'pack is shorter than its index says', {
    op: 'chunk.read',
    path: `${key}@${String(offset)}`,
    ...(cause === undefined ? {} : { cause }),
  })
}

/** A stored chunk decoded and checked against its id: `CORRUPT_OBJECT` naming pack and offset. */
export function checkStoredChunk(entry: IndexEntry, stored: Uint8Array): Uint8Array {
  const where = `${packKey(entry.packId)}@${String(entry.offset)}`
  return checkRaw(entry, decodeChunk(entry.codec, stored, entry.rawLength, where), where)
}

/**
 * `checkStoredChunk`, decoding into `out` at `at` (see `decodeChunkInto`): the chunk's view there.
 */
export function checkStoredChunkInto(
  entry: IndexEntry,
  stored: Uint8Array,
  out: Uint8Array,
  at: number,
): Uint8Array {
  const where = `${packKey(entry.packId)}@${String(entry.offset)}`
  decodeChunkInto(entry.codec, stored, entry.rawLength, out, at, where)
  return checkRaw(entry, out.subarray(at, at + entry.rawLength), where)
}

function checkRaw(entry: IndexEntry, raw: Uint8Array, where: string): Uint8Array {
  if (computeChunkId(raw) !== entry.chunkId) {
    throw new CairnError('CORRUPT_OBJECT', `chunk ${entry.chunkId.slice(0, 8)} does not hash to its id`, {
      op: 'chunk.read',
      path: where,
    })
  }
  return raw
}

/**
 * The entries of pack `packId` read from its footer: two ranged gets, the trailer then exactly
 * the footer it names. A footer that does not decode is `CORRUPT_OBJECT`, naming the pack.
 */
export async function readPackFooter(store: BlobStore, packId: PackId): Promise<IndexEntry[]> {
  const key = packKey(packId)
  const size = (await store.head(key))?.size
  if (size === undefined)
    throw new CairnError('NOT_FOUND', 'pack is missing', { op: 'pack.footer', path: key })
  if (size < PACK_TRAILER_BYTES) {
    throw new CairnError('CORRUPT_OBJECT', 'pack is shorter than its trailer', {
      op: 'pack.footer',
      path: key,
    })
  }
  const trailer = await store.get(key, { offset: size - PACK_TRAILER_BYTES, length: PACK_TRAILER_BYTES })
  const { footerBytes } = decodePackTrailer(trailer, size, key)
  const tailBytes = footerBytes + PACK_TRAILER_BYTES
  const tail = await store.get(key, { offset: size - tailBytes, length: tailBytes })
  return decodePackFooter(tail, size, key).map((entry) => indexEntryOf(entry, packId))
}

/** The merged index rebuilt from the pack footers alone (when index objects are missing or damaged). */
export async function rebuildIndexFromPacks(store: BlobStore): Promise<Map<ChunkId, IndexEntry>> {
  const merged = new Map<ChunkId, IndexEntry>()
  for (const packId of await listPackIds(store)) {
    for (const entry of await readPackFooter(store, packId)) merged.set(entry.chunkId, entry)
  }
  return merged
}
