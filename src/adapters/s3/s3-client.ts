/**
 * The wire: one typed method per S3 request the store sends, over the AWS SDK's S3Client.
 *
 * The SDK is loaded here, lazily (`await import`), so that a program that never opens an S3
 * store never loads it; every other file of this adapter imports SDK types only. The client is
 * made with `maxAttempts: 1` (the store's own retry loop is the only one), no logger, and the
 * optional request interceptor as the innermost middleware (after signing, before the response
 * is parsed). Each method sends exactly one request and counts it, and the bytes sent and read.
 */
import { Readable } from 'node:stream'
import type * as Sdk from '@aws-sdk/client-s3'
import type {
  S3ObjectsOptions,
  S3RequestInterceptor,
  S3Settings,
  S3WireRequest,
  S3WireResponse,
} from './s3-options.js'

/** Counters of what a store sent and received. */
export interface S3Stats {
  /** Requests sent (every attempt), by S3 operation name: `PutObject`, `GetObject`, ... */
  readonly requests: Record<string, number>
  /** Object bytes sent in request bodies (puts and parts, every attempt). */
  readonly bytesUp: number
  /** Object bytes received in response bodies. */
  readonly bytesDown: number
  /** Attempts that were retries. */
  readonly retries: number
}

/** A GetObject response, its body read whole. */
export interface S3GetResult {
  readonly status: number
  readonly bytes: Uint8Array
  readonly contentRange: string | undefined
  /** The Content-Length header: the body must be this long. */
  readonly contentLength: number | undefined
}

export interface S3ListPage {
  readonly objects: readonly { readonly key: string; readonly size: number }[]
  readonly nextToken: string | undefined
}

/** One key DeleteObjects could not delete. */
export interface S3DeleteError {
  readonly key: string
  readonly code: string
  readonly message: string
}

export interface S3Part {
  readonly partNumber: number
  readonly etag: string
}

export class S3Wire {
  readonly #sdk: typeof Sdk
  readonly #client: Sdk.S3Client
  readonly #bucket: string
  readonly #requests: Record<string, number> = {}
  #bytesUp = 0
  #bytesDown = 0
  #retries = 0

  private constructor(sdk: typeof Sdk, client: Sdk.S3Client, bucket: string) {
    this.#sdk = sdk
    this.#client = client
    this.#bucket = bucket
  }

