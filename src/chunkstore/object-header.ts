/**
 * The header every chunk-store object format starts with: an 8-byte ASCII magic, then a u16
 * format version at byte 8 (packs carry it in their trailer, index objects at their start).
 */
import { CairnError } from '../core/errors.js'

/**
 * Checks `bytes` (at least 10 long) start with `magic` and a version this cairn reads.
 * `CORRUPT_OBJECT` without the magic; `FORMAT_VERSION` for a newer version.
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
  const version = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint16(8, true)
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
}
