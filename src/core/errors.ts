/**
 * The one error class of cairn. Every failure a caller can act on is a {@link CairnError} with a
 * stable string {@link CairnErrorCode} and a context that names the place (operation, path or
 * key, byte offset, LSN, checkpoint). Codes are API and never change meaning; messages may.
 *
 * Programmer errors (a wrong argument type, a violated invariant) are not CairnErrors: they throw
 * `TypeError` or `AssertionError` from `assert.ts` and are meant to crash.
 */

/** Every code cairn throws. The README lists each with its meaning. */
export const CAIRN_ERROR_CODES = [
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'INVALID_ID',
  'INVALID_KEY',
  'BAD_OPTION',
  'OUT_OF_RANGE',
  'CORRUPT_LOG',
  'CORRUPT_OBJECT',
  'MISSING_CHUNK',
  'FORMAT_VERSION',
  'LOCKED',
  'DISK_FULL',
  'IO',
  'LOG_FAILED',
  'CLOSED',
  'NOT_SUPPORTED',
  'PRECONDITION_FAILED',
  'LIMIT_EXCEEDED',
  'CONFLICT',
] as const

export type CairnErrorCode = (typeof CAIRN_ERROR_CODES)[number]

/** Where and how an error happened. Every field but `op` is optional. */
export interface CairnErrorContext {
  /** The operation that failed, as `layer.verb`: `'vfs.write'`, `'blob.get'`, `'wal.append'`. */
  readonly op: string
  /** A file path (relative to the store root) or an object key. */
  readonly path?: string
  /** A byte offset inside `path`. */
  readonly offset?: number
  /** The log sequence number concerned. */
  readonly lsn?: number
  /** The checkpoint concerned. */
  readonly checkpoint?: string
  /** Bytes that did land before a write failed (a short write). */
  readonly bytesWritten?: number
  /** True when trying again may succeed (a timeout, throttling, a full disk after space is freed). */
  readonly retryable?: boolean
  /** What the user can do about it. */
  readonly hint?: string
  /** The underlying error (an OS error, an SDK error). */
  readonly cause?: unknown
}

/** A failure with a stable code and the place it happened. */
export class CairnError extends Error {
  override readonly name = 'CairnError'
  readonly code: CairnErrorCode
  readonly context: CairnErrorContext

  /** The message without the code and the place (what was passed to the constructor). */
  readonly detail: string

  constructor(code: CairnErrorCode, message: string, context: CairnErrorContext) {
    super(`${code}: ${message}${formatPlace(context)}`, { cause: context.cause })
    this.code = code
    this.context = context
    this.detail = message
  }
}

/** True when `error` is a CairnError, and (if given) has `code`. */
export function isCairnError(error: unknown, code?: CairnErrorCode): error is CairnError {
  return error instanceof CairnError && (code === undefined || error.code === code)
}

function formatPlace(context: CairnErrorContext): string {
  const parts = [`op=${context.op}`]
  if (context.path !== undefined) parts.push(`path=${context.path}`)
  if (context.offset !== undefined) parts.push(`offset=${String(context.offset)}`)
  if (context.lsn !== undefined) parts.push(`lsn=${String(context.lsn)}`)
  if (context.checkpoint !== undefined) parts.push(`checkpoint=${context.checkpoint}`)
  if (context.bytesWritten !== undefined) parts.push(`bytesWritten=${String(context.bytesWritten)}`)
  const place = ` (${parts.join(' ')})`
  return context.hint === undefined ? place : `${place}; hint: ${context.hint}`
}
