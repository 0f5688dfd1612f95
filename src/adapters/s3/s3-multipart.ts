/**
 * A large put as a multipart upload: CreateMultipartUpload, UploadPart for each part (a few at
 * once, each retried on its own: re-sending a part number replaces it, so a retry is safe), then
 * CompleteMultipartUpload, which makes the whole object appear at once (a reader never sees
 * part of it). On failure the upload is aborted, best effort: parts an abort could not remove
 * (the process died, the abort failed) stay billed until a bucket lifecycle rule
 * (AbortIncompleteMultipartUpload) removes them.
 *
 * Ambiguity: a CompleteMultipartUpload that failed after the server applied it makes its retry
 * fail with NoSuchUpload (the upload is gone because it completed; s3rver answers 500), or with
 * `ifAbsent` 412 (the object now exists). Whatever the failure, after an ambiguous attempt the
 * caller's `holdsData` check decides: the key holds our bytes -> success.
 */
import type { S3Part, S3Wire } from './s3-client.js'
import { S3_PARTS_MAX } from './s3-options.js'
import type { S3Settings } from './s3-options.js'
import { withRetries } from './s3-retry.js'
import type { RetryPolicy } from './s3-retry.js'

export interface MultipartPut {
  readonly wire: S3Wire
  readonly policy: RetryPolicy
  readonly settings: S3Settings
  /** The S3 key, and the store key that errors name. */
  readonly fullKey: string
  readonly key: string
  readonly data: Uint8Array
  /** Send `If-None-Match: *` with the completion (the server honours it). */
  readonly conditional: boolean
  /** True when the key now holds exactly `data` (resolves an ambiguous completion). */
  holdsData(): Promise<boolean>
}

export async function putMultipart(put: MultipartPut): Promise<void> {
  const { wire, policy, settings, fullKey, key, data } = put
  const op = 'blob.put'
  const partBytes = Math.max(settings.partBytes, Math.ceil(data.length / S3_PARTS_MAX))
  const partCount = Math.max(1, Math.ceil(data.length / partBytes))
  const uploadId = await withRetries(policy, op, key, () => wire.createMultipartUpload(fullKey))
  try {
    const parts: S3Part[] = []
    let nextPart = 0
    let failed = false
    const sender = async (): Promise<void> => {
      while (!failed && nextPart < partCount) {
        const index = nextPart++
        const body = data.subarray(index * partBytes, Math.min(data.length, (index + 1) * partBytes))
        try {
          const etag = await withRetries(policy, op, key, () =>
            wire.uploadPart(fullKey, uploadId, index + 1, body),
          )
          parts[index] = { partNumber: index + 1, etag }
        } catch (error) {
          failed = true // the other senders stop after their current part
          throw error
        }
      }
    }
    // Settle every sender before completing or aborting, so no part lands after an abort.
    const sent = await Promise.allSettled(
      Array.from({ length: Math.min(settings.partConcurrency, partCount) }, sender),
    )
    for (const result of sent) if (result.status === 'rejected') throw result.reason
    await withRetries(
      policy,
      op,
      key,
      () => wire.completeMultipartUpload(fullKey, uploadId, parts, put.conditional),
      // After an ambiguous attempt, whatever the retry says (NoSuchUpload, 412, a server error),
      // the key holding our bytes means the completion landed.
      async (_failure, outcome) =>
        outcome.ambiguous && (await put.holdsData()) ? { value: undefined } : undefined,
    )
  } catch (error) {
    try {
      await wire.abortMultipartUpload(fullKey, uploadId)
    } catch {
      // Best effort (see the header): the caller sees the error that made the put fail.
    }
    throw error
  }
}
