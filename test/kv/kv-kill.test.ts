/**
 * The key-value store killed with SIGKILL, again and again, on the real disk.
 *
 * A worker process (kv-kill-worker.ts) writes as fast as it can, 64 writes in flight, with
 * background checkpoints, retention and GC, and reports each acknowledgement over IPC only after
 * the write's promise resolved. The parent kills it by PID at a random moment, or just after a
 * checkpoint committed (inside the retention and GC that follow, or the next checkpoint), then
 * reopens the store in its own process and checks:
 * - the store recovered exactly `lsn - baseLsn` of this worker's writes, and its map equals the
 *   map before the worker plus exactly those writes, in call order: no write lost from the
 *   middle, none reordered, nothing the worker did not write (its writes are a deterministic
 *   function of iteration and index: kv-kill-protocol.ts);
 * - that prefix holds every acknowledged write: so for every key, the value is the last
 *   acknowledged one or one issued after it whose acknowledgement the kill cut short;
 * - no recovery warning; and at the end, `verify` reads every chunk back clean.
 * The next worker goes on from the recovered state. CAIRN_KV_KILLS sets the number of kills
 * (default 5, ~2 s each); CAIRN_KV_KILL_SEED the seed.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { openKv } from '../../src/kv/index.js'
import { openStore } from '../../src/store.js'
import { makeTempDir, sameBytes } from '../helpers.js'
import { runUntilKilled } from '../kill-harness.js'
import { killWrite } from './kv-kill-protocol.js'
import type { KillChange, KvKillMessage } from './kv-kill-protocol.js'

const KILLS = Number(process.env.CAIRN_KV_KILLS ?? 5)
const SEED = Number(process.env.CAIRN_KV_KILL_SEED ?? 20261123)
const WORKER = fileURLToPath(new URL('./kv-kill-worker.ts', import.meta.url))

/** Runs a worker until it is killed; calls `onMessage` for each message that arrived first. */
function runAndKill(
  dir: string,
  iteration: number,
  plan: { readonly afterMs: number } | { readonly afterCheckpoint: number },
  onMessage: (message: KvKillMessage) => void,
): Promise<void> {
  return runUntilKilled<KvKillMessage>(WORKER, [dir, String(iteration)], (message, killAfter) => {
    onMessage(message)
    // A checkpoint may not come in time: never wait for one for ever.
    if (message.kind === 'opened') killAfter('afterMs' in plan ? plan.afterMs : 2000)
    else if (message.kind === 'checkpoint' && 'afterCheckpoint' in plan) killAfter(plan.afterCheckpoint)
  })
}

/** `state` with `writes` applied, in order (a copy). */
function applyWrites(
  state: ReadonlyMap<string, Uint8Array>,
  writes: readonly KillChange[][],
): Map<string, Uint8Array> {
  const next = new Map(state)
  for (const changes of writes) {
    for (const [key, value] of changes) {
      if (value === undefined) next.delete(key)
      else next.set(key, value)
    }
  }
  return next
}

describe('kv: a real process killed with SIGKILL, again and again', () => {
  it(
    'zero acknowledged writes lost: the reopened store holds a prefix of the writes in call order that includes every acknowledged one, across checkpoints',
    { timeout: Math.max(60_000, KILLS * 10_000) },
    async () => {
      const { dir, cleanup } = await makeTempDir()
      const rng = createRng(SEED)
      let state = new Map<string, Uint8Array>()
      let baseLsn = 0
      const totals = { acked: 0, recovered: 0, inFlightAtKill: 0, checkpoints: 0, fromCheckpoint: 0 }
      try {
        for (let iteration = 0; iteration < KILLS; iteration++) {
          // The first worker always reaches a checkpoint; then a random moment or just after one.
          const plan =
            iteration > 0 && rng.chance(0.5)
              ? { afterMs: 80 + rng.int(600) }
              : { afterCheckpoint: rng.int(6) }
          let upTo = -1
          let opened: number | undefined
          await runAndKill(dir, iteration, plan, (message) => {
            if (message.kind === 'opened') opened = message.lsn
            if (message.kind === 'acked') upTo = Math.max(upTo, message.upTo)
            if (message.kind === 'checkpoint') totals.checkpoints++
          })
          expect(opened, 'the worker recovered where the parent left off').toBe(baseLsn)

          // Reopen in this process, as a fresh writer would.
          const kv = await openKv({ dir, store: { workers: 0 }, checkpointOnClose: iteration % 2 === 0 })
          try {
            expect(kv.recovery.warnings).toEqual([])
            if (kv.recovery.checkpointLsn > baseLsn) totals.fromCheckpoint++
            const recovered = kv.lsn - baseLsn
            expect(
              recovered,
              `every acknowledged write (0..${String(upTo)}) recovered`,
            ).toBeGreaterThanOrEqual(upTo + 1)
            const writes = Array.from({ length: recovered }, (_, index) => killWrite(iteration, index))
            const expected = applyWrites(state, writes)
            const found = new Map(
              Array.from(kv.scan(), ([key, value]) => [new TextDecoder().decode(key), value]),
            )
            expect(found.size).toBe(expected.size)
            for (const [key, value] of expected) {
              expect(
                sameBytes(found.get(key), value),
                `key ${key}: the value of write prefix ${String(recovered)}`,
              ).toBe(true)
            }
            // The check the brief states, key by key: the last acknowledged value, or a later issued one.
            const acknowledged = applyWrites(state, writes.slice(0, upTo + 1))
            const later = new Map<string, (Uint8Array | undefined)[]>()
            for (const changes of writes.slice(upTo + 1)) {
              for (const [key, value] of changes) later.set(key, [...(later.get(key) ?? []), value])
            }
            for (const key of new Set([...acknowledged.keys(), ...found.keys()])) {
              const value = found.get(key)
              const allowed =
                sameBytes(value, acknowledged.get(key)) ||
                (later.get(key) ?? []).some((v) => sameBytes(v, value))
              expect(allowed, `key ${key}`).toBe(true)
            }
            totals.acked += upTo + 1
            totals.recovered += recovered
            totals.inFlightAtKill += recovered - (upTo + 1)
            state = expected
            baseLsn = kv.lsn
          } finally {
            await kv.close()
          }
        }
        const store = await openStore({ dir, workers: 0 })
        try {
          expect((await store.verify({ readData: true })).problems).toEqual([])
        } finally {
          await store.close()
        }
        console.log(
          `kv kill loop: ${String(KILLS)} kills, ${String(totals.acked)} writes acknowledged, ${String(totals.recovered)} recovered ` +
            `(${String(totals.inFlightAtKill)} issued-not-acknowledged among them), 0 lost; ${String(totals.checkpoints)} checkpoints ` +
            `committed by workers; ${String(totals.fromCheckpoint)} recoveries from a worker's checkpoint`,
        )
        expect(totals.acked).toBeGreaterThan(0)
        expect(totals.checkpoints).toBeGreaterThan(0)
      } finally {
        await cleanup()
      }
    },
  )
})
