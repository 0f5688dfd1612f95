/**
 * Retention planning: which checkpoints a policy keeps, and why. Pure: no I/O, no clock (`now`
 * is a parameter), no machine time zone (`timeZone` is, default UTC).
 *
 * Count and within rules follow restic's `forget` exactly (shared/design/RETENTION.md): newest
 * first in a stable order; each rule keeps the newest checkpoint of each of its buckets until its
 * count runs out, independently of the other rules; the oldest checkpoint is kept while a rule
 * still has slots; `within` rules are measured back from the newest checkpoint that is not in the
 * future, with calendar arithmetic on the plan's time zone (calendar.ts, subtractDuration) and a
 * strict comparison; an all-zero duration is no rule, as in restic; a tag list matches when the
 * checkpoint has all its tags, and the empty tag matches an untagged checkpoint (restic's
 * `--keep-tag ''`). Bucket keys are per rule, so an ISO week never meets a month with the same
 * number. Reasons are spelled as restic prints them (`within 1y1m1d` for `1y1d1m`).
 *
 * Beyond restic: `keepBest` (the n best by a metric, as Lightning's top-k), `pins` (ids kept
 * whatever the rules say), the newest checkpoint is always kept, and a kept delta keeps its whole
 * chain ("base of …"). An empty policy is refused.
 */
import { CairnError } from '../core/errors.js'
import {
  formatDuration,
  isZeroDuration,
  isoWeek,
  parseDuration,
  subtractDuration,
  wallClock,
} from './calendar.js'
import type { Duration } from './calendar.js'

/** What planning needs of a checkpoint (a CheckpointInfo has it all). */
export interface RetainedCheckpoint {
  readonly id: string
  readonly createdAt: Date
  readonly kind: 'full' | 'delta'
  readonly parent?: string
  readonly tags: readonly string[]
  readonly metrics: Readonly<Record<string, number>>
}

export interface RetentionPolicy {
  /** Counts: n > 0 keeps n, 0 is off, -1 is unlimited. */
  readonly keepLast?: number
  readonly keepHourly?: number
  readonly keepDaily?: number
  readonly keepWeekly?: number
  readonly keepMonthly?: number
  readonly keepYearly?: number
  /** Durations like `2y5m7d3h`, back from the newest checkpoint that is not in the future. */
  readonly keepWithin?: string
  readonly keepWithinHourly?: string
  readonly keepWithinDaily?: string
  readonly keepWithinWeekly?: string
  readonly keepWithinMonthly?: string
  readonly keepWithinYearly?: string
  /**
   * Each item a tag or a list of tags: a checkpoint with all tags of any item is kept. The tag `''`
   * matches a checkpoint without tags.
   */
  readonly keepTags?: readonly (string | readonly string[])[]
  /** The `n` best checkpoints by `metric` (`min`: lowest is best). */
  readonly keepBest?: { readonly metric: string; readonly mode: 'min' | 'max'; readonly n: number }
  /** Checkpoint ids kept whatever the rules say. */
  readonly pins?: readonly string[]
}

export interface PlanEntry<C extends RetainedCheckpoint> {
  readonly checkpoint: C
  readonly reasons: string[]
}

export interface RetentionPlan<C extends RetainedCheckpoint> {
  /** Newest first, as restic lists them. */
  readonly keep: PlanEntry<C>[]
  readonly drop: PlanEntry<C>[]
}

/** keepBest modes (checked: a policy may come from JSON). */
const MODES: ReadonlySet<string> = new Set(['min', 'max'])

type Key = (wall: ReturnType<typeof wallClock>, nr: number) => string

const KEYS: Record<'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly', Key> = {
  hourly: (w) => `h:${String(w.year)}-${String(w.month)}-${String(w.day)}T${String(w.hour)}`,
  daily: (w) => `d:${String(w.year)}-${String(w.month)}-${String(w.day)}`,
  weekly: (w) => {
    const { year, week } = isoWeek(w.year, w.month, w.day)
    return `w:${String(year)}-W${String(week)}`
  },
  monthly: (w) => `m:${String(w.year)}-${String(w.month)}`,
  yearly: (w) => `y:${String(w.year)}`,
}

/** restic's HasTags: the checkpoint has every tag of `list`; the tag `''` matches one without tags. */
function hasTags(tags: readonly string[], list: readonly string[]): boolean {
  for (const tag of list) {
    if (tag === '' && tags.length === 0) return true
    if (!tags.includes(tag)) return false
  }
  return true
}

