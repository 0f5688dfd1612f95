/**
 * Helpers shared by the benches: the result shape, timing samples and percentiles, medians of
 * repetitions, fresh temp dirs on the real disk, table printing and the facts of the machine.
 *
 * A figure only counts as a ratio against a peer or a physical limit measured in the same run
 * (see shared/design/BENCHMARKS.md): every bench prints the command that reproduces it and keeps
 * its raw figures in bench/results/<name>.json.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { commandsCpuSeconds } from './commands.js'

export interface BenchOptions {
  /** Long figures (`--full`); the default is a quick run. */
  readonly full: boolean
}

export interface Table {
  readonly title: string
  readonly headers: readonly string[]
  readonly rows: readonly (readonly string[])[]
}

export interface BenchResult {
  readonly name: string
  /** Printed before the tables. */
  readonly summary: string
  readonly tables: readonly Table[]
  /** Printed after the tables: caveats, what each peer is, how a ratio is formed. */
  readonly notes: readonly string[]
  /** Everything measured, as numbers, for bench/results/<name>.json. */
  readonly raw: unknown
}

export type BenchFn = (options: BenchOptions) => Promise<BenchResult>

// ---------------------------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------------------------

/** Milliseconds with sub-microsecond resolution. */
export const now = (): number => performance.now()

/** A growable list of durations in milliseconds, kept in typed arrays so recording does not allocate per sample. */
export class Samples {
  private chunks: Float64Array[] = []
  private current = new Float64Array(1 << 14)
  private used = 0

  push(ms: number): void {
    if (this.used === this.current.length) {
      this.chunks.push(this.current)
      this.current = new Float64Array(this.current.length * 2)
      this.used = 0
    }
    this.current[this.used++] = ms
  }

  get count(): number {
    let n = this.used
    for (const chunk of this.chunks) n += chunk.length
    return n
  }

  /** The samples, sorted ascending. */
  sorted(): Float64Array {
    const out = new Float64Array(this.count)
    let offset = 0
    for (const chunk of this.chunks) {
      out.set(chunk, offset)
      offset += chunk.length
    }
    out.set(this.current.subarray(0, this.used), offset)
    return out.sort()
  }
}

/** The p-th percentile (0..100) of ascending `sorted`, nearest-rank; NaN when empty. */
export function percentile(sorted: Float64Array | readonly number[], p: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  const rank = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))
  return sorted[rank]!
}

