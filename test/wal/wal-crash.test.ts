/**
 * Crash-point enumeration for the log (TESTING.md). A small workload (sequential and concurrent
 * appends, segment rotation, truncation, close) is run once to count its I/O calls; then for every
 * index k the workload is run again on a fresh disk that loses power as call k starts, and the
 * disk is booted under every crash model (several draws for the random ones). After each boot:
 *   the log opens without a false CORRUPT_LOG (I5), every acknowledged record at or after the
 *   first LSN held is present byte-exact (I1), the log is gap-free and in order (I2), every record
 *   is the one issued with its LSN (I3);
 * then recovery itself is crashed at each of its own I/O calls, booted again, and must recover
 * the very same log (I4: a cut tail never comes back; I14: recovery is idempotent).
 * WAL_CRASH_DRAWS raises the number of random crash states per point (default 4).
 */
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { CRASH_MODELS } from '../../src/adapters/sim/crash.js'
import type { CrashModel } from '../../src/adapters/sim/crash.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { isCairnError } from '../../src/core/errors.js'
import { openWal } from '../../src/wal/index.js'
import { collect, sameBytes } from '../helpers.js'

const SEGMENT_BYTES = 4096
const DRAWS = Number(process.env.WAL_CRASH_DRAWS ?? 4)

/** The n-th record issued (the workload issues them in LSN order, so n is the LSN). */
const record = (n: number): Uint8Array =>
  new Uint8Array(400 + ((n * 37) % 600)).map((_, i) => (n * 251 + i) & 0xff)

/** Runs the workload; returns the LSNs acknowledged before the power went. */
async function workload(disk: SimDisk): Promise<number[]> {
  const acked: number[] = []
  try {
    const wal = await openWal({ vfs: disk, segmentBytes: SEGMENT_BYTES })
    let n = 1
    for (let i = 0; i < 4; i++) acked.push(await wal.append(record(n++)))
    const groups = [[n, n + 1], [n + 2], [n + 3, n + 4, n + 5]]
    n += 6
    const results = await Promise.allSettled(groups.map((g) => wal.appendMany(g.map(record))))
    for (const result of results) if (result.status === 'fulfilled') acked.push(...result.value)
    if (results.some((r) => r.status === 'rejected')) return acked
    await wal.truncateBefore(6)
    for (let i = 0; i < 4; i++) acked.push(await wal.append(record(n++)))
    await wal.close()
  } catch (error) {
    if (!disk.halted) throw error
    expect(isCairnError(error, 'IO') || isCairnError(error, 'LOG_FAILED')).toBe(true)
  }
  return acked
}

/** Opens the log on a booted disk and checks I1-I3; returns the LSNs it holds. */
async function recoverAndCheck(disk: SimDisk, acked: readonly number[]): Promise<number[]> {
  const wal = await openWal({ vfs: disk, segmentBytes: SEGMENT_BYTES })
  const read = await collect(wal.readLog())
  const lsns = read.map((r) => r.lsn)
  lsns.forEach((lsn, i) => {
    expect(lsn).toBe(wal.firstLsn + i)
  })
  for (const r of read) expect(sameBytes(r.data, record(r.lsn))).toBe(true)
  for (const lsn of acked) if (lsn >= wal.firstLsn) expect(lsns).toContain(lsn)
  const remainingTemps = (await disk.readdir('wal')).filter((n) => n.startsWith('.tmp-'))
  expect(remainingTemps).toEqual([])
  await wal.close()
  return lsns
}

const drawsOf = (model: CrashModel) => (model === 'processCrash' || model === 'clearCache' ? 1 : DRAWS)

describe('wal: crash before every I/O index, then crash during recovery', () => {
  it('every crash state recovers a gap-free prefix holding every acknowledged record, and recovery is idempotent', async () => {
    const probe = new SimDisk({ seed: 1 })
    await workload(probe)
    const ioTotal = probe.ioCount
    let states = 0
    let recoveryCrashes = 0
    let tornTails = 0
    for (let k = 1; k <= ioTotal + 1; k++) {
      const disk = new SimDisk({ seed: k })
      disk.haltAtIo(k)
      const acked = await workload(disk)
      for (const model of CRASH_MODELS) {
        for (let draw = 0; draw < drawsOf(model); draw++) {
          const seed = k * 100 + draw
          const context = `crash at I/O #${String(k)} model=${model} draw=${String(draw)}`
          let expected: number[]
          try {
            const booted = disk.crash(model, createRng(seed))
            const probeWal = await openWal({ vfs: booted, segmentBytes: SEGMENT_BYTES })
            if (probeWal.recovery.tornTail !== undefined) tornTails += 1
            await probeWal.close()
            expected = await recoverAndCheck(disk.crash(model, createRng(seed)), acked)
          } catch (error) {
            throw new Error(`${context}\n${disk.formatTrace(25)}`, { cause: error })
          }
          states += 1
          // A second power loss at every I/O call of the recovery, booted clean and weak.
          const recoveryProbe = disk.crash(model, createRng(seed))
          const before = recoveryProbe.ioCount
          await (await openWal({ vfs: recoveryProbe, segmentBytes: SEGMENT_BYTES })).close()
          const recoveryIo = recoveryProbe.ioCount - before
          for (let j = 1; j <= recoveryIo; j++) {
            const booted = disk.crash(model, createRng(seed))
            booted.haltAtIo(booted.ioCount + j)
            try {
              await (await openWal({ vfs: booted, segmentBytes: SEGMENT_BYTES })).close()
            } catch (error) {
              if (!booted.halted) throw error
            }
            for (const second of ['clearCache', 'weak'] as const) {
              const again = booted.crash(second, createRng(seed + j))
              try {
                expect(await recoverAndCheck(again, acked)).toEqual(expected)
              } catch (error) {
                throw new Error(`${context}, then recovery crashed at its I/O #${String(j)} (${second})`, {
                  cause: error,
                })
              }
              recoveryCrashes += 1
            }
          }
        }
      }
    }
    console.log(
      `wal crash enumeration: ${String(ioTotal)} I/O points, ${String(states)} crash states, ` +
        `${String(recoveryCrashes)} crashes during recovery, ${String(tornTails)} torn tails cut`,
    )
    expect(ioTotal).toBeGreaterThan(40)
    expect(tornTails).toBeGreaterThan(0)
  })
})
