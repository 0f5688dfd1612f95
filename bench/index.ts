/**
 * The bench runner: `npm run bench [-- [--full] [name ...]]`.
 *
 * Runs every bench/*.bench.ts whose name contains one of the given names (all when none is
 * given), one after another. Each exports `run(options: { full: boolean }): Promise<BenchResult>`;
 * the runner prints its tables with the machine and the command that reproduces them, and
 * writes the raw figures to bench/results/<name>.json.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { startCommands } from './commands.js'
import type { BenchFn, BenchOptions, BenchResult, Contention } from './lib.js'
import {
  formatMachine,
  formatTable,
  machineInfo,
  measureContention,
  reproduceCommand,
  resultPath,
} from './lib.js'

const SUFFIX = '.bench.ts'

const USAGE = `usage: npm run bench [-- [--full] [name ...]]

  --full   long figures (minutes); the default is a quick run
  name     run only the benches whose name contains it (e.g. \`wal\`)`

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE)
    return 0
  }
  const unknown = argv.filter((a) => a.startsWith('-') && a !== '--full')
  if (unknown.length > 0) {
    console.error(`unknown option ${unknown.join(' ')}\n\n${USAGE}`)
    return 2
  }
  const options: BenchOptions = { full: argv.includes('--full') }
  // Before anything grows this process: it never forks again (bench/commands.ts says why).
  startCommands()
  const filters = argv.filter((a) => !a.startsWith('-'))

  const all = (await readdir(import.meta.dirname))
    .filter((f) => f.endsWith(SUFFIX))
    .map((f) => f.slice(0, -SUFFIX.length))
    .sort()
  const chosen = filters.length === 0 ? all : all.filter((name) => filters.some((f) => name.includes(f)))
  if (chosen.length === 0) {
    console.error(`no bench matches ${filters.join(', ')}; there are: ${all.join(', ')}`)
    return 2
  }

  let failed = 0
  for (const name of chosen) {
    const started = performance.now()
    console.log(`\n## bench ${name}${options.full ? ' (--full)' : ' (quick; --full for long figures)'}\n`)
    try {
      const mod = (await import(pathToFileURL(join(import.meta.dirname, name + SUFFIX)).href)) as {
        run?: unknown
      }
      if (typeof mod.run !== 'function') throw new Error(`${name}${SUFFIX} does not export run()`)
      const machine = machineInfo()
      const { result, ...contention } = await measureContention(() => (mod.run as BenchFn)(options))
      const seconds = (performance.now() - started) / 1000
      const command = reproduceCommand(name, options)
      console.log(report(result, formatMachine(machine), command, seconds, contention))
      const path = resultPath(name)
      await mkdir(dirname(path), { recursive: true })
      const json = {
        ...result,
        machine,
        command,
        options,
        seconds,
        othersCpuShare: contention.othersShare,
        stolenCpuShare: contention.stolenShare,
      }
      await writeFile(path, JSON.stringify(json, null, 2) + '\n')
      console.log(`\nraw figures: ${path}`)
      await updateBenchmarksDoc(name, markdown(result, formatMachine(machine), command, seconds, contention))
    } catch (error) {
      failed++
      console.error(`bench ${name} failed:`, error)
    }
  }
  return failed === 0 ? 0 : 1
}

/** A share of the machine's CPU as a percentage. */
function shareText(share: number): string {
  return Number.isFinite(share) ? `${(share * 100).toFixed(0)}%` : 'unknown'
}

/** Above this share of the machine, other processes or the host skewed the figures. */
const CONTENDED_SHARE = 0.1

/** One line on who else had the CPU while the bench ran, with a warning when it was contended. */
function contentionText({ othersShare, stolenShare }: Contention): string {
  const line =
    `other processes used ${shareText(othersShare)} of the machine's CPU during this bench, ` +
    `and the VM's host took ${shareText(stolenShare)} of it (steal)`
  return othersShare > CONTENDED_SHARE || stolenShare > CONTENDED_SHARE
    ? `WARNING: ${line}: its figures are contended; rerun on a quiet machine`
    : line
}

function report(
  result: BenchResult,
  machine: string,
  command: string,
  seconds: number,
  contention: Contention,
): string {
  const parts = [
    result.summary,
    `machine: ${machine}`,
    contentionText(contention),
    `reproduce: ${command}   (took ${seconds.toFixed(0)} s)`,
  ]
  for (const table of result.tables) parts.push('', formatTable(table), '', `reproduce: ${command}`)
  if (result.notes.length > 0) parts.push('', 'notes:', ...result.notes.map((n) => `- ${n}`))
  return parts.join('\n')
}

/** A bench's section of docs/BENCHMARKS.md. */
function markdown(
  result: BenchResult,
  machine: string,
  command: string,
  seconds: number,
  contention: Contention,
): string {
  return [
    `## ${result.name}`,
    '',
    result.summary,
    '',
    `- machine: ${machine}`,
    `- ${contentionText(contention)}`,
    `- reproduce: \`${command}\` (took ${seconds.toFixed(0)} s)`,
    ...result.tables.flatMap((table) => ['', formatTable(table)]),
    ...(result.notes.length > 0 ? ['', ...result.notes.map((note) => `- ${note}`)] : []),
  ].join('\n')
}

const DOC = join(import.meta.dirname, '..', 'docs', 'BENCHMARKS.md')
const DOC_HEAD = `# Benchmarks

Written by \`npm run bench\` (each bench rewrites its own section; \`npm run bench -- <name>\` runs one,
\`-- --full\` the long figures). Every figure is measured in the run that printed it, beside the
peer or limit it is compared with (restic and borg where installed, the raw disk and codecs
always); the raw numbers are in \`bench/results/<name>.json\`.
`

/** Replaces (or adds) the section of `name` in docs/BENCHMARKS.md, keeping the others. */
async function updateBenchmarksDoc(name: string, section: string): Promise<void> {
  let doc = DOC_HEAD
  try {
    doc = await readFile(DOC, 'utf8')
  } catch {
    // the first run writes it
  }
  const start = `<!-- bench:${name} -->`
  const end = `<!-- /bench:${name} -->`
  const block = `${start}\n${section}\n${end}`
  const from = doc.indexOf(start)
  const to = doc.indexOf(end)
  doc =
    from >= 0 && to > from
      ? doc.slice(0, from) + block + doc.slice(to + end.length)
      : `${doc.trimEnd()}\n\n${block}\n`
  await writeFile(DOC, doc)
  console.log(`docs/BENCHMARKS.md: section ${name} updated`)
}

process.exitCode = await main(process.argv.slice(2))
