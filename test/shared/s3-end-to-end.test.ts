/**
 * The whole Store API over S3, end to end, against a real S3 protocol server (s3rver, started by
 * the test on 127.0.0.1): two machines (two directories on the real disk) share one bucket;
 * checkpoints, deltas, reads, retention, both phases of GC, verify, and recovery on a third,
 * empty directory from the shipped log.
 */
import { describe, expect, it } from 'vitest'
import { openStore } from '../../src/store.js'
import type { Store } from '../../src/store.js'
import { s3Options, useS3Server } from '../adapters/s3-fixture.js'
import { collect, makeTempDir } from '../helpers.js'

const theServer = useS3Server()

const TIMING = { deleteAfterMs: 1_000, markerRetentionMs: 100_000, maxClockSkewMs: 100 }

function bytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

describe('the Store over S3 (s3rver)', () => {
  it('works unchanged end to end, shares chunks between machines, and recovers anywhere', async () => {
    const s3 = s3Options(theServer())
    const clock = { now: Date.now() }
    const [dirA, dirB, dirC] = [await makeTempDir(), await makeTempDir(), await makeTempDir()]
    const dirs = [dirA, dirB, dirC]
    const open = (dir: string, name: string): Promise<Store> =>
      openStore({
        dir,
        objects: { s3, name, timing: TIMING },
        clock: () => clock.now,
        wal: { segmentBytes: 4096 },
        workers: 1,
      })
    try {
      const a = await open(dirA.dir, 'a')
      const b = await open(dirB.dir, 'b')
      const base = bytes(1, 600_000)
      const records: Uint8Array[] = []
      for (let i = 0; i < 120; i++) records.push(bytes(100 + i, 80))
      await a.appendMany(records.slice(0, 60))
      const full = await a.checkpoint({ lsn: 60, entries: { state: base, small: new Uint8Array([1, 2, 3]) } })
      // A delta on it, patched in place.
      const patch = bytes(2, 1000)
      const delta = await a.checkpoint({
        lsn: 60,
        parent: 'latest',
        patches: { state: [{ offset: 5000, data: patch }] },
      })
      expect(delta.kind).toBe('delta')
      const patched = base.slice()
      patched.set(patch, 5000)
      expect(await (await a.snapshot(delta.id)).read('state')).toEqual(patched)
      // b stores the same bytes: deduplicated against a's chunks.
      await b.append(new Uint8Array([9]))
      const shared = await b.checkpoint({ lsn: 1, entries: { state: base } })
      expect(shared.storedBytes).toBe(0)
      // a moves on; retention drops its first two; GC condemns, then deletes what no one keeps.
      await a.appendMany(records.slice(60))
      const newest = await a.checkpoint({ lsn: 120, entries: { state: bytes(3, 300_000) } })
      expect((await a.retain({ keepLast: 1 })).drop.map((e) => e.checkpoint.id).sort()).toEqual(
        [delta.id, full.id].sort(),
      )
      const first = await a.gc({ graceMs: 0 })
      expect(first.shared?.packsCondemned).toBeGreaterThan(0)
      clock.now += TIMING.deleteAfterMs
      const second = await a.gc({ graceMs: 0 })
      expect(second.manifestsDeleted).toBe(2)
      // b's checkpoint shares a's old chunks: they stay.
      expect(await (await b.snapshot(shared.id)).read('state')).toEqual(base)
      expect((await a.verify({ readData: true })).problems).toEqual([])
      expect((await b.verify({ readData: true })).problems).toEqual([])
      // Records after the newest checkpoint: sealed segments are shipped as they seal.
      const later: Uint8Array[] = []
      for (let i = 0; i < 200; i++) later.push(bytes(1000 + i, 80))
      for (const record of later) await a.append(record)
      await a.close()
      await b.close()
      expect(a.shippingError).toBeUndefined()

      // A third machine, an empty directory: a's newest checkpoint and its shipped log.
      const c = await open(dirC.dir, 'a')
      const recovery = await c.recover()
      expect(recovery.checkpoint?.id).toBe(newest.id)
      expect(await recovery.snapshot?.read('state')).toEqual(bytes(3, 300_000))
      // Every record of a sealed (so shipped) segment after LSN 120, in order, byte-exact.
      const lastShipped = c.logRestored?.lastLsn ?? 0
      expect(lastShipped).toBeGreaterThan(220)
      const replayed = await collect(recovery.records)
      expect(replayed.map((r) => r.lsn)).toEqual(Array.from({ length: lastShipped - 120 }, (_, i) => 121 + i))
      for (const r of replayed) expect(r.data).toEqual(later[r.lsn - 121])
      expect(await c.append(new Uint8Array([1]))).toBe(lastShipped + 1)
      await c.close()
    } finally {
      await Promise.all(dirs.map((d) => d.cleanup()))
    }
  })
})
