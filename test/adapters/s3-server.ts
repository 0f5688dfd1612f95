/**
 * Starts s3rver (a fake S3 server) in a child process for the S3 tests and the S3 bench:
 * loopback only, a port the OS picks, a fresh temporary directory, one bucket. `stop()` kills the
 * child and removes the directory. Nothing needs to be started by hand.
 */
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { S3ServerReady } from './s3-server-child.js'

export interface S3Server {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string
  readonly bucket: string
  /** Where it keeps the objects (under os.tmpdir()). */
  readonly directory: string
  readonly pid: number
  /** The server process's CPU time so far (user + system, from /proc; NaN elsewhere). */
  cpuSeconds(): number
  stop(): Promise<void>
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times. */
const TICKS_PER_SECOND = 100

const CHILD = join(import.meta.dirname, 's3-server-child.ts')
const START_TIMEOUT_MS = 20_000

export async function startS3Server(bucket = 'cairn-test'): Promise<S3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'cairn-s3rver-'))
  const child = fork(CHILD, [directory, bucket], {
    execArgv: ['--openssl-legacy-provider', '--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve()
    }),
  )
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    await rm(directory, { recursive: true, force: true })
  }
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('s3rver did not start in time'))
      }, START_TIMEOUT_MS)
      child.once('message', (message: S3ServerReady) => {
        clearTimeout(timer)
        resolve(message.port)
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`s3rver exited with ${String(code)} before listening: ${stderr}`))
      })
    })
    const pid = child.pid ?? -1
    const cpuSeconds = (): number => {
      try {
        const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8')
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        return (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND
      } catch {
        return Number.NaN // not Linux, or the server is gone
      }
    }
    return { endpoint: `http://127.0.0.1:${String(port)}`, bucket, directory, pid, cpuSeconds, stop }
  } catch (error) {
    await stop()
    throw error
  }
}
