/**
 * Log shipping as a store runs it (docs/SHARED.md): restoring the shipped log into an empty
 * directory when a store opens on a new machine, shipping sealed segments as they seal (in the
 * background) and before every checkpoint's truncation, and pruning what no retained checkpoint's
 * recovery needs.
 *
 * The log is only ever truncated behind segments already shipped: `ship()` tells how far that is.
 * A background ship that fails is never silent: the next `ship()` (a checkpoint's) tries again
 * and throws if it fails too, and `lastError` says what happened meanwhile.
 */
import { isCairnError } from '../core/errors.js'
import type { BlobStore, Vfs } from '../core/ports.js'
import { listSegments } from './segments.js'
import { LogShipper, listShipped, pruneShipped } from './shipping.js'
import { restoreShippedLog } from './shipping-restore.js'
import type { RestoreResult } from './shipping-restore.js'

export class ShippingLog {
  readonly #vfs: Vfs
  readonly #dir: string
  readonly #blobs: BlobStore
  readonly #shipper: LogShipper
  #lastError: unknown
  /** The sealed segments shipped by the last ship that succeeded (a local listing is free). */
  #shippedNames = ''

  constructor(options: { readonly vfs: Vfs; readonly dir: string; readonly blobs: BlobStore }) {
    this.#vfs = options.vfs
    this.#dir = options.dir
    this.#blobs = options.blobs
    this.#shipper = new LogShipper(options)
  }

  /** What the last background ship threw (cleared by a ship that succeeds). */
  get lastError(): unknown {
    return this.#lastError
  }

  /**
   * Into a log directory with no segment: the shipped log from `fromLsn` (to `toLsn`), when the
   * bucket has it. Undefined when there was a local log, nothing shipped, or nothing shipped
   * reaches `fromLsn` (the checkpoint covers it all).
   */
  async restoreIfEmpty(fromLsn: number, toLsn?: number): Promise<RestoreResult | undefined> {
    const local = await listSegments(this.#vfs, this.#dir).catch((error: unknown) => {
      if (isCairnError(error, 'NOT_FOUND')) return { segments: [], temps: [] }
      throw error
    })
    if (local.segments.length > 0) return undefined
    const shipped = await listShipped(this.#blobs)
    if (shipped.length === 0) return undefined
    try {
      return await restoreShippedLog(this.#blobs, this.#vfs, this.#dir, {
        fromLsn,
        ...(toLsn === undefined ? {} : { toLsn }),
      })
    } catch (error) {
      // Nothing shipped reaches fromLsn: the checkpoint covers every shipped record.
      if (
        isCairnError(error, 'NOT_FOUND') &&
        shipped.every((s) => s.baseLsn < fromLsn) &&
        toLsn === undefined
      )
        return undefined
      throw error
    }
  }

  /**
   * Ships every sealed segment not shipped yet; resolves with the last LSN that is now shipped or
   * was never in a sealed segment to ship (the log may be truncated before `shippedBefore`).
   */
  async ship(): Promise<{ readonly shippedBefore: number }> {
    // Listed first: every segment sealed by now is shipped below, so the active one's base bounds it.
    try {
      const { segments } = await listSegments(this.#vfs, this.#dir)
      // Nothing sealed since the last ship: no request at all.
      const sealed = segments
        .slice(0, -1)
        .map((segment) => segment.name)
        .join(',')
      if (sealed !== this.#shippedNames || this.#lastError !== undefined) {
        await this.#shipper.ship()
        this.#shippedNames = sealed
      }
      this.#lastError = undefined
      return { shippedBefore: segments.at(-1)?.baseLsn ?? 1 }
    } catch (error) {
      this.#lastError = error
      throw error
    }
  }

  /** A background ship (a segment just sealed); its failure is kept in `lastError`, not thrown. */
  async shipQuietly(): Promise<void> {
    await this.ship().catch(() => undefined)
  }

  /** Deletes shipped segments wholly before `beforeLsn` (the oldest checkpoint kept's LSN + 1). */
  prune(beforeLsn: number): Promise<string[]> {
    return pruneShipped(this.#blobs, beforeLsn)
  }
}
