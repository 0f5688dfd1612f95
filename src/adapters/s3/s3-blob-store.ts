/**
 * A {@link BlobStore} over an S3 bucket (AWS or any S3-compatible server), its keys under an
 * optional prefix. The AWS SDK is loaded lazily by {@link createS3BlobStore}.
 *
 * - put: PutObject (atomic: S3 shows a whole object or none, and it is durable when S3 answers
 *   200); above `multipartBytes`, a multipart upload (s3-multipart.ts). `ifAbsent` sends
 *   `If-None-Match: *` when the server honours it (`properties.conditionalCreate`); otherwise a
 *   HEAD then a PUT, which is NOT atomic: two writers racing can both succeed, the later one's
 *   bytes winning.
 * - get: GetObject, a range as `Range: bytes=a-b`. A range must lie inside the object
 *   (`OUT_OF_RANGE` otherwise): a 416 says so; a 206 whose Content-Range shows the object ends
 *   before the range does (S3 clips ranges at the end) too; a zero-length range needs the size, so
 *   it is a HEAD. A server that returns more than asked (s3rver answers `bytes=0-0` with the whole
 *   object) is cut to the range; a body shorter than its Content-Length is retried.
 * - head: HeadObject, 404 -> undefined. list: ListObjectsV2 pages, keys relative to the prefix.
 *   delete: DeleteObjects in batches of 1000; a missing key is no error; a per-key error is.
 *
 * Retries (s3-retry.ts): throttling, 5xx, timeouts and network errors are retried with capped
 * exponential backoff and full jitter, `maxAttempts` in all (the SDK's own retries are off).
 *
 * Ambiguous results: an attempt can fail after the server applied it (a timeout or a reset
 * connection after the object was stored). Retrying is safe for everything but `ifAbsent`:
 * - a plain put is idempotent: the retry stores the same bytes under the same key;
 * - deletes are idempotent, and gets, heads and lists change nothing;
 * - an `ifAbsent` put retried after such an attempt may find the object it wrote itself (a 412,
 *   or the HEAD check finding it). Then it reads the object and compares: the same bytes ->
 *   success; different bytes -> ALREADY_EXISTS. It cannot tell its own write from another
 *   writer's identical bytes, so two writers of identical bytes may both succeed; callers that
 *   must know who won write distinct bytes. A failure certain not to have been applied (connection
 *   refused, throttled) does not make a put ambiguous.
 *
 * Conditional-write detection (`conditionalWrites: 'detect'`, s3-probe.ts) puts a probe object
 * under `<prefix>/.cairn-probe/` at open; keys whose first segment is `.cairn-probe` are refused
 * (`INVALID_KEY`) and never listed.
 *
 * Secrets: no error, cause, context or stat holds the credentials or an SDK object (s3-errors.ts).
 */
import { CairnError } from '../../core/errors.js'
import { objectBytesMax } from '../../core/limits.js'
import { parseKey } from '../../core/paths.js'
import type { BlobInfo, BlobStore, BlobStoreProperties, ByteRange } from '../../core/ports.js'
import { S3Wire } from './s3-client.js'
import type { S3GetResult, S3Stats } from './s3-client.js'
import { classifyS3Error } from './s3-errors.js'
import { putMultipart } from './s3-multipart.js'
import { checkAccess, detectConditionalWrites, PROBE_SEGMENT } from './s3-probe.js'
import { resolveS3Settings, S3_BATCH_KEYS_MAX } from './s3-options.js'
import type { S3ObjectsOptions, S3Settings } from './s3-options.js'
import { withRetries } from './s3-retry.js'
import type { RetryOutcome, RetryPolicy } from './s3-retry.js'

export type { S3Stats } from './s3-client.js'

