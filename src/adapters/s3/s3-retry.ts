/**
 * The S3 store's retry policy (the SDK's own is switched off with `maxAttempts: 1`, so this one
 * is the only one and tests can count it): a failure classified `retryable` is tried again after
 * a capped exponential backoff with full jitter (AWS's "full jitter": a uniformly random wait
 * between 0 and min(cap, base * 2^(attempt-1))), up to `maxAttempts` attempts in all. Any other
 * failure, or the last attempt's, becomes a CairnError at once.
 *
 * Whether a retry is safe is the caller's business: every request this store sends is idempotent
 * (a plain put of the same bytes, a get, a delete), except an `ifAbsent` put, whose caller reads
 * {@link RetryOutcome.ambiguous} to tell its own earlier write from someone else's.
 */
import { isCairnError } from '../../core/errors.js'
import { classifyS3Error, s3FailureError } from './s3-errors.js'
import type { S3Failure } from './s3-errors.js'

export interface RetryPolicy {
  readonly maxAttempts: number
  readonly backoffBaseMs: number
  readonly backoffCapMs: number
  /** Masked out of error messages. */
  readonly secrets: readonly string[]
  /** Called before each retry (the stats count them). */
  onRetry(): void
}

/** What the attempts before the last one did, for a caller that must resolve an ambiguity. */
export interface RetryOutcome {
  /** True when an earlier attempt failed in a way that may have applied it on the server. */
  ambiguous: boolean
}

/** A value to resolve with instead of failing (a box, so that `undefined` can be one). */
export interface Resolved<T> {
  readonly value: T
}

/**
 * Runs `attempt` until it succeeds, fails for good, or has run `policy.maxAttempts` times. A
 * CairnError thrown by `attempt` is final and passes through unchanged.
 * Throws the CairnError of the last failure (naming `op` and `key`); `onFailure`, when given,
 * sees the classified failure first and may return `{ value }` to resolve with instead.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  op: string,
  key: string,
  attempt: (outcome: RetryOutcome) => Promise<T>,
  onFailure?: (failure: S3Failure, outcome: RetryOutcome) => Promise<Resolved<T> | undefined>,
): Promise<T> {
  const outcome: RetryOutcome = { ambiguous: false }
  for (let attempts = 1; ; attempts += 1) {
    try {
      return await attempt(outcome)
    } catch (error) {
      // An attempt may decide for itself (ALREADY_EXISTS from a HEAD check): that is final.
      if (isCairnError(error)) throw error
      const failure = classifyS3Error(error, policy.secrets)
      if (failure.kind === 'retryable' && attempts < policy.maxAttempts) {
        if (failure.mayHaveApplied) outcome.ambiguous = true
        policy.onRetry()
        await sleep(backoffMs(policy, attempts))
        continue
      }
      if (onFailure !== undefined) {
        const resolved = await onFailure(failure, outcome)
        if (resolved !== undefined) return resolved.value
      }
      throw s3FailureError(failure, op, key, attempts)
    }
  }
}

/** The wait before retry number `attempt` (1 for the first retry): full jitter, capped. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.backoffCapMs, policy.backoffBaseMs * 2 ** Math.min(attempt - 1, 30))
  return Math.floor(Math.random() * ceiling)
}

function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms))
}
