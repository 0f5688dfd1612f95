/**
 * The header every chunk-store object format starts with: an 8-byte ASCII magic, then a u16
 * format version at byte 8, then two reserved bytes that must be zero (packs carry it in their
 * trailer, index objects and manifests at their start).
 */
import { CairnError } from '../core/errors.js'

/**
 * Checks `bytes` (at least 12 long) start with `magic`, a version this cairn reads and two
 * reserved zero bytes. `CORRUPT_OBJECT` without the magic or with non-zero reserved bytes;
 * `FORMAT_VERSION` for a newer version.
 */
export function checkObjectHeader(
  bytes: Uint8Array,
  format: { readonly magic: string; readonly version: number; readonly what: 'pack' | 'index' | 'manifest' },
  where: string,
): void {
  const op = `${format.what}.read`
  for (let i = 0; i < format.magic.length; i++) {
    if (bytes[i] !== format.magic.charCodeAt(i)) {
      throw new CairnError('CORRUPT_OBJECT', `${format.what} has no ${format.magic} magic`, {
        op,
        path: where,
      })
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  const version = view.getUint16(8, true)
  // Versions start at 1: a 0 is a flipped bit, not a format.
  if (version === 0) {
    throw new CairnError('CORRUPT_OBJECT', `${format.what} has a damaged header (version 0)`, {
      op,
      path: where,
    })
  }
  if (version > format.version) {
    throw new CairnError(
      'FORMAT_VERSION',
      `${format.what} format ${String(version)} is newer than this cairn reads`,
      {
        op,
        path: where,
        hint: 'upgrade cairn',
      },
    )
  }
  // Bytes 10-11 are reserved and written as zero: checked, so a flipped bit there is found too
  // (the proof suite's bit rot hit a pack trailer's reserved bytes, and verify saw nothing).
  if (view.getUint16(10, true) !== 0) {
    throw new CairnError(
      'CORRUPT_OBJECT',
      `${format.what} has a damaged header (reserved bytes are not zero)`,
      {
        op,
        path: where,
      },
    )
  }
}
