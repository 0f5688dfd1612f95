/**
 * The log's behaviours, one test each, on the simulated disk: LSNs, group commit, rotation,
 * truncation, reopen, the sync modes, fsync failure, ENOSPC, and bad input.
 */
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { openWal } from '../../src/wal/index.js'
import type { WalOptions } from '../../src/wal/index.js'
import { collect, expectCairnError } from '../helpers.js'

const record = (lsnHint: number, bytes = 100): Uint8Array =>
  new Uint8Array(bytes).map((_, i) => (lsnHint * 31 + i) & 0xff)
const open = (disk: SimDisk, options: Partial<WalOptions> = {}) => openWal({ vfs: disk, ...options })
const lsnsOf = async (wal: Awaited<ReturnType<typeof open>>, from?: number) =>
  (await collect(wal.readLog(from === undefined ? {} : { from }))).map((r) => r.lsn)

describe('wal: appends and reads', () => {
  it('append and appendMany return gap-free LSNs, and readLog returns the bytes in order', async () => {
    const disk = new SimDisk({ seed: 1 })
    const wal = await open(disk)
    expect(await wal.append(record(1))).toBe(1)
    expect(await wal.appendMany([record(2), record(3), record(4)])).toEqual([2, 3, 4])
    expect(await wal.appendMany([])).toEqual([])
    expect(await wal.append(new Uint8Array(0))).toBe(5)
    const all = await collect(wal.readLog())
    expect(all.map((r) => r.lsn)).toEqual([1, 2, 3, 4, 5])
    expect(all[2]?.data).toEqual(record(3))
    expect(all[4]?.data).toEqual(new Uint8Array(0))
    expect(await lsnsOf(wal, 3)).toEqual([3, 4, 5])
    expect((await collect(wal.readLog({ from: 2, to: 3 }))).map((r) => r.lsn)).toEqual([2, 3])
    await wal.close()
  })

  it('concurrent appends are group-committed: fewer fdatasyncs than appends, all acknowledged in order', async () => {
    const disk = new SimDisk({ seed: 2 })
    const wal = await open(disk)
    const lsns = await Promise.all(Array.from({ length: 64 }, (_, i) => wal.append(record(i))))
    expect(lsns).toEqual(Array.from({ length: 64 }, (_, i) => i + 1))
    const stats = wal.stats()
    expect(stats.records).toBe(64)
    expect(stats.syncs).toBeLessThan(64)
    expect(stats.batches).toBe(stats.syncs)
    await wal.close()
  })

  it('rotates segments at segmentBytes, keeps oversized records whole, and reads across segments', async () => {
    const disk = new SimDisk({ seed: 3 })
    const wal = await open(disk, { segmentBytes: 4096 })
    for (let i = 1; i <= 100; i++) await wal.append(record(i, 300))
    await wal.append(record(101, 10_000)) // larger than a segment: gets one of its own
    await wal.append(record(102))
    expect(wal.stats().rotations).toBeGreaterThan(5)
    const all = await collect(wal.readLog())
    expect(all.map((r) => r.lsn)).toEqual(Array.from({ length: 102 }, (_, i) => i + 1))
    expect(all[100]?.data).toEqual(record(101, 10_000))
    await wal.close()
    const again = await open(disk, { segmentBytes: 4096 })
    expect(again.recovery.lastLsn).toBe(102)
    expect(await lsnsOf(again)).toHaveLength(102)
    expect(await again.append(record(103))).toBe(103)
    await again.close()
  })

  it('truncateBefore removes whole sealed segments below the LSN, never the active one', async () => {
    const disk = new SimDisk({ seed: 4 })
    const wal = await open(disk, { segmentBytes: 4096 })
    for (let i = 1; i <= 60; i++) await wal.append(record(i, 300))
    const segmentsBefore = (await disk.readdir('wal')).length
    const removed = await wal.truncateBefore(30)
    expect(removed).toBeGreaterThan(0)
    expect((await disk.readdir('wal')).length).toBe(segmentsBefore - removed)
    expect(wal.firstLsn).toBeLessThanOrEqual(30)
    expect((await lsnsOf(wal, 30))[0]).toBe(30)
    await expectCairnError(collect(wal.readLog({ from: 1 })), 'NOT_FOUND')
    await wal.truncateBefore(1_000_000)
    expect((await disk.readdir('wal')).length).toBe(1)
    expect(await wal.append(record(61))).toBe(61)
    await wal.close()
    const again = await open(disk, { segmentBytes: 4096 })
    expect(again.lastLsn).toBe(61)
    expect(again.firstLsn).toBe((await lsnsOf(again))[0])
    await again.close()
  })

  it('a new log can start at a chosen LSN (after a checkpoint, the log resumes past it)', async () => {
    const disk = new SimDisk({ seed: 5 })
    const wal = await open(disk, { firstLsn: 1001 })
    expect(await wal.append(record(1))).toBe(1001)
    await wal.close()
  })
})