  /** Loads the SDK and makes the client. */
  static async open(options: S3ObjectsOptions, settings: S3Settings): Promise<S3Wire> {
    const sdk = await import('@aws-sdk/client-s3')
    const { credentials } = options
    const client = new sdk.S3Client({
      region: options.region ?? 'us-east-1',
      maxAttempts: 1,
      requestHandler: { connectionTimeout: settings.connectTimeoutMs, socketTimeout: settings.idleTimeoutMs },
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.forcePathStyle === undefined ? {} : { forcePathStyle: options.forcePathStyle }),
      ...(credentials === undefined
        ? {}
        : {
            credentials: {
              accessKeyId: credentials.accessKeyId,
              secretAccessKey: credentials.secretAccessKey,
              ...(credentials.sessionToken === undefined ? {} : { sessionToken: credentials.sessionToken }),
            },
          }),
    })
    if (options.interceptRequest !== undefined) addInterceptor(client, options.interceptRequest)
    return new S3Wire(sdk, client, settings.bucket)
  }

  stats(): S3Stats {
    return {
      requests: { ...this.#requests },
      bytesUp: this.#bytesUp,
      bytesDown: this.#bytesDown,
      retries: this.#retries,
    }
  }

  countRetry(): void {
    this.#retries += 1
  }

  async putObject(key: string, body: Uint8Array, ifAbsent: boolean): Promise<void> {
    this.#count('PutObject', body.length)
    await this.#client.send(
      new this.#sdk.PutObjectCommand({
        Bucket: this.#bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ...(ifAbsent ? { IfNoneMatch: '*' } : {}),
      }),
    )
  }

  /** `range` is an HTTP Range header value (`bytes=a-b`). */
  async getObject(key: string, range?: string): Promise<S3GetResult> {
    this.#count('GetObject')
    const output = await this.#client.send(
      new this.#sdk.GetObjectCommand({
        Bucket: this.#bucket,
        Key: key,
        ...(range === undefined ? {} : { Range: range }),
      }),
    )
    const bytes = output.Body === undefined ? new Uint8Array(0) : await output.Body.transformToByteArray()
    this.#bytesDown += bytes.length
    return {
      status: output.$metadata.httpStatusCode ?? 200,
      bytes,
      contentRange: output.ContentRange,
      contentLength: output.ContentLength,
    }
  }

  /** The object's size. Throws the SDK's 404 error when it is absent. */
  async headObject(key: string): Promise<number> {
    this.#count('HeadObject')
    const output = await this.#client.send(
      new this.#sdk.HeadObjectCommand({ Bucket: this.#bucket, Key: key }),
    )
    return output.ContentLength ?? 0
  }

  async listObjects(prefix: string, maxKeys: number, token: string | undefined): Promise<S3ListPage> {
    this.#count('ListObjectsV2')
    const output = await this.#client.send(
      new this.#sdk.ListObjectsV2Command({
        Bucket: this.#bucket,
        Prefix: prefix,
        MaxKeys: maxKeys,
        ...(token === undefined ? {} : { ContinuationToken: token }),
      }),
    )
    const objects = (output.Contents ?? []).flatMap((object) =>
      object.Key === undefined ? [] : [{ key: object.Key, size: object.Size ?? 0 }],
    )
    return { objects, nextToken: output.IsTruncated === true ? output.NextContinuationToken : undefined }
  }

  /** Deletes up to 1000 keys in one request (quiet mode) and returns the keys it failed on. */
  async deleteObjects(keys: readonly string[]): Promise<S3DeleteError[]> {
    this.#count('DeleteObjects')
    const output = await this.#client.send(
      new this.#sdk.DeleteObjectsCommand({
        Bucket: this.#bucket,
        Delete: { Objects: keys.map((key) => ({ Key: key })), Quiet: true },
      }),
    )
    return (output.Errors ?? []).map((error) => ({
      key: error.Key ?? '',
      code: error.Code ?? 'Unknown',
      message: error.Message ?? '',
    }))
  }

  async createMultipartUpload(key: string): Promise<string> {
    this.#count('CreateMultipartUpload')
    const output = await this.#client.send(
      new this.#sdk.CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: key }),
    )
    if (output.UploadId === undefined) throw new Error('CreateMultipartUpload returned no UploadId')
    return output.UploadId
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<string> {
    this.#count('UploadPart', body.length)
    const output = await this.#client.send(
      new this.#sdk.UploadPartCommand({
        Bucket: this.#bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
      }),
    )
    if (output.ETag === undefined) throw new Error('UploadPart returned no ETag')
    return output.ETag
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: readonly S3Part[],
    ifAbsent: boolean,
  ): Promise<void> {
    this.#count('CompleteMultipartUpload')
    await this.#client.send(
      new this.#sdk.CompleteMultipartUploadCommand({
        Bucket: this.#bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })) },
        ...(ifAbsent ? { IfNoneMatch: '*' } : {}),
      }),
    )
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    this.#count('AbortMultipartUpload')
    await this.#client.send(
      new this.#sdk.AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: key, UploadId: uploadId }),
    )
  }

  /** Closes the client's sockets. */
  destroy(): void {
    this.#client.destroy()
  }

  #count(operation: string, bytesUp = 0): void {
    this.#requests[operation] = (this.#requests[operation] ?? 0) + 1
    this.#bytesUp += bytesUp
  }
}

/** The SDK's HTTP request and response, as far as the interceptor needs them. */
interface RawRequest {
  readonly method: string
  readonly path: string
  readonly query?: Record<string, string | string[] | null>
  readonly headers: Record<string, string>
}

const HIDDEN_HEADERS = new Set(['authorization', 'x-amz-security-token'])

function addInterceptor(client: Sdk.S3Client, intercept: S3RequestInterceptor): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const raw = args.request as RawRequest
      const headers: Record<string, string> = {}
      for (const [name, value] of Object.entries(raw.headers)) {
        if (!HIDDEN_HEADERS.has(name.toLowerCase())) headers[name.toLowerCase()] = value
      }
      const view: S3WireRequest = { method: raw.method, path: raw.path, query: { ...raw.query }, headers }
      const sent: { result?: Awaited<ReturnType<typeof next>> } = {}
      const response = await intercept(view, async () => {
        sent.result = await next(args)
        return sent.result.response as S3WireResponse
      })
      if (sent.result !== undefined && response === sent.result.response) return sent.result
      const made: S3WireResponse = {
        statusCode: response.statusCode,
        headers: { ...response.headers },
        // A stream, as from the network: GetObject's parser insists on a Readable.
        body: Readable.from([response.body instanceof Uint8Array ? response.body : new Uint8Array(0)]),
      }
      return { response: made }
    },
    // The deserialize step at low priority is the innermost middleware: it sees the signed
    // request and the raw response, as the network would.
    { step: 'deserialize', priority: 'low', name: 'cairnInterceptRequest' },
  )
}
