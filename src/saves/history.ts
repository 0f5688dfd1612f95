/**
 * A slot's history: which of its saves a retention policy keeps. Pure (no I/O, `now` a parameter).
 *
 * The policy is planned over one slot's saves at a time, with restic's rules (retention/plan.ts),
 * so each slot keeps exactly what the policy says of it, whatever the other slots hold: the plan
 * never sees another slot's saves, and saves are full checkpoints (no chain ties one save to an
 * older one). The planner sees a save's own tags (`keepTags: ['keep']` keeps the saves tagged
 * `keep`), not the slot's tag; the newest save of a slot is always kept.
 */
import { assert } from '../core/assert.js'
import { planRetention } from '../retention/plan.js'
import type { RetentionPlan, RetentionPolicy } from '../retention/plan.js'
import type { CheckpointInfo } from '../snapshot/snapshot.js'
import type { SaveEntry, SaveInfo } from './slot-index.js'

/** A slot's history by default: the last 10 saves, the newest of each of 24 hours, of each of 7 days. */
export const SAVE_HISTORY_DEFAULT: RetentionPolicy = Object.freeze({
  keepLast: 10,
  keepHourly: 24,
  keepDaily: 7,
})

/** The retention policy of every slot, or of each slot by name. */
export type HistoryPolicy = RetentionPolicy | ((slot: string) => RetentionPolicy)

/** What pruning a slot keeps and drops, newest first, with the planner's reasons. */
export interface SlotPlan {
  readonly slot: string
  readonly keep: readonly { readonly save: SaveInfo; readonly reasons: readonly string[] }[]
  readonly drop: readonly { readonly save: SaveInfo; readonly reasons: readonly string[] }[]
}

/** The policy of `slot`. */
export function policyOf(history: HistoryPolicy, slot: string): RetentionPolicy {
  return typeof history === 'function' ? history(slot) : history
}

/**
 * Plans a slot's history: `plan` for the save API to show, `checkpoints` (the plan over the
 * checkpoints themselves) for the store to apply. Throws `BAD_OPTION` for a policy the planner refuses.
 */
export function planSlotHistory(
  slot: string,
  saves: readonly SaveEntry[],
  policy: RetentionPolicy,
  options: { readonly now: Date; readonly timeZone?: string },
): { readonly plan: SlotPlan; readonly checkpoints: RetentionPlan<CheckpointInfo> } {
  // The planner sees each save with its own tags; the plan is mapped back to the checkpoints.
  const byId = new Map(saves.map((entry) => [entry.checkpoint.id, entry]))
  const planned = planRetention(
    saves.map((entry) => ({ ...entry.checkpoint, tags: entry.save.tags })),
    policy,
    options,
  )
  const entryOf = (id: string): SaveEntry => {
    const entry = byId.get(id as CheckpointInfo['id'])
    assert(entry !== undefined, `the plan names a checkpoint it was not given: ${id}`)
    return entry
  }
  const side = (entries: typeof planned.keep) =>
    entries.map(({ checkpoint, reasons }) => ({ entry: entryOf(checkpoint.id), reasons }))
  const keep = side(planned.keep)
  const drop = side(planned.drop)
  return {
    plan: {
      slot,
      keep: keep.map(({ entry, reasons }) => ({ save: entry.save, reasons })),
      drop: drop.map(({ entry, reasons }) => ({ save: entry.save, reasons })),
    },
    checkpoints: {
      keep: keep.map(({ entry, reasons }) => ({ checkpoint: entry.checkpoint, reasons })),
      drop: drop.map(({ entry, reasons }) => ({ checkpoint: entry.checkpoint, reasons })),
    },
  }
}
