/**
 * Checkpoints on a cadence: after so many records, so many bytes of records, or so much time
 * (TensorFlow's save_checkpoint_steps / save_checkpoint_secs), full every Nth time or every so
 * many milliseconds and deltas in between (DeepRec's full-every plus incremental-every).
 *
 * The application logs through the cadence (`append`), applying each change to its state just
 * before it appends it, in the same turn (`capture` may run inside `append`). When a checkpoint is due, `capture({ lsn, full })` is called
 * synchronously, in that same turn: the state it returns (copied, or built, before it returns)
 * then holds exactly the changes of records 1..lsn. The checkpoint is committed in the background,
 * one at a time; a checkpoint that fails is reported to `onError`, the next one is full, and
 * none starts on its own for a while (1 s, doubling to 60 s) so a failing one does not spin.
 * The LSN is the last one the log handed out, which it does as `append` is called (except while
 * its queue is full, 64 MiB waiting: keep appends through a cadence below that).
 */
import { CairnError } from '../core/errors.js'
import type { CheckpointRequest } from './commit.js'
import type { CheckpointInfo } from './snapshot.js'
import { OneAtATime } from '../core/one-at-a-time.js'

/** What a cadence needs of a store. */
export interface CadenceTarget {
  append(data: Uint8Array): Promise<number>
  appendMany(records: readonly Uint8Array[]): Promise<number[]>
  /** The last LSN handed out (its record may not be durable yet). */
  readonly lastLsn: number
  checkpoint(request: CheckpointRequest & { readonly parent?: 'latest' }): Promise<CheckpointInfo>
}

export interface CadenceOptions {
  /** A checkpoint after this many records… */
  readonly everyRecords?: number
  /** …or this many bytes of records… */
  readonly everyBytes?: number
  /** …or this much time, whichever comes first. */
  readonly everyMs?: number
  /** Every Nth checkpoint is full (default 1: all of them). */
  readonly fullEvery?: number
  /** A full checkpoint at least this often, whatever `fullEvery` says. */
  readonly fullEveryMs?: number
  /** The checkpoint's content, taken synchronously: whole entries when `full`, else what changed. */
  readonly capture: (due: { readonly lsn: number; readonly full: boolean }) => Omit<CheckpointRequest, 'lsn'>
  readonly onCheckpoint?: (info: CheckpointInfo) => void
  readonly onError?: (error: unknown) => void
}

export class Cadence {
  readonly #target: CadenceTarget
  readonly #options: CadenceOptions
  #records = 0
  #bytes = 0
  #sinceFull = 0
  #lastFullAt = 0
  #hasCheckpoint = false
  /** After a failed checkpoint the next is full: the deltas' "what changed" started at a checkpoint that never was. */
  #mustBeFull = false
  readonly #slot = new OneAtATime()
  #timer: ReturnType<typeof setInterval> | undefined
  #stopped = false
  #failures = 0
  /** After a failure, no checkpoint starts on its own before this time. */
  #retryAt = 0

