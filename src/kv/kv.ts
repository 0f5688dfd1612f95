/**
 * The embedded key-value store: an ordered in-memory map whose every write is a record of a
 * cairn store's log, checkpointed whole on a cadence, and recovered on open from the newest
 * checkpoint plus the log after it. See index.ts for the nouns and the guarantees.
 */
import { CairnError } from '../core/errors.js'
import type { Vfs } from '../core/ports.js'
import type { CheckpointInfo } from '../snapshot/snapshot.js'
import { openStore } from '../store.js'
import type { RecoveryWarning, Store, StoreOptions } from '../store.js'
import { Checkpointer } from './checkpointer.js'
import type { CheckpointPolicy } from './checkpointer.js'
import { IMAGE_ENTRY, decodeImage } from './image.js'
import { keyBytesOf, valueBytesOf } from './keys.js'
import type { KvKey } from './keys.js'
import { kvBatchOpsMax } from './limits.js'
import { decodeRecord, encodeRecord } from './record.js'
import type { MapChange, RecordOp } from './record.js'
import { SortedMap, decodeKeyCode, encodeKeyCode, prefixEndCode } from './sorted-map.js'
import { WriteQueue } from './write-queue.js'

export interface KvOptions {
  /** The store's directory (created if missing); one writer at a time (`LOCKED`). */
  readonly dir: string
  /** Instead of `dir` on the real disk: any Vfs (the simulated disk, in tests). */
  readonly vfs?: Vfs
  /**
   * A checkpoint after this many writes or this many milliseconds (with at least one write),
   * whichever comes first; `false`: only on `checkpoint()` and `close()`.
   * Default `{ records: 50_000, ms: 60_000 }`.
   */
  readonly checkpointEvery?: { readonly records?: number; readonly ms?: number } | false
  /**
   * After each checkpoint keep the newest `keepLast` (default 2), and every `gcEvery` checkpoints
   * (default 4) run GC with `graceMs` (default 0: this process is the store's only reader).
   * `false`: keep every checkpoint (retention and GC are then the caller's, through the store).
   */
  readonly retention?:
    { readonly keepLast?: number; readonly gcEvery?: number; readonly graceMs?: number } | false
  /** Checkpoint on `close()` when the map changed since the last one (default true: reopening is then quick). */
  readonly checkpointOnClose?: boolean
  /** The store's other options; `wal.sync` defaults to `'always'`, the durability this store promises. */
  readonly store?: Partial<Omit<StoreOptions, 'dir' | 'vfs' | 'readOnly'>>
  readonly onCheckpoint?: (info: CheckpointInfo) => void
  /** Background failures (a checkpoint, retention, GC); none loses an acknowledged write. */
  readonly onError?: (error: unknown) => void
}

/** One entry of a scan: a key and its value (both fresh copies). */
export type KvEntry = readonly [key: Uint8Array, value: Uint8Array]

/** One operation of a batch. */
export type KvBatchOp =
  | { readonly type: 'put'; readonly key: KvKey; readonly value: Uint8Array }
  | { readonly type: 'delete'; readonly key: KvKey }

export interface KvScanOptions {
  /** The first key (inclusive). */
  readonly start?: KvKey
  /** The key to stop before (exclusive). */
  readonly end?: KvKey
  /** Only keys that start with these bytes (combined with start and end). */
  readonly prefix?: KvKey
  /** At most this many entries (default: all). */
  readonly limit?: number
  /** Largest key first. */
  readonly reverse?: boolean
}

/** What opening found. */
export interface KvRecovery {
  /** The LSN of the checkpoint the map was rebuilt from (0: none). */
  readonly checkpointLsn: number
  /** Log records replayed after it. */
  readonly recordsReplayed: number
  readonly durationMs: number
  /** Newer checkpoints the store stepped over, and why (store.recover()). */
  readonly warnings: readonly RecoveryWarning[]
}

