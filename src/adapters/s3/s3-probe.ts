/**
 * What the S3 store checks when it opens: whether the server honours `If-None-Match: *` on
 * PutObject (conditional-write detection), or at least that the bucket exists and may be listed.
 *
 * Detection puts a probe object under `<prefix>/.cairn-probe/<random>` twice with
 * `If-None-Match: *`: a 412 on the second means the header is honoured; a success means it was
 * ignored (the second put silently replaced the first: s3rver, older MinIO and Ceph); a 501 or
 * 400 means the server refuses the header. The probe is deleted afterwards.
 */
import { randomBytes } from 'node:crypto'
import type { S3Wire } from './s3-client.js'
import type { S3Settings } from './s3-options.js'
import type { S3Failure } from './s3-errors.js'
import { withRetries } from './s3-retry.js'
import type { Resolved, RetryPolicy } from './s3-retry.js'

/** The first key segment the probe lives under; store keys may not start with it. */
export const PROBE_SEGMENT = '.cairn-probe'

/** True when the server refuses a second `If-None-Match: *` put of one key (412). */
export async function detectConditionalWrites(
  wire: S3Wire,
  policy: RetryPolicy,
  keyBase: string,
): Promise<boolean> {
  const probe = `${keyBase}${PROBE_SEGMENT}/${randomBytes(8).toString('hex')}`
  const data = new TextEncoder().encode('cairn conditional-write probe\n')
  const op = 'blob.open'
  const put = (onFailure: (failure: S3Failure) => Resolved<boolean> | undefined) =>
    withRetries(
      policy,
      op,
      probe,
      async () => {
        await wire.putObject(probe, data, true)
        return false
      },
      (failure) => Promise.resolve(onFailure(failure)),
    )
  let supported: boolean
  try {
    // Only an ambiguous first attempt can make its own retry see 412, and that is an answer too.
    supported =
      (await put((failure) => (failure.kind === 'precondition' ? { value: true } : undefined))) ||
      (await put((failure) => {
        if (failure.kind === 'precondition') return { value: true }
        // Some servers refuse the header itself (501 NotImplemented, 400): not supported.
        const status = failure.summary.httpStatusCode
        return failure.kind === 'other' && (status === 501 || status === 400) ? { value: false } : undefined
      }))
  } catch (error) {
    // The probe may exist (an ambiguous attempt); the caller sees why opening failed, not this.
    await wire.deleteObjects([probe]).catch(() => undefined)
    throw error
  }
  await withRetries(policy, 'blob.delete', probe, () => wire.deleteObjects([probe]))
  return supported
}

/** One ListObjectsV2 of a single key: the bucket exists and the credentials may list it. */
export async function checkAccess(wire: S3Wire, policy: RetryPolicy, settings: S3Settings): Promise<void> {
  await withRetries(policy, 'blob.open', settings.keyBase, () =>
    wire.listObjects(settings.keyBase, 1, undefined),
  )
}
