/**
 * Log shipping through a store, and restore anywhere: a store on one machine ships its sealed
 * segments; a store opened on an empty directory with the same object store and name recovers
 * the newest checkpoint plus every shipped record after it, or stops at a chosen LSN.
 */
import { describe, expect, it } from 'vitest'
import { MemoryBlobStore } from '../../src/adapters/memory/memory-blob-store.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import type { BlobStore } from '../../src/core/ports.js'
import type { Store } from '../../src/store.js'
import { listShipped } from '../../src/wal/shipping.js'
import { storeView } from '../../src/snapshot/shared-gc.js'
import { collect, expectCairnError, openSimStore } from '../helpers.js'

const TIMING = { deleteAfterMs: 1_000, markerRetentionMs: 100_000, maxClockSkewMs: 100 }

function record(lsn: number): Uint8Array {
  return new TextEncoder().encode(`record ${String(lsn)} `.repeat(8))
}

function open(root: BlobStore, clock: { now: number }, extra: { restoreTo?: number } = {}): Promise<Store> {
  return openSimStore(new SimDisk({ seed: 3 }), {
    objects: { blobs: root, name: 'db', timing: TIMING, ...extra },
    clock: () => clock.now,
    wal: { segmentBytes: 4096 },
  })
}

async function appendUpTo(store: Store, last: number): Promise<void> {
  while (store.lastLsn < last) await store.append(record(store.lastLsn + 1))
}

describe('log shipping and restore anywhere', () => {
  it('a store on an empty directory recovers the newest checkpoint and every shipped record after it', async () => {
    const root = new MemoryBlobStore()
    const clock = { now: 1_000_000 }
    const a = await open(root, clock)
    await appendUpTo(a, 150)
    const state = new Uint8Array(50_000).fill(7)
    await a.checkpoint({ lsn: 150, entries: { state } })
    await appendUpTo(a, 400)
    await a.close() // waits for the background ships
    expect(a.shippingError).toBeUndefined()
    const shipped = await listShipped(storeView(root, 'db'))
    expect(shipped.length).toBeGreaterThan(3)
    // The log was truncated behind the checkpoint only where it was shipped: the bucket has every
    // segment from the one holding LSN 151 on.
    expect(shipped[0]?.baseLsn).toBeLessThanOrEqual(151)

    const b = await open(root, clock)
    expect(b.logRestored?.firstLsn).toBeLessThanOrEqual(151)
    const recovery = await b.recover()
    expect(recovery.checkpoint?.lsn).toBe(150)
    expect(await recovery.snapshot?.read('state')).toEqual(state)
    const records = await collect(recovery.records)
    const lastShipped = b.logRestored?.lastLsn ?? 0
    expect(lastShipped).toBeGreaterThan(300) // every sealed segment was shipped
    expect(records.map((r) => r.lsn)).toEqual(Array.from({ length: lastShipped - 150 }, (_, i) => 151 + i))
    for (const r of records) expect(r.data).toEqual(record(r.lsn))
    // It carries on from there, and ships on the same history.
    expect(await b.append(record(lastShipped + 1))).toBe(lastShipped + 1)
    await appendUpTo(b, lastShipped + 200)
    await b.close()
    expect(b.shippingError).toBeUndefined()
  })

  it('restoreTo recovers to a point in time, and such a store does not write', async () => {
    const root = new MemoryBlobStore()
    const clock = { now: 1_000_000 }
    const a = await open(root, clock)
    await appendUpTo(a, 100)
    await a.checkpoint({ lsn: 100, entries: { state: new Uint8Array([1]) } })
    await appendUpTo(a, 300)
    await a.checkpoint({ lsn: 300, entries: { state: new Uint8Array([2]) } })
    await appendUpTo(a, 400)
    await a.close()

    const pit = await open(root, clock, { restoreTo: 200 })
    const recovery = await pit.recover()
    expect(recovery.checkpoint?.lsn).toBe(100)
    expect(await recovery.snapshot?.read('state')).toEqual(new Uint8Array([1]))
    const records = await collect(recovery.records)
    expect(records.map((r) => r.lsn)).toEqual(Array.from({ length: 100 }, (_, i) => 101 + i))
    for (const r of records) expect(r.data).toEqual(record(r.lsn))
    await expectCairnError(pit.append(record(201)), 'NOT_SUPPORTED')
    await expectCairnError(pit.checkpoint({ lsn: 200, entries: {} }), 'NOT_SUPPORTED')
    await pit.close()
  })

  it('GC prunes shipped segments no retained checkpoint needs, never one it does', async () => {
    const root = new MemoryBlobStore()
    const clock = { now: 1_000_000 }
    const a = await open(root, clock)
    await appendUpTo(a, 150)
    await a.checkpoint({ lsn: 150, entries: { state: new Uint8Array([1]) } })
    await appendUpTo(a, 300)
    await a.checkpoint({ lsn: 300, entries: { state: new Uint8Array([2]) } })
    await appendUpTo(a, 450)
    const before = await listShipped(storeView(root, 'db'))
    expect(before[0]?.baseLsn).toBeLessThanOrEqual(151)
    await a.retain({ keepLast: 1 })
    await a.gc({ graceMs: 0 })
    clock.now += TIMING.deleteAfterMs
    await a.gc({ graceMs: 0 })
    expect(await a.checkpoints()).toHaveLength(1)
    const after = await listShipped(storeView(root, 'db'))
    expect(after.length).toBeLessThan(before.length)
    // The segment holding LSN 301 is kept: the checkpoint at 300 needs what follows it.
    const first = after[0]
    const second = after[1]
    expect(first?.baseLsn).toBeLessThanOrEqual(301)
    expect(second?.baseLsn).toBeGreaterThan(150)
    await a.close()
    const b = await open(root, clock)
    const recovery = await b.recover()
    expect(recovery.checkpoint?.lsn).toBe(300)
    const records = await collect(recovery.records)
    expect(records[0]?.lsn).toBe(301)
    for (const r of records) expect(r.data).toEqual(record(r.lsn))
    await b.close()
  })
})
