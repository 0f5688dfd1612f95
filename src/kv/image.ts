/**
 * The key-value store's checkpoint image: the whole map as one snapshot entry (`kv.map`), its
 * keys in ascending byte order, each length-prefixed.
 *
 * ```
 * magic    8 bytes  "CAIRNKV" then the format version, 0x01
 * count    varint   the number of keys
 * count times:
 *   varint keyBytes, key, varint valueBytes, value     keys strictly ascending
 * (the entry ends exactly after the last value)
 * ```
 *
 * Integrity comes from the chunk store (every chunk is checked against its BLAKE3 id on read);
 * decoding still refuses anything but the exact layout (`CORRUPT_OBJECT` naming the checkpoint and
 * the offset; `FORMAT_VERSION` for a version this code does not know), because a silently wrong
 * map is worse than none. Because the image is sorted, a change to a few keys changes a few
 * content-defined chunks: a full checkpoint of a map that changed little stores little that is new.
 */
import { CairnError } from '../core/errors.js'
import { kvImagePieceBytes, kvKeyBytesMax, kvValueBytesMax } from './limits.js'
import { SortedMap } from './sorted-map.js'
import type { MapImage } from './sorted-map.js'
import { ByteReader, varintBytes, writeVarint } from './varint.js'

/** The snapshot entry that holds the image. */
export const IMAGE_ENTRY = 'kv.map'
/** The image format this code writes and reads. */
export const IMAGE_FORMAT_VERSION = 1

const MAGIC = Buffer.from('CAIRNKV', 'latin1')
const HEADER_BYTES = MAGIC.length + 1

/**
 * The image of `map` in pieces of about kvImagePieceBytes, produced as they are read (a large
 * value is handed on as it is, uncopied); the map image must not change meanwhile (it is a copy).
 */
export function* encodeImage(map: MapImage<Uint8Array>): Generator<Uint8Array, undefined, undefined> {
  let piece = Buffer.allocUnsafe(kvImagePieceBytes)
  piece.set(MAGIC, 0)
  piece[MAGIC.length] = IMAGE_FORMAT_VERSION
  let at = writeVarint(piece, HEADER_BYTES, map.size)
  for (const leaf of map.leaves) {
    for (let i = 0; i < leaf.keys.length; i++) {
      const key = leaf.keys[i] as string
      const value = leaf.values[i] as Uint8Array
      const head = varintBytes(key.length) + key.length + varintBytes(value.length)
      if (at + head + value.length > piece.length) {
        if (at > 0) yield piece.subarray(0, at)
        piece = Buffer.allocUnsafe(Math.max(kvImagePieceBytes, head))
        at = 0
      }
      at = writeVarint(piece, at, key.length)
      at += piece.write(key, at, 'latin1')
      at = writeVarint(piece, at, value.length)
      if (at + value.length <= piece.length) {
        piece.set(value, at)
        at += value.length
      } else {
        // A value larger than a piece: the bytes so far, then the value itself.
        yield piece.subarray(0, at)
        yield value
        piece = Buffer.allocUnsafe(kvImagePieceBytes)
        at = 0
      }
    }
  }
  if (at > 0) yield piece.subarray(0, at)
}

/** The map an image holds (values copied out of it); `checkpoint` names it in errors. */
export function decodeImage(bytes: Uint8Array, checkpoint: string): SortedMap<Uint8Array> {
  const fail = (why: string, offset: number): never => {
    throw new CairnError('CORRUPT_OBJECT', `the key-value image ${why}`, {
      op: 'kv.open',
      path: IMAGE_ENTRY,
      offset,
      checkpoint,
    })
  }
  if (bytes.length < HEADER_BYTES || Buffer.compare(bytes.subarray(0, MAGIC.length), MAGIC) !== 0) {
    fail('does not start with CAIRNKV', 0)
  }
  const version = bytes[MAGIC.length]
  if (version !== IMAGE_FORMAT_VERSION) {
    throw new CairnError(
      'FORMAT_VERSION',
      `the key-value image has format version ${String(version)}; this code reads ${String(IMAGE_FORMAT_VERSION)}`,
      { op: 'kv.open', path: IMAGE_ENTRY, offset: MAGIC.length, checkpoint },
    )
  }
  const reader = new ByteReader(bytes, HEADER_BYTES, fail)
  // Each key takes at least two bytes (its two lengths): a larger count is a lie.
  const count = reader.varint('key count', Math.floor(reader.remaining / 2))
  const keys = new Array<string>(count)
  const values = new Array<Uint8Array>(count)
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let previous: string | undefined
  for (let i = 0; i < count; i++) {
    const keyBytes = reader.varint('key length', kvKeyBytesMax)
    const keyAt = reader.offset
    reader.take(keyBytes, 'key')
    const key = buffer.toString('latin1', keyAt, keyAt + keyBytes)
    if (previous !== undefined && key <= previous) fail(`has key ${String(i)} out of order`, keyAt)
    previous = key
    keys[i] = key
    values[i] = reader.take(reader.varint('value length', kvValueBytesMax), 'value').slice()
  }
  if (reader.remaining > 0) fail(`has ${String(reader.remaining)} bytes after its last key`, reader.offset)
  return SortedMap.fromSorted(keys, values)
}
