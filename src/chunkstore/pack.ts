/**
 * Packs: many stored chunks in one immutable object, with a footer that lists them, so the index
 * can always be rebuilt from the packs alone (docs/FORMAT.md).
 *
 *   [stored chunk 0][stored chunk 1]…[footer: one 41-byte entry per chunk, data CRC][trailer: 24 bytes]
 *
 * Entry: chunk id (32 bytes, BLAKE3-256), codec (u8), stored length (u32), raw length (u32).
 * Offsets are not stored: chunk i starts where chunk i-1 ends, so no entry can point outside the
 * data or overlap another. Version 2 ends the footer with the CRC-32C of the data region (u32), so
 * GC can check a pack it copies at CRC speed instead of inflating and hashing every chunk; version
 * 1 packs have no data CRC and are still read. Trailer: magic "CAIRNPAK", version u16, reserved
 * u16, chunk count u32, CRC-32C of the footer u32, footer bytes u32. Everything is checked against
 * the pack's size and the limits before anything is allocated: a lying pack is `CORRUPT_OBJECT`,
 * never an out-of-memory.
 */
import { crc32c } from '../core/crc32c.js'
import { CairnError } from '../core/errors.js'
import type { ChunkId } from '../core/ids.js'
import { chunkBytesMax, packChunksMax } from '../core/limits.js'
import type { Codec, StoredChunk } from './codec.js'
import { CODEC_RAW, isCodec } from './codec.js'
import { checkObjectHeader } from './object-header.js'

export const PACK_MAGIC = 'CAIRNPAK'
/** The version written; every version from 1 up to it is read. */
export const PACK_VERSION = 2
export const PACK_TRAILER_BYTES = 24
export const PACK_ENTRY_BYTES = 41
/** The data CRC that ends a version 2 footer. */
const DATA_CRC_BYTES = 4

/** A footer's size in bytes for `count` chunks in a pack of `version`. */
export function packFooterBytes(count: number, version: number = PACK_VERSION): number {
  return count * PACK_ENTRY_BYTES + (version >= 2 ? DATA_CRC_BYTES : 0)
}

const MAGIC = new TextEncoder().encode(PACK_MAGIC)

/** One chunk of a pack, where it lies and how it is stored. */
export interface PackEntry {
  readonly id: ChunkId
  readonly codec: Codec
  readonly offset: number
  readonly storedLength: number
  readonly rawLength: number
}

/** A pack as `PackBuilder.seal()` gives it. */
export interface SealedPack {
  readonly bytes: Uint8Array
  readonly entries: readonly PackEntry[]
  /** Footer and trailer bytes at its end. */
  readonly tailBytes: number
}

/** Builds a pack in memory. Pure: the caller puts the sealed bytes where they belong. */
export class PackBuilder {
  readonly #parts: Uint8Array[] = []
  readonly #entries: PackEntry[] = []
  #bytes = 0

  /** Bytes of chunk data added so far. */
  get dataBytes(): number {
    return this.#bytes
  }

  get chunkCount(): number {
    return this.#entries.length
  }

  /** The sealed pack's size in bytes: its data, footer and trailer. */
  get sealedBytes(): number {
    return this.#bytes + packFooterBytes(this.#entries.length) + PACK_TRAILER_BYTES
  }

  add(id: ChunkId, rawLength: number, stored: StoredChunk): PackEntry {
    const entry: PackEntry = {
      id,
      codec: stored.codec,
      offset: this.#bytes,
      storedLength: stored.bytes.length,
      rawLength,
    }
    this.#parts.push(stored.bytes)
    this.#entries.push(entry)
    this.#bytes += stored.bytes.length
    return entry
  }

