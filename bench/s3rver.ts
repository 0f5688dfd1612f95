/**
 * s3rver (a fake S3 server, a devDependency) in a child process for bench/s3.bench.ts: loopback
 * only, a port the OS picks, a fresh directory under os.tmpdir(), one bucket. The same as
 * test/adapters/s3-server.ts, plus what a bench wants to know: the child's pid (to read its CPU
 * time) and its directory (to measure what it stored).
 *
 * This file is both the parent's helper and the child: forked with CAIRN_BENCH_S3RVER set, it
 * runs the server and reports its port over IPC. It runs under `--openssl-legacy-provider`
 * (s3rver ciphers its ListObjectsV2 continuation tokens with an algorithm OpenSSL 3 keeps in the
 * legacy provider) and exits when its parent disconnects, so a crashed bench leaves no server.
 */
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface S3rver {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string
  readonly bucket: string
  /** Where it keeps the objects (on the disk under os.tmpdir()). */
  readonly directory: string
  readonly pid: number
  /** CPU seconds the server process has used so far (user + system). */
  cpuSeconds(): number
  /** Kills the server and removes its directory. */
  stop(): Promise<void>
}

const CHILD_ENV = 'CAIRN_BENCH_S3RVER'
const START_TIMEOUT_MS = 20_000
const TICKS_PER_SECOND = 100

export async function startS3rver(bucket = 'cairn-bench'): Promise<S3rver> {
  const directory = await mkdtemp(join(tmpdir(), 'cairn-bench-s3rver-'))
  const child = fork(import.meta.filename, [directory, bucket], {
    execArgv: ['--openssl-legacy-provider', '--import', 'tsx'],
    env: { ...process.env, [CHILD_ENV]: '1' },
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
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('s3rver did not start in time'))
      }, START_TIMEOUT_MS)
      child.once('message', (message: { readonly port: number }) => {
        clearTimeout(timer)
        resolve(message.port)
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`s3rver exited with ${String(code)} before listening: ${stderr}`))
      })
    })
    return { endpoint: `http://127.0.0.1:${String(port)}`, bucket, directory, pid, cpuSeconds, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

// ---------------------------------------------------------------------------------------------
// The child
// ---------------------------------------------------------------------------------------------

interface S3rverInstance {
  run(): Promise<AddressInfo>
  close(): Promise<void>
}
type S3rverConstructor = new (options: {
  readonly address: string
  readonly port: number
  readonly directory: string
  readonly silent: boolean
  readonly configureBuckets: readonly { readonly name: string }[]
}) => S3rverInstance

async function runChild(): Promise<void> {
  const [directory, bucket] = process.argv.slice(2)
  const send = process.send?.bind(process)
  if (directory === undefined || bucket === undefined || send === undefined) {
    throw new Error('usage: fork s3rver.ts <directory> <bucket> with an IPC channel')
  }
  const S3rverClass = createRequire(import.meta.url)('s3rver') as S3rverConstructor
  const server = new S3rverClass({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  })
  const address = await server.run()
  send({ port: address.port })
  process.on('disconnect', () => {
    void server.close().finally(() => process.exit(0))
  })
}

if (process.env[CHILD_ENV] === '1' && process.send !== undefined) await runChild()
