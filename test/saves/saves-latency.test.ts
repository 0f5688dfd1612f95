/**
 * Quick save and quick load of a small world on the real disk, in a temporary directory: N saves
 * of a 4 KiB world (64 bytes of it changed each time, as a game's state changes from one save to
 * the next) to one slot, with the default history policy and automatic compaction.
 *
 * Two figures. Spaced: each save and each load starts with nothing else in progress (a game saves
 * seconds apart, so the pruning and compaction a save leaves behind are done by the next), and
 * its own latency is timed. Back to back: save after save with no pause, so each one also waits
 * for the pruning (and, every 32 pruned saves, the compaction) of the ones before: the throughput.
 * Prints p50/p99/max; asserts only loose bounds (the disk's fsync rate drifts).
 *
 *   SAVES_LATENCY_COUNT=1000 npx vitest run test/saves/saves-latency.test.ts
 */
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { openSaves } from '../../src/saves/index.js'
import type { SaveGames } from '../../src/saves/index.js'
import { expectBytes, makeTempDir } from '../helpers.js'

const COUNT = Number(process.env.SAVES_LATENCY_COUNT ?? 200)
const WORLD_BYTES = 4096

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

function summary(label: string, samples: readonly number[]): string {
  const sorted = [...samples].sort((a, b) => a - b)
  const ms = (value: number) => `${value.toFixed(2)} ms`
  return `${label} p50 ${ms(percentile(sorted, 0.5))}, p99 ${ms(percentile(sorted, 0.99))}, max ${ms(sorted.at(-1) ?? Number.NaN)}`
}

/** Times `count` saves (and, when `spaced`, a load after each), changing 64 bytes each time. */
async function run(saves: SaveGames, slot: string, count: number, spaced: boolean) {
  const rng = createRng(7)
  const world = rng.bytes(WORLD_BYTES)
  const saveMs: number[] = []
  const loadMs: number[] = []
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    world.set(rng.bytes(64), rng.int(WORLD_BYTES - 64))
    // Waits for the pruning and compaction queued behind the previous save.
    if (spaced) await saves.history(slot)
    let t = performance.now()
    await saves.save(slot, world)
    saveMs.push(performance.now() - t)
    if (!spaced) continue
    await saves.history(slot)
    t = performance.now()
    const loaded = await saves.load(slot)
    loadMs.push(performance.now() - t)
    expectBytes(loaded as Uint8Array, world, `save ${String(i)}`)
  }
  await saves.history(slot)
  return { saveMs, loadMs, totalMs: performance.now() - started }
}

describe('saves latency', () => {
  it(
    `a quick save and a quick load of a 4 KiB world take milliseconds on the real disk (${String(COUNT)} of each)`,
    async () => {
      const { dir, cleanup } = await makeTempDir()
      try {
        const saves = await openSaves({ dir })
        const spaced = await run(saves, 'quick', COUNT, true)
        const burst = await run(saves, 'burst', COUNT, false)
        expect((await saves.history('quick')).length).toBeLessThanOrEqual(12)
        await saves.close()
        console.log(
          [
            `saves latency: ${String(COUNT)} saves of ${String(WORLD_BYTES)} bytes to a slot, default history, real disk (${dir})`,
            `  spaced:        ${summary('save', spaced.saveMs)}; ${summary('load', spaced.loadMs)}`,
            `  back to back:  ${summary('save', burst.saveMs)}; ${(COUNT / (burst.totalMs / 1000)).toFixed(0)} saves/s with pruning and compaction`,
          ].join('\n'),
        )
        const median = (samples: number[]) =>
          percentile(
            [...samples].sort((a, b) => a - b),
            0.5,
          )
        expect(median(spaced.saveMs)).toBeLessThan(100)
        expect(median(spaced.loadMs)).toBeLessThan(20)
      } finally {
        await cleanup()
      }
    },
    60_000 + COUNT * 250,
  )
})
