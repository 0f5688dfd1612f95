/**
 * Index objects: immutable lists of where chunks live, written after their packs (restic's
 * order: packs, then the index, then whatever references them), so no index entry can name a
 * pack that is not durable. The merged index is cached locally; losing the cache loses nothing.
 *
 *   header: magic "CAIRNIDX" (8), version u16, reserved u16, entry count u32, CRC-32C of the
 *           entries u32  (20 bytes)
 *   entry:  chunk id (32), pack id (32), offset u32, stored length u32, raw length u32, codec u8
 *           (77 bytes)
 */
import { crc32c } from '../core/crc32c.js'
import { CairnError } from '../core/errors.js'
import type { ChunkId, PackId } from '../core/ids.js'
import { chunkBytesMax, indexEntriesMax } from '../core/limits.js'
import type { Codec } from './codec.js'
import { isCodec } from './codec.js'
import { checkObjectHeader } from './object-header.js'

export const INDEX_MAGIC = 'CAIRNIDX'
export const INDEX_VERSION = 1
export const INDEX_HEADER_BYTES = 20
export const INDEX_ENTRY_BYTES = 77

const MAGIC = new TextEncoder().encode(INDEX_MAGIC)

/** Where one chunk lives. */
export interface IndexEntry {
  readonly chunkId: ChunkId
  readonly packId: PackId
  readonly offset: number
  readonly storedLength: number
  readonly rawLength: number
  readonly codec: Codec
}

export function encodeIndexObject(entries: readonly IndexEntry[]): Uint8Array {
  const bytes = Buffer.alloc(INDEX_HEADER_BYTES + entries.length * INDEX_ENTRY_BYTES)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  bytes.set(MAGIC, 0)
  view.setUint16(8, INDEX_VERSION, true)
  view.setUint32(12, entries.length, true)
  let at = INDEX_HEADER_BYTES
  for (const entry of entries) {
    // Written in place: a Buffer per id was most of the cost (GC encodes whole indexes).
    bytes.write(entry.chunkId, at, 32, 'hex')
    bytes.write(entry.packId, at + 32, 32, 'hex')
    view.setUint32(at + 64, entry.offset, true)
    view.setUint32(at + 68, entry.storedLength, true)
    view.setUint32(at + 72, entry.rawLength, true)
    view.setUint8(at + 76, entry.codec)
    at += INDEX_ENTRY_BYTES
  }
  view.setUint32(16, crc32c(bytes.subarray(INDEX_HEADER_BYTES)), true)
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)
}

/** Decodes an index object, checking sizes before allocating and the CRC before trusting. */
export function decodeIndexObject(bytes: Uint8Array, where: string): IndexEntry[] {
  const corrupt = (why: string) =>
    new CairnError('CORRUPT_OBJECT', `index ${why}`, { op: 'index.read', path: where })
  if (bytes.length < INDEX_HEADER_BYTES) throw corrupt('is shorter than its header')
  checkObjectHeader(bytes, { magic: INDEX_MAGIC, version: INDEX_VERSION, what: 'index' }, where)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  const count = view.getUint32(12, true)
  if (count > indexEntriesMax)
    throw corrupt(`claims ${String(count)} entries (limit ${String(indexEntriesMax)})`)
  if (bytes.length !== INDEX_HEADER_BYTES + count * INDEX_ENTRY_BYTES)
    throw corrupt('size does not match its entry count')
  if (crc32c(bytes.subarray(INDEX_HEADER_BYTES)) !== view.getUint32(16, true))
    throw corrupt('fails its checksum')
  const entries: IndexEntry[] = []
  // Ids are read as hex straight from a view of the bytes (no copy per id), and an entry in the
  // same pack as the one before reuses its pack id: an index object lists whole packs, so most
  // do. GC and every cache rebuild decode every index object; this was ~4x the time.
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  let packId = '' as PackId
  let packAt = -1
  for (let i = 0, at = INDEX_HEADER_BYTES; i < count; i++, at += INDEX_ENTRY_BYTES) {
    const codec = view.getUint8(at + 76)
    const storedLength = view.getUint32(at + 68, true)
    const rawLength = view.getUint32(at + 72, true)
    if (!isCodec(codec)) throw corrupt(`entry ${String(i)} has unknown codec ${String(codec)}`)
    if (storedLength > chunkBytesMax || rawLength > chunkBytesMax) {
      throw corrupt(`entry ${String(i)} is larger than the limit`)
    }
    if (packAt < 0 || text.compare(text, packAt, packAt + 32, at + 32, at + 64) !== 0) {
      packId = text.toString('hex', at + 32, at + 64) as PackId
      packAt = at + 32
    }
    entries.push({
      chunkId: text.toString('hex', at, at + 32) as ChunkId,
      packId,
      offset: view.getUint32(at + 64, true),
      storedLength,
      rawLength,
      codec,
    })
  }
  return entries
}
