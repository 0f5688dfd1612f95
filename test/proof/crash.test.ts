/**
 * The whole-system crash and fault proof (`npm run test:crash`; a short budget runs in `npm test`).
 *
 * 1. Hand-written workloads (log, full and delta checkpoints, retention + GC, segment rollover and
 *    truncation): a crash before every I/O index up to a cap (sampled above it, always including
 *    every fsync, fdatasync, directory fsync and rename), each crash state recovered under every
 *    crash model (the weak model with several seeds), states deduplicated by the durable image's
 *    hash; at sampled points a second crash inside the recovery, then recovery again.
 * 2. Model-based random workloads (fast-check): appends, checkpoints, retention + GC, clock
 *    ticks, a full disk, a failed fsync, bit rot in a pack, damage in a sealed log segment, and
 *    crashes between or inside operations. A failure prints its seed and shrunk op list: add it
 *    to `regressions.ts` and it runs first, every time.
 *
 * After every recovery the world (world.ts) checks I1-I15 against its oracle. The figures go to
 * `reliability-report.json`. CAIRN_PROOF=long runs the long budget (CAIRN_PROOF_SEEDS: how many
 * seeds each hand-written workload is enumerated under, 100 by default: ~10^5 distinct crash states
 * in ~20 minutes here); CAIRN_PROOF_SEED picks the seed.
 */
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { CRASH_MODELS } from '../../src/adapters/sim/crash.js'
import type { CrashModel } from '../../src/adapters/sim/crash.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import type { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { REGRESSIONS } from './regressions.js'
import type { Step } from './regressions.js'
import { newCounters, writeReport } from './report.js'
import { NAMES, World, WorldEnded } from './world.js'
import type { Op } from './world.js'

const LONG = process.env.CAIRN_PROOF === 'long'
const SEED = Number(process.env.CAIRN_PROOF_SEED ?? 20261122)
const BUDGET = LONG
  ? {
      seeds: Number(process.env.CAIRN_PROOF_SEEDS ?? 100),
      exhaustiveCap: 100_000,
      sampled: 4000,
      weakSeeds: 6,
      secondCrashEvery: 3,
      runs: 3000,
      maxOps: 24,
    }
  : { seeds: 1, exhaustiveCap: 250, sampled: 120, weakSeeds: 1, secondCrashEvery: 8, runs: 150, maxOps: 20 }

const counters = newCounters()
const started = performance.now()
afterAll(() => {
  const seconds = (performance.now() - started) / 1000
  console.log(writeReport('crash', counters, { budget: LONG ? 'long' : 'short', seconds, seed: SEED }))
})

const WORKLOADS: Record<string, readonly Op[]> = {
  'log and checkpoints': [
    { kind: 'append', sizes: [20, 30] },
    { kind: 'full', entries: { 'a.bin': 3000, 'b.bin': 500 } },
    { kind: 'append', sizes: [10] },
    { kind: 'append', sizes: [50, 60, 70] },
    { kind: 'delta', put: {}, del: ['b.bin'], patch: [{ name: 'a.bin', at: 1000, length: 40 }] },
    { kind: 'append', sizes: [5] },
  ],
  'deltas, retention and GC': [
    { kind: 'full', entries: { 'a.bin': 4000, 'dir/c.bin': 2000 } },
    { kind: 'append', sizes: [10] },
    { kind: 'delta', put: { 'b.bin': 700 }, del: [], patch: [] },
    { kind: 'tick', hours: 1 },
    { kind: 'full', entries: { 'a.bin': 3000 } },
    { kind: 'delta', put: {}, del: [], patch: [{ name: 'a.bin', at: 10, length: 300 }] },
    { kind: 'retain', keepLast: 1, gc: false },
    { kind: 'tick', hours: 2 },
    { kind: 'retain', keepLast: 1, gc: true },
    { kind: 'append', sizes: [10] },
    { kind: 'delta', put: { 'b.bin': 300 }, del: [], patch: [] },
    { kind: 'expireBase' },
    { kind: 'tick', hours: 2 },
    { kind: 'retain', keepLast: 1, gc: true },
  ],
  'segments and truncation': [
    // ~14 KB of records: three or four 4 KiB segments, which the checkpoint then truncates away.
    ...Array.from({ length: 8 }, (): Op => ({ kind: 'append', sizes: [900, 900] })),
    { kind: 'full', entries: { 'a.bin': 1000 } },
    ...Array.from({ length: 4 }, (): Op => ({ kind: 'append', sizes: [400] })),
    { kind: 'delta', put: { 'dir/c.bin': 100 }, del: [], patch: [] },
    { kind: 'append', sizes: [30] },
  ],
}

/** Runs `ops` on a fresh world; with `haltAt`, the disk halts before that I/O index. */
async function runUntil(seed: number, ops: readonly Op[], haltAt?: number): Promise<World> {
  const world = new World(seed, counters)
  if (haltAt !== undefined) world.disk.haltAtIo(haltAt)
  try {
    await world.open()
    for (const op of ops) await world.run(op)
  } catch (error) {
    if (!world.disk.halted) throw error
  }
  return world
}

/** The crash states of one halted world: every model, the weak one under several seeds. */
function variants(seed: number): { model: CrashModel; rngSeed: number }[] {
  return CRASH_MODELS.flatMap((model): { model: CrashModel; rngSeed: number }[] =>
    model === 'weak'
      ? Array.from({ length: BUDGET.weakSeeds }, (_, i) => ({ model, rngSeed: seed * 31 + i }))
      : [{ model, rngSeed: seed }],
  )
}

