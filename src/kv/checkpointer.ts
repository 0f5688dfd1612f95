/**
 * The key-value store's checkpoints: the whole map as one full checkpoint, every so many records
 * or so many milliseconds, then retention (keep the last few) and, every few checkpoints, GC.
 *
 * A checkpoint's content is captured synchronously, in one turn: the LSN the map covers (every
 * write up to it applied, none after) and a shallow copy of the map's layout (values are never
 * changed in place, so the copy stays what it was). It is then encoded (image.ts) and committed
 * in the background while writes go on, one checkpoint at a time. A failed checkpoint is reported
 * to `onError`; what it would have covered counts towards the next, and none starts on its own
 * for a while (1 s, doubling to 60 s), so a failing disk is not hammered. Nothing is lost either
 * way: every acknowledged write is in the log until a checkpoint covering it commits.
 *
 * Why full checkpoints and no deltas: the image is sorted, so the content-defined chunks of a map
 * that changed in a few keys are mostly the ones stored already, and a full checkpoint stores only
 * the few that changed (the cost left is reading and hashing the map: bench/kv.bench.ts).
 */
import type { CheckpointInfo } from '../snapshot/snapshot.js'
import type { Store } from '../store.js'
import { IMAGE_ENTRY, IMAGE_FORMAT_VERSION, encodeImage } from './image.js'
import type { MapImage } from './sorted-map.js'
import { OneAtATime } from '../core/one-at-a-time.js'

/** What the checkpointer needs of the key-value store. */
export interface CheckpointSource {
  readonly store: Store
  /** Synchronously: the LSN the map covers and a copy of its layout at that LSN. */
  capture(): { readonly lsn: number; readonly image: MapImage<Uint8Array> }
}

/** When to checkpoint and what to keep (defaults filled in by kv.ts). */
export interface CheckpointPolicy {
  readonly everyRecords: number | undefined
  readonly everyMs: number | undefined
  /** Keep this many newest checkpoints (retention after each one); undefined: no retention. */
  readonly keepLast: number | undefined
  /** Run GC after every this many checkpoints; undefined: never. */
  readonly gcEvery: number | undefined
  readonly gcGraceMs: number
  readonly onCheckpoint: ((info: CheckpointInfo) => void) | undefined
  readonly onError: ((error: unknown) => void) | undefined
}

export class Checkpointer {
  readonly #source: CheckpointSource
  readonly #policy: CheckpointPolicy
  /** Writes applied since the last checkpoint's capture. */
  #records = 0
  /** The LSN the newest committed checkpoint covers. */
  #coveredLsn: number
  #committed = 0
  #sinceGc = 0
  readonly #slot = new OneAtATime()
  #timer: ReturnType<typeof setInterval> | undefined
  #stopped = false
  #failures = 0
  #retryAt = 0
  #lastError: unknown

  constructor(source: CheckpointSource, policy: CheckpointPolicy, coveredLsn: number) {
    this.#source = source
    this.#policy = policy
    this.#coveredLsn = coveredLsn
    if (policy.everyMs !== undefined) {
      this.#timer = setInterval(() => {
        if (this.#records > 0) this.#start()
      }, policy.everyMs)
      this.#timer.unref()
    }
  }

  /** The LSN the newest checkpoint committed here (or recovered) covers. */
  get coveredLsn(): number {
    return this.#coveredLsn
  }

  /** Checkpoints committed since the store was opened. */
  get committed(): number {
    return this.#committed
  }

  /** Writes applied since the last checkpoint's capture. */
  get records(): number {
    return this.#records
  }

  /** The last background failure (a checkpoint, retention or GC), if any. */
  get lastError(): unknown {
    return this.#lastError
  }

  /** Counts one applied write; starts a checkpoint when one is due. */
  recordApplied(): void {
    this.#records++
    const { everyRecords } = this.#policy
    if (everyRecords !== undefined && this.#records >= everyRecords) this.#start()
  }

  /**
   * Checkpoints now, after the one running (if any); undefined when the map has not changed since
   * the newest checkpoint. Errors are the checkpoint's own (retention and GC go to `onError`).
   */
  async checkpointNow(): Promise<CheckpointInfo | undefined> {
    await this.#slot.idle()
    return this.#slot.track(this.#run())
  }

  /** Stops the timer and waits for the checkpoint in progress. */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    await this.#slot.idle()
  }

  /** Starts a background checkpoint unless one runs (or the last failure is too recent). */
  #start(): void {
    if (this.#slot.busy || this.#stopped || Date.now() < this.#retryAt) return
    const run = this.#run().then(
      () => {
        this.#failures = 0
      },
      (error: unknown) => {
        this.#failures++
        this.#retryAt = Date.now() + Math.min(60_000, 1000 * 2 ** (this.#failures - 1))
        this.report(error)
      },
    )
    void this.#slot.track(run, () => {
      // Writes applied meanwhile may make the next one due already.
      const { everyRecords } = this.#policy
      if (this.#failures === 0 && everyRecords !== undefined && this.#records >= everyRecords) this.#start()
    })
  }

  /** Captures (synchronously, before the first await), commits, then retention and GC. */
  async #run(): Promise<CheckpointInfo | undefined> {
    const { lsn, image } = this.#source.capture()
    if (lsn <= this.#coveredLsn) return undefined
    const records = this.#records
    this.#records = 0
    let info: CheckpointInfo
    try {
      info = await this.#source.store.checkpoint({
        lsn,
        entries: { [IMAGE_ENTRY]: encodeImage(image) },
        tags: ['kv'],
        meta: { kv: IMAGE_FORMAT_VERSION, keys: image.size },
      })
    } catch (error) {
      // Not committed: what it covered counts towards the next one.
      this.#records += records
      throw error
    }
    this.#coveredLsn = lsn
    this.#committed++
    this.#policy.onCheckpoint?.(info)
    await this.#retain().catch((error: unknown) => {
      this.report(error)
    })
    return info
  }

  /** Keeps the newest `keepLast` checkpoints; every `gcEvery` checkpoints, frees what they dropped. */
  async #retain(): Promise<void> {
    const { keepLast, gcEvery, gcGraceMs } = this.#policy
    if (keepLast === undefined) return
    await this.#source.store.retain({ keepLast })
    this.#sinceGc++
    if (gcEvery === undefined || this.#sinceGc < gcEvery) return
    this.#sinceGc = 0
    await this.#source.store.gc({ graceMs: gcGraceMs })
  }

  /** Records a failure of background work (or of the closing checkpoint) and passes it to `onError`. */
  report(error: unknown): void {
    this.#lastError = error
    this.#policy.onError?.(error)
  }
}