export interface KvStats {
  readonly keys: number
  /** The LSN of the last write in the map. */
  readonly lsn: number
  /** The LSN the newest checkpoint covers. */
  readonly checkpointLsn: number
  /** Checkpoints committed since opening. */
  readonly checkpoints: number
  /** Writes applied since the newest checkpoint's capture. */
  readonly recordsSinceCheckpoint: number
  /** Writes submitted and not yet settled. */
  readonly writesPending: number
  /** The last background failure, if any. */
  readonly lastError: unknown
}

const DEFAULT_EVERY = { records: 50_000, ms: 60_000 }
const DEFAULT_RETENTION = { keepLast: 2, gcEvery: 4, graceMs: 0 }

/**
 * Opens (creating it if needed) the key-value store under `options.dir`: the newest checkpoint's
 * map, then every log record after it replayed. Errors: `LOCKED` (another writer), `CORRUPT_LOG`
 * (a record that does not decode, naming its LSN; never skipped), `CORRUPT_OBJECT` /
 * `FORMAT_VERSION` (a checkpoint image that does not decode), `NOT_SUPPORTED` (the newest
 * checkpoint is not a key-value store's), `BAD_OPTION`, and the store's own.
 */
export async function openKv(options: KvOptions): Promise<Kv> {
  const policy = parsePolicy(options)
  const started = performance.now()
  const store = await openStore({
    ...options.store,
    dir: options.dir,
    ...(options.vfs === undefined ? {} : { vfs: options.vfs }),
    wal: { sync: 'always', ...options.store?.wal },
  })
  try {
    const { checkpoint, snapshot, records, warnings } = await store.recover()
    let map = new SortedMap<Uint8Array>()
    if (snapshot !== undefined) {
      if (!(await snapshot.entries()).includes(IMAGE_ENTRY)) {
        throw new CairnError(
          'NOT_SUPPORTED',
          `the newest checkpoint has no ${IMAGE_ENTRY}: not a key-value store`,
          {
            op: 'kv.open',
            path: options.dir,
            checkpoint: snapshot.info.id,
          },
        )
      }
      map = decodeImage(await snapshot.read(IMAGE_ENTRY), snapshot.info.id)
    }
    const checkpointLsn = checkpoint?.lsn ?? 0
    let lsn = checkpointLsn
    let recordsReplayed = 0
    for await (const record of records) {
      if (record.lsn !== lsn + 1) {
        throw new CairnError('CORRUPT_LOG', `log record ${String(record.lsn)} follows ${String(lsn)}`, {
          op: 'kv.replay',
          lsn: record.lsn,
        })
      }
      applyChanges(map, decodeRecord(record.data, record.lsn))
      lsn = record.lsn
      recordsReplayed++
    }
    if (lsn !== store.lastLsn) {
      throw new CairnError(
        'CORRUPT_LOG',
        `replay ended at LSN ${String(lsn)}, the log at ${String(store.lastLsn)}`,
        { op: 'kv.replay', lsn },
      )
    }
    const recovery = { checkpointLsn, recordsReplayed, durationMs: performance.now() - started, warnings }
    return new Kv(store, map, lsn, policy, options.checkpointOnClose ?? true, recovery)
  } catch (error) {
    await store.close().catch(() => undefined)
    throw error
  }
}

function parsePolicy(options: KvOptions): CheckpointPolicy {
  const bad = (why: string): CairnError => new CairnError('BAD_OPTION', why, { op: 'kv.open' })
  const positive = (name: string, value: number | undefined): number | undefined => {
    if (value !== undefined && !(Number.isFinite(value) && value > 0))
      throw bad(`${name} must be a positive number`)
    return value
  }
  const every = options.checkpointEvery ?? DEFAULT_EVERY
  if (every !== false && every.records === undefined && every.ms === undefined) {
    throw bad('checkpointEvery needs records or ms (or is false)')
  }
  const retention = options.retention === false ? undefined : { ...DEFAULT_RETENTION, ...options.retention }
  if (retention !== undefined && !Number.isSafeInteger(retention.keepLast))
    throw bad('keepLast must be an integer')
  if (retention !== undefined && !(retention.graceMs >= 0)) throw bad('graceMs must be >= 0')
  return {
    everyRecords: every === false ? undefined : positive('checkpointEvery.records', every.records),
    everyMs: every === false ? undefined : positive('checkpointEvery.ms', every.ms),
    keepLast: positive('retention.keepLast', retention?.keepLast),
    gcEvery: positive('retention.gcEvery', retention?.gcEvery),
    gcGraceMs: retention?.graceMs ?? 0,
    onCheckpoint: options.onCheckpoint,
    onError: options.onError,
  }
}

