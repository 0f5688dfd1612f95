/**
 * The proof of GC beside writers on other machines (invariant I9, docs/SHARED.md): two writers and
 * a GC machine share one simulated object store; a seeded scheduler interleaves every request of
 * theirs, stalls them, jumps the clock past retention, skews each machine's clock, and fails
 * requests before or after (ambiguously) they apply. Writers take full and delta checkpoints from
 * a pool of shared content (so they deduplicate against each other), retain, and run GC too.
 *
 * Checked after every episode, and again after GC has run to the end unhindered: every checkpoint
 * a writer acknowledged, unless retention tombstoned it, restores byte-exact, and verify finds no
 * problem in the packs. Short budget by default; CAIRN_SHARED_SEEDS sets how many episodes
 * (CAIRN_PROOF=long: 400), CAIRN_SHARED_SEED the first seed, CAIRN_SHARED_TRACE=1 prints every
 * put and delete of a failing episode and each typed failure.
 */
import { describe, expect, it } from 'vitest'
import { MemoryBlobStore } from '../../src/adapters/memory/memory-blob-store.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import type { Rng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { decodeIndexObject } from '../../src/chunkstore/index-object.js'
import { isCairnError } from '../../src/core/errors.js'
import { parseCheckpointId } from '../../src/core/ids.js'
import type { BlobStore } from '../../src/core/ports.js'
import { openStore } from '../../src/store.js'
import type { Store, StoreOptions } from '../../src/store.js'
import { Scheduler } from './scheduler.js'

const LONG = process.env.CAIRN_PROOF === 'long'
const SEEDS = Number(process.env.CAIRN_SHARED_SEEDS ?? (LONG ? 400 : 30))
const FIRST_SEED = Number(process.env.CAIRN_SHARED_SEED ?? 20261122)
const TIMING = { deleteAfterMs: 40, markerRetentionMs: 3_000, maxClockSkewMs: 25 }
const WRITERS = ['a', 'b'] as const

type State = ReadonlyMap<string, Uint8Array>

/** The shared object store, remembering every key ever put (a tombstone goes with its manifest). */
class RecordingBlobStore extends MemoryBlobStore {
  readonly everPut = new Set<string>()

  readonly trace: string[] = []

  override async put(
    key: string,
    data: Uint8Array,
    options?: { readonly ifAbsent?: boolean },
  ): Promise<void> {
    await super.put(key, data, options)
    this.everPut.add(key)
    if (process.env.CAIRN_SHARED_TRACE === '1') {
      let extra = ''
      if (key.startsWith('index/')) {
        const entries = decodeIndexObject(data, key)
        const watch = process.env.CAIRN_SHARED_CHUNK
        const holds = watch !== undefined && entries.some((e) => e.chunkId.startsWith(watch))
        extra = ` packs=${[...new Set(entries.map((e) => e.packId.slice(0, 8)))].join(',')}${holds ? ` HOLDS ${watch}` : ''}`
      }
      if (key.startsWith('gc/') && key.endsWith('condemned'))
        extra = ' ' + new TextDecoder().decode(data).replace(/"([0-9a-f]{8})[0-9a-f]{56}"/g, '$1')
      this.trace.push(`${String(this.trace.length)} put ${key.slice(0, 60)}${extra}`)
    }
  }

  override async delete(keys: readonly string[]): Promise<void> {
    await super.delete(keys)
    if (process.env.CAIRN_SHARED_TRACE === '1')
      this.trace.push(`${String(this.trace.length)} delete ${keys.map((k) => k.slice(0, 60)).join(' ')}`)
  }
}

interface Totals {
  episodes: number
  acknowledged: number
  deltas: number
  conflicts: number
  typedFailures: Record<string, number>
  restoresChecked: number
  gcRuns: number
  packsCondemned: number
  packsDeleted: number
  packsSpared: number
  chunksRescued: number
  manifestsDeleted: number
  steps: number
  stalls: number
  clockJumps: number
  failedBefore: number
  ambiguous: number
}

