/**
 * OS errors become CairnErrors at the node adapter's boundary: ENOENT/ENOTDIR -> NOT_FOUND,
 * EEXIST -> ALREADY_EXISTS, ENOSPC/EDQUOT -> DISK_FULL (retryable), everything else -> IO. The
 * original error is always the `cause`.
 */
import { CairnError } from '../../core/errors.js'
import type { CairnErrorCode } from '../../core/errors.js'

/** Translates an OS error into a CairnError naming the operation and path. */
export function translateFsError(
  error: unknown,
  op: string,
  path: string,
  bytesWritten?: number,
): CairnError {
  if (error instanceof CairnError) return error
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const mapped: CairnErrorCode =
    code === 'ENOENT' || code === 'ENOTDIR'
      ? 'NOT_FOUND'
      : code === 'EEXIST'
        ? 'ALREADY_EXISTS'
        : code === 'ENOSPC' || code === 'EDQUOT'
          ? 'DISK_FULL'
          : 'IO'
  const message = error instanceof Error ? error.message : String(error)
  return new CairnError(mapped, message, {
    op,
    path,
    cause: error,
    ...(bytesWritten === undefined ? {} : { bytesWritten }),
    ...(mapped === 'DISK_FULL' ? { retryable: true, hint: 'free some space and retry' } : {}),
    ...(code === 'EACCES' || code === 'EPERM'
      ? { hint: 'check the permissions of the store directory' }
      : {}),
  })
}
