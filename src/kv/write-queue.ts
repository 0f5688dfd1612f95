/**
 * The key-value store's write path: records go to the log in call order, and their changes reach
 * the map in LSN order, each only once the log acknowledged it (durable, under `sync: 'always'`).
 *
 * - Call order is LSN order. The log hands out LSNs as `append` is called, except while its queue
 *   is full; writes here wait in a FIFO of their own before the log's queue can fill
 *   (kvInFlightBytesMax), so the log never reorders them.
 * - Apply order is LSN order. Acknowledgements arrive in LSN order (the log resolves its batches
 *   in order); should one ever come early, it waits in `#ready` for the ones before it. A write's
 *   promise resolves only after its changes are in the map: `await put(k, v)` then `get(k)` sees v.
 * - A write the log refused (DISK_FULL, IO) is not in the log, and its LSN is handed out again
 *   (wal.ts): it never reaches the map. After LOG_FAILED the log refuses every write.
 */
import { assert } from '../core/assert.js'
import { kvInFlightBytesMax } from './limits.js'
import type { MapChange } from './record.js'

interface Write {
  readonly record: Uint8Array
  readonly changes: readonly MapChange[]
  readonly resolve: (lsn: number) => void
  readonly reject: (error: unknown) => void
}

export class WriteQueue {
  readonly #append: (record: Uint8Array) => Promise<number>
  readonly #apply: (lsn: number, changes: readonly MapChange[]) => void
  /** Writes not yet handed to the log, oldest first (from #waitingHead). */
  #waiting: (Write | undefined)[] = []
  #waitingHead = 0
  #inFlightBytes = 0
  #inFlight = 0
  /** Acknowledged writes whose turn to be applied has not come. */
  readonly #ready = new Map<number, Write>()
  #appliedLsn: number
  #idle: (() => void)[] = []
  readonly #inFlightBytesMax: number

  /**
   * `appliedLsn`: the LSN the map already covers (the next acknowledged one must follow it).
   * `inFlightBytesMax` is kvInFlightBytesMax but in tests.
   */
  constructor(
    append: (record: Uint8Array) => Promise<number>,
    apply: (lsn: number, changes: readonly MapChange[]) => void,
    appliedLsn: number,
    inFlightBytesMax: number = kvInFlightBytesMax,
  ) {
    this.#append = append
    this.#apply = apply
    this.#appliedLsn = appliedLsn
    this.#inFlightBytesMax = inFlightBytesMax
  }

  /** The LSN of the last write applied to the map. */
  get appliedLsn(): number {
    return this.#appliedLsn
  }

  /** Writes handed to the log or waiting to be, not yet settled. */
  get pending(): number {
    return this.#inFlight + this.#waiting.length - this.#waitingHead + this.#ready.size
  }

  /** Logs `record`; resolves with its LSN once its `changes` are applied. */
  submit(record: Uint8Array, changes: readonly MapChange[]): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const write = { record, changes, resolve, reject }
      if (this.#waitingHead < this.#waiting.length || !this.#fits(record.length)) this.#waiting.push(write)
      else this.#send(write)
    })
  }

  /** Resolves once every write submitted so far has settled. */
  async settled(): Promise<void> {
    while (this.pending > 0) await new Promise<void>((resolve) => this.#idle.push(resolve))
  }

  #fits(bytes: number): boolean {
    // One write always fits alone: the largest record is below the log's queue bound.
    return this.#inFlightBytes === 0 || this.#inFlightBytes + bytes <= this.#inFlightBytesMax
  }

  #send(write: Write): void {
    this.#inFlightBytes += write.record.length
    this.#inFlight++
    // The LSN is handed out in this call (the log's queue has room: see #fits).
    this.#append(write.record).then(
      (lsn) => {
        this.#settle(write)
        assert(lsn > this.#appliedLsn, 'an acknowledged LSN is above the last one applied')
        if (lsn === this.#appliedLsn + 1 && this.#ready.size === 0) {
          // The usual case: its turn has come.
          this.#appliedLsn = lsn
          this.#apply(lsn, write.changes)
          write.resolve(lsn)
        } else {
          this.#ready.set(lsn, write)
        }
        this.#drainReady()
      },
      (error: unknown) => {
        this.#settle(write)
        write.reject(error)
        this.#wakeIfIdle()
      },
    )
  }

  /** Counts a write out of flight and sends the waiting writes that now fit, in order. */
  #settle(write: Write): void {
    this.#inFlightBytes -= write.record.length
    this.#inFlight--
    while (this.#waitingHead < this.#waiting.length) {
      const next = this.#waiting[this.#waitingHead]
      if (next === undefined || !this.#fits(next.record.length)) break
      this.#waiting[this.#waitingHead++] = undefined // released as it is sent
      this.#send(next)
    }
    if (this.#waitingHead === this.#waiting.length) {
      this.#waiting = []
      this.#waitingHead = 0
    }
  }

  #drainReady(): void {
    for (let next = this.#ready.get(this.#appliedLsn + 1); next !== undefined;) {
      this.#ready.delete(this.#appliedLsn + 1)
      this.#appliedLsn++
      this.#apply(this.#appliedLsn, next.changes)
      next.resolve(this.#appliedLsn)
      next = this.#ready.get(this.#appliedLsn + 1)
    }
    this.#wakeIfIdle()
  }

  #wakeIfIdle(): void {
    if (this.pending > 0) return
    for (const wake of this.#idle.splice(0)) wake()
  }
}
