/**
 * A checkpoint manager for training loops, on one cairn store: what TensorFlow's
 * `CheckpointManager`, Keras' `BackupAndRestore`, Orbax's `CheckpointManager`, Lightning's
 * `ModelCheckpoint` and DeepRec's incremental checkpoints give their users.
 *
 * - `save(step, state, { metrics })`: a state is named tensors (typed arrays) and JSON values
 *   (state-codec.ts). Every `fullEvery`-th save is full; the others are sparse incremental: only
 *   the rows that changed (row-diff.ts), as a delta checkpoint on the previous save. A restore
 *   reads the full save plus its increments (the store composes the chain).
 * - Retention after every save: the newest `maxToKeep`, the `best.k` best by a metric, one for good
 *   every `keepEvery` hours or steps, and pinned steps; the newest is always kept, and a kept
 *   increment keeps the saves it stands on. GC runs every `gcEvery` saves.
 * - `shouldSave(step)`: the cadence, by steps or seconds.
 * - `saveAsync` returns once the state is staged (tensors copied, rows compared) and commits in the
 *   background, one save at a time. A background save that fails is never silent: the next call
 *   of any method throws it, and the next save is full.
 * - `restore(step | 'latest')`, `restoreOrInit(init)`: an interrupted run resumes where its last
 *   durable save left it.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { CheckpointId } from '../core/ids.js'
import type { JsonValue } from '../snapshot/manifest.js'
import type { CheckpointInfo } from '../snapshot/snapshot.js'
import { openStore } from '../store.js'
import type { CheckpointOptions, Store, StoreOptions } from '../store.js'
import type { Vfs } from '../core/ports.js'
import { keptForGood } from './keep-every.js'
import type { KeepEvery } from './keep-every.js'
import { diffRows, rowHashes } from './row-diff.js'
import type { RowPatch } from './row-diff.js'
import { decodeTensor, field, splitState, tensorEntry, tensorMetas } from './state-codec.js'
import type { Tensor, TensorMeta, TrainingState } from './state-codec.js'

export interface CheckpointManagerOptions {
  readonly dir: string
  /** Instead of `dir` on the real disk (tests: the simulated disk). */
  readonly vfs?: Vfs
  /** The newest saves kept (default 5). */
  readonly maxToKeep?: number
  readonly keepEvery?: KeepEvery
  /** The `k` best saves by `metric` are kept as well. */
  readonly best?: { readonly metric: string; readonly mode: 'min' | 'max'; readonly k: number }
  /** `shouldSave(step)` is true every `steps` steps, or once `seconds` have passed since the last save. */
  readonly saveEvery?: { readonly steps?: number; readonly seconds?: number }
  /** Every `fullEvery`-th save is full, the others sparse increments (default 10; 1: all full). */
  readonly fullEvery?: number
  /** The row of a sparse increment, in bytes (default 4096). */
  readonly rowBytes?: number
  /** GC after this many saves (default 10; 0: never). */
  readonly gcEvery?: number
  /** Passed on to the store (chunking, workers, a virtual clock...). */
  readonly store?: Partial<StoreOptions>
}

/** A save the manager holds. */
export interface SavedStep {
  readonly step: number
  readonly id: CheckpointId
  readonly createdAt: Date
  readonly kind: 'full' | 'delta'
  readonly metrics: Readonly<Record<string, number>>
  /** Bytes this save added to the store (after dedup and compression). */
  readonly storedBytes: number
}

export interface Restored {
  readonly step: number
  readonly state: Record<string, Tensor | JsonValue>
}

interface Staged {
  readonly step: number
  readonly request: Omit<CheckpointOptions, 'lsn'>
  readonly hashes: Map<string, Uint32Array>
  readonly tensors: Map<string, TensorMeta>
  readonly full: boolean
}

export class CheckpointManager {
  readonly #store: Store
  readonly #options: Required<
    Pick<CheckpointManagerOptions, 'maxToKeep' | 'fullEvery' | 'rowBytes' | 'gcEvery'>
  > &
    CheckpointManagerOptions
  readonly #clock: () => number
  /** The rows of the last save: the base of the next increment (empty: the next save is full). */
  #hashes = new Map<string, Uint32Array>()
  #tensors = new Map<string, TensorMeta>()
  #last: CheckpointId | undefined
  #sinceFull = 0
  #saves = 0
  #lastSaveAt: number | undefined
  readonly #pins = new Set<number>()
  #inflight: Promise<void> = Promise.resolve()
  #failure: { readonly step: number; readonly error: unknown } | undefined

