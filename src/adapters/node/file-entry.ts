/**
 * A file as an entry source (`EntryReader`): the chunk store reads it straight into its own
 * buffers, where a `createReadStream` hands over a fresh buffer per piece to be copied out and
 * collected after. The file is opened at the first read, not before (a checkpoint refused before
 * its entries are read leaves nothing open), read once from its start to its end, and closed when
 * reading stops. A file that cannot be opened or read is `NOT_FOUND` or `IO` naming its path.
 */
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import type { EntryReader } from '../../chunkstore/source.js'
import { CairnError } from '../../core/errors.js'
import { translateFsError } from './fs-errors.js'

/** Reads `path` into the chunk store; `onBytes` (if given) is told each read's byte count. */
export function fileEntry(
  path: string,
  options: { readonly onBytes?: (bytes: number) => void } = {},
): EntryReader {
  let handle: Promise<FileHandle> | undefined
  let closed = false
  return {
    async readInto(target) {
      if (closed)
        throw new CairnError('CLOSED', 'this file entry was read already', { op: 'entry.read', path })
      handle ??= open(path, 'r')
      let bytesRead: number
      try {
        bytesRead = (await (await handle).read(target, 0, target.length, null)).bytesRead
      } catch (error) {
        throw translateFsError(error, 'entry.read', path)
      }
      // Outside the try: the caller's own error is its own, not an IO error of the file.
      options.onBytes?.(bytesRead)
      return bytesRead
    },
    async close() {
      if (closed) return
      closed = true
      const opened = handle
      handle = undefined
      // A file that failed to open has nothing to close.
      const file = await opened?.catch(() => undefined)
      try {
        await file?.close()
      } catch (error) {
        throw translateFsError(error, 'entry.close', path)
      }
    },
  }
}
