/**
 * Keeping a store healthy: `verify [--read-data]` (exit 1 when it finds a problem, naming the
 * checkpoints affected), `retain <policy flags> [--dry-run]` (a table of kept and dropped with
 * reasons), `gc [--grace 24h]`.
 */
import { CairnError } from '../../core/errors.js'
import { parseDuration } from '../../retention/calendar.js'
import type { RetentionPolicy } from '../../retention/plan.js'
import type { Context } from '../context.js'
import { EXIT, formatBytes, table } from '../context.js'

export async function verifyCommand(ctx: Context, options: { readonly readData: boolean }): Promise<number> {
  const store = await ctx.open({ readOnly: true })
  try {
    const report = await store.verify({ readData: options.readData })
    ctx.result(report, () => [
      `${String(report.checkpointsChecked)} checkpoints, ${String(report.packsChecked)} packs, ${String(report.indexEntriesChecked)} index entries checked${options.readData ? ', every chunk read' : ''}`,
      ...(report.problems.length === 0
        ? ['no problems']
        : report.problems.map(
            (p) =>
              `${p.code} ${p.where}: ${p.message.startsWith(`${p.code}: `) ? p.message.slice(p.code.length + 2) : p.message}${p.checkpoints.length > 0 ? ` (checkpoints ${p.checkpoints.map((id) => id.slice(0, 12)).join(', ')})` : ''}`,
          )),
    ])
    return report.problems.length === 0 ? EXIT.ok : EXIT.found
  } finally {
    await store.close()
  }
}

export interface RetainFlags {
  readonly keepLast?: string
  readonly keepHourly?: string
  readonly keepDaily?: string
  readonly keepWeekly?: string
  readonly keepMonthly?: string
  readonly keepYearly?: string
  readonly keepWithin?: string
  readonly keepWithinHourly?: string
  readonly keepWithinDaily?: string
  readonly keepWithinWeekly?: string
  readonly keepWithinMonthly?: string
  readonly keepWithinYearly?: string
  readonly keepTag?: readonly string[]
  readonly keepBest?: string
  readonly pin?: readonly string[]
}

function countFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  const n = value === 'unlimited' ? -1 : Number(value)
  if (!Number.isInteger(n) || n < -1)
    throw new CairnError('BAD_OPTION', `--${flag} takes a count (or unlimited), got ${value}`, {
      op: 'cli.retain',
    })
  return n
}

/** The policy the flags describe (restic's flag names, kebab-case). */
export function policyOf(flags: RetainFlags): RetentionPolicy {
  const best = flags.keepBest
  let keepBest: RetentionPolicy['keepBest']
  if (best !== undefined) {
    const [metric, mode, n] = best.split(':')
    if (
      metric === undefined ||
      metric === '' ||
      (mode !== 'min' && mode !== 'max') ||
      !Number.isInteger(Number(n))
    )
      throw new CairnError('BAD_OPTION', `--keep-best takes metric:min|max:n, got ${best}`, {
        op: 'cli.retain',
      })
    keepBest = { metric, mode, n: Number(n) }
  }
  const within = (value: string | undefined, flag: string) => {
    if (value !== undefined) parseDuration(value, `--${flag}`)
    return value
  }
  const entries: [keyof RetentionPolicy, unknown][] = [
    ['keepLast', countFlag(flags.keepLast, 'keep-last')],
    ['keepHourly', countFlag(flags.keepHourly, 'keep-hourly')],
    ['keepDaily', countFlag(flags.keepDaily, 'keep-daily')],
    ['keepWeekly', countFlag(flags.keepWeekly, 'keep-weekly')],
    ['keepMonthly', countFlag(flags.keepMonthly, 'keep-monthly')],
    ['keepYearly', countFlag(flags.keepYearly, 'keep-yearly')],
    ['keepWithin', within(flags.keepWithin, 'keep-within')],
    ['keepWithinHourly', within(flags.keepWithinHourly, 'keep-within-hourly')],
    ['keepWithinDaily', within(flags.keepWithinDaily, 'keep-within-daily')],
    ['keepWithinWeekly', within(flags.keepWithinWeekly, 'keep-within-weekly')],
    ['keepWithinMonthly', within(flags.keepWithinMonthly, 'keep-within-monthly')],
    ['keepWithinYearly', within(flags.keepWithinYearly, 'keep-within-yearly')],
    // A tag list is comma-separated (all of them); several --keep-tag are alternatives.
    ['keepTags', flags.keepTag?.map((item) => (item.includes(',') ? item.split(',') : item))],
    ['keepBest', keepBest],
    ['pins', flags.pin],
  ]
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined))
}

export async function retainCommand(
  ctx: Context,
  flags: RetainFlags,
  options: { readonly dryRun: boolean; readonly timeZone?: string },
): Promise<number> {
  const policy = policyOf(flags)
  const store = await ctx.open({ readOnly: options.dryRun })
  try {
    const plan = await store.retain(policy, {
      dryRun: options.dryRun,
      ...(options.timeZone === undefined ? {} : { timeZone: options.timeZone }),
    })
    const entries = [
      ...plan.keep.map((e) => ({ action: 'keep' as const, ...e })),
      ...plan.drop.map((e) => ({ action: 'drop' as const, ...e })),
    ]
    ctx.result(
      {
        dryRun: options.dryRun,
        policy,
        keep: plan.keep.map((e) => ({
          id: e.checkpoint.id,
          createdAt: e.checkpoint.createdAt.toISOString(),
          reasons: e.reasons,
        })),
        drop: plan.drop.map((e) => ({
          id: e.checkpoint.id,
          createdAt: e.checkpoint.createdAt.toISOString(),
        })),
      },
      () => [
        `${options.dryRun ? 'would keep' : 'kept'} ${String(plan.keep.length)}, ${options.dryRun ? 'would drop' : 'dropped'} ${String(plan.drop.length)}${options.dryRun ? ' (dry run: nothing changed)' : ' (tombstoned: gc removes them after its grace period)'}`,
        ...table(
          ['', 'id', 'created', 'kind', 'reasons'],
          entries.map((e) => [
            e.action,
            e.checkpoint.id.slice(0, 12),
            e.checkpoint.createdAt.toISOString().replace('.000Z', 'Z'),
            e.checkpoint.kind,
            e.reasons.join(', '),
          ]),
        ),
      ],
    )
    return EXIT.ok
  } finally {
    await store.close()
  }
}

export async function gcCommand(
  ctx: Context,
  options: { readonly grace: string; readonly repack?: string },
): Promise<number> {
  const d = parseDuration(options.grace, '--grace')
  const graceMs = ((d.years * 365 + d.months * 30 + d.days) * 24 + d.hours) * 3600 * 1000
  const repackDeadShare = options.repack === undefined ? undefined : Number(options.repack)
  const store = await ctx.open()
  try {
    const report = await store.gc({ graceMs, ...(repackDeadShare === undefined ? {} : { repackDeadShare }) })
    ctx.result(report, () => [
      `gc: ${String(report.manifestsDeleted)} checkpoints removed, ${String(report.packsDeleted)} packs deleted, ${String(report.packsRepacked)} repacked, ${formatBytes(report.bytesFreed)} freed`,
      `  ${String(report.chunksLive)} chunks live, ${String(report.chunksDeleted)} deleted, ${(report.durationMs / 1000).toFixed(2)} s`,
    ])
    return EXIT.ok
  } finally {
    await store.close()
  }
}