describe('wal: sync modes', () => {
  it("'always': an append that resolved survives losing every unsynced write", async () => {
    const disk = new SimDisk({ seed: 6 })
    const wal = await open(disk)
    await wal.append(record(1))
    await wal.append(record(2))
    const booted = disk.crash('clearCache')
    const again = await open(booted)
    expect(await lsnsOf(again)).toEqual([1, 2])
  })

  it("'batch': appends resolve before they are durable; flush() makes them durable", async () => {
    const disk = new SimDisk({ seed: 7 })
    const wal = await open(disk, { sync: 'batch', syncIntervalMs: 60_000 })
    await wal.append(record(1))
    expect(wal.durableLsn).toBe(0)
    expect(wal.lastLsn).toBe(1)
    expect(await lsnsOf(await open(disk.crash('clearCache')))).toEqual([])
    const disk2 = new SimDisk({ seed: 7 })
    const wal2 = await open(disk2, { sync: 'batch', syncIntervalMs: 60_000 })
    await wal2.appendMany([record(1), record(2)])
    await wal2.flush()
    expect(wal2.durableLsn).toBe(2)
    expect(await lsnsOf(await open(disk2.crash('clearCache')))).toEqual([1, 2])
  })

  it("'batch': the interval timer syncs without a flush", async () => {
    const disk = new SimDisk({ seed: 8 })
    const wal = await open(disk, { sync: 'batch', syncIntervalMs: 5 })
    await wal.append(record(1))
    for (let i = 0; i < 100 && wal.durableLsn < 1; i++) await new Promise((r) => setTimeout(r, 5))
    expect(wal.durableLsn).toBe(1)
    await wal.close()
  })

  it("'none': durable only at flush or close", async () => {
    const disk = new SimDisk({ seed: 9 })
    const wal = await open(disk, { sync: 'none' })
    await wal.append(record(1))
    expect(wal.stats().syncs).toBe(0)
    await wal.close()
    expect(await lsnsOf(await open(disk.crash('clearCache')))).toEqual([1])
  })
})

describe('wal: failures', () => {
  it('an fsync failure rejects the batch with LOG_FAILED and stops the log; reopening recovers only what is durable', async () => {
    const disk = new SimDisk({ seed: 10 })
    const wal = await open(disk)
    await wal.append(record(1))
    disk.injectFault({ kind: 'EIO', ops: ['fdatasync'], path: /\.seg$/ })
    const failed = await expectCairnError(wal.append(record(2)), 'LOG_FAILED')
    expect(failed.context.path).toMatch(/\.seg$/)
    await expectCairnError(wal.append(record(3)), 'LOG_FAILED')
    await expectCairnError(wal.flush(), 'LOG_FAILED')
    await wal.close()
    // Reopened in the same process: the unsaved record 2 is not there (cut from the page cache).
    const again = await open(disk)
    expect(await lsnsOf(again)).toEqual([1])
    expect(await again.append(record(2))).toBe(2)
    await again.close()
    expect(await lsnsOf(await open(disk.crash('clearCache')))).toEqual([1, 2])
  })

  it('ENOSPC rejects cleanly with DISK_FULL, loses nothing acknowledged, and the log continues once space is freed', async () => {
    const disk = new SimDisk({ seed: 11 })
    const wal = await open(disk)
    await wal.append(record(1, 100))
    const filler = await disk.open('filler', 'create')
    await filler.write(new Uint8Array(3 * 1024 * 1024), 0)
    disk.setSpaceBudget(disk.usedBytes() + 50)
    // Larger than the space the log zero-filled ahead of itself, so it needs new space.
    const big = record(2, 2 * 1024 * 1024)
    const full = await expectCairnError(wal.append(big), 'DISK_FULL')
    expect(full.context.retryable).toBe(true)
    await filler.truncate(0)
    expect(await wal.append(big)).toBe(2)
    expect(await lsnsOf(wal)).toEqual([1, 2])
    await wal.close()
    expect(await lsnsOf(await open(disk.crash('clearCache')))).toEqual([1, 2])
  })

  it('zero-fill ahead never fails an append that fits: under a tight budget it is skipped', async () => {
    const disk = new SimDisk({ seed: 16 })
    const wal = await open(disk)
    disk.setSpaceBudget(disk.usedBytes() + 4096)
    expect(await wal.append(record(1, 1000))).toBe(1)
    expect(await wal.append(record(2, 1000))).toBe(2)
    await wal.close()
    expect(await lsnsOf(await open(disk.crash('clearCache')))).toEqual([1, 2])
  })

  it('small frames are written into space zero-filled ahead; closing cuts it off', async () => {
    const disk = new SimDisk({ seed: 17 })
    const wal = await open(disk, { segmentBytes: 8 * 1024 * 1024 })
    await wal.append(record(1, 100))
    const path = 'wal/00000000000000000001.seg'
    expect((await disk.stat(path)).size).toBeGreaterThanOrEqual(1024 * 1024)
    await wal.close()
    expect((await disk.stat(path)).size).toBeLessThan(1024)
  })

  it('after a crash, zeros past the last frame are the clean end of the log, not damage', async () => {
    const disk = new SimDisk({ seed: 18 })
    const wal = await open(disk, { segmentBytes: 8 * 1024 * 1024 })
    await wal.append(record(1, 100))
    const booted = await open(disk.crash('processCrash'))
    expect(booted.recovery.tornTail).toBeUndefined()
    expect(await booted.append(record(2, 100))).toBe(2)
    expect(await lsnsOf(booted)).toEqual([1, 2])
    await booted.close()
  })

  it('a segment sealed after a failed write ends at its last frame in every crash (found by the model test: the cut was never synced)', async () => {
    // A write that failed partway is cut back off, but the cut is not durable until a sync. The
    // next append rotated, and the rotation skipped its sync (no frame had been written since the
    // last one): a crash could bring the failed frame's bytes back at the end of a sealed segment,
    // a short frame there, and the whole log refused to open (CORRUPT_LOG).
    for (let seed = 0; seed < 60; seed++) {
      const disk = new SimDisk({ seed })
      const options = { segmentBytes: 4096, sync: 'always' as const }
      let wal = await open(disk, options)
      await wal.append(record(1, 2955))
      await wal.append(record(2, 6))
      await wal.close()
      wal = await open(disk, options)
      disk.setSpaceBudget(disk.usedBytes() + 10)
      await expectCairnError(wal.append(record(3, 1)), 'DISK_FULL')
      disk.setSpaceBudget(undefined)
      // Too big for what is left of the segment: it rotates, sealing the one the write failed in.
      expect(await wal.append(record(3, 1000))).toBe(3)
      expect(await wal.append(record(4, 0))).toBe(4)
      for (const model of ['prefixPerFile', 'weak'] as const) {
        const crashed = await open(disk.crash(model), options)
        expect(await lsnsOf(crashed), `seed ${String(seed)}, ${model}`).toEqual([1, 2, 3, 4])
        await crashed.close()
      }
    }
  })

  it('a short write is cut back off the file; queued appends behind it are rejected and LSNs stay gap-free', async () => {
    const disk = new SimDisk({ seed: 12 })
    const wal = await open(disk)
    await wal.append(record(1))
    disk.injectFault({ kind: 'shortWrite', ops: ['write'], path: /\.seg$/ })
    const results = await Promise.allSettled([wal.append(record(2)), wal.append(record(3))])
    expect(results.every((r) => r.status === 'rejected')).toBe(true)
    expect(await wal.append(record(2))).toBe(2)
    expect(await lsnsOf(wal)).toEqual([1, 2])
    await wal.close()
    const again = await open(disk.crash('clearCache'))
    expect(again.recovery.tornTail).toBeUndefined()
    expect(await lsnsOf(again)).toEqual([1, 2])
  })
})