/** Opens a BlobStore over `options.bucket` (loading the AWS SDK), probing it as configured. */
export async function createS3BlobStore(options: S3ObjectsOptions): Promise<S3BlobStore> {
  const settings = resolveS3Settings(options)
  const wire = await S3Wire.open(options, settings)
  const { credentials } = options
  const secrets =
    credentials === undefined ? [] : [credentials.secretAccessKey, credentials.sessionToken ?? '']
  const policy: RetryPolicy = {
    maxAttempts: settings.maxAttempts,
    backoffBaseMs: settings.backoffBaseMs,
    backoffCapMs: settings.backoffCapMs,
    secrets,
    onRetry: () => {
      wire.countRetry()
    },
  }
  try {
    let conditionalCreate = settings.conditionalWrites === 'yes'
    if (settings.conditionalWrites === 'detect') {
      conditionalCreate = await detectConditionalWrites(wire, policy, settings.keyBase)
    } else {
      await checkAccess(wire, policy, settings)
    }
    return new S3BlobStore(wire, settings, policy, conditionalCreate)
  } catch (error) {
    wire.destroy()
    throw error
  }
}

/** Objects in an S3 bucket under a prefix. */
export class S3BlobStore implements BlobStore {
  readonly properties: BlobStoreProperties
  readonly #wire: S3Wire
  readonly #settings: S3Settings
  readonly #policy: RetryPolicy
  #closed = false

  constructor(wire: S3Wire, settings: S3Settings, policy: RetryPolicy, conditionalCreate: boolean) {
    this.#wire = wire
    this.#settings = settings
    this.#policy = policy
    this.properties = { name: 's3', conditionalCreate, listAfterPut: true, concurrencyMax: 16 }
  }

