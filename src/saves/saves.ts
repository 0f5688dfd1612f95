/**
 * The save-game API: named slots over a store. Each save is one full checkpoint holding the world
 * (entry `world.bin` or `world.json`), tagged `slot:<name>`; loading a slot reads its newest save.
 *
 * Why full checkpoints and not deltas: a delta stands on its parent, so a slot's save standing on
 * another slot's (or on an older save) would have to be kept for as long as it stands, and a
 * slot's history could not be pruned to exactly what its policy says, nor a slot deleted. Full
 * checkpoints cost little here: the chunk store keeps each distinct chunk once, so a world that
 * changed a little stores only the chunks that changed (README: "Identical blocks across saves are
 * stored once"). The log is not used: a save is acknowledged by its checkpoint's manifest, which
 * is the record of it (a log record would cost an fsync and tell recovery nothing more).
 *
 * Durability: `save` resolves once its checkpoint is committed (chunks, then the manifest,
 * fsynced: store.ts); a crash at any point leaves the slot's previous save or the new one, whole.
 * Pruning the history and compacting (GC) run after the save resolves, in the background, one
 * operation at a time with everything else; their failures are reported (`onError`, or thrown by
 * the next call), never silent, and never touch a slot's newest save.
 */
import { assert } from '../core/assert.js'
import { CairnError } from '../core/errors.js'
import type { CheckpointId } from '../core/ids.js'
import { parseCheckpointId } from '../core/ids.js'
import type { JsonValue } from '../snapshot/manifest.js'
import { openStore } from '../store.js'
import type { GcReport, Store } from '../store.js'
import { Autosave, parseAutosaveOptions } from './autosave.js'
import type { AutosaveOptions, CaptureWorld } from './autosave.js'
import {
  DELETED_TAG_PREFIX,
  SLOT_TAG_PREFIX,
  parseSaveTags,
  parseSlotName,
  slotError,
  wrapSlotError,
} from './errors.js'
import { InTurn } from './in-turn.js'
import type { SlotPlan } from './history.js'
import { parseSavesOptions } from './options.js'
import { pruneSlots } from './prune.js'
import type { ParsedSavesOptions, SavesOptions } from './options.js'
import { SlotIndex, copySave, deletionMeta, readRecord, saveMeta } from './slot-index.js'
import type { SaveEntry, SaveInfo } from './slot-index.js'
import { WORLD_ENTRY, decodeWorld, encodeJsonText, encodeWorld } from './world.js'
import type { EncodedWorld, World, WorldInput } from './world.js'

/** What a save may carry besides its world. */
export interface SaveOptions {
  /** Shown by `history`; a retention policy's `keepTags` keeps the saves with its tags. */
  readonly tags?: readonly string[]
  /** Anything a load screen shows (a title, the play time), JSON. */
  readonly meta?: JsonValue
}

/** A slot, as `slots()` lists it: its newest save, and how many saves its history holds. */
export interface SlotInfo extends SaveInfo {
  readonly saves: number
}

/**
 * Opens (creating them if needed) the saves under `options.dir`: one writer at a time (a second
 * open is `LOCKED`). Reads every checkpoint's facts (cached), not the worlds.
 * Errors: `BAD_OPTION` for an option out of range, `FORMAT_VERSION` for saves written by a newer
 * cairn, `CORRUPT_OBJECT` for a save record that does not read, and what `openStore` throws.
 */
export async function openSaves(options: SavesOptions): Promise<SaveGames> {
  const parsed = parseSavesOptions(options)
  const store = await openStore({
    // One thread: worker threads cost more than they save on worlds of a few KiB to a few MiB.
    workers: 0,
    ...options.store,
    dir: options.dir,
    ...(parsed.vfs === undefined ? {} : { vfs: parsed.vfs }),
    clock: parsed.clock,
  })
  let index: SlotIndex
  try {
    index = SlotIndex.build(await store.checkpoints())
  } catch (error) {
    await store.close()
    throw error
  }
  const saves = new SaveGames(store, index, parsed)
  const capture = options.autosave?.capture
  if (capture !== undefined) saves.autosave(capture)
  return saves
}

