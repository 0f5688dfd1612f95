/** Every `cairn` command: its usage, its options and what it runs. */
import { CairnError } from '../../core/errors.js'
import type { Command } from '../main.js'
import { needArgs } from '../main.js'
import { restoreCommand, snapshotCommand } from './files.js'
import { diffCommand, lsCommand, showCommand, statsCommand } from './inspect.js'
import { gcCommand, retainCommand, verifyCommand } from './maintain.js'
import { initCommand, logAppendCommand, logTailCommand, npmScript } from './misc.js'

const str = (values: Readonly<Record<string, unknown>>, key: string): string | undefined =>
  typeof values[key] === 'string' ? values[key] : undefined
const strs = (values: Readonly<Record<string, unknown>>, key: string): string[] | undefined =>
  Array.isArray(values[key]) ? (values[key] as string[]) : undefined

const RETAIN_COUNTS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const
const RETAIN_WITHINS = [
  'within',
  'within-hourly',
  'within-daily',
  'within-weekly',
  'within-monthly',
  'within-yearly',
] as const
const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

export function filesCommands(): Command[] {
  return [
    {
      name: 'init',
      usage: 'init',
      summary: 'create a store (readable by its owner only)',
      options: {},
      run: (ctx, args) => {
        needArgs(args, 0, 'init')
        return initCommand(ctx)
      },
    },
    {
      name: 'snapshot',
      usage: 'snapshot <path...>',
      summary: 'checkpoint files and directories (later: a delta of what changed)',
      options: { tag: { type: 'string', multiple: true }, full: { type: 'boolean' } },
      run: (ctx, args, values) =>
        snapshotCommand(ctx, args, { tags: strs(values, 'tag') ?? [], full: values.full === true }),
    },
    {
      name: 'ls',
      usage: 'ls',
      summary: 'list the checkpoints, oldest first',
      options: {},
      run: (ctx, args) => {
        needArgs(args, 0, 'ls')
        return lsCommand(ctx)
      },
    },
    {
      name: 'show',
      usage: 'show <id>',
      summary: 'one checkpoint and its entries (an id prefix, or latest)',
      options: {},
      run: (ctx, args) => {
        needArgs(args, 1, 'show <id>')
        return showCommand(ctx, args[0] ?? '')
      },
    },
    {
      name: 'restore',
      usage: 'restore <id> <dest>',
      summary: 'write a checkpoint out as files, byte-exact, modes and mtimes kept',
      options: { force: { type: 'boolean' } },
      run: (ctx, args, values) => {
        needArgs(args, 2, 'restore <id> <dest>')
        return restoreCommand(ctx, args[0] ?? '', args[1] ?? '', { force: values.force === true })
      },
    },
    {
      name: 'diff',
      usage: 'diff <a> <b>',
      summary: 'entries added (+), removed (-) and changed (M) from a to b; exit 1 if any',
      options: {},
      run: (ctx, args) => {
        needArgs(args, 2, 'diff <a> <b>')
        return diffCommand(ctx, args[0] ?? '', args[1] ?? '')
      },
    },
    {
      name: 'verify',
      usage: 'verify [--read-data]',
      summary: 'check packs, index and checkpoints (and every chunk); exit 1 on a problem',
      options: { 'read-data': { type: 'boolean' } },
      run: (ctx, args, values) => {
        needArgs(args, 0, 'verify [--read-data]')
        return verifyCommand(ctx, { readData: values['read-data'] === true })
      },
    },
    {
      name: 'retain',
      usage: 'retain <policy flags> [--dry-run]',
      summary: "tombstone what the policy does not keep (restic's forget rules), with reasons",
      options: {
        ...Object.fromEntries(RETAIN_COUNTS.map((rule) => [`keep-${rule}`, { type: 'string' as const }])),
        ...Object.fromEntries(RETAIN_WITHINS.map((rule) => [`keep-${rule}`, { type: 'string' as const }])),
        'keep-tag': { type: 'string', multiple: true },
        'keep-best': { type: 'string' },
        pin: { type: 'string', multiple: true },
        'dry-run': { type: 'boolean', short: 'n' },
        'time-zone': { type: 'string' },
      },
      run: (ctx, args, values) => {
        needArgs(args, 0, 'retain <policy flags> [--dry-run]')
        const flags: Record<string, unknown> = {}
        for (const rule of [...RETAIN_COUNTS, ...RETAIN_WITHINS, 'best'])
          if (str(values, `keep-${rule}`) !== undefined)
            flags[camel(`keep-${rule}`)] = str(values, `keep-${rule}`)
        if (strs(values, 'keep-tag') !== undefined) flags.keepTag = strs(values, 'keep-tag')
        if (strs(values, 'pin') !== undefined) flags.pin = strs(values, 'pin')
        const timeZone = str(values, 'time-zone')
        return retainCommand(ctx, flags, {
          dryRun: values['dry-run'] === true,
          ...(timeZone === undefined ? {} : { timeZone }),
        })
      },
    },
    {
      name: 'gc',
      usage: 'gc [--grace 24h]',
      summary: 'delete what no retained checkpoint reaches (tombstoned longer than the grace period)',
      options: { grace: { type: 'string' }, repack: { type: 'string' } },
      run: (ctx, args, values) => {
        needArgs(args, 0, 'gc [--grace 24h]')
        const repack = str(values, 'repack')
        return gcCommand(ctx, {
          grace: str(values, 'grace') ?? '24h',
          ...(repack === undefined ? {} : { repack }),
        })
      },
    },
    {
      name: 'stats',
      usage: 'stats',
      summary: 'logical against stored bytes, the dedup ratio, chain lengths, the log',
      options: {},
      run: (ctx, args) => {
        needArgs(args, 0, 'stats')
        return statsCommand(ctx)
      },
    },
    {
      name: 'log append',
      usage: 'log append <record...|->',
      summary: 'append records to the log (- : one per line of stdin), fsynced before it returns',
      options: {},
      run: (ctx, args) => logAppendCommand(ctx, args),
    },
    {
      name: 'log tail',
      usage: 'log tail [-n 10] [--from LSN]',
      summary: 'the last records of the log (or n from an LSN)',
      options: { lines: { type: 'string', short: 'n' }, from: { type: 'string' } },
      run: (ctx, args, values) => {
        needArgs(args, 0, 'log tail [-n 10] [--from LSN]')
        const count = Number(str(values, 'lines') ?? 10)
        const from = str(values, 'from')
        if (!Number.isInteger(count) || count < 1 || (from !== undefined && !Number.isInteger(Number(from))))
          throw new CairnError('BAD_OPTION', '-n and --from take whole numbers', { op: 'cli.log' })
        return logTailCommand(ctx, { count, ...(from === undefined ? {} : { from: Number(from) }) })
      },
    },
    {
      name: 'bench',
      usage: 'bench [--full] [name...]',
      summary: 'run the benchmarks (from a clone of the repository)',
      options: { full: { type: 'boolean' } },
      run: (_ctx, args, values) =>
        Promise.resolve(npmScript('bench', [...(values.full === true ? ['--full'] : []), ...args])),
    },
    {
      name: 'demo',
      usage: 'demo',
      summary: 'the crash-and-recover demo (from a clone of the repository)',
      options: {},
      run: () => Promise.resolve(npmScript('demo', [])),
    },
  ]
}