/** Content shared by every writer: each state is made of pieces of it, so chunks repeat. */
function makePool(rng: Rng): Uint8Array[] {
  return Array.from({ length: 6 }, () => rng.bytes(8_000 + rng.int(24_000)))
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

class Writer {
  store: Store | undefined
  readonly disk: SimDisk
  /** Acknowledged checkpoints and the state each holds. */
  readonly acked = new Map<string, State>()
  #last: { id: string; state: State } | undefined

  readonly name: string
  readonly rng: Rng
  readonly options: StoreOptions

  constructor(name: string, rng: Rng, options: StoreOptions) {
    this.name = name
    this.rng = rng
    this.options = options
    this.disk = new SimDisk({ seed: rng.int(1 << 30) })
  }

  async open(): Promise<Store> {
    this.store ??= await openStore({ ...this.options, vfs: this.disk })
    return this.store
  }

  async reopen(): Promise<void> {
    await this.store?.close().catch(() => undefined)
    this.store = undefined
  }

  async step(pool: readonly Uint8Array[], totals: Totals): Promise<void> {
    const store = await this.open()
    const roll = this.rng.next()
    if (roll < 0.65) {
      const lsn = await store.append(this.rng.bytes(8))
      const last = this.#last
      if (last !== undefined && this.rng.chance(0.4)) {
        // A delta on the last acknowledged checkpoint: one entry replaced whole, one patched.
        const extra = concat([pool[this.rng.int(pool.length)] ?? new Uint8Array()])
        const base = last.state.get('state') ?? new Uint8Array()
        const offset = this.rng.int(base.length + 1)
        const patch = this.rng.bytes(1 + this.rng.int(600))
        const info = await store.checkpoint({
          lsn,
          parent: parseCheckpointId(last.id),
          entries: { extra },
          patches: { state: [{ offset, data: patch }] },
        })
        const patched = new Uint8Array(Math.max(base.length, offset + patch.length))
        patched.set(base)
        patched.set(patch, offset)
        this.#ack(info.id, new Map([...last.state, ['extra', extra], ['state', patched]]), totals)
        totals.deltas++
      } else {
        const parts = Array.from(
          { length: 1 + this.rng.int(3) },
          () => pool[this.rng.int(pool.length)] ?? new Uint8Array(),
        )
        const state = new Map([['state', concat(parts)]])
        const info = await store.checkpoint({ lsn, entries: Object.fromEntries(state) })
        this.#ack(info.id, state, totals)
      }
    } else if (roll < 0.85) {
      await store.retain({ keepLast: 2 })
    } else {
      await gcOnce(store, this.rng, totals)
    }
  }

  #ack(id: string, state: State, totals: Totals): void {
    this.acked.set(id, state)
    this.#last = { id, state }
    totals.acknowledged++
  }
}

async function gcOnce(store: Store, rng: Rng, totals: Totals): Promise<void> {
  const report = await store.gc({
    graceMs: [0, 20, 200][rng.int(3)] ?? 0,
    repackDeadShare: [0.3, 0.5, 1][rng.int(3)] ?? 1,
  })
  totals.gcRuns++
  totals.packsDeleted += report.packsDeleted
  totals.manifestsDeleted += report.manifestsDeleted
  totals.packsCondemned += report.shared?.packsCondemned ?? 0
  totals.packsSpared += report.shared?.packsSpared ?? 0
  totals.chunksRescued += report.shared?.chunksRescued ?? 0
}

/** Runs `op`; a typed failure (injected, or CONFLICT) is counted and the store reopened. */
async function guarded(
  owner: { reopen(): Promise<void> },
  totals: Totals,
  op: () => Promise<void>,
): Promise<void> {
  try {
    await op()
  } catch (error) {
    if (!isCairnError(error)) throw error
    if (error.code === 'CONFLICT') totals.conflicts++
    if (process.env.CAIRN_SHARED_TRACE === '1' && error.code !== 'IO')
      console.log(`typed failure: ${error.message}`)
    totals.typedFailures[error.code] = (totals.typedFailures[error.code] ?? 0) + 1
    await owner.reopen()
  }
}

