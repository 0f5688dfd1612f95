/**
 * Every command a bench runs beside cairn (sync, restic, borg) goes through one helper process,
 * forked once while the bench process is still small: the bench process itself never forks.
 *
 * Why: a fork write-protects every page of the forking process (copy on write) until the child
 * has exec'ed, and the parent then takes a page fault on its first write to each page it had.
 * cairn runs inside the bench process, restic and borg in fresh processes of their own, so a fork
 * before each of their runs (or before a sync) charged cairn's next run alone. Measured
 * (2026-12-06, the chunk-store bench's 72 MB restore after a sync): 117-157 MB/s when sync was
 * spawned from the bench process, 253-396 MB/s when the same sync ran through the helper.
 */
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'

export interface CommandRequest {
  readonly id: number
  readonly file: string
  readonly args: readonly string[]
  readonly cwd?: string
  readonly env?: NodeJS.ProcessEnv
}

export type CommandReply =
  | { readonly id: number; readonly ms: number; readonly stdout: string }
  | { readonly id: number; readonly ms: number; readonly error: string }

let helper: ChildProcess | undefined
let nextId = 0
const waiting = new Map<number, (reply: CommandReply) => void>()

/** Forks the helper now (the bench runner calls this first thing); later calls do nothing. */
export function startCommands(): void {
  if (helper !== undefined) return
  const child = fork(join(import.meta.dirname, 'command-runner.ts'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  child.on('message', (reply: CommandReply) => {
    const resolve = waiting.get(reply.id)
    waiting.delete(reply.id)
    resolve?.(reply)
  })
  child.on('exit', () => {
    helper = undefined
    for (const resolve of waiting.values()) resolve({ id: -1, ms: 0, error: 'the command helper exited' })
    waiting.clear()
  })
  // Idle, it keeps nothing alive: the channel is referenced only while a command runs, and the
  // process handle never is. (With the handle referenced, the bench waited for the helper to exit
  // and the helper for the bench's channel to close: \`npm run bench\` never returned.)
  child.unref()
  child.channel?.unref()
  helper = child
}

/**
 * Runs `file args` to its end in the helper; resolves with its wall time in ms (process start
 * included) and its stdout, rejects when it fails.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { readonly cwd?: string; readonly env?: NodeJS.ProcessEnv } = {},
): Promise<{ ms: number; stdout: string }> {
  startCommands()
  const child = helper as ChildProcess
  const id = nextId++
  return new Promise((resolve, reject) => {
    if (waiting.size === 0) child.channel?.ref()
    waiting.set(id, (reply) => {
      if (waiting.size === 0) child.channel?.unref()
      if ('error' in reply) reject(new Error(`${file} ${args.join(' ')}: ${reply.error}`))
      else resolve({ ms: reply.ms, stdout: reply.stdout })
    })
    const request: CommandRequest = { id, file, args, ...options }
    child.send(request)
  })
}

/**
 * CPU seconds of the helper and the commands it ran (its own and its finished children's, as
 * /proc tells them; 0 where it cannot), counted as the bench's own when contention is measured.
 */
export function commandsCpuSeconds(ticksPerSecond: number): number {
  if (helper?.pid === undefined) return 0
  try {
    const stat = readFileSync(`/proc/${String(helper.pid)}/stat`, 'utf8')
    // utime stime cutime cstime: fields 14-17 of stat, 12-15 of what follows the comm.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return [11, 12, 13, 14].reduce((sum, i) => sum + Number(rest[i]), 0) / ticksPerSecond
  } catch {
    return 0
  }
}

/** True when `file args` runs and exits 0 (a peer tool's `version`). */
export async function commandWorks(file: string, args: readonly string[]): Promise<boolean> {
  try {
    await runCommand(file, args)
    return true
  } catch {
    return false
  }
}

/**
 * Writes every dirty page back (`sync`) before a timed run, so the run does not pay for writes
 * made before it (a store just copied, a peer's repository just written): their writeback would
 * otherwise land in the run's own fsyncs. Where `sync` is missing, nothing is done.
 */
export async function settleDisk(): Promise<void> {
  await runCommand('sync', []).catch(() => undefined)
}
