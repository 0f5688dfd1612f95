/**
 * What an S3 request's failure means, and the CairnError it becomes.
 *
 * An SDK error carries the response (`$response`), and a network error may carry the request;
 * both can hold credentials (the signed `authorization` header, a session token). So a CairnError
 * never holds an SDK error: its `cause` is a plain {@link S3ErrorSummary} copied from the SDK
 * error's name, message, status and network code, with any configured secret masked out of the
 * message as a last defence.
 */
import { CairnError } from '../../core/errors.js'
import type { CairnErrorCode } from '../../core/errors.js'

/** The safe part of an SDK or network error: what a CairnError's `cause` holds. */
export interface S3ErrorSummary {
  readonly name: string
  readonly message: string
  readonly httpStatusCode?: number
  /** A network error code such as `ECONNRESET`. */
  readonly code?: string
}

/**
 * - `not-found`: no such object (404, NoSuchKey). `no-upload`: no such multipart upload.
 * - `precondition`: a conditional request's condition failed (412): the object exists.
 * - `range`: the range is not satisfiable (416).
 * - `retryable`: throttling, a 5xx, a timeout or a network failure: trying again may succeed.
 * - `auth`: the credentials are missing, wrong, expired or not allowed.
 * - `config`: the bucket does not exist, or is in another region.
 * - `other`: anything else; not retried.
 */
export type S3FailureKind =
  'not-found' | 'no-upload' | 'precondition' | 'range' | 'retryable' | 'auth' | 'config' | 'other'

export interface S3Failure {
  readonly kind: S3FailureKind
  readonly summary: S3ErrorSummary
  /**
   * False only when the request certainly was not applied (the connection was refused, or the
   * server throttled it before doing anything). A put that failed otherwise may have landed.
   */
  readonly mayHaveApplied: boolean
  /** The object's size, when a 416 response told it. */
  readonly objectSize?: number
}

const NOT_APPLIED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])
const NETWORK_CODES = new Set([
  ...NOT_APPLIED_CODES,
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET',
  'ERR_STREAM_PREMATURE_CLOSE',
])
const THROTTLING_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'ConditionalRequestConflict',
])
const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'OperationAborted',
])
const AUTH_NAMES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
  'CredentialsProviderError',
  'AllAccessDisabled',
])
const CONFIG_NAMES = new Set([
  'NoSuchBucket',
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'IllegalLocationConstraintException',
  'InvalidBucketName',
])

/** Classifies a failed request's error. `secrets` are masked out of the copied message. */
export function classifyS3Error(error: unknown, secrets: readonly string[]): S3Failure {
  const summary = summarize(error, secrets)
  const { name, httpStatusCode: status, code } = summary
  const make = (kind: S3FailureKind, mayHaveApplied = true): S3Failure => ({ kind, summary, mayHaveApplied })
  if (code !== undefined && NETWORK_CODES.has(code)) return make('retryable', !NOT_APPLIED_CODES.has(code))
  if (THROTTLING_NAMES.has(name) || status === 429) return make('retryable', false)
  if (TRANSIENT_NAMES.has(name) || (status !== undefined && status >= 500)) return make('retryable')
  if (AUTH_NAMES.has(name) || status === 401 || status === 403) return make('auth')
  if (CONFIG_NAMES.has(name) || status === 301 || status === 307) return make('config')
  if (name === 'NoSuchUpload') return make('no-upload')
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) return make('not-found')
  if (name === 'PreconditionFailed' || status === 412) return make('precondition')
  if (name === 'InvalidRange' || status === 416) {
    const size = numberField(error, 'ActualObjectSize')
    return size === undefined ? make('range') : { ...make('range'), objectSize: size }
  }
  return make('other')
}

/** The CairnError for a failure of `op` on `key` after `attempts` attempts. */
export function s3FailureError(failure: S3Failure, op: string, key: string, attempts: number): CairnError {
  const { summary } = failure
  const status = summary.httpStatusCode === undefined ? '' : ` (HTTP ${String(summary.httpStatusCode)})`
  const what = `S3 ${summary.code ?? summary.name}${status}: ${summary.message}`
  const base = { op, path: key, cause: summary }
  const io = (message: string, extra: { retryable?: boolean; hint?: string } = {}) =>
    new CairnError('IO', message, { ...base, ...extra })
  const coded = (code: CairnErrorCode, message: string) => new CairnError(code, message, base)
  switch (failure.kind) {
    case 'not-found':
      return coded('NOT_FOUND', 'no such object')
    case 'precondition':
      return coded('ALREADY_EXISTS', 'the object exists')
    case 'range':
      return coded(
        'OUT_OF_RANGE',
        `the range is outside the object${failure.objectSize === undefined ? '' : ` of ${String(failure.objectSize)} bytes`}`,
      )
    case 'retryable':
      return io(`${what} (gave up after ${String(attempts)} attempt${attempts === 1 ? '' : 's'})`, {
        retryable: true,
        hint: 'the service is unreachable, throttling or failing; try again later or raise maxAttempts',
      })
    case 'auth':
      return io(what, {
        hint: 'check the S3 credentials (and their expiry) and that they may read, write, list and delete in the bucket',
      })
    case 'config':
      return io(what, { hint: 'check the bucket name, region, endpoint and forcePathStyle' })
    case 'no-upload':
    case 'other':
      return io(what)
  }
}

/** Copies the safe fields of any thrown value. */
export function summarize(error: unknown, secrets: readonly string[]): S3ErrorSummary {
  const object = typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : {}
  const name = typeof object.name === 'string' && object.name !== '' ? object.name : 'Error'
  const rawMessage = error instanceof Error ? error.message : typeof error === 'string' ? error : ''
  const message = mask(rawMessage.slice(0, 500), secrets)
  const metadata = object.$metadata
  const status =
    typeof metadata === 'object' && metadata !== null
      ? (metadata as Record<string, unknown>).httpStatusCode
      : undefined
  const code =
    typeof object.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(object.code) ? object.code : undefined
  return {
    name: mask(name.slice(0, 100), secrets),
    message,
    ...(typeof status === 'number' ? { httpStatusCode: status } : {}),
    ...(code === undefined ? {} : { code }),
  }
}

function mask(text: string, secrets: readonly string[]): string {
  let out = text
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]')
  return out
}

function numberField(error: unknown, field: string): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const value = (error as Record<string, unknown>)[field]
  const number = typeof value === 'string' ? Number(value) : value
  return typeof number === 'number' && Number.isSafeInteger(number) && number >= 0 ? number : undefined
}
