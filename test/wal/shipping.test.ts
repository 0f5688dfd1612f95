/**
 * Log shipping: sealed segments copied to a bucket (a BlobStore over its own simulated disk),
 * then restored into an empty directory of another simulated disk and opened with openWal:
 * whole logs, point-in-time restores (to the middle of a frame), restores from an LSN, pruning,
 * the refusals (a hole, a damaged shipped or local segment, another history), a property over
 * random logs, and power loss at every I/O call of a restore.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import type { FsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { CRASH_MODELS } from '../../src/adapters/sim/crash.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { isCairnError } from '../../src/core/errors.js'
import type { BlobStore } from '../../src/core/ports.js'
import { openWal } from '../../src/wal/index.js'
import type { Wal } from '../../src/wal/index.js'
import { LogShipper, listShipped, pruneShipped, shipLog, shippedKey } from '../../src/wal/shipping.js'
import { restoreShippedLog } from '../../src/wal/shipping-restore.js'
import { segmentName } from '../../src/wal/segments.js'
import { collect, expectCairnError, sameBytes } from '../helpers.js'

const SEGMENT_BYTES = 4096

/** The record with LSN `lsn` (every log here is written in LSN order from 1). */
const record = (lsn: number, bytes = 150 + ((lsn * 53) % 250)): Uint8Array =>
  new Uint8Array(bytes).map((_, i) => (lsn * 131 + i * 7) & 0xff)

const bucketOf = (seed: number): Promise<FsBlobStore> =>
  createFsBlobStore({ vfs: new SimDisk({ seed }), root: 'objects' })

/**
 * Writes `batches` (each a list of record sizes; one appendMany per batch, so one frame each)
 * and returns the open log and every record by LSN (index 0 is LSN 1).
 */
async function writeLog(
  disk: SimDisk,
  batches: readonly (readonly number[])[],
  segmentBytes = SEGMENT_BYTES,
): Promise<{ wal: Wal; records: Uint8Array[] }> {
  const wal = await openWal({ vfs: disk, segmentBytes })
  const records: Uint8Array[] = []
  for (const sizes of batches) {
    const batch = sizes.map((size, k) => record(records.length + k + 1, size))
    records.push(...batch)
    await wal.appendMany(batch)
  }
  return { wal, records }
}

/** `count` batches of 1..5 records of varied sizes. */
const someBatches = (count: number): number[][] =>
  Array.from({ length: count }, (_, i) =>
    Array.from({ length: 1 + (i % 5) }, (__, k) => 100 + ((i * 97 + k * 31) % 400)),
  )

/** The last LSN of the sealed segments: the active segment's base LSN - 1. */
async function lastSealedLsn(disk: SimDisk): Promise<number> {
  const names = (await disk.readdir('wal')).filter((n) => n.endsWith('.seg')).sort()
  return Number(names.at(-1)?.slice(0, 20)) - 1
}

/** Opens the restored log and checks it holds exactly `records[first-1 .. last-1]`, byte-exact. */
async function expectRestored(
  disk: SimDisk,
  records: readonly Uint8Array[],
  expected: { firstLsn: number; lastLsn: number },
): Promise<Wal> {
  const wal = await openWal({ vfs: disk, segmentBytes: SEGMENT_BYTES })
  expect(wal.firstLsn).toBe(expected.firstLsn)
  expect(wal.lastLsn).toBe(expected.lastLsn)
  const read = await collect(wal.readLog())
  expect(read.map((r) => r.lsn)).toEqual(
    Array.from({ length: expected.lastLsn - expected.firstLsn + 1 }, (_, i) => expected.firstLsn + i),
  )
  for (const r of read) expect(sameBytes(r.data, records[r.lsn - 1])).toBe(true)
  return wal
}

