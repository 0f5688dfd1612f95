/**
 * The options of the S3 BlobStore, their defaults and their validation (`BAD_OPTION`), and the
 * request-interceptor types that let tests inject faults at the HTTP level without depending on
 * the AWS SDK's own types.
 */
import { CairnError } from '../../core/errors.js'
import { parseKey } from '../../core/paths.js'

/** Static credentials. Without them the SDK's default chain is used (env, profile, IMDS, ...). */
export interface S3Credentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
}

/** A signed HTTP request as an interceptor sees it (credential headers are left out). */
export interface S3WireRequest {
  readonly method: string
  /** The path, `/bucket/key` with path-style addressing. */
  readonly path: string
  readonly query: Readonly<Record<string, string | readonly string[] | null>>
  /** Lower-cased names; `authorization` and `x-amz-security-token` are omitted. */
  readonly headers: Readonly<Record<string, string>>
}

/**
 * An HTTP response. One returned by `send()` carries the SDK's body stream (`unknown` here: pass
 * it back untouched, or destroy it if you throw instead). A made-up one may carry a `Uint8Array`
 * body, e.g. an S3 XML error document.
 */
export interface S3WireResponse {
  readonly statusCode: number
  readonly headers: Readonly<Record<string, string>>
  readonly body?: unknown
}

/**
 * Wraps every HTTP request the store sends (for tests: latency, 5xx, throttling, a failure after
 * the server applied the request). Call `send()` to send the request for real; return its
 * response, a made-up one, or throw (an error with a `code` such as `ECONNRESET` looks like a
 * network failure).
 */
export type S3RequestInterceptor = (
  request: S3WireRequest,
  send: () => Promise<S3WireResponse>,
) => Promise<S3WireResponse>

/** How to reach a bucket and how to behave there. */
export interface S3ObjectsOptions {
  readonly bucket: string
  /** A key prefix inside the bucket (no leading or trailing `/`); objects live under `prefix/`. */
  readonly prefix?: string
  /** A non-AWS endpoint, e.g. `http://127.0.0.1:9000` (MinIO, s3rver). */
  readonly endpoint?: string
  /** Default `us-east-1`. */
  readonly region?: string
  readonly credentials?: S3Credentials
  /** Path-style addressing (`endpoint/bucket/key`); most non-AWS servers need it. */
  readonly forcePathStyle?: boolean
  /**
   * Whether the server honours `If-None-Match: *` on PutObject (atomic create-if-absent).
   * `'detect'` (the default) probes at open; `'no'` uses a HEAD then PUT that is not atomic.
   */
  readonly conditionalWrites?: 'detect' | 'yes' | 'no'
  /** Attempts per request, the first included (default 6). */
  readonly maxAttempts?: number
  /** The first retry waits up to this long (default 50 ms); each later one up to twice as long. */
  readonly backoffBaseMs?: number
  /** No retry waits longer than this (default 2000 ms). */
  readonly backoffCapMs?: number
  /** Puts larger than this use a multipart upload (default 64 MiB). */
  readonly multipartBytes?: number
  /** The part size of a multipart upload (default 16 MiB, at least S3's 5 MiB). */
  readonly partBytes?: number
  /** How many parts of one upload are sent at once (default 4). */
  readonly partConcurrency?: number
  /** Keys per ListObjectsV2 page (default and S3's maximum 1000; smaller for tests). */
  readonly listPageKeys?: number
  /** A request whose socket is idle this long fails with a retryable timeout (default 60 s). */
  readonly idleTimeoutMs?: number
  /** Connecting longer than this fails with a retryable timeout (default 10 s). */
  readonly connectTimeoutMs?: number
  /** For tests: wraps every HTTP request (see {@link S3RequestInterceptor}). */
  readonly interceptRequest?: S3RequestInterceptor
}

/** S3's smallest part (all but the last) and most parts per upload. */
export const S3_PART_BYTES_MIN: number = 5 * 1024 * 1024
export const S3_PARTS_MAX: number = 10_000
/** S3's most keys per DeleteObjects request and per ListObjectsV2 page. */
export const S3_BATCH_KEYS_MAX: number = 1000

/** The options with every default filled in. */
export interface S3Settings {
  readonly bucket: string
  /** `''` or a validated prefix ending in `/`. */
  readonly keyBase: string
  readonly conditionalWrites: 'detect' | 'yes' | 'no'
  readonly maxAttempts: number
  readonly backoffBaseMs: number
  readonly backoffCapMs: number
  readonly multipartBytes: number
  readonly partBytes: number
  readonly partConcurrency: number
  readonly listPageKeys: number
  readonly idleTimeoutMs: number
  readonly connectTimeoutMs: number
}

const MIB = 1024 * 1024

/** Checks the options and fills in the defaults. Throws `BAD_OPTION` naming the option. */
export function resolveS3Settings(options: S3ObjectsOptions): S3Settings {
  const op = 'blob.open'
  const bad = (name: string, why: string): never => {
    throw new CairnError('BAD_OPTION', `S3 option ${name} ${why}`, { op })
  }
  // AWS's rules are stricter (3-63 of a-z, 0-9, . and -); other servers and legacy buckets allow more.
  if (
    typeof options.bucket !== 'string' ||
    !/^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/.test(options.bucket)
  ) {
    bad('bucket', 'must be a bucket name (3-255 of A-Z, a-z, 0-9, ., _, -)')
  }
  const prefix = options.prefix ?? ''
  if (prefix !== '') parseKey(prefix, op)
  const int = (name: string, value: number | undefined, fallback: number, min: number, max: number) => {
    const chosen = value ?? fallback
    if (!Number.isSafeInteger(chosen) || chosen < min || chosen > max) {
      bad(name, `must be an integer from ${min} to ${max}`)
    }
    return chosen
  }
  const conditionalWrites = options.conditionalWrites ?? 'detect'
  if (!['detect', 'yes', 'no'].includes(conditionalWrites))
    bad('conditionalWrites', "must be 'detect', 'yes' or 'no'")
  const backoffBaseMs = int('backoffBaseMs', options.backoffBaseMs, 50, 0, 60_000)
  return {
    bucket: options.bucket,
    keyBase: prefix === '' ? '' : `${prefix}/`,
    conditionalWrites,
    maxAttempts: int('maxAttempts', options.maxAttempts, 6, 1, 100),
    backoffBaseMs,
    backoffCapMs: int('backoffCapMs', options.backoffCapMs, 2000, backoffBaseMs, 600_000),
    multipartBytes: int(
      'multipartBytes',
      options.multipartBytes,
      64 * MIB,
      S3_PART_BYTES_MIN,
      5 * 1024 * MIB,
    ),
    partBytes: int('partBytes', options.partBytes, 16 * MIB, S3_PART_BYTES_MIN, 5 * 1024 * MIB),
    partConcurrency: int('partConcurrency', options.partConcurrency, 4, 1, 64),
    listPageKeys: int('listPageKeys', options.listPageKeys, S3_BATCH_KEYS_MAX, 1, S3_BATCH_KEYS_MAX),
    idleTimeoutMs: int('idleTimeoutMs', options.idleTimeoutMs, 60_000, 1, 3_600_000),
    connectTimeoutMs: int('connectTimeoutMs', options.connectTimeoutMs, 10_000, 1, 600_000),
  }
}