function applyChanges(map: SortedMap<Uint8Array>, changes: readonly MapChange[]): void {
  for (const { code, value } of changes) {
    if (value === undefined) map.delete(code)
    else map.set(code, value)
  }
}

/**
 * An open key-value store. Reads are synchronous, from memory; writes resolve once durable.
 * Create it with {@link openKv}.
 */
export class Kv {
  /** What opening found (the checkpoint used, the records replayed). */
  readonly recovery: KvRecovery
  readonly #store: Store
  readonly #map: SortedMap<Uint8Array>
  readonly #writes: WriteQueue
  readonly #checkpoints: Checkpointer
  readonly #checkpointOnClose: boolean
  #closing: Promise<void> | undefined

  /** Use {@link openKv}. */
  constructor(
    store: Store,
    map: SortedMap<Uint8Array>,
    lsn: number,
    policy: CheckpointPolicy,
    checkpointOnClose: boolean,
    recovery: KvRecovery,
  ) {
    this.#store = store
    this.#map = map
    this.recovery = recovery
    this.#checkpointOnClose = checkpointOnClose
    this.#checkpoints = new Checkpointer(
      { store, capture: () => ({ lsn: this.#writes.appliedLsn, image: this.#map.image() }) },
      policy,
      recovery.checkpointLsn,
    )
    this.#writes = new WriteQueue(
      (record) => store.append(record),
      (_lsn, changes) => {
        applyChanges(this.#map, changes)
        this.#checkpoints.recordApplied()
      },
      lsn,
    )
  }

  /** The number of keys. */
  get size(): number {
    return this.#map.size
  }

  /** The LSN of the last write the map holds. */
  get lsn(): number {
    return this.#writes.appliedLsn
  }

  /** The value of `key` (a fresh copy), or undefined. Sees every write whose promise resolved, none still pending. */
  get(key: KvKey): Uint8Array | undefined {
    this.#checkOpen('kv.get')
    return this.#map.get(encodeKeyCode(keyBytesOf(key, 'kv.get')))?.slice()
  }

  has(key: KvKey): boolean {
    this.#checkOpen('kv.has')
    return this.#map.has(encodeKeyCode(keyBytesOf(key, 'kv.has')))
  }

  /**
   * Sets `key` to `value`; resolves with the write's LSN once it is durable (one fdatasync shared
   * with the writes around it) and in the map. `value` is copied at the call.
   */
  put(key: KvKey, value: Uint8Array): Promise<number> {
    return this.#write('kv.put', (op) => [{ key: keyBytesOf(key, op), value: valueBytesOf(value, op) }])
  }

  /** Removes `key` (logged even when absent: a put of it may be pending); resolves once durable. */
  delete(key: KvKey): Promise<number> {
    return this.#write('kv.delete', (op) => [{ key: keyBytesOf(key, op) }])
  }

  /**
   * Applies `ops` in order, atomically (one log record: after a crash all or none); resolves once
   * durable. An empty batch logs nothing and resolves with the current LSN.
   */
  batch(ops: readonly KvBatchOp[]): Promise<number> {
    return this.#write('kv.batch', (op) => {
      if (ops.length > kvBatchOpsMax) {
        throw new CairnError('LIMIT_EXCEEDED', `a batch holds at most ${String(kvBatchOpsMax)} operations`, {
          op,
        })
      }
      return ops.map((entry) =>
        entry.type === 'put'
          ? { key: keyBytesOf(entry.key, op), value: valueBytesOf(entry.value, op) }
          : { key: keyBytesOf(entry.key, op) },
      )
    })
  }