describe('log shipping: ship and restore', () => {
  it('ships every sealed segment once, and a restored log opens with the same records and LSNs', async () => {
    const disk = new SimDisk({ seed: 1 })
    const { wal, records } = await writeLog(disk, someBatches(120))
    const sealedEnd = await lastSealedLsn(disk)
    const localNames = (await disk.readdir('wal')).sort()
    expect(localNames.length).toBeGreaterThan(4)
    const bucket = await bucketOf(2)

    const shipper = new LogShipper({ vfs: disk, blobs: bucket })
    const first = await shipper.ship()
    expect(first.shipped).toEqual(localNames.slice(0, -1).map(shippedKey))
    expect(first.bytes).toBe(
      localNames.slice(0, -1).reduce((sum, name) => sum + (disk.peek(`wal/${name}`)?.length ?? 0), 0),
    )
    for (const name of localNames.slice(0, -1)) {
      expect(sameBytes(await bucket.get(shippedKey(name)), disk.peek(`wal/${name}`))).toBe(true)
    }
    expect(await shipper.ship()).toEqual({ shipped: [], bytes: 0 })
    expect(await shipLog(disk, 'wal', bucket)).toEqual({ shipped: [], bytes: 0 }) // a fresh shipper too
    expect((await listShipped(bucket)).map((s) => s.name)).toEqual(localNames.slice(0, -1))

    const target = new SimDisk({ seed: 3 })
    const result = await restoreShippedLog(bucket, target, 'wal')
    expect(result).toEqual({ segments: localNames.length - 1, firstLsn: 1, lastLsn: sealedEnd })
    expect(target.openHandles).toBe(0)
    const restored = await expectRestored(target, records, { firstLsn: 1, lastLsn: sealedEnd })
    // The restored segments are the shipped bytes, sealed; an empty active segment follows them.
    const restoredNames = (await target.readdir('wal')).sort()
    expect(restoredNames).toEqual([...localNames.slice(0, -1), segmentName(sealedEnd + 1)])

    // The restored log goes on where the shipped one ended, and ships on to the same bucket.
    for (let lsn = sealedEnd + 1; lsn <= sealedEnd + 40; lsn++)
      expect(await restored.append(record(lsn))).toBe(lsn)
    const more = await new LogShipper({ vfs: target, blobs: bucket }).ship()
    expect(more.shipped[0]).toBe(shippedKey(segmentName(sealedEnd + 1)))
    await restored.close()
    await wal.close()
  })

  it('a shipper remembers what it shipped: after truncateBefore it ships on with one list and no download', async () => {
    const disk = new SimDisk({ seed: 26 })
    const { wal, records } = await writeLog(disk, someBatches(60))
    const bucket = countingBlobs(await bucketOf(27))
    const shipper = new LogShipper({ vfs: disk, blobs: bucket })
    await shipper.ship()
    await wal.truncateBefore(wal.lastLsn) // every shipped segment leaves the local log
    for (let i = 0; i < 40; i++) {
      const r = record(records.length + 1)
      records.push(r)
      await wal.append(r)
    }
    bucket.calls.length = 0
    const next = await shipper.ship()
    expect(next.shipped.length).toBeGreaterThan(0)
    expect(bucket.calls.filter((c) => c !== 'put')).toEqual(['list'])
    // The bucket holds the whole log, across the truncation.
    await wal.close()
    const target = new SimDisk({ seed: 28 })
    await restoreShippedLog(bucket, target, 'wal')
    await (await expectRestored(target, records, { firstLsn: 1, lastLsn: await lastSealedLsn(disk) })).close()
  })

  it('point in time: toLsn in the middle of a segment and of a frame ends the restored log exactly there', async () => {
    const disk = new SimDisk({ seed: 4 })
    const { wal, records } = await writeLog(disk, someBatches(100))
    const bucket = await bucketOf(5)
    await shipLog(disk, 'wal', bucket)
    const shipped = await listShipped(bucket)
    const third = shipped[2]!
    // LSNs inside the third segment: its base, the middle of a frame (batch i holds 1 + i % 5
    // records), and its last record.
    const targets = [third.baseLsn, third.baseLsn + 5, shipped[3]!.baseLsn - 1]
    let midFrame = false
    for (const toLsn of targets) {
      midFrame ||= !frameStarts(records.length).has(toLsn + 1)
      const target = new SimDisk({ seed: toLsn })
      expect(await restoreShippedLog(bucket, target, 'wal', { toLsn })).toEqual({
        segments: 3,
        firstLsn: 1,
        lastLsn: toLsn,
      })
      const restored = await expectRestored(target, records, { firstLsn: 1, lastLsn: toLsn })
      expect(await restored.append(record(toLsn + 1))).toBe(toLsn + 1)
      await restored.close()
    }
    expect(midFrame).toBe(true)
    await wal.close()
  })

  it('restores from an LSN: from the segment holding it, up to the end of the shipped log', async () => {
    const disk = new SimDisk({ seed: 6 })
    const { wal, records } = await writeLog(disk, someBatches(90))
    const bucket = await bucketOf(7)
    await shipLog(disk, 'wal', bucket)
    const shipped = await listShipped(bucket)
    const end = await lastSealedLsn(disk)
    const cases = [
      { fromLsn: shipped[1]!.baseLsn + 3, first: shipped[1]!.baseLsn, to: undefined },
      { fromLsn: shipped[2]!.baseLsn, first: shipped[2]!.baseLsn, to: shipped[3]!.baseLsn + 1 },
      { fromLsn: end + 1, first: shipped.at(-1)!.baseLsn, to: undefined }, // nothing to replay
      { fromLsn: shipped[2]!.baseLsn, first: shipped[1]!.baseLsn, to: shipped[2]!.baseLsn - 1 }, // empty range
    ]
    for (const [i, c] of cases.entries()) {
      const target = new SimDisk({ seed: 100 + i })
      const options = c.to === undefined ? { fromLsn: c.fromLsn } : { fromLsn: c.fromLsn, toLsn: c.to }
      const result = await restoreShippedLog(bucket, target, 'wal', options)
      expect(result.firstLsn).toBe(c.first)
      expect(result.lastLsn).toBe(c.to ?? end)
      await (await expectRestored(target, records, { firstLsn: c.first, lastLsn: c.to ?? end })).close()
    }
    // Past the shipped end: NOT_FOUND naming the first missing LSN, and nothing written.
    for (const options of [{ fromLsn: end + 2 }, { toLsn: end + 1 }, { fromLsn: 5, toLsn: end + 9 }]) {
      const untouched = new SimDisk({ seed: 8 })
      const past = await expectCairnError(restoreShippedLog(bucket, untouched, 'wal', options), 'NOT_FOUND')
      expect(past.context.lsn).toBe(end + 1)
      expect(await untouched.readdir('')).toEqual([])
    }
    await expectCairnError(
      restoreShippedLog(bucket, new SimDisk({ seed: 8 }), 'wal', { fromLsn: 10, toLsn: 8 }),
      'BAD_OPTION',
    )
    await expectCairnError(restoreShippedLog(await bucketOf(9), new SimDisk({ seed: 8 }), 'wal'), 'NOT_FOUND')
    await wal.close()
  })

  it('pruneShipped keeps every segment a restore from beforeLsn needs, and removes the rest', async () => {
    const disk = new SimDisk({ seed: 10 })
    const { wal, records } = await writeLog(disk, someBatches(90))
    const bucket = await bucketOf(11)
    await shipLog(disk, 'wal', bucket)
    const all = await listShipped(bucket)
    const end = await lastSealedLsn(disk)
    for (let beforeLsn = 1; beforeLsn <= end + 1; beforeLsn += 7) {
      const deleted = await pruneShipped(bucket, beforeLsn)
      const left = await listShipped(bucket)
      expect(left.length).toBeGreaterThan(0)
      expect(left.at(-1)?.key).toBe(all.at(-1)?.key) // the newest is never deleted
      // Everything deleted holds only LSNs below beforeLsn; the first one kept holds beforeLsn.
      for (const key of deleted) {
        const next = all[all.findIndex((s) => s.key === key) + 1]!
        expect(next.baseLsn - 1).toBeLessThan(beforeLsn)
      }
      expect(left[0]!.baseLsn).toBeLessThanOrEqual(beforeLsn)
      const target = new SimDisk({ seed: beforeLsn })
      const result = await restoreShippedLog(bucket, target, 'wal', { fromLsn: beforeLsn })
      await (await expectRestored(target, records, { firstLsn: result.firstLsn, lastLsn: end })).close()
      if (left[0]!.baseLsn > 1) {
        await expectCairnError(
          restoreShippedLog(bucket, new SimDisk({ seed: 1 }), 'wal', { fromLsn: left[0]!.baseLsn - 1 }),
          'NOT_FOUND',
        )
      }
    }
    expect((await listShipped(bucket)).map((s) => s.key)).toEqual([all.at(-1)?.key])
    await wal.close()
  })
})