  private constructor(store: Store, options: CheckpointManagerOptions, pins: readonly number[]) {
    this.#store = store
    this.#options = { maxToKeep: 5, fullEvery: 10, rowBytes: 4096, gcEvery: 10, ...options }
    this.#clock = options.store?.clock ?? Date.now
    for (const pin of pins) this.#pins.add(pin)
    const { maxToKeep, fullEvery, rowBytes, gcEvery } = this.#options
    for (const [name, value] of Object.entries({ maxToKeep, fullEvery, rowBytes })) {
      if (!Number.isSafeInteger(value) || value < 1) throw badOption(`${name} must be an integer >= 1`)
    }
    if (!Number.isSafeInteger(gcEvery) || gcEvery < 0) throw badOption('gcEvery must be an integer >= 0')
  }

  /** Opens (creating it if needed) the manager's store under `options.dir`. */
  static async open(options: CheckpointManagerOptions): Promise<CheckpointManager> {
    const store = await openStore({
      ...options.store,
      dir: options.dir,
      ...(options.vfs === undefined ? {} : { vfs: options.vfs }),
    })
    try {
      const newest = (await store.checkpoints()).at(-1)
      const pins = field(newest?.meta, 'pins')
      const manager = new CheckpointManager(
        store,
        options,
        Array.isArray(pins) ? pins.filter((pin): pin is number => typeof pin === 'number') : [],
      )
      manager.#last = newest?.id
      if (newest !== undefined) manager.#lastSaveAt = newest.createdAt.getTime()
      return manager
    } catch (error) {
      await store.close()
      throw error
    }
  }

  /** True when the cadence says this step is due a save. */
  shouldSave(step: number): boolean {
    const every = this.#options.saveEvery
    if (every === undefined) return true
    if (every.steps !== undefined && step % every.steps === 0) return true
    return (
      every.seconds !== undefined &&
      (this.#lastSaveAt === undefined || this.#clock() - this.#lastSaveAt >= every.seconds * 1000)
    )
  }

  /** Saves `state` as `step`, durably; resolves once it is committed and retention applied. */
  async save(
    step: number,
    state: TrainingState,
    options: { readonly metrics?: Readonly<Record<string, number>> } = {},
  ): Promise<SavedStep> {
    await this.#settle()
    return this.#commit(this.#stage(step, state, options.metrics ?? {}, false))
  }

  /**
   * Stages `state` (its tensors copied: the caller may change them at once) and commits it in the
   * background. Waits first for the previous background save; throws if that one failed.
   */
  async saveAsync(
    step: number,
    state: TrainingState,
    options: { readonly metrics?: Readonly<Record<string, number>> } = {},
  ): Promise<void> {
    await this.#settle()
    const staged = this.#stage(step, state, options.metrics ?? {}, true)
    this.#inflight = this.#commit(staged).then(
      () => undefined,
      (error: unknown) => {
        this.#failure = { step, error }
      },
    )
  }

  /** Waits for the background save; throws if it failed. */
  wait(): Promise<void> {
    return this.#settle()
  }