  /** Puts every entry, atomically (a batch). */
  putMany(entries: Iterable<readonly [KvKey, Uint8Array]>): Promise<number> {
    return this.batch(Array.from(entries, ([key, value]) => ({ type: 'put' as const, key, value })))
  }

  /**
   * The entries in key byte order (or reversed), from the map as it is while iterating: see
   * SortedMap.entries for what writes applied meanwhile do. Keys and values are fresh copies.
   */
  scan(options: KvScanOptions = {}): Generator<KvEntry, undefined, undefined> {
    this.#checkOpen('kv.scan')
    const limit = options.limit ?? Number.POSITIVE_INFINITY
    if (!(limit >= 0) || (Number.isFinite(limit) && !Number.isSafeInteger(limit))) {
      throw new CairnError('BAD_OPTION', 'limit must be an integer >= 0', { op: 'kv.scan' })
    }
    const code = (key: KvKey | undefined) =>
      key === undefined ? undefined : encodeKeyCode(keyBytesOf(key, 'kv.scan'))
    let start = code(options.start)
    let end = code(options.end)
    const prefix = code(options.prefix)
    if (prefix !== undefined) {
      if (start === undefined || start < prefix) start = prefix
      const prefixEnd = prefixEndCode(prefix)
      if (prefixEnd !== undefined && (end === undefined || prefixEnd < end)) end = prefixEnd
    }
    return this.#scan(this.#map.entries({ start, end, reverse: options.reverse === true }), limit)
  }

  *#scan(entries: Iterator<[string, Uint8Array]>, limit: number): Generator<KvEntry, undefined, undefined> {
    for (let count = 0; count < limit; count++) {
      const next = entries.next()
      if (next.done === true) return
      yield [decodeKeyCode(next.value[0]), next.value[1].slice()]
    }
  }

  /**
   * Checkpoints the map now (after one in progress), then applies retention; undefined when
   * nothing changed since the newest checkpoint. Durable when it resolves.
   */
  checkpoint(): Promise<CheckpointInfo | undefined> {
    if (this.#closing !== undefined) {
      return Promise.reject(
        new CairnError('CLOSED', 'the key-value store is closed', { op: 'kv.checkpoint' }),
      )
    }
    return this.#checkpoints.checkpointNow()
  }

  stats(): KvStats {
    return {
      keys: this.#map.size,
      lsn: this.#writes.appliedLsn,
      checkpointLsn: this.#checkpoints.coveredLsn,
      checkpoints: this.#checkpoints.committed,
      recordsSinceCheckpoint: this.#checkpoints.records,
      writesPending: this.#writes.pending,
      lastError: this.#checkpoints.lastError,
    }
  }

  /**
   * Waits for pending writes to settle, stops the cadence, checkpoints (unless asked not to, or
   * nothing changed; a failure goes to `onError`: the log still holds every write), and closes
   * the store. Later calls reject with `CLOSED`. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    try {
      await this.#writes.settled()
      await this.#checkpoints.stop()
      if (this.#checkpointOnClose) {
        await this.#checkpoints.checkpointNow().catch((error: unknown) => {
          this.#checkpoints.report(error)
        })
      }
    } finally {
      await this.#store.close()
    }
  }

  #write(op: string, build: (op: string) => readonly RecordOp[]): Promise<number> {
    try {
      if (this.#closing !== undefined) throw new CairnError('CLOSED', 'the key-value store is closed', { op })
      const ops = build(op)
      if (ops.length === 0) return Promise.resolve(this.#writes.appliedLsn)
      const { record, changes } = encodeRecord(ops)
      return this.#writes.submit(record, changes)
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)))
    }
  }

  #checkOpen(op: string): void {
    if (this.#closing !== undefined) throw new CairnError('CLOSED', 'the key-value store is closed', { op })
  }
}