export class SaveGames {
  readonly #store: Store
  #index: SlotIndex
  /**
   * Set when a change to the store failed: it may have landed in part (some tombstones of a
   * batch, a manifest put before a later step threw), so the index is read again from the store
   * before the next operation.
   */
  #stale = false
  readonly #options: ParsedSavesOptions
  /** Every operation runs in turn: the index is then always the store's state. */
  readonly #turns: InTurn
  readonly #autosaves = new Set<Autosave>()
  #closed = false
  #tombstonesSinceCompact = 0

  /** Use `openSaves`. */
  constructor(store: Store, index: SlotIndex, options: ParsedSavesOptions) {
    this.#store = store
    this.#index = index
    this.#options = options
    this.#turns = new InTurn({
      onError: options.onError,
      before: async () => {
        if (!this.#stale) return
        this.#index = SlotIndex.build(await this.#store.checkpoints())
        this.#stale = false
      },
    })
  }

  /**
   * Saves `world` to `slot` (created by its first save): resolves with the save once it is durable.
   * The world is taken when this is called (bytes copied, JSON serialized: world.ts says how each
   * round-trips). Then the slot's history is pruned by its policy, in the background.
   * Errors (naming the slot): `INVALID_KEY` (slot name), `BAD_OPTION` (a world JSON cannot hold,
   * bad tags), `CLOSED`, and the store's (`IO`, `DISK_FULL`, …): the save did not happen.
   */
  async save(slot: string, world: WorldInput, options: SaveOptions = {}): Promise<SaveInfo> {
    const op = 'saves.save'
    const name = parseSlotName(slot, op)
    const tags = parseSaveTags(options.tags, name, op)
    const meta = options.meta === undefined ? null : checkMeta(options.meta, name, op)
    const encoded = encodeWorld(world, name, op)
    return this.#saveQueued(op, name, encoded, tags, meta, true)
  }

  /** The newest save of `slot`. `NOT_FOUND` when the slot has none; a damaged save is `CORRUPT_OBJECT` or `MISSING_CHUNK`. */
  async load(slot: string): Promise<World> {
    const op = 'saves.load'
    const name = parseSlotName(slot, op)
    return this.#call(op, async () => {
      const entry = this.#index.saves(name).at(-1)
      if (entry === undefined) {
        throw slotError('NOT_FOUND', name, 'has no save', {
          op,
          hint: 'slots() lists the slots that have saves',
        })
      }
      return this.#read(entry, op)
    })
  }

  /** A save of `slot` from its history, by id. `INVALID_ID` for a malformed id; `NOT_FOUND` when it is not in the history. */
  async loadVersion(slot: string, id: string): Promise<World> {
    const op = 'saves.loadVersion'
    const name = parseSlotName(slot, op)
    let checkpoint: CheckpointId
    try {
      checkpoint = parseCheckpointId(id, op)
    } catch (error) {
      throw wrapSlotError(error, name, 'no such save', op)
    }
    return this.#call(op, async () => {
      const entry = this.#index.saves(name).find((e) => e.checkpoint.id === checkpoint)
      if (entry === undefined) {
        throw slotError('NOT_FOUND', name, `has no save ${checkpoint.slice(0, 8)} in its history`, {
          op,
          checkpoint,
          hint: 'history(slot) lists the saves that can be loaded',
        })
      }
      return this.#read(entry, op)
    })
  }

  /** Every slot that has a save, with its newest save: the most recently saved first. */
  async slots(): Promise<SlotInfo[]> {
    return this.#call('saves.slots', () => {
      const slots: SlotInfo[] = []
      for (const slot of this.#index.slots()) {
        const saves = this.#index.saves(slot)
        const newest = saves.at(-1)
        if (newest !== undefined) slots.push({ ...copySave(newest.save), saves: saves.length })
      }
      return Promise.resolve(slots.sort((a, b) => b.savedAt.getTime() - a.savedAt.getTime()))
    })
  }

  /** The saves of `slot` that its history keeps, newest first (empty when it has none). */
  async history(slot: string): Promise<SaveInfo[]> {
    const op = 'saves.history'
    const name = parseSlotName(slot, op)
    return this.#call(op, () =>
      Promise.resolve(
        this.#index
          .saves(name)
          .map((entry) => copySave(entry.save))
          .reverse(),
      ),
    )
  }

  /**
   * Deletes `slot` and its whole history, atomically: a crash leaves it whole or gone. Resolves
   * with how many saves it held (0: there was no such slot, and nothing is written). Its saves'
   * space is freed by a later compaction.
   */
  async deleteSlot(slot: string): Promise<number> {
    const op = 'saves.deleteSlot'
    const name = parseSlotName(slot, op)
    const deleted = this.#call(op, async () => {
      if (this.#index.saves(name).length === 0) return 0
      try {
        // The marker is the deletion: once it is durable, every older save of the slot is gone.
        const marker = await this.#change(() =>
          this.#store.checkpoint({
            lsn: this.#store.lastLsn,
            entries: {},
            tags: [`${DELETED_TAG_PREFIX}${name}`],
            meta: deletionMeta(name),
          }),
        )
        return this.#index.addDeletion(name, marker)
      } catch (error) {
        throw wrapSlotError(error, name, 'deleting it failed', op)
      }
    })
    this.#housekeep(deleted, name, op)
    return deleted
  }

  /**
   * Applies each slot's history policy now (`slot`: that slot's only), and finishes deleting
   * deleted slots. Returns each slot's plan, newest first, with the planner's reasons;
   * `dryRun` plans and changes nothing. Saves run this on their slot by themselves.
   */
  async prune(options: { readonly slot?: string; readonly dryRun?: boolean } = {}): Promise<SlotPlan[]> {
    const op = 'saves.prune'
    const only = options.slot === undefined ? undefined : parseSlotName(options.slot, op)
    return this.#call(op, () =>
      this.#prune(only === undefined ? this.#index.slots() : [only], options.dryRun === true, op),
    )
  }

  /**
   * Prunes every slot, then collects garbage: the pruned saves' checkpoints and every chunk no
   * kept save reaches are deleted, their space freed (store.gc, with no grace period: the saves
   * hold the store alone). Saves run this by themselves every `compactEvery` pruned saves.
   */
  async compact(): Promise<GcReport> {
    const op = 'saves.compact'
    return this.#call(op, async () => {
      await this.#prune(this.#index.slots(), false, op)
      return this.#compact()
    })
  }

  /**
   * Saves the world `capture` returns every `everyMs` (default: the `autosave` option of
   * `openSaves`) to `slot` (default that option's, else `'autosave'`), until `stop()` or `close()`.
   * A failed autosave goes to `onError`, or is thrown by the next call.
   */
  autosave(capture: CaptureWorld, options: Partial<AutosaveOptions> = {}): Autosave {
    const op = 'saves.autosave'
    if (this.#closed) throw new CairnError('CLOSED', 'the saves are closed', { op })
    const defaults = this.#options.autosave
    const everyMs = options.everyMs ?? defaults?.everyMs
    if (everyMs === undefined) {
      throw new CairnError('BAD_OPTION', 'autosave needs everyMs', {
        op,
        hint: "pass { everyMs } here, or openSaves' autosave option",
      })
    }
    const slot = options.slot ?? defaults?.slot
    const parsed = parseAutosaveOptions({ everyMs, ...(slot === undefined ? {} : { slot }) }, op)
    const autosave = new Autosave(
      {
        save: (name, world) => this.#saveQueued(op, name, encodeWorld(world, name, op), [], null, false),
        report: (error) => {
          this.#turns.report(error)
        },
      },
      capture,
      parsed,
    )
    this.#autosaves.add(autosave)
    return autosave
  }

  /**
   * Stops autosaving, waits for what is in progress (saves, pruning), closes the store. Throws a
   * background failure not reported yet (there was no `onError`), once everything is closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      for (const autosave of this.#autosaves) await autosave.stop()
      await this.#turns.idle()
    } finally {
      await this.#store.close()
    }
    this.#turns.throwDeferred()
  }

  // --- in turn ---

  /** A caller's operation, in turn; refused once the saves are closed. */
  #call<T>(op: string, task: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new CairnError('CLOSED', 'the saves are closed', { op }))
    return this.#turns.call(task)
  }

  /** A save in turn, then its slot's pruning in the background. `fromCaller`: a call that throws deferred failures. */
  #saveQueued(
    op: string,
    slot: string,
    world: EncodedWorld,
    tags: readonly string[],
    meta: JsonValue,
    fromCaller: boolean,
  ): Promise<SaveInfo> {
    const task = async (): Promise<SaveInfo> => {
      try {
        const checkpoint = await this.#change(() =>
          this.#store.checkpoint({
            lsn: this.#store.lastLsn,
            entries: { [WORLD_ENTRY[world.format]]: world.bytes },
            tags: [`${SLOT_TAG_PREFIX}${slot}`, ...tags],
            meta: saveMeta(slot, world.format, meta),
          }),
        )
        // Read back from the checkpoint as a reopen reads it: the index is the same either way.
        const record = readRecord(checkpoint)
        assert(record.kind === 'save', 'a save reads back as a save')
        const { entry } = record
        this.#index.addSave(entry)
        return copySave(entry.save)
      } catch (error) {
        throw wrapSlotError(error, slot, 'saving failed', op)
      }
    }
    const saved = fromCaller ? this.#call(op, task) : this.#turns.run(task)
    this.#housekeep(saved, slot, op)
    return saved
  }

  /** After `done` (a save to `slot`, its deletion) succeeds: prune the slot, and compact when due; failures are reported. */
  #housekeep(done: Promise<unknown>, slot: string, op: string): void {
    // Observed now, not when the task runs: `done` may fail well before.
    const succeeded = done.then(
      () => true,
      () => false, // its caller has that error; there is nothing to prune
    )
    this.#turns.background(async () => {
      if (!(await succeeded)) return
      // Pruning's failures name their slots already.
      await this.#prune([slot], false, op)
      const every = this.#options.compactEvery
      if (every === 0 || this.#tombstonesSinceCompact < every) return
      try {
        await this.#compact()
      } catch (error) {
        throw wrapSlotError(error, slot, 'compacting after it was saved failed (its saves are intact)', op)
      }
    })
  }

  async #prune(slots: readonly string[], dryRun: boolean, op: string): Promise<SlotPlan[]> {
    const { plans, tombstoned } = await pruneSlots(
      { store: this.#store, index: this.#index, change: (change) => this.#change(change) },
      slots,
      {
        history: this.#options.history,
        now: new Date(this.#options.clock()),
        timeZone: this.#options.timeZone,
        dryRun,
        op,
      },
    )
    this.#tombstonesSinceCompact += tombstoned
    return plans
  }

  async #compact(): Promise<GcReport> {
    // No grace period: every read of a save runs in turn with this, and none is in progress.
    const report = await this.#change(() => this.#store.gc({ graceMs: 0 }))
    this.#tombstonesSinceCompact = 0
    return report
  }

  /** A change to the store; when it fails, the index is read again before the next operation. */
  async #change<T>(change: () => Promise<T>): Promise<T> {
    try {
      return await change()
    } catch (error) {
      this.#stale = true
      throw error
    }
  }

  async #read(entry: SaveEntry, op: string): Promise<World> {
    const { save } = entry
    try {
      const snapshot = await this.#store.snapshot(save.id)
      return decodeWorld(save.format, await snapshot.read(WORLD_ENTRY[save.format]), save.slot, op)
    } catch (error) {
      throw wrapSlotError(error, save.slot, `loading save ${save.id.slice(0, 8)} failed`, op)
    }
  }
}

/** `meta` as it will read back (a copy), if JSON can hold it exactly; else `BAD_OPTION` naming the slot. */
function checkMeta(meta: JsonValue, slot: string, op: string): JsonValue {
  return JSON.parse(encodeJsonText(meta, slot, op, 'the meta')) as JsonValue
}
