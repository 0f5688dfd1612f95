/**
 * Real processes, real disk: a worker appends with sync 'always' and reports every acknowledged
 * LSN over IPC after its promise resolves; the parent SIGKILLs it by PID at a random moment,
 * reopens the log itself (a fresh process as far as the log is concerned), and checks that every
 * reported record is present byte-exact and the log is a gap-free sequence of issued records.
 * The next iteration's worker reopens the same log and goes on. WAL_KILL_ITERATIONS runs longer.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createNodeVfs } from '../../src/adapters/node/node-vfs.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { openWal } from '../../src/wal/index.js'
import { makeTempDir, sameBytes } from '../helpers.js'
import { runUntilKilled } from '../kill-harness.js'
import { killRecord } from './kill-record.js'

const ITERATIONS = Number(process.env.WAL_KILL_ITERATIONS ?? 6)
const WORKER = fileURLToPath(new URL('./kill-worker.ts', import.meta.url))

interface Acked {
  readonly tag: number
  readonly lsns: number[]
}

/** Runs one worker until it is killed; returns what it acknowledged (an ack read after the kill was sent counts: it was sent before). */
async function runAndKill(dir: string, firstTag: number, killAfterMs: number): Promise<Acked[]> {
  const acked: Acked[] = []
  await runUntilKilled<{ kind: string; tag?: number; lsns?: number[] }>(
    WORKER,
    [dir, String(firstTag)],
    (message, killAfter) => {
      if (message.kind === 'opened') killAfter(killAfterMs)
      else if (message.tag !== undefined && message.lsns !== undefined)
        acked.push({ tag: message.tag, lsns: message.lsns })
    },
    { deliverAfterKill: true },
  )
  return acked
}

describe('wal: a real process killed with SIGKILL', () => {
  it('every LSN reported after its promise resolved survives, and the log stays a gap-free sequence', async () => {
    const { dir, cleanup } = await makeTempDir()
    const rng = createRng(Number(process.env.WAL_KILL_SEED ?? 20261122))
    const expected = new Map<number, Uint8Array>()
    let nextTag = 1
    let tornTails = 0
    try {
      for (let iteration = 0; iteration < ITERATIONS; iteration++) {
        const acked = await runAndKill(dir, nextTag, 20 + rng.int(400))
        nextTag += 1_000_000
        for (const { tag, lsns } of acked)
          lsns.forEach((lsn, part) => expected.set(lsn, killRecord(tag, part)))
        const wal = await openWal({ vfs: createNodeVfs({ root: dir }), segmentBytes: 64 * 1024 })
        if (wal.recovery.tornTail !== undefined) tornTails += 1
        let previous = wal.firstLsn - 1
        const present = new Set<number>()
        for await (const { lsn, data } of wal.readLog()) {
          expect(lsn).toBe(previous + 1)
          previous = lsn
          present.add(lsn)
          const known = expected.get(lsn)
          if (known !== undefined) expect(sameBytes(data, known)).toBe(true)
        }
        for (const lsn of expected.keys()) expect(present.has(lsn)).toBe(true)
        await wal.close()
      }
      console.log(
        `wal kill loop: ${String(ITERATIONS)} SIGKILLs, ${String(expected.size)} acknowledged records checked, ` +
          `${String(tornTails)} torn tails cut`,
      )
      expect(expected.size).toBeGreaterThan(0)
    } finally {
      await cleanup()
    }
  })
})
