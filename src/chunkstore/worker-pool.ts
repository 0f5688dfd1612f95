/**
 * The pool of worker threads that does a `ChunkWork`'s jobs (chunk-work.ts says what they are;
 * chunk-worker.ts is the thread's side): each job goes to a loaded thread with the fewest in hand,
 * and runs on the calling thread while none has loaded.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { CairnError } from '../core/errors.js'
import { inlineChunkWork, storedChunks } from './chunk-work.js'
import type { ChunkWork, WorkReply, WorkRequest } from './chunk-work.js'
import { isCodec } from './codec.js'

/** A request before the pool numbers it. */
type WorkOrder = WorkRequest extends infer R ? (R extends WorkRequest ? Omit<R, 'job'> : never) : never

/** `bytes`'s buffer, to hand over rather than copy, when it is a buffer of its own (a read's, from the store). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer[] {
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
  return own && bytes.buffer instanceof ArrayBuffer ? [bytes.buffer] : []
}

interface Pending {
  readonly resolve: (reply: WorkReply) => void
  readonly reject: (error: unknown) => void
}

interface PoolWorker {
  readonly worker: Worker
  readonly pending: Map<number, Pending>
  /** True once it has loaded and said so: a worker that never did is not restarted. */
  ready: boolean
}

/** A pool of worker threads. */
export interface PoolChunkWork extends ChunkWork {
  /** Threads started so far (0 until the first cut, encode, decode or `ready`). */
  readonly threadsStarted: number
}

/**
 * The node flags for a worker: inherited as they are (undefined), unless the host runs with
 * `--input-type` (node refuses it for a worker, which is a file: a host started with
 * `node --input-type=module -e ...` would lose its pool); then the same flags without it. Passing
 * flags explicitly makes node check each one for workers, so it is done only then.
 */
export function workerExecArgv(argv: readonly string[] = process.execArgv): string[] | undefined {
  if (!argv.some((arg) => arg === '--input-type' || arg.startsWith('--input-type='))) return undefined
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    if (arg === '--input-type') i++
    else if (!arg.startsWith('--input-type=')) out.push(arg)
  }
  return out
}

/**
 * The worker module: the compiled `.js` beside this one, or, when cairn runs from its TypeScript
 * source (tests, benchmarks), the `.ts` source loaded through tsx's register hook.
 */
function spawnWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    const url = new URL('./chunk-worker.js', import.meta.url)
    const execArgv = workerExecArgv()
    if (execArgv === undefined) return new Worker(url)
    try {
      return new Worker(url, { execArgv })
    } catch (error) {
      // Some of the host's flags are process-wide (--max-old-space-size): a worker gets none.
      if ((error as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error
      return new Worker(url, { execArgv: [] })
    }
  }
  const source = JSON.stringify(new URL('./chunk-worker.ts', import.meta.url).href)
  // tsx's ESM api (its `import` export of `tsx/esm/api`), found from cairn's own folder.
  const tsxRoot = dirname(createRequire(import.meta.url).resolve('tsx/package.json'))
  const api = JSON.stringify(pathToFileURL(join(tsxRoot, 'dist/esm/api/index.mjs')).href)
  const boot = `import(${api}).then(({ register }) => { register(); return import(${source}) })`
  return new Worker(boot, { eval: true })
}

/**
 * A pool of `threads` worker threads; a job goes to the ready one with the fewest in hand.
 *
 * The threads start with the first cut, encode or decode, not before: a worker takes ~0.1-0.5 s
 * and a core's worth of CPU to load, which a process that only collects garbage or writes small
 * entries would pay for nothing (measured: a retain + GC in a fresh process took 671 ms with two
 * workers loading beside it, 543 ms with none). Until a thread has loaded, jobs run on the
 * calling thread, so nothing waits for the pool. Checks (GC's repack) never start it: they use
 * the threads only when they are already running.
 */