  async put(key: string, data: Uint8Array, options: { readonly ifAbsent?: boolean } = {}): Promise<void> {
    const op = 'blob.put'
    const fullKey = this.#fullKey(key, op)
    if (data.length > objectBytesMax) {
      throw new CairnError('LIMIT_EXCEEDED', `an object may hold at most ${String(objectBytesMax)} bytes`, {
        op,
        path: key,
      })
    }
    const ifAbsent = options.ifAbsent === true
    const conditional = ifAbsent && this.properties.conditionalCreate
    if (data.length > this.#settings.multipartBytes) {
      // Checked first even when the completion is conditional: it saves uploading the parts.
      if (ifAbsent && (await this.#sizeOf(fullKey, key, op)) !== undefined) throw alreadyExists(key)
      await putMultipart({
        wire: this.#wire,
        policy: this.#policy,
        settings: this.#settings,
        fullKey,
        key,
        data,
        conditional,
        holdsData: () => this.#holds(fullKey, key, data),
      })
      return
    }
    if (ifAbsent && !conditional) {
      let putSent = false // only a PUT, not a failed HEAD, can have written the object
      await withRetries(this.#policy, op, key, async (outcome) => {
        const size = await this.#rawSizeOf(fullKey)
        if (size !== undefined) {
          if (putSent && (await this.#isOwnEarlierWrite(outcome, size, fullKey, key, data))) return
          throw alreadyExists(key)
        }
        putSent = true
        await this.#wire.putObject(fullKey, data, false)
      })
      return
    }
    await withRetries(
      this.#policy,
      op,
      key,
      () => this.#wire.putObject(fullKey, data, conditional),
      async (failure, outcome) =>
        failure.kind === 'precondition' &&
        (await this.#isOwnEarlierWrite(outcome, data.length, fullKey, key, data))
          ? { value: undefined }
          : undefined,
    )
  }

  async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    const op = 'blob.get'
    const fullKey = this.#fullKey(key, op)
    if (range === undefined) {
      return (await withRetries(this.#policy, op, key, () => this.#getChecked(fullKey))).bytes
    }
    const { offset, length } = range
    const outside = (size?: number): CairnError =>
      new CairnError(
        'OUT_OF_RANGE',
        `range ${String(offset)}+${String(length)} is outside the object${size === undefined ? '' : ` of ${String(size)} bytes`}`,
        { op, path: key, offset },
      )
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw outside()
    }
    if (length === 0) {
      const size = await this.#sizeOf(fullKey, key, op)
      if (size === undefined) throw new CairnError('NOT_FOUND', 'no such object', { op, path: key })
      if (offset > size) throw outside(size)
      return new Uint8Array(0)
    }
    const header = `bytes=${String(offset)}-${String(offset + length - 1)}`
    return withRetries(
      this.#policy,
      op,
      key,
      async () => cutRange(await this.#getChecked(fullKey, header), offset, length, key, outside),
      (failure) => {
        if (failure.kind === 'range') throw outside(failure.objectSize)
        return Promise.resolve(undefined)
      },
    )
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const size = await this.#sizeOf(this.#fullKey(key, 'blob.head'), key, 'blob.head')
    return size === undefined ? undefined : { key, size }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    const op = 'blob.list'
    this.#checkOpen(op, prefix)
    if (prefix.startsWith('/') || prefix.split('/').some((s) => s === '.' || s === '..')) {
      throw new CairnError('INVALID_KEY', `bad list prefix ${JSON.stringify(prefix)}`, { op, path: prefix })
    }
    const { keyBase, listPageKeys } = this.#settings
    let token: string | undefined
    do {
      const page = await withRetries(this.#policy, op, prefix, () =>
        this.#wire.listObjects(keyBase + prefix, listPageKeys, token),
      )
      for (const object of page.objects) {
        if (!object.key.startsWith(keyBase)) continue
        const key = object.key.slice(keyBase.length)
        // Objects cairn cannot have written (a console's `folder/` marker, the probe) are skipped.
        if (isStoreKey(key)) yield { key, size: object.size }
      }
      token = page.nextToken
    } while (token !== undefined)
  }

  async delete(keys: readonly string[]): Promise<void> {
    const op = 'blob.delete'
    const fullKeys = [...new Set(keys.map((key) => this.#fullKey(key, op)))]
    const { keyBase } = this.#settings
    for (let start = 0; start < fullKeys.length; start += S3_BATCH_KEYS_MAX) {
      const batch = fullKeys.slice(start, start + S3_BATCH_KEYS_MAX)
      const first = batch[0]?.slice(keyBase.length) ?? ''
      await withRetries(this.#policy, op, first, async () => {
        const failed = (await this.#wire.deleteObjects(batch)).filter((error) => error.code !== 'NoSuchKey')
        const failure = failed[0]
        if (failure === undefined) return
        const key = failure.key.slice(keyBase.length)
        const why = `DeleteObjects could not delete ${key}: ${failure.code}: ${failure.message}`
        const error = Object.assign(new Error(why), { name: failure.code })
        const classified = classifyS3Error(error, [])
        // A transient per-key error retries the batch (deletes are idempotent); others are final.
        if (classified.kind === 'retryable') throw error
        throw new CairnError('IO', why, {
          op,
          path: key,
          cause: classified.summary,
          ...(classified.kind === 'auth'
            ? { hint: 'check that the credentials may delete in the bucket' }
            : {}),
        })
      })
    }
  }

  /** What this store has sent and received so far. */
  stats(): S3Stats {
    return this.#wire.stats()
  }

  /** Closes the client; every later call throws `CLOSED`. Idempotent. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true
      this.#wire.destroy()
    }
    return Promise.resolve()
  }

  #fullKey(key: string, op: string): string {
    this.#checkOpen(op, key)
    parseKey(key, op)
    if (key.split('/', 1)[0] === PROBE_SEGMENT) {
      throw new CairnError('INVALID_KEY', `keys may not start with ${PROBE_SEGMENT}/`, { op, path: key })
    }
    return this.#settings.keyBase + key
  }

  #checkOpen(op: string, key: string): void {
    if (this.#closed) throw new CairnError('CLOSED', 'the S3 store is closed', { op, path: key })
  }

  /** A GetObject whose body is as long as its Content-Length says (a short body is retried). */
  async #getChecked(fullKey: string, range?: string): Promise<S3GetResult> {
    const result = await this.#wire.getObject(fullKey, range)
    if (result.contentLength !== undefined && result.bytes.length !== result.contentLength) {
      throw Object.assign(new Error('the response body ended before its Content-Length'), {
        code: 'ERR_STREAM_PREMATURE_CLOSE',
      })
    }
    return result
  }

  /** The object's size or undefined, with retries. */
  #sizeOf(fullKey: string, key: string, op: string): Promise<number | undefined> {
    return withRetries(
      this.#policy,
      op,
      key,
      () => this.#wire.headObject(fullKey),
      (failure) => Promise.resolve(failure.kind === 'not-found' ? { value: undefined } : undefined),
    )
  }

  /** The object's size or undefined, one attempt; other errors are thrown as the SDK threw them. */
  async #rawSizeOf(fullKey: string): Promise<number | undefined> {
    try {
      return await this.#wire.headObject(fullKey)
    } catch (error) {
      if (classifyS3Error(error, []).kind === 'not-found') return undefined
      throw error
    }
  }

  /** After an ambiguous attempt, an existing object of our size and bytes is our own write. */
  async #isOwnEarlierWrite(
    outcome: RetryOutcome,
    size: number,
    fullKey: string,
    key: string,
    data: Uint8Array,
  ): Promise<boolean> {
    return outcome.ambiguous && size === data.length && (await this.#holds(fullKey, key, data))
  }

  /** True when the object exists and holds exactly `data`. */
  async #holds(fullKey: string, key: string, data: Uint8Array): Promise<boolean> {
    const result = await withRetries(
      this.#policy,
      'blob.put',
      key,
      () => this.#getChecked(fullKey),
      (failure) => Promise.resolve(failure.kind === 'not-found' ? { value: undefined } : undefined),
    )
    return result !== undefined && Buffer.compare(result.bytes, data) === 0
  }
}

/**
 * The requested `length` bytes at `offset` out of a 206 (or a 200 that ignored the range).
 * Throws OUT_OF_RANGE (final) when the object ends before the range does, and a network-like
 * error (retried) when the body is short of a range that the object does hold.
 */
function cutRange(
  result: S3GetResult,
  offset: number,
  length: number,
  key: string,
  outside: (size?: number) => CairnError,
): Uint8Array {
  let bytes = result.bytes
  let size: number | undefined = bytes.length
  if (result.status === 206) {
    const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(result.contentRange ?? '')
    const start = match === null ? offset : Number(match[1])
    size = match?.[3] === undefined || match[3] === '*' ? undefined : Number(match[3])
    if (start !== offset) {
      const got = result.contentRange ?? '?'
      throw new CairnError('IO', `asked for bytes from ${String(offset)}, got ${got}`, {
        op: 'blob.get',
        path: key,
        offset,
      })
    }
  } else {
    // A 200 is the whole object: the server ignored the Range header.
    bytes = bytes.subarray(Math.min(offset, bytes.length))
  }
  if (size !== undefined && offset + length > size) throw outside(size)
  if (bytes.length < length) {
    if (size === undefined) throw outside()
    throw Object.assign(new Error('the ranged response body is shorter than the range'), {
      code: 'ERR_STREAM_PREMATURE_CLOSE',
    })
  }
  return bytes.length === length ? bytes : bytes.slice(0, length)
}

function alreadyExists(key: string): CairnError {
  return new CairnError('ALREADY_EXISTS', 'the object exists', { op: 'blob.put', path: key })
}

function isStoreKey(key: string): boolean {
  try {
    parseKey(key, 'blob.list')
  } catch {
    return false
  }
  return key.split('/', 1)[0] !== PROBE_SEGMENT
}