/** Recovers and checks every distinct crash state of `world` (a halted run). */
async function checkCrashStates(world: World, k: number, seen: Set<string>): Promise<void> {
  counters.crashPoints++
  for (const { model, rngSeed } of variants(k)) {
    const rng = createRng(rngSeed)
    const booted: SimDisk = world.disk.crash(model, rng)
    const image = booted.fingerprint()
    if (seen.has(image)) {
      counters.crashStatesDeduplicated++
      continue
    }
    seen.add(image)
    const second = k % BUDGET.secondCrashEvery === 0 ? 1 + rng.int(60) : undefined
    const fork = world.fork()
    try {
      await fork.recoverFrom(booted, model, rng, second)
    } catch (error) {
      if (!(error instanceof WorldEnded))
        throw new Error(`crash at I/O ${String(k)} under ${model}`, { cause: error })
    } finally {
      await fork.close().catch(() => undefined)
    }
    counters.crashStates[model] = (counters.crashStates[model] ?? 0) + 1
  }
}

/** I/O indexes to crash before: all up to the cap, else a sample plus every sync and rename. */
function crashPoints(recorded: World): number[] {
  const total = recorded.disk.ioCount
  if (total <= BUDGET.exhaustiveCap) return Array.from({ length: total }, (_, i) => i + 1)
  const picked = new Set<number>()
  for (const line of recorded.disk.trace)
    if (['fsync', 'fdatasync', 'fsyncDir', 'rename'].includes(line.op)) picked.add(line.io + 1)
  const rng = createRng(SEED ^ total)
  while (picked.size < Math.min(total, picked.size + BUDGET.sampled)) picked.add(1 + rng.int(total))
  return [...picked].sort((a, b) => a - b)
}

describe('proof: crash at every I/O of hand-written workloads', () => {
  for (const [name, ops] of Object.entries(WORKLOADS)) {
    it(
      `${name}: every crash state recovers to the oracle's state`,
      { timeout: LONG ? 0 : 240_000 },
      async () => {
        // Each seed gives other data, so other images and other crash states.
        for (let seed = SEED; seed < SEED + BUDGET.seeds; seed++) {
          const recorded = await runUntil(seed, ops)
          await recorded.close()
          const seen = new Set<string>()
          for (const k of crashPoints(recorded)) {
            const world = await runUntil(seed, ops, k)
            if (!world.disk.halted) continue
            await checkCrashStates(world, k, seen)
          }
        }
        expect(counters.crashPoints).toBeGreaterThan(0)
      },
    )
  }
})

const size = fc.integer({ min: 0, max: 2500 })
const opArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      sizes: fc.array(fc.nat(1200), { minLength: 1, maxLength: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('full' as const),
      entries: fc.dictionary(fc.constantFrom(...NAMES), size, { minKeys: 1 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('delta' as const),
      put: fc.dictionary(fc.constantFrom(...NAMES), size, { maxKeys: 1 }),
      del: fc.subarray([...NAMES], { maxLength: 1 }),
      patch: fc.array(
        fc.record({
          name: fc.constantFrom(...NAMES),
          at: fc.nat(5000),
          length: fc.integer({ min: 1, max: 300 }),
        }),
        { maxLength: 3 },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('retain' as const),
      keepLast: fc.integer({ min: 1, max: 3 }),
      gc: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('tick' as const), hours: fc.integer({ min: 1, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'expireBase' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('diskFull' as const), spareBytes: fc.nat(3000) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'diskFree' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'failSync' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('rotPack' as const), pick: fc.nat(), at: fc.nat() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rotLog' as const), pick: fc.nat(), at: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      model: fc.constantFrom(...CRASH_MODELS),
      /** Halt this many I/Os into the next ops (0: crash now, between ops). */
      inIo: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 150 })),
    }),
  },
)

/** Runs a step list; crash steps halt the disk (now or some I/Os later) and recover. */
async function runSteps(seed: number, steps: readonly Step[]): Promise<void> {
  const world = new World(seed, counters)
  const rng = createRng(seed)
  try {
    await world.open()
    let haltModel: CrashModel | undefined
    for (const step of steps) {
      if (step.kind === 'crash') {
        if (step.inIo === 0) {
          counters.crashPoints++
          await world.crash(step.model, rng.fork())
          counters.crashStates[step.model] = (counters.crashStates[step.model] ?? 0) + 1
        } else if (haltModel === undefined) {
          world.disk.haltAtIo(world.disk.ioCount + step.inIo)
          haltModel = step.model
        }
        continue
      }
      try {
        await world.run(step)
      } catch (error) {
        if (!world.disk.halted || haltModel === undefined) throw error
      }
      if (world.disk.halted && haltModel !== undefined) {
        counters.crashPoints++
        await world.crash(haltModel, rng.fork())
        counters.crashStates[haltModel] = (counters.crashStates[haltModel] ?? 0) + 1
        haltModel = undefined
      }
    }
    // The end: a last crash under the clean model, and every check.
    world.disk.haltAtIo(Number.MAX_SAFE_INTEGER)
    await world.crash('clearCache', rng.fork())
    counters.crashStates.clearCache = (counters.crashStates.clearCache ?? 0) + 1
  } catch (error) {
    if (!(error instanceof WorldEnded)) throw error
  } finally {
    await world.close().catch(() => undefined)
  }
}

describe('proof: model-based random workloads with faults and crashes', () => {
  it('regressions found before run first', { timeout: 120_000 }, async () => {
    for (const { seed, steps } of REGRESSIONS) await runSteps(seed, steps)
  })

  it(
    'any sequence of operations, faults and crashes keeps every invariant',
    { timeout: LONG ? 0 : 240_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(opArb, { minLength: 1, maxLength: BUDGET.maxOps }),
          fc.nat(1_000_000),
          (steps, seed) => runSteps(seed, steps),
        ),
        { numRuns: BUDGET.runs, seed: SEED, endOnFailure: !LONG },
      )
    },
  )
})
