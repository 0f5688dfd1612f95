/**
 * The Store: the log, the chunk store and snapshots behind one API (../shared/design/API.md).
 *
 * Layout under `dir`: `log/` (the write-ahead log), `objects/` (packs, index objects, manifests),
 * `index-cache/` and `catalog-cache/` (LMDB: caches of the chunk index and of each checkpoint's
 * facts, deletable) and `LOCK` (one writer at a time).
 *
 * Checkpoint commit, in this order, so a crash at any step leaves the old or the new checkpoint,
 * never half of one (ARCHITECTURE.md): the entries' chunks are stored and flushed (packs, then
 * index objects); then the manifest is put (if absent): the checkpoint exists exactly when its
 * manifest does; only then is the log truncated behind its LSN.
 */
import { join } from 'node:path'
import { openLmdbCatalog } from './adapters/lmdb/lmdb-catalog.js'
import { openLmdbChunkIndex } from './adapters/lmdb/lmdb-chunk-index.js'
import { FsBlobStore, createFsBlobStore } from './adapters/blob-fs/fs-blob-store.js'
import { createNodeVfs } from './adapters/node/node-vfs.js'
import { takeStoreLock } from './adapters/node/store-lock.js'
import { MemoryChunkIndex } from './chunkstore/chunk-index.js'
import { openChunkStore } from './chunkstore/chunk-store.js'
import type { ChunkStore } from './chunkstore/chunk-store.js'
import type { ChunkingOptions } from './chunkstore/chunker.js'
import type { VerifyProblem, VerifyReport } from './chunkstore/verify.js'
import type { SweepReport } from './chunkstore/sweep.js'
import { ahead } from './core/ahead.js'
import { CairnError, isCairnError } from './core/errors.js'
import type { CairnErrorCode } from './core/errors.js'
import type { CheckpointId, ChunkId } from './core/ids.js'
import { parseCheckpointId } from './core/ids.js'
import type { BlobStore, Vfs } from './core/ports.js'
import {
  checkManifest,
  listManifestIds,
  loadChain,
  loadManifest,
  manifestKey,
  putManifest,
} from './snapshot/catalog.js'
import type { StoredManifest } from './snapshot/catalog.js'
import { Cadence } from './snapshot/cadence.js'
import type { CadenceOptions } from './snapshot/cadence.js'
import { CHAIN_POLICY_DEFAULTS, buildManifest } from './snapshot/commit.js'
import { encodeManifest } from './snapshot/manifest.js'
import type { ChainPolicy, CheckpointRequest } from './snapshot/commit.js'
import { ManifestCache } from './snapshot/manifest-cache.js'
import { MemoryCatalogCache } from './snapshot/catalog-cache.js'
import type { CatalogCache } from './snapshot/catalog-cache.js'
import { Snapshot, infoOf } from './snapshot/snapshot.js'
import { listTombstones, putTombstone, tombstoneError } from './snapshot/tombstones.js'
import { CommitGuard, SHARED_TIMING_DEFAULTS } from './snapshot/commit-guard.js'
import type { SharedTiming } from './snapshot/commit-guard.js'
import { chunksOf, sharedGc, storeView } from './snapshot/shared-gc.js'
import type { SharedGcReport } from './snapshot/shared-gc.js'
import type { S3ObjectsOptions } from './adapters/s3/s3-options.js'
import { planRetention } from './retention/plan.js'
import type { RetentionPlan, RetentionPolicy } from './retention/plan.js'
import type { CheckpointInfo } from './snapshot/snapshot.js'
import { openWal } from './wal/index.js'
import { readLogReadOnly } from './wal/log-reader.js'
import { ShippingLog } from './wal/shipping-schedule.js'
import type { RestoreResult } from './wal/shipping-restore.js'
import type { LogRecord, RecoveryReport, SyncMode, Wal } from './wal/index.js'

export interface StoreOptions {
  /** The store's directory (created if missing). */
  readonly dir: string
  /** Instead of `dir` on the real disk: any Vfs (the simulated disk, in tests). The index cache is then in memory. */
  readonly vfs?: Vfs
  readonly wal?: { readonly sync?: SyncMode; readonly segmentBytes?: number }
  readonly chunking?: ChunkingOptions
  readonly compression?: 'deflate' | 'none'
  readonly packBytes?: number
  /** Worker threads for the chunk store (default: one a core, at most 4). */
  readonly workers?: number
  /** Read beside a writer: no lock, nothing written. */
  readonly readOnly?: boolean
  readonly chain?: Partial<ChainPolicy>
  /**
   * Milliseconds since the epoch, for checkpoint times, tombstones and GC's grace period
   * (default `Date.now`). Simulations and tests pass a virtual clock.
   */
  readonly clock?: () => number
  /**
   * Keep the objects (packs, index objects, manifests) in a shared object store instead of
   * `<dir>/objects`: the log stays under `dir`. Several stores may share one object store (and
   * deduplicate against each other's chunks), each under its own `name`; GC then runs in two
   * phases that are safe beside writers on other machines (docs/SHARED.md).
   */
  readonly objects?: SharedObjectsOptions
}

/** Where a store's objects live when they are not under its directory. */
export type SharedObjectsOptions = (
  | { readonly s3: S3ObjectsOptions }
  /** Any BlobStore (tests use a simulated one). */
  | { readonly blobs: BlobStore }
) & {
  /** This store's name in the shared object store (default `'main'`); one writer per name. */
  readonly name?: string
  /**
   * Point-in-time recovery on a new machine: into an empty directory, restore the shipped log only
   * up to this LSN, and recover the newest checkpoint at or before it. Such a store does not
   * append or checkpoint (`NOT_SUPPORTED`): its history would fork from the shipped one.
   */
  readonly restoreTo?: number
  readonly timing?: Partial<SharedTiming>
}

