/**
 * `keepEvery` (TensorFlow's `keep_checkpoint_every_n_hours`, also by steps): from the oldest
 * checkpoint on, one is kept for good each time `hours` (or `steps`) have passed since the last
 * one kept that way. Worked out again from the checkpoints left at every save: the ones chosen
 * are never dropped, so the choice never moves.
 */
export interface KeepEvery {
  readonly hours?: number
  readonly steps?: number
}

export interface SavedStep {
  readonly id: string
  readonly step: number
  readonly createdAt: Date
}

export function keptForGood(saved: readonly SavedStep[], every: KeepEvery | undefined): string[] {
  if (every === undefined || (every.hours === undefined && every.steps === undefined)) return []
  const ordered = [...saved].sort((a, b) => a.step - b.step || a.createdAt.getTime() - b.createdAt.getTime())
  const kept: string[] = []
  let last: SavedStep | undefined
  for (const one of ordered) {
    const due =
      last === undefined ||
      (every.hours !== undefined &&
        one.createdAt.getTime() - last.createdAt.getTime() >= every.hours * 3_600_000) ||
      (every.steps !== undefined && one.step - last.step >= every.steps)
    if (due) {
      kept.push(one.id)
      last = one
    }
  }
  return kept
}