  /**
   * The pack's bytes, its entries, and how many of its last bytes are footer and trailer. The
   * bytes are written at the start of `into` when it holds `sealedBytes` (a buffer reused from
   * pack to pack: pack-pipeline.ts), else into a new buffer.
   */
  seal(into?: ArrayBuffer): SealedPack {
    const count = this.#entries.length
    const footerBytes = packFooterBytes(count)
    const size = this.sealedBytes
    // Every byte is written below, the trailer's reserved ones too: no zero-filled allocation.
    const pack =
      into !== undefined && into.byteLength >= size
        ? new Uint8Array(into, 0, size)
        : new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size)
    let at = 0
    for (const part of this.#parts) {
      pack.set(part, at)
      at += part.length
    }
    const view = new DataView(pack.buffer, 0, size)
    for (const entry of this.#entries) {
      pack.set(Buffer.from(entry.id, 'hex'), at)
      view.setUint8(at + 32, entry.codec)
      view.setUint32(at + 33, entry.storedLength, true)
      view.setUint32(at + 37, entry.rawLength, true)
      at += PACK_ENTRY_BYTES
    }
    view.setUint32(at, crc32c(pack.subarray(0, this.#bytes)), true)
    at += DATA_CRC_BYTES
    const footer = pack.subarray(this.#bytes, at)
    pack.set(MAGIC, at)
    view.setUint16(at + 8, PACK_VERSION, true)
    view.setUint16(at + 10, 0, true) // reserved
    view.setUint32(at + 12, count, true)
    view.setUint32(at + 16, crc32c(footer), true)
    view.setUint32(at + 20, footerBytes, true)
    return { bytes: pack, entries: [...this.#entries], tailBytes: footerBytes + PACK_TRAILER_BYTES }
  }
}

/** How many bytes at the end of a pack of `packBytes` hold the footer and trailer, from its trailer. */
export function decodePackTrailer(
  trailer: Uint8Array,
  packBytes: number,
  where: string,
): { footerBytes: number; count: number; version: number } {
  const corrupt = (why: string) =>
    new CairnError('CORRUPT_OBJECT', `pack ${why}`, { op: 'pack.read', path: where })
  if (trailer.length !== PACK_TRAILER_BYTES || packBytes < PACK_TRAILER_BYTES)
    throw corrupt('is shorter than its trailer')
  checkObjectHeader(trailer, { magic: PACK_MAGIC, version: PACK_VERSION, what: 'pack' }, where)
  const view = new DataView(trailer.buffer, trailer.byteOffset, trailer.length)
  const version = view.getUint16(8, true)
  const count = view.getUint32(12, true)
  const footerBytes = view.getUint32(20, true)
  if (count > packChunksMax) throw corrupt(`claims ${String(count)} chunks (limit ${String(packChunksMax)})`)
  if (footerBytes !== packFooterBytes(count, version))
    throw corrupt('footer size does not match its chunk count')
  if (footerBytes + PACK_TRAILER_BYTES > packBytes) throw corrupt('footer is larger than the pack')
  return { footerBytes, count, version }
}

/**
 * The entries of a pack from its footer and trailer (`tail` = the last footerBytes + 24 bytes).
 * Checks the footer CRC, every length against the limits, and that the chunks fill the data
 * region exactly.
 */
export function decodePackFooter(tail: Uint8Array, packBytes: number, where: string): PackEntry[] {
  return decodePackTail(tail, packBytes, where).entries
}

/**
 * `decodePackFooter`, with the CRC-32C of the data region the footer records (undefined for a
 * version 1 pack, which has none). The data itself is not read here.
 */
export function decodePackTail(
  tail: Uint8Array,
  packBytes: number,
  where: string,
): { entries: PackEntry[]; dataCrc: number | undefined } {
  const corrupt = (why: string) =>
    new CairnError('CORRUPT_OBJECT', `pack ${why}`, { op: 'pack.read', path: where })
  const trailer = tail.subarray(tail.length - PACK_TRAILER_BYTES)
  const { footerBytes, count, version } = decodePackTrailer(trailer, packBytes, where)
  if (tail.length !== footerBytes + PACK_TRAILER_BYTES) throw corrupt('tail was read at the wrong size')
  const footer = tail.subarray(0, footerBytes)
  const view = new DataView(footer.buffer, footer.byteOffset, footer.length)
  if (crc32c(footer) !== new DataView(trailer.buffer, trailer.byteOffset, 24).getUint32(16, true)) {
    throw corrupt('footer fails its checksum')
  }
  const entries: PackEntry[] = []
  // Ids read as hex from a view of the footer: no copy per id.
  const text = Buffer.from(footer.buffer, footer.byteOffset, footer.length)
  let offset = 0
  for (let i = 0; i < count; i++) {
    const at = i * PACK_ENTRY_BYTES
    const codec = view.getUint8(at + 32)
    const storedLength = view.getUint32(at + 33, true)
    const rawLength = view.getUint32(at + 37, true)
    if (!isCodec(codec)) throw corrupt(`chunk ${String(i)} has unknown codec ${String(codec)}`)
    if (rawLength > chunkBytesMax || storedLength > chunkBytesMax) {
      throw corrupt(`chunk ${String(i)} is larger than the limit`)
    }
    if (codec === CODEC_RAW && storedLength !== rawLength)
      throw corrupt(`raw chunk ${String(i)} has two lengths`)
    const id = text.toString('hex', at, at + 32) as ChunkId
    entries.push({ id, codec, offset, storedLength, rawLength })
    offset += storedLength
  }
  if (offset !== packBytes - footerBytes - PACK_TRAILER_BYTES)
    throw corrupt('chunks do not fill its data exactly')
  const dataCrc = version >= 2 ? view.getUint32(count * PACK_ENTRY_BYTES, true) : undefined
  return { entries, dataCrc }
}

/**
 * A whole pack's entries, and whether its data is exactly what its writer wrote: true when the
 * data region matches the CRC its footer records, false when it does not, undefined for a
 * version 1 pack (no CRC). A footer that does not decode is `CORRUPT_OBJECT`.
 */
export function decodeWholePack(
  pack: Uint8Array,
  where: string,
): { entries: PackEntry[]; dataIntact: boolean | undefined; dataBytes: number } {
  if (pack.length < PACK_TRAILER_BYTES) {
    throw new CairnError('CORRUPT_OBJECT', 'pack is shorter than its trailer', {
      op: 'pack.read',
      path: where,
    })
  }
  const { footerBytes } = decodePackTrailer(
    pack.subarray(pack.length - PACK_TRAILER_BYTES),
    pack.length,
    where,
  )
  const dataBytes = pack.length - footerBytes - PACK_TRAILER_BYTES
  const { entries, dataCrc } = decodePackTail(pack.subarray(dataBytes), pack.length, where)
  const dataIntact = dataCrc === undefined ? undefined : crc32c(pack.subarray(0, dataBytes)) === dataCrc
  return { entries, dataIntact, dataBytes }
}
