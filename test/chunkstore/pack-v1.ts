/**
 * Version 1 packs for tests: cairn writes version 2 (a data CRC ends the footer) and must still
 * read, sweep and repack the version 1 packs of stores written before it.
 */
import { PACK_ENTRY_BYTES, PACK_TRAILER_BYTES, packFooterBytes } from '../../src/chunkstore/pack.js'
import { crc32c } from '../../src/core/crc32c.js'

/** `pack` (version 2) as version 1 wrote it: the same chunks and entries, no data CRC. */
export function asVersion1(pack: Uint8Array, count: number): Uint8Array {
  const footerAt = pack.length - PACK_TRAILER_BYTES - packFooterBytes(count)
  const entriesEnd = footerAt + count * PACK_ENTRY_BYTES
  const v1 = new Uint8Array(pack.length - 4)
  v1.set(pack.subarray(0, entriesEnd))
  v1.set(pack.subarray(pack.length - PACK_TRAILER_BYTES), entriesEnd)
  const view = new DataView(v1.buffer)
  const trailerAt = v1.length - PACK_TRAILER_BYTES
  view.setUint16(trailerAt + 8, 1, true)
  view.setUint32(trailerAt + 16, crc32c(v1.subarray(footerAt, entriesEnd)), true)
  view.setUint32(trailerAt + 20, count * PACK_ENTRY_BYTES, true)
  return v1
}
