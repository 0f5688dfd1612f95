/**
 * Crash-point enumeration for the key-value store (TESTING.md). A workload of sequential writes,
 * bursts of concurrent ones (group commits), a batch, background checkpoints every 8 writes with
 * retention and GC, an explicit checkpoint and a closing one, is run once to count its I/O calls;
 * then for every index k it runs again on a fresh simulated disk that loses power as call k
 * starts, and the disk is booted under every crash model (several draws for the random ones).
 *
 * After each boot the store opens without error (no CORRUPT_*, no recovery warning) and holds
 * exactly the state after some prefix of the writes in call order, at least as long as the last
 * acknowledged one: every acknowledged write survives (I1), in order with none missing (I2), and
 * nothing appears that was not issued (I3), across checkpoints (I6). For some points, the recovery
 * itself (open, then close with a checkpoint) is crashed at each of its own I/O calls, and the
 * next boot must find the same state (I14).
 * KV_CRASH_DRAWS raises the number of random crash states per point (default 1);
 * KV_CRASH_RECOVERY_EVERY=1 crashes the recovery after every point (default: every 40th).
 */
import { describe, expect, it } from 'vitest'
import { CRASH_MODELS } from '../../src/adapters/sim/crash.js'
import type { CrashModel } from '../../src/adapters/sim/crash.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { isCairnError } from '../../src/core/errors.js'
import type { Kv, KvOptions } from '../../src/kv/index.js'
import { bytes, openSimKv } from './kv-helpers.js'

const DRAWS = Number(process.env.KV_CRASH_DRAWS ?? 1)
/** Every how many crash points the recovery itself is crashed at each of its I/O calls. */
const RECOVERY_CRASH_EVERY = Number(process.env.KV_CRASH_RECOVERY_EVERY ?? 40)

/** One write as issued: its changes, in order (a batch has several). */
type Change = readonly [key: string, value: string | undefined]
interface Issued {
  readonly changes: readonly Change[]
}

interface Run {
  readonly issued: Issued[]
  /** The index of the last acknowledged write (-1: none). */
  lastAcked: number
}

const options = (): Partial<KvOptions> => {
  let tick = 0
  return {
    checkpointEvery: { records: 8 },
    retention: { keepLast: 2, gcEvery: 2 },
    onError: () => undefined, // background failures after the power went
    store: { clock: () => 1_800_000_000_000 + tick++ },
  }
}

/** Runs the workload until it ends or the power goes; records what was issued and acknowledged. */
async function workload(disk: SimDisk): Promise<Run> {
  const run: Run = { issued: [], lastAcked: -1 }
  const write = (kv: Kv, changes: Change[]): Promise<void> => {
    const index = run.issued.push({ changes }) - 1
    const ops = changes.map(([key, value]) =>
      value === undefined
        ? { type: 'delete' as const, key }
        : { type: 'put' as const, key, value: bytes(value) },
    )
    const [first] = ops
    const done =
      ops.length === 1 && first !== undefined
        ? first.type === 'put'
          ? kv.put(first.key, first.value)
          : kv.delete(first.key)
        : kv.batch(ops)
    return done.then(() => {
      run.lastAcked = Math.max(run.lastAcked, index)
    })
  }
  const value = (n: number) => `v${String(n)}-${'x'.repeat((n * 37) % 300)}`
  let n = 0
  try {
    const kv = await openSimKv(disk, options())
    for (let i = 0; i < 4; i++) await write(kv, [[`k${String(i % 3)}`, value(n++)]])
    const burst = (size: number) =>
      Promise.all(
        Array.from({ length: size }, (_, i) =>
          write(kv, [[`k${String(i % 4)}`, i % 5 === 3 ? undefined : value(n++)]]),
        ),
      )
    await burst(6)
    await write(kv, [
      ['b1', value(n++)],
      ['k0', undefined],
      ['b2', value(n++)],
    ])
    for (let i = 0; i < 5; i++) await write(kv, [[`k${String(i % 2)}`, i === 2 ? undefined : value(n++)]])
    await kv.checkpoint()
    await burst(6)
    await kv.close()
  } catch (error) {
    if (!disk.halted) throw error
    expect(isCairnError(error, 'IO') || isCairnError(error, 'LOG_FAILED'), String(error)).toBe(true)
  }
  return run
}

