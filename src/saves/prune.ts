/**
 * Pruning, applied: each slot's history planned by its policy (history.ts, pure), then the saves
 * it drops tombstoned in the store, with the saves of deleted slots; then the deletion markers
 * that nothing needs any more. Tombstones are soft deletes (store.applyRetention): the saves
 * leave `checkpoints()`, and compaction (store.gc) frees their space later.
 *
 * Order, for crash safety: a slot's newest save is never dropped (the planner keeps the newest of
 * the list it is given, and a deleted slot's saves are older than its marker); a marker goes only
 * after every save it deleted is tombstoned, in a later call (a marker gone first would bring
 * them back). A crash between any two tombstones leaves saves that are dropped already or not
 * yet, and the next prune finishes.
 */
import type { CheckpointInfo } from '../snapshot/snapshot.js'
import type { Store } from '../store.js'
import { wrapSlotError } from './errors.js'
import { planSlotHistory, policyOf } from './history.js'
import type { HistoryPolicy, SlotPlan } from './history.js'
import type { SlotIndex } from './slot-index.js'

/** What pruning works on: the store, the index of its slots, and how a change to the store is made. */
export interface PruneTarget {
  readonly store: Store
  readonly index: SlotIndex
  /** Makes a change to the store (the saves note failures there: the index may be stale). */
  change<T>(change: () => Promise<T>): Promise<T>
}

export interface PruneOptions {
  readonly history: HistoryPolicy
  readonly now: Date
  readonly timeZone: string
  readonly dryRun: boolean
  readonly op: string
}

/** A checkpoint to tombstone, with the slot it belongs to (its save's, or its deletion's). */
interface Doomed {
  readonly checkpoint: CheckpointInfo
  readonly slot: string
  readonly reasons: readonly string[]
}

/**
 * Prunes `slots` (and finishes deleting deleted slots, unless `dryRun`): returns each slot's plan
 * and how many checkpoints were tombstoned. Failures name their slots, with the store's code.
 */
export async function pruneSlots(
  target: PruneTarget,
  slots: readonly string[],
  options: PruneOptions,
): Promise<{ readonly plans: SlotPlan[]; readonly tombstoned: number }> {
  const { index } = target
  const { op } = options
  const plans: SlotPlan[] = []
  const drop: Doomed[] = []
  for (const slot of slots) {
    const saves = index.saves(slot)
    if (saves.length === 0) continue
    try {
      const planned = planSlotHistory(slot, saves, policyOf(options.history, slot), options)
      plans.push(planned.plan)
      drop.push(...planned.checkpoints.drop.map((entry) => ({ ...entry, slot })))
    } catch (error) {
      throw wrapSlotError(error, slot, 'its history policy', op)
    }
  }
  if (options.dryRun) return { plans, tombstoned: 0 }
  const doomed = index
    .doomed()
    .map(({ checkpoint, save }) => ({ checkpoint, slot: save.slot, reasons: ['slot deleted'] }))
  const saves = [...drop, ...doomed]
  await tombstone(target, saves, op)
  index.removeSaves(new Set(saves.map((entry) => entry.checkpoint.id)))
  const markers = index.droppableMarkers().map((marker) => ({ ...marker, reasons: ['slot deletion done'] }))
  await tombstone(target, markers, op)
  index.removeMarkers(new Set(markers.map(({ checkpoint }) => checkpoint.id)))
  return { plans, tombstoned: saves.length + markers.length }
}

/** Tombstones `drop` (the store refuses the newest checkpoint, or a base a kept one stands on). */
async function tombstone(target: PruneTarget, drop: readonly Doomed[], op: string): Promise<void> {
  if (drop.length === 0) return
  try {
    await target.change(() =>
      target.store.applyRetention({
        keep: [],
        drop: drop.map(({ checkpoint, reasons }) => ({ checkpoint, reasons: [...reasons] })),
      }),
    )
  } catch (error) {
    const slots = [...new Set(drop.map((entry) => entry.slot))].sort()
    throw wrapSlotError(error, slots, 'pruning failed (the newest save of every slot is intact)', op)
  }
}