  constructor(target: CadenceTarget, options: CadenceOptions) {
    for (const key of ['everyRecords', 'everyBytes', 'everyMs', 'fullEvery', 'fullEveryMs'] as const) {
      const value = options[key]
      if (value !== undefined && (!Number.isFinite(value) || value <= 0)) {
        throw new CairnError('BAD_OPTION', `${key} must be a positive number`, { op: 'store.cadence' })
      }
    }
    if (
      options.everyRecords === undefined &&
      options.everyBytes === undefined &&
      options.everyMs === undefined
    ) {
      throw new CairnError('BAD_OPTION', 'a cadence needs everyRecords, everyBytes or everyMs', {
        op: 'store.cadence',
      })
    }
    this.#target = target
    this.#options = options
    if (options.everyMs !== undefined) {
      this.#timer = setInterval(() => {
        if (this.#records > 0) this.#start(false)
      }, options.everyMs)
      this.#timer.unref()
    }
  }

  /**
   * Appends a record (apply its change to your state in the same turn), checkpointing when due.
   * Back-pressure: when a checkpoint is due while another runs, this resolves only after the
   * running one, so the log never runs more than one cadence ahead of the checkpoints.
   */
  async append(data: Uint8Array): Promise<number> {
    const lsn = this.#target.append(data)
    this.#count(1, data.length)
    const result = await lsn
    await this.#waitIfOwed()
    return result
  }

  async appendMany(records: readonly Uint8Array[]): Promise<number[]> {
    const lsns = this.#target.appendMany(records)
    this.#count(
      records.length,
      records.reduce((sum, r) => sum + r.length, 0),
    )
    const result = await lsns
    await this.#waitIfOwed()
    return result
  }

  /** Checkpoints now (full if asked, or if due), after any checkpoint already running. */
  async checkpointNow(full = false): Promise<CheckpointInfo> {
    // One checkpoint at a time, captures in order: a running one may start the next as it ends.
    await this.#slot.idle()
    return this.#slot.track(this.#commit(full))
  }

  /** Stops the timer and waits for a checkpoint in progress. */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    await this.#slot.current
  }

  #count(records: number, bytes: number): void {
    this.#records += records
    this.#bytes += bytes
    if (this.#due()) this.#start(false)
  }

  #due(): boolean {
    const { everyRecords, everyBytes } = this.#options
    return (
      (everyRecords !== undefined && this.#records >= everyRecords) ||
      (everyBytes !== undefined && this.#bytes >= everyBytes)
    )
  }

  async #waitIfOwed(): Promise<void> {
    while (this.#slot.busy && this.#due() && !this.#stopped) await this.#slot.current
  }

  /** Starts a checkpoint unless one runs; its content is captured now, in this turn. */
  #start(forceFull: boolean): void {
    if (this.#slot.busy || this.#stopped || Date.now() < this.#retryAt) return
    let failed = false
    const run = this.#commit(forceFull).then(
      () => {
        this.#failures = 0
      },
      (error: unknown) => {
        failed = true
        // Back off: a checkpoint that keeps failing must not spin (1 s, doubling, at most 60 s).
        this.#failures++
        this.#retryAt = Date.now() + Math.min(60_000, 1000 * 2 ** (this.#failures - 1))
        this.#options.onError?.(error)
      },
    )
    void this.#slot.track(run, () => {
      // What came in meanwhile may already be due: captured now, at a turn boundary.
      if (!failed && this.#due()) this.#start(false)
    })
  }

  /** Captures synchronously, then commits. */
  #commit(forceFull: boolean): Promise<CheckpointInfo> {
    const { fullEvery = 1, fullEveryMs } = this.#options
    const full =
      forceFull ||
      this.#mustBeFull ||
      !this.#hasCheckpoint ||
      this.#sinceFull + 1 >= fullEvery ||
      (fullEveryMs !== undefined && Date.now() - this.#lastFullAt >= fullEveryMs)
    const lsn = this.#target.lastLsn
    let body: Omit<CheckpointRequest, 'lsn'>
    try {
      body = this.#options.capture({ lsn, full })
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)))
    }
    const records = this.#records
    const bytes = this.#bytes
    this.#records = 0
    this.#bytes = 0
    const committed = this.#target.checkpoint(full ? { ...body, lsn } : { ...body, lsn, parent: 'latest' })
    return committed.then(
      (info) => {
        this.#hasCheckpoint = true
        this.#mustBeFull = false
        if (full) {
          this.#sinceFull = 0
          this.#lastFullAt = Date.now()
        } else {
          this.#sinceFull++
        }
        this.#options.onCheckpoint?.(info)
        return info
      },
      (error: unknown) => {
        // Not committed: what it covered counts again toward the next one.
        this.#records += records
        this.#bytes += bytes
        this.#mustBeFull = true
        throw error
      },
    )
  }
}
