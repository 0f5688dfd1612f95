/**
 * The `cairn` command line: parses the global options and the command's own (node:util
 * parseArgs), runs it, and turns every failure into one line with its code (the stack only with
 * `--verbose`) and an exit code that means something (context.ts, EXIT).
 */
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { CairnError, isCairnError } from '../core/errors.js'
import { filesCommands } from './commands/index.js'
import { Context, EXIT, exitCodeOf, storeDir } from './context.js'

type Options = NonNullable<ParseArgsConfig['options']>

const GLOBAL: Options = {
  dir: { type: 'string', short: 'd' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
}

export interface Command {
  readonly name: string
  readonly usage: string
  readonly summary: string
  readonly options: Options
  run(
    ctx: Context,
    positionals: readonly string[],
    values: Readonly<Record<string, unknown>>,
  ): Promise<number>
}

const GLOBAL_HELP = `global options:
  -d, --dir <path>   the store (default: $CAIRN_DIR, else ./.cairn)
      --json         machine-readable output (one JSON document), no progress bars
  -v, --verbose      a stack trace with errors
  -h, --help         this help, or a command's`

function help(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.usage.length))
  return [
    'cairn: a write-ahead log, checkpoints and a deduplicating chunk store, from a shell',
    '',
    'usage: cairn <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    GLOBAL_HELP,
    '',
    'exit codes: 0 ok, 1 found problems or differences, 2 bad usage, 3 not found, 4 locked,',
    '            5 damaged data, 6 any other failure',
  ].join('\n')
}

function commandHelp(command: Command): string {
  const lines = Object.entries(command.options).map(([name, option]) => {
    const flag = `${option.short === undefined ? '    ' : `-${option.short}, `}--${name}${option.type === 'string' ? ' <value>' : ''}`
    return `  ${flag}${option.multiple === true ? ' (repeatable)' : ''}`
  })
  return [
    `usage: cairn ${command.usage}`,
    '',
    command.summary,
    ...(lines.length > 0 ? ['', 'options:', ...lines] : []),
    '',
    GLOBAL_HELP,
  ].join('\n')
}

/** Runs the command line `argv` (without node and the script); resolves with the exit code. */
export async function main(
  argv: readonly string[],
  io: { readonly out?: NodeJS.WriteStream; readonly err?: NodeJS.WriteStream } = {},
): Promise<number> {
  const out = io.out ?? process.stdout
  const err = io.err ?? process.stderr
  const commands = filesCommands()
  // The command: the first word that is not an option or the value of --dir; two words for
  // "log append" and "log tail".
  const words: { word: string; at: number }[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    if (arg === '--dir' || arg === '-d') i++
    else if (!arg.startsWith('-')) words.push({ word: arg, at: i })
  }
  const name = words[0]?.word
  const twoWords = `${name ?? ''} ${words[1]?.word ?? ''}`
  const command = commands.find((c) => c.name === twoWords) ?? commands.find((c) => c.name === name)
  if (command === undefined) {
    const wantsHelp = argv.length === 0 || argv.includes('--help') || argv.includes('-h')
    if (wantsHelp || name === 'help') {
      out.write(`${help(commands)}\n`)
      return EXIT.ok
    }
    err.write(`cairn: unknown command ${JSON.stringify(name ?? argv[0])}; cairn --help lists them\n`)
    return EXIT.usage
  }
  let verbose = argv.includes('--verbose') || argv.includes('-v')
  try {
    const parsed = parseArgs({
      args: argv.filter((_, i) => i !== words[0]?.at),
      options: { ...GLOBAL, ...command.options },
      allowPositionals: true,
      strict: true,
    })
    const values = parsed.values as Record<string, unknown>
    verbose = values.verbose === true
    if (values.help === true) {
      out.write(`${commandHelp(command)}\n`)
      return EXIT.ok
    }
    const ctx = new Context(
      { dir: storeDir(values.dir as string | undefined), json: values.json === true, verbose },
      out,
    )
    // A subcommand ("log append") takes its second word off the positionals.
    const positionals = command.name.includes(' ') ? parsed.positionals.slice(1) : parsed.positionals
    return await command.run(ctx, positionals, values)
  } catch (error) {
    const json = argv.includes('--json')
    if (isCairnError(error) && json) {
      // Scripts get the error as JSON too (on stderr), beside the exit code.
      const { code, detail, context } = error
      err.write(
        `${JSON.stringify({ error: { code, message: detail, path: context.path ?? null, hint: context.hint ?? null } })}\n`,
      )
      return exitCodeOf(code)
    }
    if (isCairnError(error)) {
      // One line: the code, what happened, and where (the operation and its place with --verbose).
      const place = [
        error.context.path,
        error.context.lsn === undefined ? undefined : `LSN ${String(error.context.lsn)}`,
      ]
        .filter((part) => part !== undefined)
        .join(', ')
      err.write(
        `cairn: ${error.code}: ${error.detail}${place === '' || error.detail.includes(place) ? '' : ` (${place})`}\n`,
      )
      if (error.context.hint !== undefined) err.write(`  hint: ${error.context.hint}\n`)
      if (verbose && error.stack !== undefined) err.write(`${error.stack}\n`)
      return exitCodeOf(error.code)
    }
    const usage = (error as { code?: unknown }).code
    if (typeof usage === 'string' && usage.startsWith('ERR_PARSE_ARGS')) {
      err.write(`cairn: ${(error as Error).message}; cairn ${command.name} --help shows its options\n`)
      return EXIT.usage
    }
    err.write(`cairn: ${error instanceof Error ? error.message : String(error)}\n`)
    if (verbose && error instanceof Error && error.stack !== undefined) err.write(`${error.stack}\n`)
    return EXIT.failed
  }
}

/** A command needing exactly `n` positionals. */
export function needArgs(positionals: readonly string[], n: number, usage: string): void {
  if (positionals.length !== n) throw new CairnError('BAD_OPTION', `usage: cairn ${usage}`, { op: 'cli' })
}