describe('log shipping: refusals', () => {
  it('a missing shipped segment between two others is NOT_FOUND naming the missing LSNs', async () => {
    const disk = new SimDisk({ seed: 12 })
    const { wal, records } = await writeLog(disk, someBatches(90))
    const bucket = await bucketOf(13)
    await shipLog(disk, 'wal', bucket)
    const shipped = await listShipped(bucket)
    await bucket.delete([shipped[2]!.key])
    const error = await expectCairnError(
      restoreShippedLog(bucket, new SimDisk({ seed: 1 }), 'wal'),
      'NOT_FOUND',
    )
    expect(error.context.lsn).toBe(shipped[2]!.baseLsn)
    expect(error.message).toContain(`${String(shipped[2]!.baseLsn)}..${String(shipped[3]!.baseLsn - 1)}`)
    // A point in time before the hole, and a restore from after it, still work.
    const before = new SimDisk({ seed: 2 })
    await restoreShippedLog(bucket, before, 'wal', { toLsn: shipped[2]!.baseLsn - 1 })
    await (await expectRestored(before, records, { firstLsn: 1, lastLsn: shipped[2]!.baseLsn - 1 })).close()
    const after = new SimDisk({ seed: 3 })
    const result = await restoreShippedLog(bucket, after, 'wal', { fromLsn: shipped[3]!.baseLsn })
    expect(result.firstLsn).toBe(shipped[3]!.baseLsn)
    await wal.close()
  })

  it('a shipped segment with a flipped byte is CORRUPT_LOG naming its key and offset; nothing after it is written', async () => {
    const disk = new SimDisk({ seed: 14 })
    const { wal } = await writeLog(disk, someBatches(60))
    const bucketDisk = new SimDisk({ seed: 15 })
    const bucket = await createFsBlobStore({ vfs: bucketDisk, root: 'objects' })
    await shipLog(disk, 'wal', bucket)
    const shipped = await listShipped(bucket)
    const victim = shipped[1]!
    bucketDisk.rot(`objects/${victim.key}`, 300, 3)
    const target = new SimDisk({ seed: 16 })
    const error = await expectCairnError(restoreShippedLog(bucket, target, 'wal'), 'CORRUPT_LOG')
    expect(error.context.path).toBe(victim.key)
    expect(error.context.offset).toBeLessThanOrEqual(300)
    expect(error.context.offset).toBeGreaterThanOrEqual(40)
    expect((await target.readdir('wal')).sort()).toEqual([shipped[0]!.name])
    // A damaged header too.
    bucketDisk.rot(`objects/${victim.key}`, 300, 3)
    bucketDisk.rot(`objects/${victim.key}`, 20, 0)
    const header = await expectCairnError(
      restoreShippedLog(bucket, new SimDisk({ seed: 1 }), 'wal'),
      'CORRUPT_LOG',
    )
    expect(header.context.offset).toBe(0)
    await wal.close()
  })

  it('ship refuses a damaged local segment (CORRUPT_LOG with path and offset) and ships the ones before it', async () => {
    const disk = new SimDisk({ seed: 17 })
    const { wal } = await writeLog(disk, someBatches(60))
    const names = (await disk.readdir('wal')).sort()
    disk.rot(`wal/${names[2]!}`, 1000, 5)
    const bucket = await bucketOf(18)
    const error = await expectCairnError(shipLog(disk, 'wal', bucket), 'CORRUPT_LOG')
    expect(error.context.path).toBe(`wal/${names[2]!}`)
    expect(error.context.offset).toBeGreaterThanOrEqual(40)
    expect(error.context.offset).toBeLessThanOrEqual(1000)
    expect((await listShipped(bucket)).map((s) => s.name)).toEqual(names.slice(0, 2))
    // A sealed segment cut short (its end no longer meets the next segment's base) is refused too.
    const cut = await disk.open(`wal/${names[3]!}`, 'readWrite')
    const size = await cut.size()
    await cut.truncate(size - 1)
    await cut.close()
    disk.rot(`wal/${names[2]!}`, 1000, 5) // repair the first one
    const short = await expectCairnError(shipLog(disk, 'wal', bucket), 'CORRUPT_LOG')
    expect(short.context.path).toBe(`wal/${names[3]!}`)
    await wal.close()
  })

  it('ship refuses a hole (records truncated before they were shipped) unless allowGap, and another history', async () => {
    const disk = new SimDisk({ seed: 19 })
    const { wal, records } = await writeLog(disk, someBatches(40))
    const bucket = await bucketOf(20)
    await shipLog(disk, 'wal', bucket)
    const shippedEnd = await lastSealedLsn(disk)
    const appendSome = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const r = record(records.length + 1)
        records.push(r)
        await wal.append(r)
      }
    }
    // Seal more segments, then truncate them all away before they are shipped.
    await appendSome(40)
    await wal.truncateBefore(wal.lastLsn)
    const firstLocal = wal.firstLsn
    await appendSome(40)
    const hole = await expectCairnError(shipLog(disk, 'wal', bucket), 'NOT_FOUND')
    expect(hole.context.lsn).toBe(shippedEnd + 1)
    expect(hole.message).toContain(`${String(shippedEnd + 1)}..${String(firstLocal - 1)}`)
    const shipped = await shipLog(disk, 'wal', bucket, { allowGap: true })
    expect(shipped.shipped[0]).toBe(shippedKey(segmentName(firstLocal)))
    // The restore sees the hole; from after it, it works.
    await expectCairnError(restoreShippedLog(bucket, new SimDisk({ seed: 1 }), 'wal'), 'NOT_FOUND')
    const after = new SimDisk({ seed: 2 })
    await restoreShippedLog(bucket, after, 'wal', { fromLsn: firstLocal })
    await (
      await expectRestored(after, records, { firstLsn: firstLocal, lastLsn: await lastSealedLsn(disk) })
    ).close()
    await wal.close()

    // Another history: a log restored to an earlier LSN and written on ships a segment of the
    // same name with other bytes: refused, never mixed into the bucket.
    const fork = new SimDisk({ seed: 21 })
    const shippedNow = await listShipped(bucket)
    const toLsn = shippedNow.at(-1)!.baseLsn + 2
    await restoreShippedLog(bucket, fork, 'wal', { fromLsn: firstLocal, toLsn })
    const forked = await openWal({ vfs: fork, segmentBytes: SEGMENT_BYTES })
    for (let i = 0; i < 60; i++) await forked.append(record(9_999))
    const refused = await expectCairnError(shipLog(fork, 'wal', bucket), 'ALREADY_EXISTS')
    expect(refused.context.path).toBe(shippedNow.at(-1)!.key)
    await forked.close()
  })

  it('restore refuses a directory that holds something else, and accepts an identical rerun', async () => {
    const disk = new SimDisk({ seed: 22 })
    const { wal, records } = await writeLog(disk, someBatches(50))
    const bucket = await bucketOf(23)
    await shipLog(disk, 'wal', bucket)
    const end = await lastSealedLsn(disk)
    const target = new SimDisk({ seed: 24 })
    await restoreShippedLog(bucket, target, 'wal')
    expect(await restoreShippedLog(bucket, target, 'wal')).toEqual({
      segments: (await listShipped(bucket)).length,
      firstLsn: 1,
      lastLsn: end,
    })
    const written = await openWal({ vfs: target, segmentBytes: SEGMENT_BYTES })
    await written.append(records[end]!) // the source's record for that LSN
    await written.close()
    await expectCairnError(restoreShippedLog(bucket, target, 'wal'), 'ALREADY_EXISTS')
    const other = new SimDisk({ seed: 25 })
    await (await openWal({ vfs: other })).close()
    await expectCairnError(restoreShippedLog(bucket, other, 'wal'), 'ALREADY_EXISTS')
    await (await expectRestored(target, records, { firstLsn: 1, lastLsn: end + 1 })).close()
    await wal.close()
  })
})

