/**
 * The write-ahead log. Appends are group-committed: whatever has queued while the previous batch
 * was being written and synced goes out as one frame, one write and one fdatasync. One I/O actor
 * (the pump) does every write, sync and rotation, in order, so "synced LSN" only ever grows and
 * a frame is never written before the one before it is durable (under `sync: 'always'`).
 *
 * What a resolved promise means, per sync mode (docs/DURABILITY.md says it at length):
 * - `always`: `append` resolves after its frame is written and fdatasync'ed.
 * - `batch`: `append` resolves once written; an fdatasync follows within `syncIntervalMs`;
 *   `flush()` resolves when everything appended before it is durable.
 * - `none`: like batch without the timer; durability at `flush()`, rotation and `close()`.
 *
 * Failures: a failed write (ENOSPC, EIO, short write) is cut back off the file and rejects its
 * batch and every queued append with the write's code; the log goes on once space is freed. A
 * failed fdatasync stops the log (`LOG_FAILED`) for good: Linux may have dropped the unsaved
 * pages and a retried fsync would lie, so nothing of that batch is ever acknowledged; reopening
 * recovers what is truly durable.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import { joinPath } from '../core/paths.js'
import type { VfsFile } from '../core/ports.js'
import {
  walBatchBytesMax,
  walPreallocateBytes,
  walPreallocateFrameBytesMax,
  walQueueBytesMax,
} from '../core/limits.js'
import { FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES, encodeFrame, measureRecords } from './format.js'
import { parseWalOptions } from './options.js'
import type { WalConfig, WalOptions } from './options.js'
import { recoverLog } from './recovery.js'
import type { RecoveryReport, SegmentState } from './recovery.js'
import { replaySegments } from './replay.js'
import type { LogRecord } from './replay.js'
import { createSegment, segmentName } from './segments.js'

export interface WalStats {
  appends: number
  records: number
  batches: number
  syncs: number
  rotations: number
  bytesWritten: number
}

interface AppendEntry {
  readonly kind: 'append'
  readonly records: readonly Uint8Array[]
  readonly firstLsn: number
  readonly bytes: number
  /** Called with the first record's LSN once the entry is acknowledged. */
  readonly resolve: (firstLsn: number) => void
  readonly reject: (error: unknown) => void
}
interface SyncEntry {
  readonly kind: 'sync'
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}
type Entry = AppendEntry | SyncEntry

/** Opens (creating if needed) and recovers the log. See {@link Wal}. */
export async function openWal(options: WalOptions): Promise<Wal> {
  const { config, firstLsn } = parseWalOptions(options)
  const { dir } = config
  const recovered = await recoverLog(options.vfs, dir, config.mode, firstLsn)
  let segments = recovered.segments
  let active: { file: VfsFile; segment: SegmentState }
  let endOffset = recovered.endOffset
  const last = segments.at(-1)
  if (last === undefined) {
    const created = await createSegment(options.vfs, dir, recovered.nextLsn)
    const segment = { ...created.segment, salt: created.salt }
    segments = [segment]
    active = { file: created.file, segment }
    endOffset = SEGMENT_HEADER_BYTES
  } else {
    active = { file: await options.vfs.open(last.path, 'readWrite'), segment: last }
  }
  return new Wal(config, segments, active, {
    endOffset,
    allocatedEnd: Math.max(endOffset, await active.file.size()),
    nextLsn: recovered.nextLsn,
    report: recovered.report,
  })
}