/** The median of `values` (the mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** p50 and p99 of a sample set, in microseconds. */
export function latencyUs(samples: Samples): { p50: number; p99: number; count: number } {
  const sorted = samples.sorted()
  return { p50: percentile(sorted, 50) * 1000, p99: percentile(sorted, 99) * 1000, count: sorted.length }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/** Runs `body` in a fresh directory under os.tmpdir() (the real disk here) and removes it after. */
export async function withTempDir<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `cairn-bench-${prefix}-`))
  try {
    return await body(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Bytes of every file under `dir` (a repository's size on disk, as `du --apparent-size`). */
export function dirBytes(dir: string): number {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size
  }
  return total
}

/** bench/results/<name>.json, relative to this file. */
export function resultPath(name: string): string {
  return resolve(import.meta.dirname, 'results', `${name}.json`)
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/** A number with thousands separators and `digits` decimals. */
export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return '-'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** A ratio such as `0.93×`. */
export function fmtRatio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : '-'
}

/** `PASS` or `MISS` against a lower bound, with the bound. */
export function verdict(value: number, atLeast: number): string {
  return `${Number.isFinite(value) && value >= atLeast ? 'PASS' : 'MISS'} (≥ ${atLeast})`
}

/** A table with a title line, right-aligned numeric columns and left-aligned text columns. */
export function formatTable(table: Table): string {
  const { headers, rows } = table
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const numeric = headers.map((_, i) => rows.every((r) => /^[-\d.,×%µ ]*$/.test(r[i] ?? '')))
  const line = (cells: readonly string[]): string =>
    '| ' +
    widths
      .map((w, i) => {
        const cell = cells[i] ?? ''
        return numeric[i] === true ? cell.padStart(w) : cell.padEnd(w)
      })
      .join(' | ') +
    ' |'
  const rule =
    '|' +
    widths.map((w, i) => (numeric[i] === true ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') +
    '|'
  return [`### ${table.title}`, '', line(headers), rule, ...rows.map(line)].join('\n')
}

// ---------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------

export interface MachineInfo {
  readonly date: string
  readonly cpu: string
  readonly cores: number
  readonly memoryGiB: number
  readonly kernel: string
  readonly node: string
  readonly tmpdir: string
  /** The filesystem and device under os.tmpdir(), from /proc/mounts (Linux only). */
  readonly tmpdirMount: string
  readonly commit: string
  /** The 1, 5 and 15 minute load averages when the bench started. */
  readonly loadAverage: readonly number[]
}

/** What a figure was measured on. */
export function machineInfo(): MachineInfo {
  const cpuList = cpus()
  return {
    date: new Date().toISOString(),
    cpu: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: `${process.platform} ${release()}`,
    node: process.version,
    tmpdir: tmpdir(),
    tmpdirMount: mountOf(tmpdir()),
    commit: gitCommit(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
  }
}

/**
 * CPU seconds used so far: by user and system code machine-wide, by kernel threads, by this
 * process, and taken from this virtual machine by its host (steal).
 */
interface CpuSnapshot {
  readonly at: number
  readonly machineBusy: number
  readonly stolen: number
  readonly kernelThreads: number
  readonly own: number
}

// /proc counts in USER_HZ, 100 per second on Linux.
const TICKS_PER_SECOND = 100

function cpuSnapshot(): CpuSnapshot {
  let machineBusy = Number.NaN
  let stolen = Number.NaN
  let kernelThreads = 0
  try {
    // cpu  user nice system idle iowait irq softirq steal ...: interrupts are left out, like the
    // kernel threads below: that is the disk work this process's own fdatasyncs cause.
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const [user = 0, nice = 0, system = 0, , , , , steal = 0] = fields
    machineBusy = (user + nice + system) / TICKS_PER_SECOND
    stolen = steal / TICKS_PER_SECOND
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        // pid (comm) state ppid ... utime stime: fields 14 and 15; comm may hold spaces.
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        if (pid !== '2' && rest[1] !== '2') continue // only kthreadd and its children
        kernelThreads += (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND
      } catch {
        // the process ended meanwhile
      }
    }
  } catch {
    // not Linux: unknown
  }
  const usage = process.cpuUsage()
  return {
    at: performance.now(),
    machineBusy,
    stolen,
    kernelThreads,
    own: (usage.user + usage.system) / 1e6 + childrenCpu(),
  }
}

/**
 * CPU seconds of this process's children: those finished (cutime, cstime), and the command helper
 * with the peers it runs (restic, borg; bench/commands.ts).
 */
function childrenCpu(): number {
  const helper = commandsCpuSeconds(TICKS_PER_SECOND)
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // cutime and cstime: fields 16 and 17 of stat, 14 and 15 of what follows the comm.
    return (Number(rest[13]) + Number(rest[14])) / TICKS_PER_SECOND + helper
  } catch {
    return helper
  }
}

/** How much of the machine a bench did not have to itself, each as a share of all cores. */
export interface Contention {
  /** CPU other user processes used (not this one's children). */
  readonly othersShare: number
  /** CPU the host of this virtual machine took from it (steal): the figures ran slower by it. */
  readonly stolenShare: number
}

/**
 * How busy the rest of the machine was while `body` ran: the CPU seconds that other user
 * processes (not this one's children) used (short-lived ones included; kernel threads and
 * interrupts, which mostly do this process's own I/O, left out), and the CPU seconds the
 * hypervisor stole, each as a share of all cores. A share above ~0.1 means another job competed
 * for the CPU and the figures are less trustworthy.
 */
export async function measureContention<T>(body: () => Promise<T>): Promise<{ result: T } & Contention> {
  const before = cpuSnapshot()
  const result = await body()
  const after = cpuSnapshot()
  const capacity = ((after.at - before.at) / 1000) * cpus().length
  const others =
    after.machineBusy -
    before.machineBusy -
    (after.kernelThreads - before.kernelThreads) -
    (after.own - before.own)
  return {
    result,
    othersShare: Math.max(0, others / capacity),
    stolenShare: Math.max(0, (after.stolen - before.stolen) / capacity),
  }
}

function mountOf(path: string): string {
  try {
    let best: string[] = []
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const fields = line.split(' ')
      const point = fields[1]
      if (point === undefined) continue
      const inside = point === '/' || path === point || path.startsWith(point + '/')
      if (inside && point.length >= (best[1]?.length ?? 0)) best = fields
    }
    return best.length > 0 ? `${best[2] ?? '?'} on ${best[0] ?? '?'} at ${best[1] ?? '?'}` : 'unknown'
  } catch {
    return 'unknown'
  }
}

function gitCommit(): string {
  try {
    const cwd = resolve(import.meta.dirname, '..')
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd, encoding: 'utf8' }).trim() !== ''
    return dirty ? `${head} (with uncommitted changes)` : head
  } catch {
    return 'unknown'
  }
}

/** One line describing the machine. */
export function formatMachine(info: MachineInfo): string {
  return (
    `${info.date} · ${info.cpu} × ${info.cores} · ${info.memoryGiB} GiB · ${info.kernel} · ` +
    `node ${info.node} · tmpdir ${info.tmpdir} (${info.tmpdirMount}) · commit ${info.commit} · ` +
    `load average at start ${info.loadAverage.join(' ')}`
  )
}

/** The command that reproduces a bench's figures. */
export function reproduceCommand(name: string, options: BenchOptions): string {
  return `npm run bench -- ${name}${options.full ? ' --full' : ''}`
}

/**
 * This process's peak resident set, in bytes: VmHWM from /proc/self/status where there is one.
 * Not `process.resourceUsage().maxRSS`: Linux keeps that across execve, so a child would report
 * its parent's peak if that was higher (the bench parent holds whole histories in memory).
 */
export function peakRssBytes(): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    if (match?.[1] !== undefined) return Number(match[1]) * 1024
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024
}