describe('log shipping: properties and power loss', () => {
  it('property: any records, batches and segment size, any toLsn: the restored log is the prefix up to toLsn', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 1, maxLength: 6 }), {
          minLength: 10,
          maxLength: 80,
        }),
        fc.integer({ min: 4096, max: 12_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (batches, segmentBytes, toAt, fromAt) => {
          const disk = new SimDisk({ seed: 1 })
          const { wal, records } = await writeLog(disk, batches, segmentBytes)
          await wal.close()
          const bucket = await bucketOf(2)
          await shipLog(disk, 'wal', bucket)
          const shipped = await listShipped(bucket)
          const end = await lastSealedLsn(disk)
          if (shipped.length === 0) {
            await expectCairnError(restoreShippedLog(bucket, new SimDisk({ seed: 3 }), 'wal'), 'NOT_FOUND')
            return
          }
          const toLsn = 1 + Math.floor(toAt * (end - 1))
          const fromLsn = 1 + Math.floor(fromAt * toLsn) // <= toLsn + 1
          const target = new SimDisk({ seed: 3 })
          const result = await restoreShippedLog(bucket, target, 'wal', { fromLsn, toLsn })
          expect(result.lastLsn).toBe(toLsn)
          expect(result.firstLsn).toBeLessThanOrEqual(Math.min(fromLsn, toLsn))
          const restored = await openWal({ vfs: target, segmentBytes })
          expect(restored.lastLsn).toBe(toLsn)
          const read = await collect(restored.readLog({ from: fromLsn }))
          expect(read.map((r) => r.lsn)).toEqual(
            Array.from({ length: toLsn - fromLsn + 1 }, (_, i) => fromLsn + i),
          )
          for (const r of read) expect(sameBytes(r.data, records[r.lsn - 1])).toBe(true)
          await restored.close()
        },
      ),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 60) },
    )
  })

  it('power lost at every I/O call of a restore: the disk opens as a prefix of the log, and restoring again gives the whole log', async () => {
    const source = new SimDisk({ seed: 30 })
    const { wal, records } = await writeLog(source, someBatches(40))
    await wal.close()
    const bucket = await bucketOf(31)
    await shipLog(source, 'wal', bucket)
    const shipped = await listShipped(bucket)
    const toLsn = shipped.at(-1)!.baseLsn + 3 // the last restored segment is cut and re-encoded
    const fromLsn = shipped[1]!.baseLsn + 1
    const options = { fromLsn, toLsn }

    const probe = new SimDisk({ seed: 1 })
    await restoreShippedLog(bucket, probe, 'wal', options)
    const ioTotal = probe.ioCount
    let states = 0
    let partial = 0
    for (let k = 1; k <= ioTotal + 1; k++) {
      const disk = new SimDisk({ seed: k })
      disk.haltAtIo(k)
      try {
        await restoreShippedLog(bucket, disk, 'wal', options)
      } catch (error) {
        if (!disk.halted || !isCairnError(error, 'IO')) throw error
      }
      for (const model of CRASH_MODELS) {
        for (let draw = 0; draw < (model === 'weak' || model === 'prefixPerFile' ? 3 : 1); draw++) {
          const seed = k * 100 + draw
          try {
            // As found: whatever opens is a gap-free, byte-exact prefix of the restored log.
            const found = await openWal({
              vfs: disk.crash(model, createRng(seed)),
              segmentBytes: SEGMENT_BYTES,
            })
            const read = await collect(found.readLog())
            if (read.length > 0) expect(found.firstLsn).toBe(shipped[1]!.baseLsn)
            read.forEach((r, i) => {
              expect(r.lsn).toBe(found.firstLsn + i)
              expect(sameBytes(r.data, records[r.lsn - 1])).toBe(true)
            })
            expect(found.lastLsn).toBeLessThanOrEqual(toLsn)
            if (found.lastLsn < toLsn) partial += 1
            await found.close()
            // Restoring again on the same crash state finishes the job.
            const again = disk.crash(model, createRng(seed))
            expect(await restoreShippedLog(bucket, again, 'wal', options)).toEqual({
              segments: shipped.length - 1,
              firstLsn: shipped[1]!.baseLsn,
              lastLsn: toLsn,
            })
            await (
              await expectRestored(again, records, { firstLsn: shipped[1]!.baseLsn, lastLsn: toLsn })
            ).close()
          } catch (error) {
            throw new Error(
              `crash at I/O #${String(k)} model=${model} draw=${String(draw)}\n${disk.formatTrace(20)}`,
              {
                cause: error,
              },
            )
          }
          states += 1
        }
      }
    }
    expect(ioTotal).toBeGreaterThan(10)
    expect(partial).toBeGreaterThan(0)
    console.log(`restore crash enumeration: ${String(ioTotal)} I/O points, ${String(states)} crash states`)
  })
})

/** A BlobStore that records which methods were called. */
function countingBlobs(inner: BlobStore): BlobStore & { calls: string[] } {
  const calls: string[] = []
  return {
    properties: inner.properties,
    calls,
    put: (key, data, options) => (calls.push('put'), inner.put(key, data, options)),
    get: (key, range) => (calls.push('get'), inner.get(key, range)),
    head: (key) => (calls.push('head'), inner.head(key)),
    list: (prefix) => (calls.push('list'), inner.list(prefix)),
    delete: (keys) => (calls.push('delete'), inner.delete(keys)),
  }
}

/** The LSNs that start a frame in a log of `someBatches` (batch i has 1 + i % 5 records, one frame). */
function frameStarts(total: number): Set<number> {
  const starts = new Set<number>()
  let lsn = 1
  for (let i = 0; lsn <= total + 1; i++) {
    starts.add(lsn)
    lsn += 1 + (i % 5)
  }
  return starts
}