/** The shared object store as the store uses it. */
interface SharedContext {
  readonly root: BlobStore
  readonly name: string
  /** This store's own objects: `stores/<name>/` of the root. */
  readonly view: BlobStore
  readonly timing: SharedTiming
  close(): Promise<void>
}

/** A checkpoint request: a full snapshot, or (with `parent`) a delta on it. */
export interface CheckpointOptions extends CheckpointRequest {
  /** A checkpoint id or `'latest'`: store only what changed since it. */
  readonly parent?: CheckpointId | 'latest'
}

/** A problem `verify` found, with the checkpoints it hurts (those that read the chunk or pack, or the damaged one itself). */
export interface StoreVerifyProblem extends VerifyProblem {
  readonly checkpoints: readonly CheckpointId[]
}

export interface StoreVerifyReport extends Omit<VerifyReport, 'problems'> {
  readonly checkpointsChecked: number
  readonly problems: StoreVerifyProblem[]
}

/** GC repacks a pack once this share of its stored bytes is dead (bench/gc.bench.ts measures it). */
export const DEFAULT_REPACK_DEAD_SHARE = 0.5

/** What `gc()` did. */
export interface GcReport extends SweepReport {
  readonly manifestsDeleted: number
  readonly durationMs: number
  /** In a shared object store: what this run condemned, and what it did with earlier runs' condemnations. */
  readonly shared?: Pick<SharedGcReport, 'packsCondemned' | 'packsSpared' | 'chunksRescued' | 'runsDeleted'>
}

/** Something `recover()` found wrong and stepped over, never silently. */
export interface RecoveryWarning {
  readonly code: CairnErrorCode
  readonly checkpoint: CheckpointId
  readonly message: string
}

export interface Recovery {
  /** The newest checkpoint whose chain is intact (undefined: none, replay the whole log). */
  readonly checkpoint: CheckpointInfo | undefined
  readonly snapshot: Snapshot | undefined
  /** The log records after the checkpoint's LSN, in order. */
  readonly records: AsyncIterable<LogRecord>
  /** Newer checkpoints that could not be used, and why. */
  readonly warnings: readonly RecoveryWarning[]
}