/** An open write-ahead log. Create it with {@link openWal}. */
export class Wal {
  /** What recovery found and did when this log was opened. */
  readonly recovery: RecoveryReport
  readonly #config: WalConfig
  #segments: SegmentState[]
  #active: { file: VfsFile; segment: SegmentState }
  #endOffset: number
  /** The active file's size: past #endOffset it holds zeros written ahead (preallocation). */
  #allocatedEnd: number
  #syncedEnd: number
  /**
   * The active file was cut (a failed write's bytes, or zeros written ahead) since its last sync:
   * its end is not durable until the next one. A crash could otherwise bring the cut bytes back,
   * and a segment sealed over them would end in a torn frame, which is damage, not a torn tail.
   */
  #cutSinceSync = false
  #nextLsn: number
  #writtenLsn: number
  #syncedLsn: number
  #queue: Entry[] = []
  #queuedBytes = 0
  #spaceWaiters: (() => void)[] = []
  #pumping: Promise<void> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #lastBatchEntries = 0
  #failure: CairnError | undefined
  #closed = false
  readonly #stats: WalStats = { appends: 0, records: 0, batches: 0, syncs: 0, rotations: 0, bytesWritten: 0 }

  constructor(
    config: WalConfig,
    segments: SegmentState[],
    active: { file: VfsFile; segment: SegmentState },
    start: { endOffset: number; allocatedEnd: number; nextLsn: number; report: RecoveryReport },
  ) {
    this.#config = config
    this.#segments = segments
    this.#active = active
    this.#endOffset = start.endOffset
    this.#allocatedEnd = start.allocatedEnd
    this.#syncedEnd = start.endOffset
    this.#nextLsn = start.nextLsn
    this.#writtenLsn = start.nextLsn - 1
    this.#syncedLsn = start.nextLsn - 1
    this.recovery = start.report
  }

  /** The first LSN the log still holds (or the next to be written, when it holds none). */
  get firstLsn(): number {
    return this.#segments[0]?.baseLsn ?? this.#nextLsn
  }

  /** The last acknowledged LSN: durable under `'always'`, written under `'batch'`/`'none'`. */
  get lastLsn(): number {
    return this.#config.sync === 'always' ? this.#syncedLsn : this.#writtenLsn
  }

  /**
   * The last LSN handed out: `append` assigns LSNs in call order, synchronously, so right after
   * an `append(x)` call returns its promise, this is x's LSN (its record may not be durable yet).
   */
  get assignedLsn(): number {
    return this.#nextLsn - 1
  }

  /** The last LSN known to be on stable storage. */
  get durableLsn(): number {
    return this.#syncedLsn
  }

