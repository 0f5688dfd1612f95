/**
 * The save-game API: a game's worlds saved to named slots, each slot with a browsable history
 * pruned by a retention policy, autosave on a cadence, over one cairn store.
 *
 * Nouns:
 * - **slot**: a named place a game saves to (`'slot-1'`, `'autosave'`, `'Chapter 3'`), created by
 *   its first save. Its newest save is what `load` returns.
 * - **world**: what is saved: bytes (`Uint8Array`) or a JSON value (world.ts: how each round-trips).
 * - **save**: one world saved to a slot, at a time, with tags and meta: one full checkpoint of the
 *   store, tagged `slot:<name>` (slot-index.ts: the record it carries).
 * - **history**: the saves of a slot that its retention policy keeps (history.ts), newest first.
 * - **autosave**: saves of the world a capture function returns, on a cadence (autosave.ts).
 * - **compaction**: GC of the store: the space of pruned saves and deleted slots freed.
 *
 * ```ts
 * const saves = await openSaves({ dir: './saves' })
 * await saves.save('slot-1', { level: 3, hp: 42 })        // durable when it resolves
 * const world = await saves.load('slot-1')                 // the newest save of the slot
 * for (const save of await saves.history('slot-1')) console.log(save.id, save.savedAt, save.bytes)
 * await saves.close()
 * ```
 */
export { openSaves, SaveGames } from './saves.js'
export type { SaveOptions, SlotInfo } from './saves.js'
export { COMPACT_EVERY_DEFAULT } from './options.js'
export type { SavesOptions } from './options.js'
export { SAVE_HISTORY_DEFAULT } from './history.js'
export type { HistoryPolicy, SlotPlan } from './history.js'
export { Autosave, AUTOSAVE_SLOT_DEFAULT } from './autosave.js'
export type { AutosaveOptions, CaptureWorld } from './autosave.js'
export type { SaveInfo } from './slot-index.js'
export { WORLD_ENTRY } from './world.js'
export type { World, WorldFormat, WorldInput } from './world.js'
export { SLOT_NAME_LENGTH_MAX, SAVE_TAG_LENGTH_MAX } from './errors.js'
