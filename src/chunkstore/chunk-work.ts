/**
 * Where spans are cut and hashed, and new chunks compressed: on the calling thread, or on a
 * pool of worker threads (span.ts says how parallel cutting gives the sequential chunks). Both
 * give the same ids and bytes; the pool is what lets ingest use every core
 * (bench/chunkstore.bench.ts measures the two).
 */
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { CairnError } from '../core/errors.js'
import type { CairnErrorCode, CairnErrorContext } from '../core/errors.js'
import { loadChunkHasher } from './chunk-id.js'
import type { ChunkingParams } from './chunker.js'
import { isCodec } from './codec.js'
import type { StoredChunk } from './codec.js'
import type { IndexEntry } from './index-object.js'
import { decodeRun, decodeRunInScratch } from './read-entry.js'
import { placeLocalRun, placeRun } from './read-to-file.js'
import type { LocalPlacement } from './read-to-file.js'
import { cutSpan, encodeRanges } from './span.js'
import type { EncodedRanges, Span, SpanCuts } from './span.js'

export interface ChunkWork {
  /** True when spans should be built in shared memory (the pool reads them in place). */
  readonly shared: boolean
  /** The span's speculative chunks and their ids (span.ts). */
  cut(span: Span, params: ChunkingParams): Promise<SpanCuts>
  /** The stored form of each range (start, end pairs) of `bytes`, in one fresh buffer. */
  encode(
    bytes: Uint8Array,
    ranges: readonly number[],
    compression: 'deflate' | 'none',
  ): Promise<StoredChunk[]>
  /**
   * The raw bytes of stored chunks lying back to back in `bytes` (whose first byte is at pack
   * offset `base`), each checked against its id: `CORRUPT_OBJECT` naming the pack and offset.
   * When `bytes` is a buffer of its own, it may be handed to a worker (not copied): unusable after.
   */
  decode(bytes: Uint8Array, entries: readonly IndexEntry[], base: number): Promise<Uint8Array[]>
  /**
   * As `decode`, but only checks (nothing comes back): `bytes` must be a buffer of its own, which
   * is handed to the worker (not copied) and unusable after.
   */
  check(bytes: Uint8Array, entries: readonly IndexEntry[], base: number): Promise<void>
  /**
   * As `decode`, but each chunk is written into the open file `fd` where `targets` place it (four
   * numbers per placement: the chunk's index in `entries`, from, to, at; read-to-file.ts), by the
   * thread that decoded it. Resolves with the bytes written and `bytes` given back, for the caller
   * to read into again (read-buffers.ts). `bytes` is handed over as for `decode`, or whole when
   * `lent` (its buffer is the caller's alone, however much of it `bytes` covers): a worker gives
   * back a view of the same buffer.
   */
  place(
    bytes: Uint8Array,
    entries: readonly IndexEntry[],
    base: number,
    targets: readonly number[],
    fd: number,
    lent?: boolean,
  ): Promise<{ readonly written: number; readonly bytes: Uint8Array }>
  /**
   * As `place`, but the thread reads the get itself, synchronously, from the pack's file
   * (local-read.ts). Resolves with the bytes written. Without a thread, the calling thread reads.
   */
  placeLocal(placement: LocalPlacement): Promise<number>
  /** Starts the threads (if any, and not yet) and resolves once every one takes jobs. */
  ready(): Promise<void>
  close(): Promise<void>
}

export type WorkRequest =
  | { readonly job: number; readonly op: 'cut'; readonly span: Span; readonly params: ChunkingParams }
  | {
      readonly job: number
      readonly op: 'encode'
      readonly bytes: Uint8Array
      readonly ranges: readonly number[]
      readonly compression: 'deflate' | 'none'
    }
  | {
      readonly job: number
      readonly op: 'decode'
      readonly bytes: Uint8Array
      readonly entries: readonly IndexEntry[]
      readonly base: number
    }
  | {
      readonly job: number
      readonly op: 'place'
      readonly bytes: Uint8Array
      readonly entries: readonly IndexEntry[]
      readonly base: number
      readonly targets: readonly number[]
      readonly fd: number
    }
  | { readonly job: number; readonly op: 'placeLocal'; readonly placement: LocalPlacement }
  | {
      readonly job: number
      readonly op: 'check'
      readonly bytes: Uint8Array
      readonly entries: readonly IndexEntry[]
      readonly base: number
    }

/** A request before the pool numbers it. */
type WorkOrder = WorkRequest extends infer R ? (R extends WorkRequest ? Omit<R, 'job'> : never) : never

export type WorkReply =
  /** Sent once, unasked, when the worker has loaded and takes jobs. */
  | { readonly job: -1; readonly ready: true }
  | { readonly job: number; readonly cuts: SpanCuts }
  | { readonly job: number; readonly encoded: EncodedRanges }
  | { readonly job: number; readonly checked: number }
  /** The bytes written, and a `place` request's bytes given back (their buffer handed over). */
  | { readonly job: number; readonly placed: number; readonly bytes?: Uint8Array }
  /** Each chunk's raw bytes: a buffer of its own where it had one, else a view of one shared copy. */
  | { readonly job: number; readonly decoded: readonly Uint8Array[] }
  | {
      readonly job: number
      readonly error: string
      readonly code?: CairnErrorCode
      readonly context?: CairnErrorContext
    }

/** The stored chunks as views into the one buffer they were encoded into. */
function storedChunks(encoded: EncodedRanges): StoredChunk[] {
  let at = 0
  return encoded.codecs.map((codec, i) => {
    const length = encoded.lengths[i] ?? 0
    const bytes = encoded.out.subarray(at, at + length)
    at += length
    return { codec, bytes }
  })
}

/** `bytes`'s buffer, to hand over rather than copy, when it is a buffer of its own (a read's, from the store). */
function ownBuffer(bytes: Uint8Array): ArrayBuffer[] {
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
  return own && bytes.buffer instanceof ArrayBuffer ? [bytes.buffer] : []
}

/** How many worker threads to use by default: one per core, at most 4; none on one core. */
export function defaultWorkerCount(): number {
  const cores = availableParallelism()
  return cores < 2 ? 0 : Math.min(4, cores)
}

/** Cutting, hashing and compression on the calling thread. */
export function inlineChunkWork(): ChunkWork {
  return {
    shared: false,
    async cut(span, params) {
      await loadChunkHasher()
      return cutSpan(span, params)
    },
    encode(bytes, ranges, compression) {
      return Promise.resolve(storedChunks(encodeRanges(bytes, ranges, compression)))
    },
    decode(bytes, entries, base) {
      return Promise.resolve(decodeRun(bytes, entries, base))
    },
    check(bytes, entries, base) {
      decodeRunInScratch(bytes, entries, base)
      return Promise.resolve()
    },
    place(bytes, entries, base, targets, fd) {
      return Promise.resolve({ written: placeRun(bytes, entries, base, targets, fd), bytes })
    },
    placeLocal(placement) {
      // A throw in the executor rejects: the read's error reaches the caller as the pool's would.
      return new Promise((resolve) => {
        resolve(placeLocalRun(placement))
      })
    },
    ready() {
      return Promise.resolve()
    },
    close() {
      return Promise.resolve()
    },
  }
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
 * The worker module: the compiled `.js` beside this one, or, when cairn runs from its TypeScript
 * source (tests, benchmarks), the `.ts` source loaded through tsx's register hook.
 */
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