  stats(): WalStats {
    return { ...this.#stats }
  }

  /**
   * Appends one record and resolves with its LSN once acknowledged under the sync mode.
   * Errors: `LIMIT_EXCEEDED` (record too large), `DISK_FULL`/`IO` (the write failed; nothing of
   * it is in the log), `LOG_FAILED` (an fsync failed; reopen), `CLOSED`.
   */
  append(record: Uint8Array): Promise<number> {
    return this.#enqueue([record])
  }

  /** Appends records atomically (one frame: all or none survive a crash); resolves with their LSNs. */
  async appendMany(records: readonly Uint8Array[]): Promise<number[]> {
    if (records.length === 0) {
      this.#checkUsable('wal.append')
      return []
    }
    const firstLsn = await this.#enqueue(records)
    return records.map((_, k) => firstLsn + k)
  }

  /** Checks and queues records; resolves with the first one's LSN once acknowledged. */
  #enqueue(records: readonly Uint8Array[]): Promise<number> {
    try {
      this.#checkUsable('wal.append')
      const bytes = measureRecords(records)
      if (this.#queuedBytes > 0 && this.#queuedBytes + bytes > walQueueBytesMax) {
        return this.#enqueueWhenRoom(records, bytes)
      }
      return this.#push(records, bytes)
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)))
    }
  }

  /** Back-pressure: waits while the queue is full, then queues. */
  async #enqueueWhenRoom(records: readonly Uint8Array[], bytes: number): Promise<number> {
    while (this.#queuedBytes > 0 && this.#queuedBytes + bytes > walQueueBytesMax) {
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve))
      this.#checkUsable('wal.append')
    }
    return this.#push(records, bytes)
  }

  #push(records: readonly Uint8Array[], bytes: number): Promise<number> {
    const firstLsn = this.#nextLsn
    this.#nextLsn += records.length
    this.#stats.appends += 1
    return new Promise<number>((resolve, reject) => {
      this.#queue.push({ kind: 'append', records, firstLsn, bytes, resolve, reject })
      this.#queuedBytes += bytes
      this.#kick()
    })
  }

  /** Resolves when every record appended before this call is on stable storage. */
  async flush(): Promise<void> {
    this.#checkUsable('wal.flush')
    await new Promise<void>((resolve, reject) => {
      this.#queue.push({ kind: 'sync', resolve, reject })
      this.#kick()
    })
  }

  /**
   * The records `from <= lsn <= to` (default: the first held, and the last acknowledged when the
   * call is made), in order, with bounded memory. `NOT_FOUND` when `from` was truncated.
   */
  readLog(options: { readonly from?: number; readonly to?: number } = {}): AsyncIterable<LogRecord> {
    this.#checkUsable('wal.readLog')
    const range = {
      from: options.from ?? this.firstLsn,
      to: Math.min(options.to ?? this.lastLsn, this.lastLsn),
    }
    return replaySegments(this.#config.vfs, [...this.#segments], range, this.#config.mode)
  }

  /**
   * Removes whole sealed segments whose records are all below `lsn` (a checkpoint covers them);
   * the active segment is never removed. Oldest first, so a crash midway leaves a contiguous log.
   * Resolves with the number of segments removed, durably.
   */
  async truncateBefore(lsn: number): Promise<number> {
    this.#checkUsable('wal.truncateBefore')
    const doomed: SegmentState[] = []
    for (let i = 0; i + 1 < this.#segments.length; i++) {
      const next = this.#segments[i + 1]
      const segment = this.#segments[i]
      if (next === undefined || segment === undefined || next.baseLsn > lsn) break
      doomed.push(segment)
    }
    for (const segment of doomed) {
      await this.#config.vfs.unlink(segment.path)
      this.#segments = this.#segments.filter((s) => s !== segment)
    }
    if (doomed.length > 0) await this.#config.vfs.fsyncDir(this.#config.dir)
    return doomed.length
  }

  /** Writes and syncs everything queued, then releases the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    if (this.#failure === undefined) await this.flush()
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    await this.#pumping
    try {
      if (this.#failure === undefined) {
        await this.#trimPreallocation()
        await this.#syncData()
      }
    } finally {
      // Released even when the last cut or sync fails (the failure is still the caller's).
      await this.#active.file.close()
    }
  }

  // --- the pump: the one actor that writes, syncs and rotates ----------------------------------

  #kick(): void {
    // The pump never rejects: every failure is delivered to the entries it concerns.
    this.#pumping ??= this.#pump().finally(() => {
      this.#pumping = undefined
      if (this.#queue.length > 0 && this.#failure === undefined) this.#kick()
    })
  }

  async #pump(): Promise<void> {
    while (this.#queue.length > 0 && this.#failure === undefined) {
      const waiting = this.#takeSyncs()
      if (waiting.length > 0) {
        try {
          await this.#syncData()
          for (const entry of waiting) entry.resolve()
        } catch (error) {
          for (const entry of waiting) entry.reject(error)
        }
        continue
      }
      if (this.#lastBatchEntries > 1) {
        // Several appenders are at work: give the ones just acknowledged one turn of the event
        // loop to queue their next appends, so the next batch carries all of them.
        await new Promise((resolve) => setImmediate(resolve))
      }
      const batch = this.#takeBatch()
      this.#lastBatchEntries = batch.length
      await this.#writeBatch(batch)
    }
  }

  /** The sync requests at the head of the queue, removed from it. */
  #takeSyncs(): SyncEntry[] {
    let count = 0
    while (this.#queue[count]?.kind === 'sync') count += 1
    // One splice rather than a shift per entry: the queue can hold many thousands of appends.
    return this.#queue.splice(0, count) as SyncEntry[]
  }

  /** The appends at the head of the queue, up to a batch's worth of bytes, removed from it. */
  #takeBatch(): AppendEntry[] {
    let count = 0
    let bytes = 0
    for (let head = this.#queue[0]; head?.kind === 'append'; head = this.#queue[count]) {
      if (count > 0 && bytes + head.bytes > walBatchBytesMax) break
      bytes += head.bytes
      count += 1
    }
    this.#queuedBytes -= bytes
    for (const wake of this.#spaceWaiters.splice(0)) wake()
    return this.#queue.splice(0, count) as AppendEntry[]
  }

  async #writeBatch(batch: AppendEntry[]): Promise<void> {
    const first = batch[0]
    if (first === undefined) return
    const last = batch[batch.length - 1] ?? first
    const lastLsn = last.firstLsn + last.records.length - 1
    try {
      // Rotate before encoding: the frame's CRC is seeded with the salt of the segment it goes to.
      const frameBytes = batch.reduce((sum, entry) => sum + entry.bytes, FRAME_HEADER_BYTES)
      if (
        this.#endOffset > SEGMENT_HEADER_BYTES &&
        this.#endOffset + frameBytes > this.#config.segmentBytes
      ) {
        await this.#rotate(first.firstLsn)
      }
      const frame = encodeFrame(
        batch.map((entry) => entry.records),
        first.firstLsn,
        this.#syncedLsn,
        this.#active.segment.salt,
      )
      await this.#preallocate(frame.length)
      await this.#active.file.write(frame, this.#endOffset)
      this.#endOffset += frame.length
      this.#allocatedEnd = Math.max(this.#allocatedEnd, this.#endOffset)
      this.#writtenLsn = lastLsn
      this.#stats.batches += 1
      this.#stats.records += lastLsn - first.firstLsn + 1
      this.#stats.bytesWritten += frame.length
    } catch (error) {
      await this.#onWriteFailure(batch, error)
      return
    }
    try {
      if (this.#config.sync === 'always') await this.#syncData()
    } catch (error) {
      for (const entry of batch) entry.reject(error)
      return
    }
    for (const entry of batch) entry.resolve(entry.firstLsn)
    if (this.#config.sync === 'batch') this.#scheduleSync()
  }

  /**
   * Zero-fills ahead of the end when a small frame would pass the allocated end, so its
   * fdatasync (and the next ones) overwrite blocks rather than commit a new file size.
   */
  async #preallocate(frameBytes: number): Promise<void> {
    const end = this.#endOffset + frameBytes
    if (end <= this.#allocatedEnd || frameBytes > walPreallocateFrameBytesMax) return
    const target = Math.max(
      end,
      Math.min(this.#allocatedEnd + walPreallocateBytes, this.#config.segmentBytes),
    )
    try {
      await this.#active.file.write(new Uint8Array(target - this.#allocatedEnd), this.#allocatedEnd)
      this.#allocatedEnd = target
    } catch (error) {
      // Zero-fill is only an optimisation: it must never fail an append whose frame still fits.
      // Cut back what part of it landed (if that fails too, the caller's write-failure path runs).
      if (!isCairnError(error, 'DISK_FULL')) throw error
      await this.#active.file.truncate(this.#allocatedEnd)
      this.#cutSinceSync = true
    }
  }

  /** Cuts the zeros written ahead (the cut still needs a sync). */
  async #trimPreallocation(): Promise<void> {
    if (this.#allocatedEnd <= this.#endOffset) return
    await this.#active.file.truncate(this.#endOffset)
    this.#allocatedEnd = this.#endOffset
    this.#cutSinceSync = true
  }

  async #syncData(): Promise<void> {
    const synced =
      this.#syncedEnd === this.#endOffset && this.#syncedLsn === this.#writtenLsn && !this.#cutSinceSync
    if (synced) return
    const lsn = this.#writtenLsn
    const end = this.#endOffset
    try {
      await this.#active.file.fdatasync()
    } catch (error) {
      throw await this.#failStop(error)
    }
    this.#syncedLsn = lsn
    this.#syncedEnd = end
    this.#cutSinceSync = false
    this.#stats.syncs += 1
  }

  /** Seals the active segment (synced whole) and starts the next at `baseLsn`. */
  async #rotate(baseLsn: number): Promise<void> {
    // A sealed segment ends exactly at its last frame: cut the zeros written ahead, durably.
    await this.#trimPreallocation()
    await this.#syncData()
    let created: Awaited<ReturnType<typeof createSegment>>
    try {
      created = await createSegment(this.#config.vfs, this.#config.dir, baseLsn)
    } catch (error) {
      // If an empty segment was left under its final name, frames written to the old segment
      // would contradict it on the next open: stop rather than risk that.
      const left = await this.#config.vfs.stat(joinPath(this.#config.dir, segmentName(baseLsn))).then(
        () => true,
        (statError: unknown) => !isCairnError(statError, 'NOT_FOUND'),
      )
      if (left) throw await this.#failStop(error)
      throw error
    }
    await this.#active.file.close()
    const segment = { ...created.segment, salt: created.salt }
    this.#segments.push(segment)
    this.#active = { file: created.file, segment }
    this.#endOffset = SEGMENT_HEADER_BYTES
    this.#allocatedEnd = SEGMENT_HEADER_BYTES
    this.#syncedEnd = SEGMENT_HEADER_BYTES
    this.#cutSinceSync = false
    this.#stats.rotations += 1
    this.#config.onSealed?.(this.#segments.at(-2)?.name ?? '')
  }

  /** A write failed: cut its bytes back off and reject it and everything queued behind it. */
  async #onWriteFailure(batch: AppendEntry[], error: unknown): Promise<void> {
    if (this.#failure === undefined) {
      try {
        await this.#active.file.truncate(this.#endOffset)
        this.#allocatedEnd = this.#endOffset
        this.#cutSinceSync = true
      } catch (truncateError) {
        await this.#failStop(truncateError)
      }
    }
    const failure = this.#failure ?? error
    for (const entry of batch) entry.reject(failure)
    const behind = this.#queue.filter((entry): entry is AppendEntry => entry.kind === 'append')
    this.#queue = this.#queue.filter((entry) => entry.kind === 'sync')
    this.#queuedBytes = 0
    for (const entry of behind) {
      entry.reject(
        this.#failure ??
          new CairnError('IO', 'an earlier append in the same queue failed, so this one was not written', {
            op: 'wal.append',
            path: this.#active.segment.path,
            cause: error,
            retryable: isCairnError(error) && error.context.retryable === true,
          }),
      )
    }
    // LSNs stay gap-free: the next append reuses the first LSN that was not written.
    this.#nextLsn = this.#writtenLsn + 1
    for (const wake of this.#spaceWaiters.splice(0)) wake()
  }

  /** An fsync failed: stop for good, so nothing unsaved is ever acknowledged. */
  async #failStop(cause: unknown): Promise<CairnError> {
    if (this.#failure !== undefined) return this.#failure
    const failure = new CairnError('LOG_FAILED', 'an fsync of the log failed; the log has stopped', {
      op: 'wal.sync',
      path: this.#active.segment.path,
      cause,
      hint: 'reopen the log to recover what is durable',
    })
    this.#failure = failure
    for (const entry of this.#queue.splice(0)) entry.reject(failure)
    this.#queuedBytes = 0
    for (const wake of this.#spaceWaiters.splice(0)) wake()
    try {
      // Drop the unsaved tail from the page cache too, so a reopen in this process reads only
      // what is durable (after a failed fsync those pages may never reach the disk).
      await this.#active.file.truncate(this.#syncedEnd)
      await this.#active.file.fdatasync()
    } catch {
      // Ignoring is safe: the log is already stopped and says so on every call; a reopen after a
      // restart reads the disk, which holds only what was durable.
    }
    return failure
  }

  #scheduleSync(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      if (this.#closed || this.#failure !== undefined) return
      this.flush().catch(() => {
        // Observed elsewhere: a failed sync stops the log, and every later call reports it.
      })
    }, this.#config.syncIntervalMs)
    this.#timer.unref()
  }

  #checkUsable(op: string): void {
    if (this.#failure !== undefined) throw this.#failure
    if (this.#closed) throw new CairnError('CLOSED', 'the log is closed', { op })
  }
}
