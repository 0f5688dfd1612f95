/**
 * Damage and the recovery modes. A log of 60 records over several 4 KiB segments gets a flipped
 * bit in one record's bytes, in the first, a middle, the last sealed or the active segment;
 * each recovery mode must then do what its table (src/wal/recovery.ts) says. Torn tails come
 * from real simulated crashes.
 */
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { openWal } from '../../src/wal/index.js'
import type { RecoveryMode } from '../../src/wal/index.js'
import { collect, expectCairnError } from '../helpers.js'

const RECORDS = 60
const record = (lsn: number): Uint8Array => new Uint8Array(300).map((_, i) => (lsn * 131 + i * 7) & 0xff)

async function buildLog(): Promise<SimDisk> {
  const disk = new SimDisk({ seed: 99 })
  const wal = await openWal({ vfs: disk, segmentBytes: 4096 })
  for (let lsn = 1; lsn <= RECORDS; lsn++) await wal.append(record(lsn))
  await wal.close()
  return disk
}

/** Flips a bit inside record `lsn`'s bytes and returns the segment path it lives in. */
async function rotRecord(disk: SimDisk, lsn: number): Promise<string> {
  for (const name of await disk.readdir('wal')) {
    const path = `wal/${name}`
    const at = Buffer.from(disk.peek(path) ?? []).indexOf(Buffer.from(record(lsn)))
    if (at >= 0) {
      disk.rot(path, at + 150, 3)
      return path
    }
  }
  throw new Error(`record ${String(lsn)} not found`)
}

async function segmentsOf(disk: SimDisk): Promise<string[]> {
  return (await disk.readdir('wal')).filter((n) => n.endsWith('.seg')).sort()
}

const lsns = async (disk: SimDisk, mode: RecoveryMode = 'tolerateTornTail') => {
  const wal = await openWal({ vfs: disk, segmentBytes: 4096, recovery: mode })
  const all = (await collect(wal.readLog())).map((r) => r.lsn)
  return { wal, all }
}

describe('wal damage: a flipped bit at each segment position', () => {
  it('in a sealed segment (first, middle, last sealed): CORRUPT_LOG naming segment, offset and LSN when read', async () => {
    const probe = await buildLog()
    const names = await segmentsOf(probe)
    expect(names.length).toBeGreaterThanOrEqual(5)
    // Records in the first, a middle and the last sealed segment.
    const firstLsns = names.map((n) => Number(n.slice(0, 20)))
    const targets = [firstLsns[0]! + 1, firstLsns[2]! + 1, firstLsns[names.length - 2]! + 1]
    for (const lsn of targets) {
      const disk = await buildLog()
      const path = await rotRecord(disk, lsn)
      const wal = await openWal({ vfs: disk, segmentBytes: 4096 })
      const error = await expectCairnError(collect(wal.readLog()), 'CORRUPT_LOG')
      expect(error.context).toMatchObject({ path, lsn })
      expect(error.context.offset).toBeGreaterThan(0)
      await wal.close()
    }
  })

  it('in the active segment with synced records after it: CORRUPT_LOG at open, never a silent cut', async () => {
    const disk = await buildLog()
    const names = await segmentsOf(disk)
    const activeBase = Number(names.at(-1)!.slice(0, 20))
    expect(RECORDS - activeBase).toBeGreaterThanOrEqual(2)
    const path = await rotRecord(disk, activeBase)
    const error = await expectCairnError(openWal({ vfs: disk, segmentBytes: 4096 }), 'CORRUPT_LOG')
    expect(error.context).toMatchObject({ path, lsn: activeBase })
    expect(error.message).toContain('valid frames follow')
  })

  it('in the last record of the log, with nothing after it: reported as a torn tail and cut', async () => {
    const disk = await buildLog()
    await rotRecord(disk, RECORDS)
    const { wal, all } = await lsns(disk)
    expect(wal.recovery.tornTail).toMatchObject({ reason: 'checksum' })
    expect(all).toEqual(Array.from({ length: RECORDS - 1 }, (_, i) => i + 1))
  })

  it("'absolute' refuses any damage, even a torn tail", async () => {
    const disk = await buildLog()
    await rotRecord(disk, RECORDS)
    await expectCairnError(openWal({ vfs: disk, segmentBytes: 4096, recovery: 'absolute' }), 'CORRUPT_LOG')
    const sealed = await buildLog()
    await rotRecord(sealed, 3)
    await expectCairnError(openWal({ vfs: sealed, segmentBytes: 4096, recovery: 'absolute' }), 'CORRUPT_LOG')
  })

  it("'pointInTime' ends the log at the first damage, quarantines the rest, and reports it", async () => {
    const disk = await buildLog()
    const path = await rotRecord(disk, 20)
    const { wal, all } = await lsns(disk, 'pointInTime')
    expect(all).toEqual(Array.from({ length: 19 }, (_, i) => i + 1))
    expect(wal.recovery.dropped).toMatchObject({ segment: path, fromLsn: 20 })
    expect(wal.recovery.dropped?.lsnMaxSeen).toBeGreaterThanOrEqual(20)
    const aside = await disk.readdir('wal')
    expect(aside.some((n) => n.startsWith('quarantine-'))).toBe(true)
    expect(aside.some((n) => n.endsWith('.dropped'))).toBe(true)
    expect(await wal.append(record(20))).toBe(20)
    await wal.close()
  })

  it("'skipCorrupt' skips the damaged frame, reports the gap, and keeps every other record", async () => {
    const disk = await buildLog()
    await rotRecord(disk, 20)
    const { wal, all } = await lsns(disk, 'skipCorrupt')
    expect(wal.recovery.skipped).toEqual([expect.objectContaining({ fromLsn: 20, toLsn: 20 })])
    expect(all).toEqual(Array.from({ length: RECORDS }, (_, i) => i + 1).filter((lsn) => lsn !== 20))
    await wal.close()
  })
})

describe('wal damage: torn tails from real crashes', () => {
  it('a torn tail is cut before new appends, reported, and never resurrected by a second crash', async () => {
    let torn = 0
    for (let seed = 0; seed < 40; seed++) {
      const disk = new SimDisk({ seed, sectorBytes: 512 })
      const wal = await openWal({ vfs: disk })
      for (let lsn = 1; lsn <= 5; lsn++) await wal.append(record(lsn))
      disk.haltAtIo(disk.ioCount + 2) // the write lands, power is lost before its fdatasync
      // Power lost during the fdatasync: the log fail-stops, and the batch is not acknowledged.
      await expectCairnError(wal.appendMany([record(6), record(7), record(8), record(9)]), 'LOG_FAILED')
      const booted = disk.crash('weak', createRng(seed))
      const again = await openWal({ vfs: booted })
      const recovered = (await collect(again.readLog())).map((r) => r.lsn)
      expect([5, 9]).toContain(recovered.length)
      if (again.recovery.tornTail !== undefined) {
        torn += 1
        expect(recovered).toEqual([1, 2, 3, 4, 5])
        expect(await again.append(record(6))).toBe(6)
        const twice = booted.crash('weak', createRng(seed + 1000))
        const third = await openWal({ vfs: twice })
        expect(third.recovery.tornTail).toBeUndefined()
        expect((await collect(third.readLog())).map((r) => r.lsn)).toEqual([1, 2, 3, 4, 5, 6])
      }
    }
    // Crashes that left only zeros past the last frame are a clean end, not a torn tail.
    expect(torn).toBeGreaterThanOrEqual(3)
  })
})
