/**
 * The helper process of bench/commands.ts: runs each command it is sent (sync, restic, borg) to
 * its end and replies with how long it took, so the bench process itself never forks.
 * Started by commands.ts with an IPC channel; exits when the channel closes.
 */
import { execFileSync } from 'node:child_process'
import type { CommandReply, CommandRequest } from './commands.js'

process.on('message', (request: CommandRequest) => {
  const started = performance.now()
  let reply: CommandReply
  try {
    const stdout = execFileSync(request.file, request.args, {
      cwd: request.cwd,
      env: request.env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 64 << 20,
    })
    reply = { id: request.id, ms: performance.now() - started, stdout }
  } catch (error) {
    reply = { id: request.id, ms: performance.now() - started, error: String(error) }
  }
  process.send?.(reply)
})
process.on('disconnect', () => process.exit(0))