/** A duration option, or undefined if absent or all zero (restic: `Duration.Zero()` means no rule). */
function duration(text: string | undefined, option: string): Duration | undefined {
  if (text === undefined) return undefined
  const d = parseDuration(text, option)
  return isZeroDuration(d) ? undefined : d
}

function count(value: number | undefined, option: string): number {
  if (value === undefined) return 0
  if (!Number.isInteger(value) || value < -1) {
    throw new CairnError(
      'BAD_OPTION',
      `${option} must be a count (n > 0, 0 off, -1 unlimited), got ${String(value)}`,
      {
        op: 'retention.plan',
      },
    )
  }
  return value
}

/** Plans which of `checkpoints` the policy keeps, with every reason, and which it drops. */
export function planRetention<C extends RetainedCheckpoint>(
  checkpoints: readonly C[],
  policy: RetentionPolicy,
  options: { readonly now: Date; readonly timeZone?: string },
): RetentionPlan<C> {
  const timeZone = options.timeZone ?? 'UTC'
  const counts = [
    {
      reason: 'last snapshot',
      left: count(policy.keepLast, 'keepLast'),
      key: ((_, nr) => `l:${String(nr)}`) as Key,
    },
    { reason: 'hourly snapshot', left: count(policy.keepHourly, 'keepHourly'), key: KEYS.hourly },
    { reason: 'daily snapshot', left: count(policy.keepDaily, 'keepDaily'), key: KEYS.daily },
    { reason: 'weekly snapshot', left: count(policy.keepWeekly, 'keepWeekly'), key: KEYS.weekly },
    { reason: 'monthly snapshot', left: count(policy.keepMonthly, 'keepMonthly'), key: KEYS.monthly },
    { reason: 'yearly snapshot', left: count(policy.keepYearly, 'keepYearly'), key: KEYS.yearly },
  ].map((rule) => ({ ...rule, last: undefined as string | undefined }))
  const withinDuration = duration(policy.keepWithin, 'keepWithin')
  const withins = (
    [
      ['hourly', policy.keepWithinHourly],
      ['daily', policy.keepWithinDaily],
      ['weekly', policy.keepWithinWeekly],
      ['monthly', policy.keepWithinMonthly],
      ['yearly', policy.keepWithinYearly],
    ] as const
  )
    .map(([name, text]) => ({ name, d: duration(text, `keepWithin ${name}`) }))
    .filter((rule): rule is { name: keyof typeof KEYS; d: Duration } => rule.d !== undefined)
  const tagLists = (policy.keepTags ?? []).map((item) => (typeof item === 'string' ? [item] : [...item]))
  const pins = new Set(policy.pins ?? [])
  const best = policy.keepBest
  if (best !== undefined && (!Number.isInteger(best.n) || best.n < 1 || !MODES.has(best.mode))) {
    throw new CairnError('BAD_OPTION', 'keepBest needs a metric, mode min or max, and n >= 1', {
      op: 'retention.plan',
    })
  }
  const empty =
    counts.every((rule) => rule.left === 0) &&
    withinDuration === undefined &&
    withins.length === 0 &&
    tagLists.length === 0 &&
    best === undefined &&
    pins.size === 0
  if (empty)
    throw new CairnError(
      'BAD_OPTION',
      'an empty retention policy would keep nothing: name at least one rule',
      { op: 'retention.plan' },
    )

  const ids = new Set<string>()
  for (const { id } of checkpoints) {
    if (ids.has(id))
      throw new CairnError('BAD_OPTION', `checkpoint ${id} is listed twice`, { op: 'retention.plan' })
    ids.add(id)
  }
  // Newest first, stable: equal times keep their input order.
  const sorted = checkpoints
    .map((checkpoint, index) => ({ checkpoint, index }))
    .sort((a, b) => b.checkpoint.createdAt.getTime() - a.checkpoint.createdAt.getTime() || a.index - b.index)
  const now = options.now.getTime()
  // The newest checkpoint not in the future: what `within` counts back from.
  const latest =
    sorted.find(({ checkpoint }) => checkpoint.createdAt.getTime() < now)?.checkpoint.createdAt ?? new Date(0)
  // restic's `latest.AddDate(-y, -m, -d).Add(-h)`, once per rule. Beyond a Date's range (300000y)
  // Go still has a time, earlier than every checkpoint: everything is within.
  const cutoff = (d: Duration) => {
    const time = subtractDuration(latest, d, timeZone).getTime()
    return Number.isNaN(time) ? -Infinity : time
  }
  const within =
    withinDuration === undefined
      ? undefined
      : { reason: `within ${formatDuration(withinDuration)}`, cutoff: cutoff(withinDuration) }
  const withinBuckets = withins.map(({ name, d }) => ({
    reason: `${name} within ${formatDuration(d)}`,
    cutoff: cutoff(d),
    key: KEYS[name],
    last: undefined as string | undefined,
  }))
  const bestIds = new Map<string, string>()
  if (best !== undefined) {
    const ranked = checkpoints
      .filter((c) => Number.isFinite(c.metrics[best.metric]))
      .sort(
        (a, b) =>
          ((a.metrics[best.metric] ?? 0) - (b.metrics[best.metric] ?? 0)) * (best.mode === 'min' ? 1 : -1),
      )
    for (const c of ranked.slice(0, best.n))
      bestIds.set(c.id, `best ${best.metric} (${String(c.metrics[best.metric])})`)
  }

  const reasonsById = new Map<string, string[]>()
  for (const [nr, { checkpoint }] of sorted.entries()) {
    const reasons: string[] = []
    const time = checkpoint.createdAt.getTime()
    const oldest = nr === sorted.length - 1
    const wall = wallClock(checkpoint.createdAt, timeZone)
    if (nr === 0) reasons.push('newest')
    if (pins.has(checkpoint.id)) reasons.push('pinned')
    for (const list of tagLists) {
      if (hasTags(checkpoint.tags, list)) reasons.push(`has tags [${list.join(', ')}]`)
    }
    const bestReason = bestIds.get(checkpoint.id)
    if (bestReason !== undefined) reasons.push(bestReason)
    if (within !== undefined && time > within.cutoff) reasons.push(within.reason)
    for (const rule of counts) {
      if (rule.left === 0) continue
      const key = rule.key(wall, nr)
      if (key !== rule.last || oldest) {
        reasons.push(key === rule.last ? `oldest ${rule.reason}` : rule.reason)
        rule.last = key
        if (rule.left > 0) rule.left--
      }
    }
    for (const rule of withinBuckets) {
      if (!(time > rule.cutoff)) continue
      const key = rule.key(wall, nr)
      if (key !== rule.last || oldest) {
        reasons.push(`${key === rule.last ? 'oldest ' : ''}${rule.reason}`)
        rule.last = key
      }
    }
    reasonsById.set(checkpoint.id, reasons)
  }

  // A kept delta keeps its chain: every ancestor present in the list, "base of" the nearest kept
  // descendant. The walk stops at an ancestor kept already (its own walk covers the rest) and at
  // one it has seen, so a parent cycle in damaged metadata cannot hang it.
  const byId = new Map(checkpoints.map((c) => [c.id, c]))
  for (const { checkpoint } of sorted) {
    if ((reasonsById.get(checkpoint.id) ?? []).length === 0) continue
    const reason = `base of ${checkpoint.id.slice(0, 8)}`
    const seen = new Set([checkpoint.id])
    for (let parent = checkpoint.parent; parent !== undefined; parent = byId.get(parent)?.parent) {
      const reasons = reasonsById.get(parent)
      if (reasons === undefined || reasons.length > 0 || seen.has(parent)) break
      seen.add(parent)
      reasons.push(reason)
    }
  }

  const plan: RetentionPlan<C> = { keep: [], drop: [] }
  for (const { checkpoint } of sorted) {
    const reasons = reasonsById.get(checkpoint.id) ?? []
    ;(reasons.length > 0 ? plan.keep : plan.drop).push({ checkpoint, reasons })
  }
  return plan
}

/** A plan as a dry run prints it: one line per checkpoint, newest first. */
export function formatPlan<C extends RetainedCheckpoint>(plan: RetentionPlan<C>): string {
  const line = (verb: string, { checkpoint, reasons }: PlanEntry<C>) =>
    `${verb} ${checkpoint.id.slice(0, 8)} ${checkpoint.createdAt.toISOString()} ${checkpoint.kind}${reasons.length > 0 ? `  ${reasons.join(', ')}` : ''}`
  return [
    `keep ${String(plan.keep.length)}, drop ${String(plan.drop.length)}`,
    ...plan.keep.map((entry) => line('keep', entry)),
    ...plan.drop.map((entry) => line('drop', entry)),
  ].join('\n')
}
