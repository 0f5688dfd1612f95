/**
 * The SIGKILL loops' one harness: a worker process (TypeScript, run through tsx) reports over IPC
 * what it did, the test decides from those messages when to kill it, and the kill is SIGKILL by
 * PID, with no warning, at a moment the worker cannot see coming.
 */
import { fork } from 'node:child_process'

export interface KillOptions {
  /**
   * Hand over messages that arrive after the kill was sent too (they were sent before death). A
   * test whose checks need every message the worker sent (a marker announcing what may have
   * happened) must ask for this: a message can sit unread in the pipe when the kill timer fires.
   */
  readonly deliverAfterKill?: boolean
}

/**
 * Forks `worker` with `args` and hands each message to `onMessage`, with `killAfter(ms)`, which
 * SIGKILLs the worker `ms` later (the first such kill to fire wins). Resolves once the worker died
 * of SIGKILL and its messages are all in; rejects, with its stderr, if it exited by itself first.
 */
// The message type is the caller's word for what its worker sends over IPC (nothing checks it).
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export async function runUntilKilled<M>(
  worker: string,
  args: readonly string[],
  onMessage: (message: M, killAfter: (ms: number) => void) => void,
  options: KillOptions = {},
): Promise<void> {
  const child = fork(worker, [...args], { execArgv: ['--import', 'tsx'], stdio: 'pipe' })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const timers: NodeJS.Timeout[] = []
  let killed = false as boolean // set by a timer
  const killAfter = (ms: number) => {
    timers.push(
      setTimeout(() => {
        if (killed) return
        killed = true
        process.kill(child.pid ?? -1, 'SIGKILL')
      }, ms),
    )
  }
  child.on('message', (message: M) => {
    if (killed && options.deliverAfterKill !== true) return
    onMessage(message, killAfter)
  })
  try {
    // 'close', not 'exit': it comes once the IPC channel has closed too, so every message the
    // worker got into the pipe before it died has been handed over.
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('close', (_code, signal) => {
        resolve(signal)
      }),
    )
    if (!killed || signal !== 'SIGKILL')
      throw new Error(`the worker exited by itself (signal ${String(signal)}): ${stderr}`)
  } finally {
    for (const timer of timers) clearTimeout(timer)
  }
}