  /** Every save held, oldest first. */
  async saved(): Promise<SavedStep[]> {
    await this.#settle()
    return (await this.#store.checkpoints()).flatMap((info) => {
      const step = stepOf(info)
      return step === undefined ? [] : [savedOf(info, step)]
    })
  }

  /** The newest save, if any. */
  async latest(): Promise<SavedStep | undefined> {
    return (await this.saved()).at(-1)
  }

  /** The state saved as `step` (the newest save of it), or the newest. `NOT_FOUND` when there is none. */
  async restore(step: number | 'latest'): Promise<Restored> {
    const saved = await this.saved()
    const found = step === 'latest' ? saved.at(-1) : saved.filter((one) => one.step === step).at(-1)
    if (found === undefined) {
      throw new CairnError(
        'NOT_FOUND',
        step === 'latest' ? 'no save yet' : `no save of step ${String(step)}`,
        {
          op: 'training.restore',
        },
      )
    }
    const snapshot = await this.#store.snapshot(found.id)
    const meta = snapshot.info.meta
    const state: Record<string, Tensor | JsonValue> = {}
    const json = field(meta, 'json')
    if (json !== null && typeof json === 'object' && !Array.isArray(json)) Object.assign(state, json)
    for (const [name, tensorMeta] of tensorMetas(meta)) {
      state[name] = decodeTensor(name, tensorMeta, await snapshot.read(tensorEntry(name)))
    }
    return { step: found.step, state }
  }

  /** The newest save, or `init()` (step 0) when there is none: where an interrupted run resumes. */
  async restoreOrInit(
    init: () => TrainingState | Promise<TrainingState>,
  ): Promise<Restored & { readonly restored: boolean }> {
    if ((await this.latest()) === undefined) return { step: 0, state: { ...(await init()) }, restored: false }
    return { ...(await this.restore('latest')), restored: true }
  }

  /** Keeps `step`'s saves whatever retention says (from the next save on, which records it). */
  pin(step: number): void {
    this.#pins.add(step)
  }

  unpin(step: number): void {
    this.#pins.delete(step)
  }

  /** Waits for the background save (throwing if it failed), then closes the store. */
  async close(): Promise<void> {
    try {
      await this.#settle()
    } finally {
      await this.#store.close()
    }
  }

  async #settle(): Promise<void> {
    await this.#inflight
    const failure = this.#failure
    if (failure === undefined) return
    this.#failure = undefined
    const code = isCairnError(failure.error) ? failure.error.code : 'IO'
    throw new CairnError(code, `the background save of step ${String(failure.step)} failed`, {
      op: 'training.saveAsync',
      cause: failure.error,
      hint: 'the next save is full; save again',
    })
  }

  /** What to write: a full save, or the changed rows on top of the last one. */
  #stage(
    step: number,
    state: TrainingState,
    metrics: Readonly<Record<string, number>>,
    copy: boolean,
  ): Staged {
    if (!Number.isSafeInteger(step) || step < 0) throw badOption('step must be an integer >= 0')
    const { tensors, json } = splitState(state, copy)
    const rowBytes = this.#options.rowBytes
    const full =
      this.#last === undefined || this.#hashes.size === 0 || this.#sinceFull + 1 >= this.#options.fullEvery
    const entries: Record<string, Uint8Array> = {}
    const patches: Record<string, RowPatch[]> = {}
    const hashes = new Map<string, Uint32Array>()
    const metas = new Map<string, TensorMeta>()
    for (const [name, { meta, bytes }] of tensors) {
      metas.set(name, meta)
      const before = this.#hashes.get(name)
      const previous = this.#tensors.get(name)
      if (full || before === undefined || previous?.length !== meta.length || previous.dtype !== meta.dtype) {
        entries[tensorEntry(name)] = bytes
        hashes.set(name, rowHashes(bytes, rowBytes))
        continue
      }
      const diff = diffRows(bytes, before, rowBytes)
      hashes.set(name, diff.hashes)
      if (diff.patches.length > 0) patches[tensorEntry(name)] = diff.patches
    }
    const deleted = full
      ? []
      : [...this.#tensors.keys()].filter((name) => !tensors.has(name)).map(tensorEntry)
    const meta: JsonValue = {
      step,
      tensors: Object.fromEntries(
        [...metas].map(([name, m]) => [name, { dtype: m.dtype, length: m.length }]),
      ),
      json,
      pins: [...this.#pins].sort((a, b) => a - b),
    }
    const request: Omit<CheckpointOptions, 'lsn'> = {
      entries,
      tags: [`step:${String(step)}`],
      metrics,
      meta,
      ...(full ? {} : { parent: this.#last as CheckpointId, patches, deleted }),
    }
    return { step, request, hashes, tensors: metas, full }
  }

  async #commit(staged: Staged): Promise<SavedStep> {
    try {
      const lsn = await this.#store.append(new TextEncoder().encode(JSON.stringify({ save: staged.step })))
      const info = await this.#store.checkpoint({ ...staged.request, lsn })
      this.#hashes = staged.hashes
      this.#tensors = staged.tensors
      this.#last = info.id
      this.#sinceFull = info.kind === 'full' ? 0 : this.#sinceFull + 1
      this.#lastSaveAt = info.createdAt.getTime()
      this.#saves++
      await this.#retain()
      return savedOf(info, staged.step)
    } catch (error) {
      // What the store holds is no longer known to match the rows kept: the next save is full.
      this.#hashes = new Map()
      throw error
    }
  }

  async #retain(): Promise<void> {
    const saved = (await this.#store.checkpoints()).flatMap((info) => {
      const step = stepOf(info)
      return step === undefined ? [] : [{ id: info.id, step, createdAt: info.createdAt }]
    })
    const pins = [
      ...saved.filter((one) => this.#pins.has(one.step)).map((one) => one.id),
      ...keptForGood(saved, this.#options.keepEvery),
    ]
    const best = this.#options.best
    await this.#store.retain({
      keepLast: this.#options.maxToKeep,
      ...(best === undefined ? {} : { keepBest: { metric: best.metric, mode: best.mode, n: best.k } }),
      pins,
    })
    if (this.#options.gcEvery > 0 && this.#saves % this.#options.gcEvery === 0)
      await this.#store.gc({ graceMs: 0 })
  }
}

function stepOf(info: CheckpointInfo): number | undefined {
  const step = field(info.meta, 'step')
  return typeof step === 'number' ? step : undefined
}

function savedOf(info: CheckpointInfo, step: number): SavedStep {
  return {
    step,
    id: info.id,
    createdAt: info.createdAt,
    kind: info.kind,
    metrics: info.metrics,
    storedBytes: info.storedBytes,
  }
}

function badOption(message: string): CairnError {
  return new CairnError('BAD_OPTION', message, { op: 'training.open' })
}