/** Opens (creating it if needed) the store under `options.dir`. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const readOnly = options.readOnly === true
  const vfs = options.vfs ?? createNodeVfs({ root: options.dir })
  if (options.vfs === undefined && !readOnly) await vfs.mkdir('', { recursive: true })
  if (readOnly && options.objects === undefined) {
    // Reading must not create: a store that is not there is NOT_FOUND.
    const found = await vfs.stat('objects').then(
      (stat) => stat.kind === 'directory',
      () => false,
    )
    if (!found)
      throw new CairnError('NOT_FOUND', 'no store here to read', { op: 'store.open', path: options.dir })
  }
  const release = readOnly ? () => Promise.resolve() : await takeStoreLock(vfs)
  let chunks: ChunkStore | undefined
  let catalog: CatalogCache | undefined
  let shared: SharedContext | undefined
  try {
    shared = options.objects === undefined ? undefined : await openShared(options.objects)
    const blobs =
      shared?.root ??
      (await createFsBlobStore({
        vfs: options.vfs ?? createNodeVfs({ root: options.dir, io: 'async' }),
        root: 'objects',
      }))
    // A read-only store keeps its index in memory: it writes nothing, not even the cache.
    const index =
      options.vfs === undefined && !readOnly
        ? openLmdbChunkIndex({ path: join(options.dir, 'index-cache') })
        : new MemoryChunkIndex()
    chunks = await openChunkStore({
      blobs,
      index,
      readOnly,
      ...(options.chunking === undefined ? {} : { chunking: options.chunking }),
      ...(options.compression === undefined ? {} : { compression: options.compression }),
      ...(options.packBytes === undefined ? {} : { packBytes: options.packBytes }),
      ...(options.workers === undefined ? {} : { workers: options.workers }),
      shared: shared !== undefined,
    })
    // Checkpoint facts by id, so opening reads no manifest (on disk beside the index cache).
    catalog =
      options.vfs === undefined && !readOnly
        ? openLmdbCatalog({ path: join(options.dir, 'catalog-cache') })
        : new MemoryCatalogCache()
    const store = new Store(
      vfs,
      shared?.view ?? blobs,
      chunks,
      { ...CHAIN_POLICY_DEFAULTS, ...options.chain },
      readOnly,
      release,
      options.clock ?? Date.now,
      catalog,
      shared,
    )
    // A read-only store leaves the log alone: opening it runs recovery, which may cut a torn tail.
    if (readOnly) return store
    const newest = (await store.checkpoints()).at(-1)
    if (shared !== undefined) {
      // A new machine (no local log): the shipped log after the checkpoint recovery will use.
      const restoreTo = options.objects?.restoreTo
      if (restoreTo !== undefined && (!Number.isSafeInteger(restoreTo) || restoreTo < 0))
        throw new CairnError('BAD_OPTION', 'restoreTo must be an LSN (an integer >= 0)', { op: 'store.open' })
      const base =
        restoreTo === undefined
          ? newest
          : (await store.checkpoints()).filter((c) => c.lsn <= restoreTo).at(-1)
      const shipping = new ShippingLog({ vfs, dir: 'log', blobs: shared.view })
      const restored = await shipping.restoreIfEmpty((base?.lsn ?? 0) + 1, restoreTo)
      if (restoreTo !== undefined && restored === undefined && (base?.lsn ?? 0) < restoreTo) {
        throw new CairnError(
          'BAD_OPTION',
          'restoreTo needs an empty directory and a shipped log reaching it',
          {
            op: 'store.open',
            lsn: restoreTo,
          },
        )
      }
      store.attachShipping(shipping, restored, restoreTo)
    }
    const wal = await openWal({
      vfs,
      dir: 'log',
      ...options.wal,
      ...(newest === undefined ? {} : { firstLsn: newest.lsn + 1 }),
      ...(shared === undefined
        ? {}
        : {
            onSealed: () => {
              store.shipSoon()
            },
          }),
    })
    store.attachLog(wal)
    return store
  } catch (error) {
    await chunks?.close().catch(() => undefined)
    await catalog?.close().catch(() => undefined)
    await shared?.close().catch(() => undefined)
    await release()
    throw error
  }
}

async function openShared(options: SharedObjectsOptions): Promise<SharedContext> {
  const name = options.name ?? 'main'
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) {
    throw new CairnError('BAD_OPTION', `a store name is 1-128 letters, digits, '.', '_' or '-': ${name}`, {
      op: 'store.open',
    })
  }
  const timing = { ...SHARED_TIMING_DEFAULTS, ...options.timing }
  if ('blobs' in options) {
    const root = options.blobs
    return { root, name, view: storeView(root, name), timing, close: () => Promise.resolve() }
  }
  // Loaded only here: a store on the local disk never loads the AWS SDK.
  const { createS3BlobStore } = await import('./adapters/s3/s3-blob-store.js')
  const root = await createS3BlobStore(options.s3)
  return { root, name, view: storeView(root, name), timing, close: () => root.close() }
}

export class Store {
  readonly #vfs: Vfs
  readonly #blobs: BlobStore
  readonly #chunks: ChunkStore
  readonly #policy: ChainPolicy
  readonly #clock: () => number
  readonly #readOnly: boolean
  readonly #release: () => Promise<void>
  /** Manifests read lately, bounded; the small facts of every checkpoint are in #catalog. */
  readonly #manifests = new ManifestCache()
  readonly #catalog: CatalogCache
  /** Manifests checked intact in this process (immutable: checked once). */
  readonly #intact = new Set<CheckpointId>()
  #wal: Wal | undefined
  #committing: Promise<unknown> = Promise.resolve()
  readonly #cadences: Cadence[] = []
  #closed = false
  /** Set when the objects live in a shared object store. */
  readonly #shared: SharedContext | undefined
  /** Packs found gone after a checkpoint stood on them (shared): never deduplicated against again. */
  readonly #lostPacks = new Set<string>()
  #shipping: ShippingLog | undefined
  #logRestored: RestoreResult | undefined
  /** Set by a point-in-time restore: recovery stops there, and the log is not written. */
  #restoreTo: number | undefined

  /** Use `openStore`. */
  constructor(
    vfs: Vfs,
    blobs: BlobStore,
    chunks: ChunkStore,
    policy: ChainPolicy,
    readOnly: boolean,
    release: () => Promise<void>,
    clock: () => number,
    catalog: CatalogCache,
    shared?: SharedContext,
  ) {
    this.#shared = shared
    this.#clock = clock
    this.#catalog = catalog
    this.#vfs = vfs
    this.#blobs = blobs
    this.#chunks = chunks
    this.#policy = policy
    this.#readOnly = readOnly
    this.#release = release
  }

  /** The LSN of the newest durable log record (0: none yet); a checkpoint may cover up to it. */
  get lastLsn(): number {
    return this.#wal?.durableLsn ?? 0
  }

  /** What opening the log found and repaired (a torn tail cut, and where); undefined when read-only. */
  get logRecovery(): RecoveryReport | undefined {
    return this.#wal?.recovery
  }

  /** Wires the log in (openStore does, once). */
  attachLog(wal: Wal): void {
    this.#wal = wal
  }

  /** Wires log shipping in (openStore does, once, for a shared object store). */
  attachShipping(
    shipping: ShippingLog,
    restored: RestoreResult | undefined,
    restoreTo: number | undefined,
  ): void {
    this.#shipping = shipping
    this.#logRestored = restored
    this.#restoreTo = restoreTo
  }

  /** The shipped log restored when this store opened on an empty directory, if any. */
  get logRestored(): RestoreResult | undefined {
    return this.#logRestored
  }

  /** What the last background ship of a sealed segment threw (undefined once a ship succeeds). */
  get shippingError(): unknown {
    return this.#shipping?.lastError
  }

  /** Ships sealed segments in the background, after whatever commits or collects now. */
  shipSoon(): void {
    const shipping = this.#shipping
    if (shipping === undefined || this.#closed) return
    this.#committing = this.#committing.then(() => shipping.shipQuietly())
  }

  // --- the log ---

  /** Appends a record; resolves with its LSN once durable (under `sync: 'always'`). */
  async append(data: Uint8Array): Promise<number> {
    // Async, so a closed store rejects rather than throws; the LSN is still handed out at the call.
    return this.#log('store.append').append(data)
  }

  /** Appends records in one group commit; all or none. */
  async appendMany(records: readonly Uint8Array[]): Promise<number[]> {
    return this.#log('store.appendMany').appendMany(records)
  }

  /** The log's records in order; a read-only store reads them beside the writer, changing nothing. */
  readLog(options: { readonly from?: number; readonly to?: number } = {}): AsyncIterable<LogRecord> {
    if (this.#readOnly) {
      this.#checkOpen('store.readLog')
      return readLogReadOnly(this.#vfs, 'log', options)
    }
    return this.#log('store.readLog').readLog(options)
  }

  // --- checkpoints ---

  /** Commits a checkpoint (full, or a delta on `parent`) and truncates the log behind its LSN. */
  async checkpoint(options: CheckpointOptions): Promise<CheckpointInfo> {
    this.#log('store.checkpoint')
    if (this.#readOnly)
      throw new CairnError('NOT_SUPPORTED', 'the store is open read-only', { op: 'store.checkpoint' })
    const run = this.#committing.then(() => this.#checkpoint(options))
    this.#committing = run.catch(() => undefined)
    return run
  }

  /** Runs to the end even when `close()` is called meanwhile (close waits for it). */
  async #checkpoint(options: CheckpointOptions): Promise<CheckpointInfo> {
    const wal = this.#wal
    if (wal === undefined)
      throw new CairnError('NOT_SUPPORTED', 'the store is open read-only', { op: 'store.checkpoint' })
    // The state covers records 1..lsn: those must be durable before anything names them, and a
    // checkpoint never goes back before the newest one (its log may already be truncated).
    await wal.flush()
    const newest = (await this.#sortedCheckpoints()).at(-1)
    if (!Number.isSafeInteger(options.lsn) || options.lsn < 0 || options.lsn > wal.durableLsn) {
      throw new CairnError(
        'BAD_OPTION',
        `lsn ${String(options.lsn)} is not a logged LSN (the log holds up to ${String(wal.durableLsn)})`,
        {
          op: 'store.checkpoint',
          lsn: options.lsn,
        },
      )
    }
    if (newest !== undefined && options.lsn < newest.lsn) {
      throw new CairnError(
        'BAD_OPTION',
        `lsn ${String(options.lsn)} is before the newest checkpoint's (${String(newest.lsn)})`,
        {
          op: 'store.checkpoint',
          lsn: options.lsn,
          checkpoint: newest.id,
        },
      )
    }
    // Beside GC on other machines: deduplicate against nothing condemned (commit-guard.ts).
    // Every sealed segment shipped first: a failure here leaves nothing committed.
    await this.#shipping?.ship()
    const guard = this.#shared === undefined ? undefined : await this.#beginShared(this.#shared)
    const ownPacks = this.#chunks.packsPutFromNow()
    try {
      const parentChain = options.parent === undefined ? undefined : await this.#chainOf(options.parent)
      if (guard !== undefined && parentChain !== undefined && this.#shared !== undefined)
        guard.checkChain(
          this.#shared.name,
          parentChain.map((link) => link.id),
        )
      // Creation times strictly increase in a store (one writer): they order its checkpoints, even
      // two in one millisecond, or after the clock steps back.
      const createdAt = Math.max(this.#clock(), (newest?.createdAt.getTime() ?? 0) + 1)
      const manifest = await buildManifest(this.#chunks, options, parentChain, this.#policy, createdAt)
      await this.#chunks.flush() // every chunk durable before the manifest that names them
      const stored = await putManifest(this.#blobs, manifest).catch(async (error: unknown) => {
        // The put may have landed all the same (an ambiguous failure): withdraw it, if we can.
        if (guard !== undefined)
          await this.#withdraw(encodeManifest(manifest).id, 'its put failed').catch(() => undefined)
        throw error
      })
      this.#manifests.set(stored.id, stored)
      if (guard !== undefined) {
        await this.#checkShared(guard, stored, parentChain ?? [], ownPacks).catch(async (error: unknown) => {
          // Not known to be safe (the check itself failed): withdrawn like one in danger, if we can.
          if (!isCairnError(error, 'CONFLICT'))
            await this.#withdraw(stored.id, 'its check after the commit failed').catch(() => undefined)
          throw error
        })
      }
      const info = infoOf(stored)
      this.#catalog.set(info)
      this.#intact.add(stored.id)
      await wal.truncateBefore(Math.min(manifest.lsn + 1, await this.#shippedBefore()))
      return info
    } finally {
      this.#chunks.exclude(new Set())
    }
  }

  /**
   * Tombstones a checkpoint that was never acknowledged, dated 0: GC may take it at once, and a
   * chain it breaks meanwhile holds nothing up.
   */
  async #withdraw(id: CheckpointId, why: string): Promise<void> {
    await putTombstone(this.#blobs, id, { at: 0, reasons: [`withdrawn: ${why}`] })
  }

  /** How far the log may be truncated: behind segments shipped (no bound without shipping). */
  async #shippedBefore(): Promise<number> {
    if (this.#shipping === undefined) return Number.MAX_SAFE_INTEGER
    try {
      return (await this.#shipping.ship()).shippedBefore
    } catch {
      return 0 // the checkpoint is committed; the log stays whole until a ship succeeds (shippingError)
    }
  }

  async #beginShared(shared: SharedContext): Promise<CommitGuard> {
    // The gc records first, then the index: a run that finished between the two has already
    // taken its packs out of the index objects.
    const guard = await CommitGuard.begin(shared.root, this.#clock, shared.timing)
    await this.#chunks.refresh()
    this.#chunks.exclude(new Set([...guard.excludedPacks, ...this.#lostPacks]))
    return guard
  }

  /** After the manifest is put: withdrawn (tombstoned) with `CONFLICT` if a GC run elsewhere may be deleting what it stands on. */
  async #checkShared(
    guard: CommitGuard,
    stored: StoredManifest,
    chain: readonly StoredManifest[],
    ownPacks: ReadonlySet<string>,
  ): Promise<void> {
    const packs = new Set<string>()
    let unknownPacks = 0
    for (const chunk of chunksOf(stored.manifest)) {
      const pack = this.#chunks.packOf(chunk)
      if (pack === undefined) unknownPacks++
      else packs.add(pack)
    }
    const store = this.#shared?.name ?? ''
    const danger = await guard.check({
      packs,
      ownPacks,
      unknownPacks,
      manifests: chain.map((link) => ({ store, id: link.id })),
    })
    if (danger === undefined) return
    const why = danger.reason
    for (const pack of danger.gone) this.#lostPacks.add(pack)
    await this.#withdraw(stored.id, why)
    this.#manifests.delete(stored.id)
    throw new CairnError('CONFLICT', `checkpoint withdrawn: ${why}`, {
      op: 'store.checkpoint',
      checkpoint: stored.id,
      retryable: true,
      hint: 'take the checkpoint again: the retry stores what GC condemned anew',
    })
  }

  /** Every checkpoint, oldest first (by creation time, then LSN). */
  async checkpoints(): Promise<CheckpointInfo[]> {
    this.#checkOpen('store.checkpoints')
    // Copies: the store keeps these to order its checkpoints; a caller's change must not reach it.
    return (await this.#liveCheckpoints()).map((info) => ({ ...info, createdAt: new Date(info.createdAt) }))
  }

  /** The checkpoints without a tombstone, oldest first. */
  async #liveCheckpoints(): Promise<CheckpointInfo[]> {
    const tombstones = await listTombstones(this.#blobs)
    return (await this.#sortedCheckpoints()).filter((stored) => !tombstones.has(stored.id))
  }

  // --- retention ---

  /**
   * Tombstones the plan's dropped checkpoints (soft delete: they leave `checkpoints()`, 'latest'
   * and `recover()`; GC removes them after its grace period). Refuses a plan that drops the newest
   * checkpoint or a base some kept checkpoint stands on.
   */
  async applyRetention(plan: RetentionPlan<CheckpointInfo>): Promise<{ readonly tombstoned: number }> {
    this.#checkOpen('store.applyRetention')
    if (this.#readOnly)
      throw new CairnError('NOT_SUPPORTED', 'the store is open read-only', { op: 'store.applyRetention' })
    const live = await this.#liveCheckpoints()
    const dropped = new Set(plan.drop.map((entry) => entry.checkpoint.id))
    const newest = live.at(-1)
    if (newest !== undefined && dropped.has(newest.id))
      throw tombstoneError('refusing to drop the newest checkpoint', newest.id)
    for (const stored of live) {
      if (dropped.has(stored.id)) continue
      for (const link of await this.#ancestors(stored)) {
        if (dropped.has(link)) {
          throw tombstoneError(
            `refusing to drop ${link.slice(0, 8)}: kept checkpoint ${stored.id.slice(0, 8)} stands on it`,
            link,
          )
        }
      }
    }
    const at = this.#clock()
    // A few at a time: each put is durable on its own (file and directory synced).
    for (let i = 0; i < plan.drop.length; i += 16) {
      // Every put of a batch settles before a failure is reported: none runs on after this
      // returns. A failure leaves some tombstones written (soft deletes); applying again finishes.
      const results = await Promise.allSettled(
        plan.drop.slice(i, i + 16).map((entry) =>
          putTombstone(this.#blobs, parseCheckpointId(entry.checkpoint.id, 'store.applyRetention'), {
            at,
            reasons: entry.reasons,
          }),
        ),
      )
      for (const result of results) if (result.status === 'rejected') throw result.reason
    }
    return { tombstoned: plan.drop.length }
  }

  /** Plans retention over the live checkpoints and (unless `dryRun`) applies it; returns the plan. */
  async retain(
    policy: RetentionPolicy,
    options: { readonly dryRun?: boolean; readonly now?: Date; readonly timeZone?: string } = {},
  ): Promise<RetentionPlan<CheckpointInfo>> {
    const planned = planRetention(await this.checkpoints(), policy, {
      now: options.now ?? new Date(this.#clock()),
      ...(options.timeZone === undefined ? {} : { timeZone: options.timeZone }),
    })
    const plan = await this.#keepWholeChains(planned)
    if (options.dryRun !== true) await this.applyRetention(plan)
    return plan
  }

  /**
   * The planner keeps the links of a kept delta's chain that it sees; a chain can also run
   * through a checkpoint tombstoned already (not listed, so not seen), and the links beyond it
   * would be dropped. Those are kept too, "base of" the kept checkpoint, as applyRetention requires.
   */
  async #keepWholeChains(plan: RetentionPlan<CheckpointInfo>): Promise<RetentionPlan<CheckpointInfo>> {
    const dropped = new Map(plan.drop.map((entry) => [entry.checkpoint.id, entry]))
    const rescued: typeof plan.keep = []
    for (const { checkpoint } of plan.keep) {
      if (checkpoint.parent === undefined || dropped.size === 0) continue
      for (const link of await this.#ancestors(checkpoint)) {
        const entry = dropped.get(link)
        if (entry === undefined) continue
        dropped.delete(link)
        rescued.push({ checkpoint: entry.checkpoint, reasons: [`base of ${checkpoint.id.slice(0, 8)}`] })
      }
    }
    if (rescued.length === 0) return plan
    const newestFirst = (a: { checkpoint: CheckpointInfo }, b: { checkpoint: CheckpointInfo }) =>
      b.checkpoint.createdAt.getTime() - a.checkpoint.createdAt.getTime()
    return {
      keep: [...plan.keep, ...rescued].sort(newestFirst),
      drop: plan.drop.filter((entry) => dropped.has(entry.checkpoint.id)),
    }
  }

  async #sortedCheckpoints(): Promise<CheckpointInfo[]> {
    const all: CheckpointInfo[] = []
    for (const id of await listManifestIds(this.#blobs)) {
      try {
        all.push(await this.#info(id))
      } catch (error) {
        if (!isCairnError(error, 'CORRUPT_OBJECT') && !isCairnError(error, 'FORMAT_VERSION')) throw error
        // A damaged manifest is not a checkpoint; verify and recover() report it.
      }
    }
    return all.sort(
      (a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.lsn - b.lsn || (a.id < b.id ? -1 : 1),
    )
  }

  /** The state at a checkpoint (`'latest'`: the newest). */
  async snapshot(idOrLatest: CheckpointId | 'latest'): Promise<Snapshot> {
    this.#checkOpen('store.snapshot')
    // Another machine's GC may have moved chunks (repacked): read where they are now.
    if (this.#shared !== undefined) await this.#chunks.refresh()
    return new Snapshot(await this.#chainOf(idOrLatest), this.#chunks)
  }

  /** Checkpoints on a cadence of records, bytes or time (see snapshot/cadence.ts); log through it. */
  cadence(options: CadenceOptions): Cadence {
    const log = this.#log('store.cadence')
    const cadence = new Cadence(
      {
        append: (data) => this.append(data),
        appendMany: (records) => this.appendMany(records),
        get lastLsn() {
          return log.assignedLsn
        },
        checkpoint: (request) => this.checkpoint(request),
      },
      options,
    )
    this.#cadences.push(cadence)
    return cadence
  }

  /**
   * Garbage collection: tombstoned checkpoints older than `graceMs` lose their manifests (unless a
   * live checkpoint stands on them), then every chunk no remaining checkpoint reaches goes with the
   * packs that hold nothing else, and packs at least `repackDeadShare` dead (by stored bytes;
   * default 0.5, 1 turns repacking off) have their live chunks copied into new packs first
   * (crash-safe order: chunkstore/sweep.ts). It holds the live chunk ids, the packs' index while
   * it sweeps, and each checkpoint's chain ids; manifests are re-read through a bounded cache.
   */
  async gc(
    options: { readonly graceMs?: number; readonly repackDeadShare?: number } = {},
  ): Promise<GcReport> {
    this.#checkOpen('store.gc')
    if (this.#readOnly)
      throw new CairnError('NOT_SUPPORTED', 'the store is open read-only', { op: 'store.gc' })
    const graceMs = options.graceMs ?? 24 * 3_600_000
    if (!Number.isFinite(graceMs) || graceMs < 0) {
      throw new CairnError('BAD_OPTION', 'graceMs must be a non-negative number', { op: 'store.gc' })
    }
    const repackDeadShare = options.repackDeadShare ?? DEFAULT_REPACK_DEAD_SHARE
    if (!(repackDeadShare > 0 && repackDeadShare <= 1)) {
      throw new CairnError('BAD_OPTION', 'repackDeadShare must be in (0, 1]', { op: 'store.gc' })
    }
    const shared = this.#shared
    const run = this.#committing.then(() =>
      shared === undefined
        ? this.#gc(graceMs, repackDeadShare)
        : this.#sharedGc(shared, graceMs, repackDeadShare),
    )
    this.#committing = run.catch(() => undefined)
    return run
  }

  async #sharedGc(shared: SharedContext, graceMs: number, repackDeadShare: number): Promise<GcReport> {
    const started = performance.now()
    const report = await sharedGc(shared.root, this.#chunks, this.#clock, {
      ...shared.timing,
      graceMs,
      repackDeadShare,
    })
    // Manifests of this store may be gone: facts are read again from what is left.
    this.#manifests.clear()
    this.#intact.clear()
    // Shipped segments no checkpoint left here needs for its recovery.
    const oldest = (await this.#sortedCheckpoints()).reduce<number | undefined>(
      (lsn, info) => (lsn === undefined ? info.lsn : Math.min(lsn, info.lsn)),
      undefined,
    )
    if (oldest !== undefined) await this.#shipping?.prune(oldest + 1)
    return {
      packsDeleted: report.packsDeleted,
      packsRepacked: report.packsRepacked,
      bytesFreed: report.bytesFreed,
      chunksLive: report.chunksLive,
      chunksDeleted: report.chunksDeleted,
      manifestsDeleted: report.manifestsDeleted,
      durationMs: performance.now() - started,
      shared: {
        packsCondemned: report.packsCondemned,
        packsSpared: report.packsSpared,
        chunksRescued: report.chunksRescued,
        runsDeleted: report.runsDeleted,
      },
    }
  }

  async #gc(graceMs: number, repackDeadShare: number): Promise<GcReport> {
    const started = performance.now()
    // Temp files of crashed puts (up to a pack each): no writer runs, the lock is ours.
    if (this.#blobs instanceof FsBlobStore) await this.#blobs.removeTempFiles()
    const tombstones = await listTombstones(this.#blobs)
    const ids = new Set(await listManifestIds(this.#blobs))
    // Every manifest must be intact and every chain whole: GC never decides on what it cannot
    // read. Each checkpoint's facts (its parent) come from the catalog; the kept ones are read
    // whole to be marked, the ones to delete only checked against their ids (not parsed).
    const refuse = (id: CheckpointId, error: CairnError) =>
      new CairnError('CORRUPT_OBJECT', `gc refuses to run: checkpoint ${id.slice(0, 8)} cannot be read`, {
        op: 'store.gc',
        checkpoint: id,
        cause: error,
        hint: 'run verify; repair or remove the damaged manifest first',
      })
    const infos = new Map<CheckpointId, CheckpointInfo>()
    for (const id of ids) {
      try {
        infos.set(id, await this.#info(id))
      } catch (error) {
        if (!isCairnError(error)) throw error
        throw refuse(id, error)
      }
    }
    const chainOf = (id: CheckpointId): CheckpointId[] => {
      const links: CheckpointId[] = []
      for (let at: CheckpointId | undefined = id; at !== undefined; at = infos.get(at)?.parent) {
        if (!infos.has(at) || links.includes(at)) {
          throw refuse(
            id,
            new CairnError('NOT_FOUND', `its chain lacks checkpoint ${at.slice(0, 8)}`, {
              op: 'store.gc',
              checkpoint: at,
            }),
          )
        }
        links.push(at)
      }
      return links
    }
    // Kept: every checkpoint not expired, and every link of their chains (expired or not).
    const expiredByGrace = (id: CheckpointId) => {
      const tombstone = tombstones.get(id)
      return tombstone !== undefined && this.#clock() - tombstone.at >= graceMs
    }
    const kept = new Set<CheckpointId>()
    for (const id of ids) {
      if (expiredByGrace(id)) continue
      for (const link of chainOf(id)) kept.add(link)
    }
    const expired = [...ids].filter((id) => !kept.has(id))
    // Manifests are read a few at a time (each get is a round trip), taken in order. Few: a
    // manifest of a big entry is big, and these bypass the manifest cache's bound.
    const width = Math.min(4, this.#blobs.properties.concurrencyMax)
    for await (const [id, checked] of ahead(expired, width, (e) => checkManifest(this.#blobs, e))) {
      if (checked.status === 'rejected') {
        if (!isCairnError(checked.reason)) throw checked.reason
        throw refuse(id, checked.reason)
      }
    }
    // Marked from each kept checkpoint's own state: a link kept for another's chain included.
    const live = new Set<ChunkId>()
    for await (const [id, loaded] of ahead(kept, 2, (k) => loadChain(this.#blobs, k, this.#manifests))) {
      if (loaded.status === 'rejected') {
        if (!isCairnError(loaded.reason)) throw loaded.reason
        throw refuse(id, loaded.reason)
      }
      for (const chunk of new Snapshot(loaded.value, this.#chunks).chunkIds()) live.add(chunk)
    }
    // Deepest first, so a delta goes before the parent it stands on: a crash between deletions
    // never leaves a chain with a link missing.
    const depth = new Map(expired.map((id) => [id, chainOf(id).length]))
    expired.sort((x, y) => (depth.get(y) ?? 0) - (depth.get(x) ?? 0))
    // The manifest first, then its tombstone: a crash between leaves a tombstone of nothing,
    // removed here next time.
    let bytesFreed = 0
    const sizeOf = async (key: string) => (await this.#blobs.head(key))?.size ?? 0
    const sizesOf = async (keys: readonly string[]) => {
      for await (const [, size] of ahead(keys, width, sizeOf)) {
        if (size.status === 'rejected') throw size.reason
        bytesFreed += size.value
      }
    }
    // One depth at a time, each in one delete (one directory sync): no checkpoint of a depth
    // stands on another of the same depth, so a crash inside a batch breaks no chain.
    for (let at = 0; at < expired.length;) {
      const level = depth.get(expired[at] as CheckpointId)
      let end = at
      while (end < expired.length && depth.get(expired[end] as CheckpointId) === level) end++
      const batch = expired.slice(at, end)
      await sizesOf(batch.map(manifestKey))
      try {
        await this.#blobs.delete(batch.map(manifestKey))
      } finally {
        // Forgotten even when the delete failed partway: a cached manifest must never outlive
        // its object (one still there is read again from the store).
        for (const id of batch) {
          this.#manifests.delete(id)
          this.#catalog.delete(id)
          this.#intact.delete(id)
        }
      }
      at = end
    }
    const gone = [...tombstones.keys()].filter((id) => !ids.has(id) || !kept.has(id))
    await sizesOf(gone.map((id) => `tombstones/${id}`))
    if (gone.length > 0) await this.#blobs.delete(gone.map((id) => `tombstones/${id}`))
    const swept = await this.#chunks.sweep(live, { repackDeadShare })
    return {
      ...swept,
      bytesFreed: swept.bytesFreed + bytesFreed,
      manifestsDeleted: expired.length,
      durationMs: performance.now() - started,
    }
  }

  // --- recovery ---

  /** The newest checkpoint whose chain is intact, and the log after it; older ones when newer are damaged (with warnings). */
  async recover(): Promise<Recovery> {
    this.#checkOpen('store.recover')
    if (this.#shared !== undefined) await this.#chunks.refresh()
    const warnings: RecoveryWarning[] = []
    const tombstones = await listTombstones(this.#blobs)
    const ids = (await listManifestIds(this.#blobs)).filter((id) => !tombstones.has(id)).sort()
    const candidates: CheckpointInfo[] = []
    for (const id of ids) {
      try {
        candidates.push(await this.#info(id))
      } catch (error) {
        if (!isCairnError(error)) throw error
        warnings.push({ code: error.code, checkpoint: id, message: error.message })
      }
    }
    candidates.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.lsn - a.lsn)
    // A point-in-time restore recovers the newest checkpoint at or before its LSN.
    const until = this.#restoreTo
    if (until !== undefined)
      candidates.splice(0, candidates.length, ...candidates.filter((c) => c.lsn <= until))
    for (const candidate of candidates) {
      try {
        const chain = await loadChain(this.#blobs, candidate.id, this.#manifests)
        const snapshot = new Snapshot(chain, this.#chunks)
        const missing = await this.#chunks.absent(snapshot.chunkIds())
        if (missing.length > 0) {
          throw new CairnError(
            'MISSING_CHUNK',
            `${String(missing.length)} chunk(s) of it cannot be read (first: ${(missing[0] ?? '').slice(0, 8)})`,
            { op: 'store.recover', checkpoint: candidate.id },
          )
        }
        const from = snapshot.info.lsn + 1
        if (this.#wal !== undefined && warnings.length > 0 && this.#wal.firstLsn > from) {
          // A newer checkpoint, now unusable, truncated the log: those records are gone. Say so.
          warnings.push({
            code: 'NOT_FOUND',
            checkpoint: candidate.id,
            message: `log records ${String(from)}..${String(this.#wal.firstLsn - 1)} were truncated behind a newer checkpoint that is damaged`,
          })
        }
        return { checkpoint: snapshot.info, snapshot, records: this.readLog({ from }), warnings }
      } catch (error) {
        if (!isCairnError(error)) throw error
        warnings.push({ code: error.code, checkpoint: candidate.id, message: error.message })
      }
    }
    return { checkpoint: undefined, snapshot: undefined, records: this.readLog({ from: 1 }), warnings }
  }

  // --- integrity ---

  /** Checks the chunk store (and with `readData` every chunk's bytes), every manifest and every chain. */
  async verify(options: { readonly readData?: boolean } = {}): Promise<StoreVerifyReport> {
    this.#checkOpen('store.verify')
    const report = await this.#chunks.verify(options)
    const problems: StoreVerifyProblem[] = []
    // Which checkpoints read each chunk (and so each pack): every problem names the ones it hurts.
    const byChunk = new Map<string, CheckpointId[]>()
    const byPack = new Map<string, Set<CheckpointId>>()
    let checkpointsChecked = 0
    for (const id of await listManifestIds(this.#blobs)) {
      checkpointsChecked++
      try {
        const snapshot = new Snapshot(await loadChain(this.#blobs, id, this.#manifests), this.#chunks)
        const chunks = snapshot.chunkIds()
        for (const chunk of chunks) {
          const readers = byChunk.get(chunk)
          if (readers === undefined) byChunk.set(chunk, [id])
          else readers.push(id)
          const pack = this.#chunks.packOf(chunk)
          if (pack !== undefined) byPack.set(pack, (byPack.get(pack) ?? new Set()).add(id))
        }
        for (const chunk of await this.#chunks.absent(chunks)) {
          problems.push({
            code: 'MISSING_CHUNK',
            where: `manifests/${id}`,
            message: `chunk ${chunk.slice(0, 8)} cannot be read (in no index, or its pack is gone)`,
            chunk,
            checkpoints: [id],
          })
        }
      } catch (error) {
        if (!isCairnError(error)) throw error
        problems.push({
          code: error.code,
          where: `manifests/${id}`,
          message: error.message,
          checkpoints: [id],
        })
      }
    }
    for (const problem of report.problems) {
      const hurt =
        problem.chunk !== undefined
          ? (byChunk.get(problem.chunk) ?? [])
          : problem.pack !== undefined
            ? [...(byPack.get(problem.pack) ?? [])]
            : []
      problems.unshift({ ...problem, checkpoints: hurt })
    }
    return { ...report, ok: problems.length === 0, problems, checkpointsChecked }
  }

  /** Stops the cadences, waits for checkpoints in progress, closes the log and the chunk store. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      for (const cadence of this.#cadences) await cadence.stop()
      await this.#committing
    } finally {
      try {
        await this.#wal?.close()
      } finally {
        try {
          await this.#chunks.close()
        } finally {
          try {
            await this.#catalog.close()
          } finally {
            try {
              await this.#shared?.close()
            } finally {
              await this.#release()
            }
          }
        }
      }
    }
  }

  async #chainOf(idOrLatest: CheckpointId | 'latest'): Promise<StoredManifest[]> {
    let id: CheckpointId
    if (idOrLatest === 'latest') {
      const newest = (await this.#liveCheckpoints()).at(-1)
      if (newest === undefined)
        throw new CairnError('NOT_FOUND', 'the store has no checkpoint yet', { op: 'store.snapshot' })
      id = newest.id
    } else {
      id = parseCheckpointId(idOrLatest, 'store.snapshot')
    }
    return loadChain(this.#blobs, id, this.#manifests)
  }

  /** The checkpoints `info` stands on, its parent first, from their facts (no manifest parsed when cached). */
  async #ancestors(info: CheckpointInfo): Promise<CheckpointId[]> {
    const links: CheckpointId[] = []
    for (let at = info.parent; at !== undefined; at = (await this.#info(at)).parent) {
      if (links.includes(at) || at === info.id)
        throw new CairnError('CORRUPT_OBJECT', 'a chain of checkpoints loops', {
          op: 'store.chain',
          checkpoint: at,
        })
      links.push(at)
    }
    return links
  }

  /**
   * A checkpoint's facts: kept for every checkpoint (small), parsed from its manifest once. The
   * catalog gives the facts but never proves the manifest is there and intact: that is checked
   * (hash and envelope, no parse) once per process, as a damaged or missing manifest must not
   * look like a checkpoint (retention would keep it as the newest and drop the good ones).
   */
  async #info(id: CheckpointId): Promise<CheckpointInfo> {
    const cached = this.#catalog.get(id)
    if (cached !== undefined) {
      if (!this.#intact.has(id)) {
        await checkManifest(this.#blobs, id)
        this.#intact.add(id)
      }
      return cached
    }
    const stored = this.#manifests.get(id) ?? (await loadManifest(this.#blobs, id))
    this.#manifests.set(id, stored)
    const info = infoOf(stored)
    this.#catalog.set(info)
    this.#intact.add(id)
    return info
  }

  #log(op: string): Wal {
    this.#checkOpen(op)
    if (this.#restoreTo !== undefined && op !== 'store.readLog') {
      throw new CairnError('NOT_SUPPORTED', 'a store restored to a point in time does not write its log', {
        op,
        lsn: this.#restoreTo,
        hint: 'recover, then carry the state on in a store of another name',
      })
    }
    if (this.#wal === undefined) {
      throw new CairnError('NOT_SUPPORTED', 'the store is open read-only', {
        op,
        hint: 'open the store for writing to append to the log',
      })
    }
    return this.#wal
  }

  #checkOpen(op: string): void {
    if (this.#closed) throw new CairnError('CLOSED', 'the store is closed', { op })
  }
}
