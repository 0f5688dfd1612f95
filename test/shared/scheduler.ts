/**
 * The simulated shared object store of the GC-beside-writers proof: every request of every actor
 * (a writer's store, a GC machine) waits at a gate, and a seeded scheduler lets one through at a
 * time, in any order, advancing a virtual clock as it goes. It stalls an actor (lets everyone else
 * run while the clock moves on, past leases and retention), jumps the clock, and injects faults:
 * a request that fails before it is applied, and an ambiguous one (applied, then reported failed).
 */
import { CairnError } from '../../src/core/errors.js'
import type { BlobInfo, BlobStore, ByteRange } from '../../src/core/ports.js'
import type { Rng } from '../../src/adapters/sim/rng.js'

export interface SchedulerCounters {
  steps: number
  stalls: number
  clockJumps: number
  failedBefore: number
  ambiguous: number
}

interface Waiting {
  readonly actor: string
  readonly release: () => void
}

export class Scheduler {
  /** The true time (ms); each actor reads it with its own skew. */
  now = 1_000_000
  readonly counters: SchedulerCounters = { steps: 0, stalls: 0, clockJumps: 0, failedBefore: 0, ambiguous: 0 }
  readonly #rng: Rng
  readonly #waiting: Waiting[] = []
  #stalled: string | undefined
  #stallSteps = 0
  readonly #faults: { readonly before: number; readonly ambiguous: number; readonly jump: number }
  /** When given, every request applied, by actor (CAIRN_SHARED_TRACE). */
  readonly #trace: string[] | undefined

  constructor(
    rng: Rng,
    options: {
      readonly faultBefore: number
      readonly faultAmbiguous: number
      readonly jumpMs: number
      readonly trace?: string[]
    },
  ) {
    this.#rng = rng
    this.#trace = options.trace
    this.#faults = { before: options.faultBefore, ambiguous: options.faultAmbiguous, jump: options.jumpMs }
  }

  /** A view of `root` for one actor: each request waits its turn and may fail. */
  view(root: BlobStore, actor: string): BlobStore {
    const turn = async (mutates: boolean, op: string, key: string, apply: () => Promise<unknown>) => {
      await new Promise<void>((release) => this.#waiting.push({ actor, release }))
      if (this.#rng.chance(this.#faults.before)) {
        this.counters.failedBefore++
        throw injected(op, key)
      }
      const result = await apply()
      this.#trace?.push(`  [${actor}] ${op} ${key}`)
      if (mutates && this.#rng.chance(this.#faults.ambiguous)) {
        this.counters.ambiguous++
        throw injected(op, key)
      }
      return result
    }
    return {
      properties: root.properties,
      put: async (key, data, options) => {
        await turn(true, 'blob.put', key, () => root.put(key, data, options))
      },
      get: async (key: string, range?: ByteRange, into?: Uint8Array) =>
        (await turn(false, 'blob.get', key, () => root.get(key, range, into))) as Uint8Array,
      head: async (key: string) =>
        (await turn(false, 'blob.head', key, () => root.head(key))) as BlobInfo | undefined,
      list: (prefix: string) => this.#list(root, prefix, turn),
      delete: async (keys: readonly string[]) => {
        await turn(true, 'blob.delete', keys[0] ?? '', () => root.delete(keys))
      },
    }
  }

  async *#list(
    root: BlobStore,
    prefix: string,
    turn: (mutates: boolean, op: string, key: string, apply: () => Promise<unknown>) => Promise<unknown>,
  ): AsyncIterable<BlobInfo> {
    // One request for the whole listing (a page, as far as the proof is concerned).
    const found = (await turn(false, 'blob.list', prefix, async () => {
      const all: BlobInfo[] = []
      for await (const info of root.list(prefix)) all.push(info)
      return all
    })) as BlobInfo[]
    yield* found
  }

  /** Runs until every actor's promise settles, letting one waiting request through at a time. */
  async run(actors: readonly Promise<unknown>[]): Promise<void> {
    let settled = false
    const all = Promise.allSettled(actors).then(() => {
      settled = true
    })
    while (!settled) {
      await quiesce()
      if (this.#waiting.length === 0) continue
      this.#step()
    }
    await all
  }

  #step(): void {
    this.counters.steps++
    this.now += 1 + this.#rng.int(5)
    if (this.#rng.chance(0.005)) {
      this.now += this.#faults.jump
      this.counters.clockJumps++
    }
    if (this.#stallSteps > 0) this.#stallSteps--
    else this.#stalled = undefined
    if (this.#stalled === undefined && this.#rng.chance(0.01)) {
      const pick = this.#waiting[this.#rng.int(this.#waiting.length)]
      this.#stalled = pick?.actor
      this.#stallSteps = 20 + this.#rng.int(200)
      this.counters.stalls++
    }
    const runnable = this.#waiting.filter((waiting) => waiting.actor !== this.#stalled)
    const pool = runnable.length > 0 ? runnable : this.#waiting
    const chosen = pool[this.#rng.int(pool.length)]
    if (chosen === undefined) return
    this.#waiting.splice(this.#waiting.indexOf(chosen), 1)
    chosen.release()
  }
}

function injected(op: string, key: string): CairnError {
  return new CairnError('IO', 'injected fault', { op, path: key, retryable: true })
}

/** Lets every runnable promise chain and timer-free callback settle. */
async function quiesce(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((resolve) => setImmediate(resolve))
}