function storeOptions(root: BlobStore, name: string, scheduler: Scheduler, skew: number): StoreOptions {
  return {
    dir: '',
    workers: 0,
    packBytes: 64 * 1024,
    chunking: { minSize: 256, avgSize: 1024, maxSize: 4096 },
    chain: { maxChainLength: 3 },
    wal: { sync: 'always', segmentBytes: 4096 },
    clock: () => scheduler.now + skew,
    objects: { blobs: scheduler.view(root, name), name, timing: TIMING },
  }
}

/** Every acknowledged checkpoint not tombstoned restores byte-exact; the packs verify clean. */
async function check(
  root: RecordingBlobStore,
  writers: readonly Writer[],
  totals: Totals,
  when: string,
): Promise<void> {
  const now = Math.max(...writers.map((writer) => writer.options.clock?.() ?? 0))
  for (const writer of writers) {
    const reader = await openStore({
      dir: '',
      vfs: new SimDisk({ seed: 1 }),
      readOnly: true,
      workers: 0,
      clock: () => now,
      objects: { blobs: root, name: writer.name, timing: TIMING },
    })
    try {
      // Tombstoned at any time: retention dropped it, and GC may have deleted it since.
      const tombstoned = new Set(
        [...root.everPut]
          .filter((key) => key.startsWith(`stores/${writer.name}/tombstones/`))
          .map((key) => key.split('/').at(-1)),
      )
      for (const [id, state] of writer.acked) {
        if (tombstoned.has(id)) continue
        let snapshot
        try {
          snapshot = await reader.snapshot(parseCheckpointId(id))
        } catch (error) {
          throw new Error(
            `${when}: acknowledged checkpoint ${id.slice(0, 8)} of ${writer.name} cannot be opened: ${String(error)}`,
            { cause: error },
          )
        }
        expect((await snapshot.entries()).sort(), `${when}: entries of ${id.slice(0, 8)}`).toEqual(
          [...state.keys()].sort(),
        )
        for (const [name, bytes] of state) {
          let read: Uint8Array
          try {
            read = await snapshot.read(name)
          } catch (error) {
            throw new Error(
              `${when}: acknowledged checkpoint ${id.slice(0, 8)} of ${writer.name} lost entry ${name}: ${String(error)}`,
              { cause: error },
            )
          }
          expect(Buffer.compare(read, bytes), `${when}: ${writer.name} ${id.slice(0, 8)} ${name}`).toBe(0)
        }
        totals.restoresChecked++
      }
      const verify = await reader.verify({ readData: true })
      const problems = verify.problems.filter((problem) =>
        problem.checkpoints.some((id) => writer.acked.has(id) && !tombstoned.has(id)),
      )
      expect(problems, `${when}: verify of ${writer.name}`).toEqual([])
    } finally {
      await reader.close()
    }
  }
}

let lastRoot: RecordingBlobStore | undefined

async function episode(seed: number, totals: Totals): Promise<void> {
  const rng = createRng(seed)
  const root = new RecordingBlobStore()
  const scheduler = new Scheduler(rng.fork(), {
    faultBefore: 0.01,
    faultAmbiguous: 0.01,
    jumpMs: TIMING.markerRetentionMs + 500,
    ...(process.env.CAIRN_SHARED_TRACE === '1' ? { trace: root.trace } : {}),
  })
  lastRoot = root
  const pool = makePool(rng)
  const skew = () => rng.int(2 * TIMING.maxClockSkewMs + 1) - TIMING.maxClockSkewMs
  const writers = WRITERS.map(
    (name) => new Writer(name, rng.fork(), storeOptions(root, name, scheduler, skew())),
  )
  const gcOptions = storeOptions(root, 'gc', scheduler, skew())
  const gcMachine = new Writer('gc', rng.fork(), gcOptions)
  const gcRng = rng.fork()
  const steps = 6 + rng.int(6)
  const actors = [
    ...writers.map(async (writer) => {
      for (let i = 0; i < steps; i++) await guarded(writer, totals, () => writer.step(pool, totals))
      await writer.reopen()
    }),
    (async () => {
      for (let i = 0; i < steps; i++)
        await guarded(gcMachine, totals, async () => gcOnce(await gcMachine.open(), gcRng, totals))
      await gcMachine.reopen()
    })(),
  ]
  await scheduler.run(actors)
  await Promise.all(actors) // an untyped error is a bug: it fails the episode
  await check(root, writers, totals, `seed ${String(seed)}, after the episode`)
  // Then GC unhindered to the end (no faults, time passing): what was condemned is deleted.
  const calm = new Scheduler(rng.fork(), { faultBefore: 0, faultAmbiguous: 0, jumpMs: 0 })
  calm.now = scheduler.now
  const finishing = (async () => {
    const finisher = await openStore({ ...storeOptions(root, 'gc', calm, 0), vfs: new SimDisk({ seed: 2 }) })
    for (let i = 0; i < 3; i++) {
      calm.now += TIMING.deleteAfterMs + 10
      await gcOnce(finisher, gcRng, totals)
    }
    await finisher.close()
  })()
  await calm.run([finishing])
  await finishing
  await check(root, writers, totals, `seed ${String(seed)}, after GC ran to the end`)
  for (const key of ['steps', 'stalls', 'clockJumps', 'failedBefore', 'ambiguous'] as const)
    totals[key] += scheduler.counters[key]
  totals.episodes++
}

