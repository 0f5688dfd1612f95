/**
 * A restore's get read by the worker thread that decodes it, straight from the pack's file, when
 * the store's objects are files of this machine (BlobStore `localPath`). Through the store, each
 * get cost the calling thread an open, a read and a close, each a trip through libuv's thread
 * pool, and then a hand-over of the bytes to a worker; a later version's restore makes a thousand
 * or more small gets (its chunks lie in every version's packs). See read-to-file.ts for figures.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { translateFsError } from '../adapters/node/fs-errors.js'
import { CairnError } from '../core/errors.js'
import { packTooShort } from './pack-store.js'
import { READ_BYTES_MAX } from './read-entry.js'

/** Where a thread reads the gets it reads itself (kept for reuse: no fresh pages per get). */
let scratch = new Uint8Array(0)

/**
 * Bytes `[offset, offset + length)` of the pack in the file at `path` (`key` names it in errors),
 * in this thread's scratch buffer: valid until the thread's next call. The errors are those of a
 * get through the store: `NOT_FOUND` for a missing pack, `CORRUPT_OBJECT` for one shorter than
 * the range (pack-store.ts `readPackRange`), `IO` for the rest.
 */
export function readLocalRange(path: string, key: string, offset: number, length: number): Uint8Array {
  if (scratch.length < length) scratch = new Uint8Array(Math.max(length, READ_BYTES_MAX))
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new CairnError('NOT_FOUND', 'no such object', { op: 'blob.get', path: key, cause: error })
    throw translateFsError(error, 'blob.get', key)
  }
  try {
    let filled = 0
    while (filled < length) {
      const count = readSync(fd, scratch, filled, length - filled, offset + filled)
      if (count === 0) break
      filled += count
    }
    if (filled < length) throw packTooShort(key, offset)
    return scratch.subarray(0, length)
  } catch (error) {
    throw translateFsError(error, 'blob.get', key) // a CairnError passes through as it is
  } finally {
    closeSync(fd)
  }
}