describe('wal: bad input', () => {
  it('refuses bad options with BAD_OPTION', async () => {
    const disk = new SimDisk({ seed: 13 })
    await expectCairnError(open(disk, { segmentBytes: 100 }), 'BAD_OPTION')
    await expectCairnError(open(disk, { sync: 'sometimes' as 'always' }), 'BAD_OPTION')
    await expectCairnError(open(disk, { recovery: 'guess' as 'absolute' }), 'BAD_OPTION')
    await expectCairnError(open(disk, { firstLsn: 0 }), 'BAD_OPTION')
  })

  it('refuses a record over the limit with LIMIT_EXCEEDED, and any call after close with CLOSED', async () => {
    const disk = new SimDisk({ seed: 14 })
    const wal = await open(disk)
    await expectCairnError(wal.append(new Uint8Array(64 * 1024 * 1024 + 1)), 'LIMIT_EXCEEDED')
    await wal.close()
    await wal.close()
    await expectCairnError(wal.append(record(1)), 'CLOSED')
  })

  it('a damaged segment header is CORRUPT_LOG; a newer format version is FORMAT_VERSION', async () => {
    const disk = new SimDisk({ seed: 15 })
    const wal = await open(disk)
    await wal.append(record(1))
    await wal.close()
    disk.rot('wal/00000000000000000001.seg', 20, 1)
    const error = await expectCairnError(open(disk), 'CORRUPT_LOG')
    expect(error.context.path).toBe('wal/00000000000000000001.seg')

    const disk2 = new SimDisk({ seed: 15 })
    await (await open(disk2)).close()
    const file = await disk2.open('wal/00000000000000000001.seg', 'readWrite')
    const header = await file.read(0, 40)
    header[8] = 99 // version 99
    const { crc32c } = await import('../../src/core/crc32c.js')
    new DataView(header.buffer).setUint32(36, crc32c(header.subarray(0, 36)), true)
    await file.write(header, 0)
    await file.close()
    await expectCairnError(open(disk2), 'FORMAT_VERSION')
  })
})