/** The state after each prefix of the writes, as sorted "key=value" lines. */
function prefixStates(issued: readonly Issued[]): string[] {
  const state = new Map<string, string>()
  const render = () => JSON.stringify([...state].sort(([a], [b]) => (a < b ? -1 : 1)))
  const states = [render()]
  for (const { changes } of issued) {
    for (const [key, value] of changes) {
      if (value === undefined) state.delete(key)
      else state.set(key, value)
    }
    states.push(render())
  }
  return states
}

/** Opens the booted disk; returns the prefix length its state equals (throws when none does). */
async function recoverAndCheck(disk: SimDisk, run: Run, context: string): Promise<number> {
  const kv = await openSimKv(disk, { checkpointOnClose: false })
  expect(kv.recovery.warnings, context).toEqual([])
  const found = JSON.stringify(
    Array.from(kv.scan(), ([key, value]) => [new TextDecoder().decode(key), new TextDecoder().decode(value)]),
  )
  await kv.close()
  const states = prefixStates(run.issued)
  // The longest prefix with this state that keeps every acknowledged write.
  for (let p = states.length - 1; p >= run.lastAcked + 1; p--) if (states[p] === found) return p
  throw new Error(
    `${context}: the recovered state is no prefix of the writes keeping the ${String(run.lastAcked + 1)} acknowledged: ${found.slice(0, 300)}`,
  )
}

const drawsOf = (model: CrashModel) => (model === 'processCrash' || model === 'clearCache' ? 1 : DRAWS)

describe('kv: crash before every I/O index', () => {
  it('every crash state recovers a prefix of the writes holding every acknowledged one, across checkpoints; recovery crashed again recovers the same', async () => {
    const probe = new SimDisk({ seed: 1 })
    const full = await workload(probe)
    const ioTotal = probe.ioCount
    expect(full.lastAcked).toBe(full.issued.length - 1)
    let states = 0
    let recoveryCrashes = 0
    const prefixes = new Set<number>()
    for (let k = 1; k <= ioTotal + 1; k++) {
      const disk = new SimDisk({ seed: k })
      disk.haltAtIo(k)
      const run = await workload(disk)
      for (const model of CRASH_MODELS) {
        for (let draw = 0; draw < drawsOf(model); draw++) {
          const seed = k * 100 + draw
          const context = `crash at I/O #${String(k)} model=${model} draw=${String(draw)}`
          let prefix: number
          try {
            prefix = await recoverAndCheck(disk.crash(model, createRng(seed)), run, context)
          } catch (error) {
            throw new Error(`${context}\n${disk.formatTrace(30)}`, { cause: error })
          }
          prefixes.add(prefix)
          states++
          // One model per chosen point, in turn (each recovery crash costs a whole reopen).
          const chosen = CRASH_MODELS[Math.floor(k / RECOVERY_CRASH_EVERY) % CRASH_MODELS.length]
          if (k % RECOVERY_CRASH_EVERY !== 0 || draw > 0 || model !== chosen) continue
          // A second power loss at every I/O call of a recovery that checkpoints as it closes.
          const recoveryProbe = disk.crash(model, createRng(seed))
          const before = recoveryProbe.ioCount
          await (await openSimKv(recoveryProbe, options())).close()
          const recoveryIo = recoveryProbe.ioCount - before
          for (let j = 1; j <= recoveryIo; j++) {
            const booted = disk.crash(model, createRng(seed))
            booted.haltAtIo(booted.ioCount + j)
            try {
              await (await openSimKv(booted, options())).close()
            } catch (error) {
              if (!booted.halted) throw error
            }
            const again = booted.crash('weak', createRng(seed + j))
            const context2 = `${context}, then recovery crashed at its I/O #${String(j)}`
            expect(await recoverAndCheck(again, run, context2), context2).toBe(prefix)
            recoveryCrashes++
          }
        }
      }
    }
    console.log(
      `kv crash enumeration: ${String(ioTotal)} I/O points, ${String(states)} crash states, ` +
        `${String(recoveryCrashes)} crashes during recovery, ${String(prefixes.size)} distinct prefixes recovered`,
    )
    expect(ioTotal).toBeGreaterThan(150)
    expect(prefixes.size).toBeGreaterThan(10)
  })
})