export function workerChunkWork(threads: number, spawn: () => Worker = spawnWorker): PoolChunkWork {
  const inline = inlineChunkWork()
  const workers: PoolWorker[] = []
  let started = false
  let nextJob = 0
  let closed = false
  /** Set when a worker fails before it ever loaded: the pool cannot start, so it stops. */
  let broken: Error | undefined
  /** Waiting for every thread to load (`ready()`). */
  const waiting = new Set<{ readonly resolve: () => void; readonly reject: (error: unknown) => void }>()
  const settleWaiting = () => {
    if (broken !== undefined) for (const w of waiting) w.reject(broken)
    else if (workers.length > 0 && workers.every((w) => w.ready)) for (const w of waiting) w.resolve()
    else return
    waiting.clear()
  }

  /** A worker died: its jobs fail; a worker that had loaded is replaced. */
  const fail = (member: PoolWorker, error: unknown) => {
    const index = workers.indexOf(member)
    if (index < 0) return
    workers.splice(index, 1)
    const failure = new CairnError('IO', 'a chunk worker thread failed', { op: 'chunk.work', cause: error })
    for (const pending of member.pending.values()) pending.reject(failure)
    member.pending.clear()
    void member.worker.terminate()
    if (closed) return
    if (member.ready) {
      try {
        workers.push(start())
      } catch (spawnError) {
        // No replacement can be made: what threads are left work on, the last one's death stops the pool.
        if (workers.length === 0)
          broken ??= new CairnError('IO', 'a chunk worker thread could not start', {
            op: 'chunk.work',
            cause: spawnError,
          })
      }
    } else broken ??= failure
    settleWaiting()
  }

  const start = (): PoolWorker => {
    const member: PoolWorker = { worker: spawn(), pending: new Map(), ready: false }
    member.worker.unref()
    member.worker.on('message', (reply: WorkReply) => {
      if ('ready' in reply) {
        member.ready = true
        settleWaiting()
        return
      }
      const pending = member.pending.get(reply.job)
      if (pending === undefined) return
      member.pending.delete(reply.job)
      if (member.pending.size === 0) member.worker.unref()
      pending.resolve(reply)
    })
    member.worker.on('error', (error) => {
      fail(member, error)
    })
    member.worker.on('exit', (code) => {
      fail(member, new Error(`exited with code ${String(code)}`))
    })
    return member
  }

  const ensureStarted = () => {
    if (started || closed) return
    started = true
    try {
      for (let i = 0; i < threads; i++) workers.push(start())
    } catch (error) {
      // A thread that cannot even be created: the pool cannot start (review found the jobs
      // after the first quietly running on the calling thread, and ready() never settling).
      broken ??= new CairnError('IO', 'a chunk worker thread could not start', {
        op: 'chunk.work',
        cause: error,
      })
      for (const member of workers.splice(0)) void member.worker.terminate()
      settleWaiting()
    }
  }

  /** A loaded thread to give a job to (the one with the fewest in hand), or undefined. */
  const pick = (): PoolWorker | undefined => {
    let member: PoolWorker | undefined
    for (const w of workers)
      if (w.ready && (member === undefined || w.pending.size < member.pending.size)) member = w
    return member
  }

  const refuse = (): Promise<never> | undefined => {
    if (closed)
      return Promise.reject(new CairnError('CLOSED', 'the chunk worker pool is closed', { op: 'chunk.work' }))
    if (broken !== undefined) return Promise.reject(broken)
    return undefined
  }

  const run = (member: PoolWorker, request: WorkOrder, transfer: ArrayBuffer[] = []): Promise<WorkReply> => {
    const job = nextJob++
    return new Promise<WorkReply>((resolve, reject) => {
      if (member.pending.size === 0) member.worker.ref()
      member.pending.set(job, { resolve, reject })
      member.worker.postMessage({ ...request, job }, transfer)
    }).then((reply) => {
      if ('error' in reply) {
        // A CairnError crosses the thread as its code and context, and is thrown again here.
        if (reply.code !== undefined && reply.context !== undefined)
          throw new CairnError(reply.code, reply.error, reply.context)
        throw new CairnError('IO', `chunk worker: ${reply.error}`, { op: 'chunk.work' })
      }
      return reply
    })
  }

  return {
    shared: true,
    get threadsStarted() {
      return workers.length
    },
    async cut(span, params) {
      ensureStarted()
      const member = pick()
      if (member === undefined) return refuse() ?? inline.cut(span, params)
      const reply = await run(member, { op: 'cut', span, params })
      if (!('cuts' in reply))
        throw new CairnError('IO', 'chunk worker: no cuts in reply', { op: 'chunk.work' })
      return reply.cuts
    },
    async encode(bytes, ranges, compression) {
      ensureStarted()
      const member = pick()
      if (member === undefined) return refuse() ?? inline.encode(bytes, ranges, compression)
      const reply = await run(member, { op: 'encode', bytes, ranges, compression })
      if (!('encoded' in reply))
        throw new CairnError('IO', 'chunk worker: nothing encoded in reply', { op: 'chunk.work' })
      if (!reply.encoded.codecs.every(isCodec))
        throw new CairnError('IO', 'chunk worker: bad codec', { op: 'chunk.work' })
      return storedChunks(reply.encoded)
    },
    async check(bytes, entries, base) {
      // Never starts the threads (see above): checks are GC's, short next to their loading.
      const member = pick()
      if (member === undefined) return refuse() ?? inline.check(bytes, entries, base)
      const reply = await run(member, { op: 'check', bytes, entries, base }, [bytes.buffer as ArrayBuffer])
      if (!('checked' in reply))
        throw new CairnError('IO', 'chunk worker: nothing checked in reply', { op: 'chunk.work' })
    },
    async decode(bytes, entries, base) {
      ensureStarted()
      const member = pick()
      if (member === undefined) return refuse() ?? inline.decode(bytes, entries, base)
      const reply = await run(member, { op: 'decode', bytes, entries, base }, ownBuffer(bytes))
      if (!('decoded' in reply))
        throw new CairnError('IO', 'chunk worker: nothing decoded in reply', { op: 'chunk.work' })
      return [...reply.decoded]
    },
    async place(bytes, entries, base, targets, fd, lent = false) {
      ensureStarted()
      const member = pick()
      if (member === undefined) return refuse() ?? inline.place(bytes, entries, base, targets, fd)
      const transfer = lent && bytes.buffer instanceof ArrayBuffer ? [bytes.buffer] : ownBuffer(bytes)
      const reply = await run(member, { op: 'place', bytes, entries, base, targets, fd }, transfer)
      if (!('placed' in reply) || reply.bytes === undefined)
        throw new CairnError('IO', 'chunk worker: nothing placed in reply', { op: 'chunk.work' })
      return { written: reply.placed, bytes: reply.bytes }
    },
    async placeLocal(placement) {
      ensureStarted()
      const member = pick()
      if (member === undefined) return refuse() ?? inline.placeLocal(placement)
      const reply = await run(member, { op: 'placeLocal', placement })
      if (!('placed' in reply))
        throw new CairnError('IO', 'chunk worker: nothing placed in reply', { op: 'chunk.work' })
      return reply.placed
    },
    ready() {
      const refused = refuse()
      if (refused !== undefined) return refused
      ensureStarted()
      return new Promise<void>((resolve, reject) => {
        waiting.add({ resolve, reject })
        settleWaiting()
      })
    },
    async close() {
      closed = true
      const all = workers.splice(0)
      const error = new CairnError('CLOSED', 'the chunk worker pool closed', { op: 'chunk.work' })
      for (const w of waiting) w.reject(error)
      waiting.clear()
      // Jobs fail only once their threads have stopped: a `place` job writes into a file its
      // caller closes when the job settles, so it must not be writing still.
      await Promise.all(all.map((w) => w.worker.terminate()))
      for (const member of all) {
        for (const pending of member.pending.values()) pending.reject(error)
        member.pending.clear()
      }
    },
  }
}