describe('GC beside writers on other machines (I9)', () => {
  it(
    'no acknowledged checkpoint ever loses a chunk, under any interleaving, stall, clock skew or ambiguous request',
    async () => {
      const totals: Totals = {
        episodes: 0,
        acknowledged: 0,
        deltas: 0,
        conflicts: 0,
        typedFailures: {},
        restoresChecked: 0,
        gcRuns: 0,
        packsCondemned: 0,
        packsDeleted: 0,
        packsSpared: 0,
        chunksRescued: 0,
        manifestsDeleted: 0,
        steps: 0,
        stalls: 0,
        clockJumps: 0,
        failedBefore: 0,
        ambiguous: 0,
      }
      const started = performance.now()
      for (let i = 0; i < SEEDS; i++) {
        const seed = FIRST_SEED + i
        try {
          await episode(seed, totals)
          if (process.env.CAIRN_SHARED_TRACE === '1')
            console.log(`episode ${String(seed)} ${JSON.stringify(totals)}`)
        } catch (error) {
          if (process.env.CAIRN_SHARED_TRACE === '1') console.log(lastRoot?.trace.join('\n'))
          throw new Error(
            `GC-beside-writers episode failed; replay with CAIRN_SHARED_SEED=${String(seed)} CAIRN_SHARED_SEEDS=1`,
            {
              cause: error,
            },
          )
        }
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1)
      console.log(`GC beside writers (${String(SEEDS)} episodes from seed ${String(FIRST_SEED)}, ${seconds} s):
  ${String(totals.steps)} scheduled requests, ${String(totals.stalls)} stalls, ${String(totals.clockJumps)} clock jumps past marker retention
  faults: ${String(totals.failedBefore)} failed before applying, ${String(totals.ambiguous)} ambiguous (applied, reported failed)
  ${String(totals.acknowledged)} checkpoints acknowledged (${String(totals.deltas)} deltas), ${String(totals.conflicts)} withdrawn with CONFLICT; typed failures ${JSON.stringify(totals.typedFailures)}
  ${String(totals.gcRuns)} GC runs: ${String(totals.packsCondemned)} packs condemned, ${String(totals.packsDeleted)} deleted, ${String(totals.packsSpared)} spared, ${String(totals.chunksRescued)} live chunks copied out first; ${String(totals.manifestsDeleted)} manifests deleted
  ${String(totals.restoresChecked)} restores of acknowledged checkpoints byte-exact; acknowledged checkpoints that lost a chunk: 0`)
      // Not vacuous: GC deleted, writers raced it, and faults landed.
      expect(totals.packsDeleted).toBeGreaterThan(0)
      expect(totals.acknowledged).toBeGreaterThan(SEEDS)
      expect(totals.restoresChecked).toBeGreaterThan(0)
    },
    600_000 + SEEDS * 2_000,
  )
})
