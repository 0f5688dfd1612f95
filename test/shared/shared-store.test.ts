/**
 * Stores sharing one object store: cross-store dedup, GC in two phases, and a checkpoint put while
 * a GC run on "another machine" deletes what it deduplicated against (docs/SHARED.md).
 */
import { describe, expect, it } from 'vitest'
import { MemoryBlobStore } from '../../src/adapters/memory/memory-blob-store.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { CairnError } from '../../src/core/errors.js'
import { parseCheckpointId } from '../../src/core/ids.js'
import type { BlobStore } from '../../src/core/ports.js'
import type { Store } from '../../src/store.js'
import { expectCairnError, openSimStore } from '../helpers.js'

/** Bytes that cut into many distinct chunks. */
function data(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed * 2654435761
  for (let i = 0; i < length; i++) {
    x = (x ^ (x << 13)) >>> 0
    x = (x ^ (x >>> 17)) >>> 0
    x = (x ^ (x << 5)) >>> 0
    out[i] = x & 0xff
  }
  return out
}

const TIMING = { deleteAfterMs: 1_000, markerRetentionMs: 100_000, maxClockSkewMs: 100 }

/** A store named `name` in the shared `root`, its log on a disk of its own, on the shared clock. */
function openShared(root: BlobStore, name: string, clock: { now: number }): Promise<Store> {
  return openSimStore(new SimDisk({ seed: name.length }), {
    objects: { blobs: root, name, timing: TIMING },
    clock: () => clock.now,
    packBytes: 64 * 1024,
    chunking: { minSize: 256, avgSize: 1024, maxSize: 4096 },
  })
}

/** Runs `hook` once, just before the first put whose key starts with `prefix` is applied. */
function onFirstPut(root: BlobStore, prefix: string, hook: () => Promise<void>): BlobStore {
  let fired = false
  return {
    properties: root.properties,
    put: async (key, bytes, options) => {
      if (!fired && key.startsWith(prefix)) {
        fired = true
        await hook()
      }
      return root.put(key, bytes, options)
    },
    get: (key, range) => root.get(key, range),
    head: (key) => root.head(key),
    list: (prefix2) => root.list(prefix2),
    delete: (keys) => root.delete(keys),
  }
}

/** Holds the first delete of an `index/` key (a deleter's first act) until `release()`; `stalled` resolves when it waits. */
function stallFirstDelete(root: BlobStore): {
  blobs: BlobStore
  stalled: Promise<void>
  release: () => void
} {
  let signal: () => void = () => undefined
  const stalled = new Promise<void>((resolve) => {
    signal = resolve
  })
  let release: () => void = () => undefined
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let held = false
  return {
    blobs: {
      properties: root.properties,
      put: (key, bytes, options) => root.put(key, bytes, options),
      get: (key, range) => root.get(key, range),
      head: (key) => root.head(key),
      list: (prefix) => root.list(prefix),
      delete: async (keys) => {
        if (!held && keys.some((key) => key.startsWith('index/'))) {
          held = true
          signal()
          await released
        }
        return root.delete(keys)
      },
    },
    stalled,
    release,
  }
}

/** A checkpoint of `bytes` as entry `state` (one log record first). */
async function save(store: Store, bytes: Uint8Array): Promise<string> {
  const lsn = await store.append(new Uint8Array([1]))
  return (await store.checkpoint({ lsn, entries: { state: bytes } })).id
}

describe('stores sharing one object store', () => {
  it('a deleter that stalls after deciding, while another finishes the same run, harms no checkpoint put since', async () => {
    const root = new MemoryBlobStore()
    const clock = { now: 1_000_000 }
    const a = await openShared(root, 'a', clock)
    const old = data(7, 300_000)
    await save(a, old)
    await save(a, data(8, 150_000))
    await a.retain({ keepLast: 1 })
    const g1 = await openShared(root, 'g1', clock)
    const stall = stallFirstDelete(root)
    const g2 = await openSimStore(new SimDisk({ seed: 11 }), {
      objects: { blobs: stall.blobs, name: 'g2', timing: TIMING },
      clock: () => clock.now,
      packBytes: 64 * 1024,
    })
    let stalledRun: Promise<unknown> = Promise.resolve()
    // b's first checkpoint of `old` deduplicates against the old packs. Before its manifest lands,
    // g1 condemns them and g2 begins deleting them, then stalls before its first delete.
    // After the manifest lands and before b withdraws it, g1 takes the run over and finishes it
    // (b's manifest is live in its listing, so the old chunks count as live).
    const hooked = onFirstPut(
      onFirstPut(root, 'stores/b/tombstones/', async () => {
        const finished = await g1.gc({ graceMs: 0 })
        expect(finished.shared?.runsDeleted).toBe(1)
      }),
      'stores/b/manifests/',
      async () => {
        await g1.gc({ graceMs: 0 })
        clock.now += TIMING.deleteAfterMs
        stalledRun = g2.gc({ graceMs: 0 })
        await stall.stalled
      },
    )
    const b = await openSimStore(new SimDisk({ seed: 12 }), {
      objects: { blobs: hooked, name: 'b', timing: TIMING },
      clock: () => clock.now,
      packBytes: 64 * 1024,
      chunking: { minSize: 256, avgSize: 1024, maxSize: 4096 },
    })
    let lsn = await b.append(new Uint8Array([1]))
    await expectCairnError(b.checkpoint({ lsn, entries: { state: old } }), 'CONFLICT')
    // The run is done; b takes the checkpoint again, and g2 wakes and deletes what it decided.
    lsn = await b.append(new Uint8Array([2]))
    const again = await b.checkpoint({ lsn, entries: { state: old } })
    stall.release()
    await stalledRun
    expect(await (await b.snapshot(again.id)).read('state')).toEqual(old)
    expect((await b.verify({ readData: true })).problems).toEqual([])
    await Promise.all([a.close(), b.close(), g1.close(), g2.close()])
  })

  it('deduplicate against each other, and each sees only its own checkpoints', async () => {
    const root = new MemoryBlobStore()
    const clock = { now: 1_000_000 }
    const a = await openShared(root, 'a', clock)
    const b = await openShared(root, 'b', clock)
    const bytes = data(1, 300_000)
    await save(a, bytes)
    const lsn = await b.append(new Uint8Array([2]))
    const info = await b.checkpoint({ lsn, entries: { state: bytes } })
    expect(info.storedBytes).toBe(0) // every chunk was there already, stored by a
    expect((await a.checkpoints()).length).toBe(1)
    expect((await b.checkpoints()).length).toBe(1)
    expect(await (await b.snapshot('latest')).read('state')).toEqual(bytes)
    expect(root.keys().filter((key) => key.startsWith('stores/a/manifests/')).length).toBe(1)
    expect(root.keys().filter((key) => key.startsWith('stores/b/manifests/')).length).toBe(1)
    await a.close()
    await b.close()
  })

  it('a checkpoint whose check after the commit fails (an I/O error) is withdrawn, never left standing unchecked', async () => {
    const root = new MemoryBlobStore()
    const clock = { now: 1_000_000 }
    let gcListings = 0
    const failing: BlobStore = {
      properties: root.properties,
      put: (key, bytes, options) => root.put(key, bytes, options),
      get: (key, range) => root.get(key, range),
      head: (key) => root.head(key),
      list: (prefix) => {
        // The second listing of gc/ is the writer's check after its manifest is put.
        if (prefix === 'gc/' && ++gcListings === 2)
          throw new CairnError('IO', 'injected', { op: 'blob.list' })
        return root.list(prefix)
      },
      delete: (keys) => root.delete(keys),
    }
    const b = await openSimStore(new SimDisk({ seed: 13 }), {
      objects: { blobs: failing, name: 'b', timing: TIMING },
      clock: () => clock.now,
    })
    const lsn = await b.append(new Uint8Array([1]))
    await expectCairnError(b.checkpoint({ lsn, entries: { state: data(9, 10_000) } }), 'IO')
    expect(root.keys().filter((key) => key.startsWith('stores/b/manifests/'))).toHaveLength(1)
    expect(await b.checkpoints()).toEqual([]) // tombstoned: recovery and retention never count it
    await b.close()
  })

  it('GC condemns in one run and deletes in a later one, never what another store keeps', async () => {
    const root = new MemoryBlobStore()
    const clock = { now: 1_000_000 }
    const a = await openShared(root, 'a', clock)
    const b = await openShared(root, 'b', clock)
    const shared = data(1, 300_000)
    const onlyA = data(2, 300_000)
    await save(a, onlyA)
    await save(b, shared)
    await save(a, shared)
    await a.retain({ keepLast: 1 })
    const packsBefore = root.keys().filter((key) => key.startsWith('packs/')).length
    const first = await a.gc({ graceMs: 0 })
    expect(first.packsDeleted).toBe(0)
    expect(first.manifestsDeleted).toBe(0)
    expect(first.shared?.packsCondemned).toBeGreaterThan(0)
    expect(root.keys().some((key) => key.startsWith('gc/') && key.endsWith('/condemned'))).toBe(true)
    // Too soon: nothing is deleted before deleteAfterMs.
    clock.now += 10
    expect((await a.gc({ graceMs: 0 })).packsDeleted).toBe(0)
    clock.now += TIMING.deleteAfterMs
    const second = await a.gc({ graceMs: 0 })
    expect(second.shared?.runsDeleted).toBe(1)
    expect(second.packsDeleted).toBeGreaterThan(0)
    expect(second.manifestsDeleted).toBe(1)
    expect(root.keys().filter((key) => key.startsWith('packs/')).length).toBeLessThan(packsBefore)
    expect(await (await a.snapshot('latest')).read('state')).toEqual(shared)
    expect(await (await b.snapshot('latest')).read('state')).toEqual(shared)
    expect((await a.verify({ readData: true })).problems).toEqual([])
    // The finished run's records go once markerRetentionMs has passed.
    clock.now += TIMING.markerRetentionMs
    await a.gc({ graceMs: 0 })
    expect(root.keys().filter((key) => key.startsWith('gc/') && !key.endsWith('/condemned'))).toEqual([])
    await a.close()
    await b.close()
  })

  it('a checkpoint put while a GC run deletes what it deduplicated against is withdrawn (CONFLICT), and the retry stores it anew', async () => {
    const root = new MemoryBlobStore()
    const clock = { now: 1_000_000 }
    const a = await openShared(root, 'a', clock)
    const old = data(3, 300_000)
    await save(a, old)
    await save(a, data(4, 150_000))
    await a.retain({ keepLast: 1 }) // `old` is garbage now
    // b deduplicates against `old`; just before its manifest is put, a GC run on another machine
    // condemns `old` and a later one deletes it (its second listing cannot see b's manifest).
    const gcMachine = await openShared(root, 'gc', clock)
    const racing = onFirstPut(root, 'stores/b/manifests/', async () => {
      await gcMachine.gc({ graceMs: 0 })
      clock.now += TIMING.deleteAfterMs
      const deleted = await gcMachine.gc({ graceMs: 0 })
      expect(deleted.packsDeleted).toBeGreaterThan(0)
    })
    const b = await openSimStore(new SimDisk({ seed: 9 }), {
      objects: { blobs: racing, name: 'b', timing: TIMING },
      clock: () => clock.now,
      packBytes: 64 * 1024,
      chunking: { minSize: 256, avgSize: 1024, maxSize: 4096 },
    })
    const lsn = await b.append(new Uint8Array([1]))
    const conflict = await expectCairnError(b.checkpoint({ lsn, entries: { state: old } }), 'CONFLICT')
    expect(conflict.context.retryable).toBe(true)
    expect(await b.checkpoints()).toEqual([]) // withdrawn: tombstoned, never acknowledged
    const retried = await b.checkpoint({ lsn, entries: { state: old } })
    expect(retried.storedBytes).toBeGreaterThan(0) // stored anew: the old copies are gone
    expect(await (await b.snapshot(retried.id)).read('state')).toEqual(old)
    await a.close()
    await b.close()
    await gcMachine.close()
  })

  it('a checkpoint put after a condemnation but before its deletion begins keeps what it needs (its chunks are copied out first)', async () => {
    const root = new MemoryBlobStore()
    const clock = { now: 1_000_000 }
    const a = await openShared(root, 'a', clock)
    const old = data(5, 300_000)
    await save(a, old)
    await save(a, data(6, 150_000))
    await a.retain({ keepLast: 1 })
    const gcMachine = await openShared(root, 'gc', clock)
    const racing = onFirstPut(root, 'stores/b/manifests/', async () => {
      const condemned = await gcMachine.gc({ graceMs: 0 })
      expect(condemned.shared?.packsCondemned).toBeGreaterThan(0)
    })
    const b = await openSimStore(new SimDisk({ seed: 9 }), {
      objects: { blobs: racing, name: 'b', timing: TIMING },
      clock: () => clock.now,
      packBytes: 64 * 1024,
      chunking: { minSize: 256, avgSize: 1024, maxSize: 4096 },
    })
    const info = await save(b, old) // acknowledged: no deletion began before its check
    clock.now += TIMING.deleteAfterMs
    const deleted = await gcMachine.gc({ graceMs: 0 })
    expect(deleted.shared?.chunksRescued).toBeGreaterThan(0)
    expect(await (await b.snapshot(parseCheckpointId(info))).read('state')).toEqual(old)
    expect((await b.verify({ readData: true })).problems).toEqual([])
    await a.close()
    await b.close()
    await gcMachine.close()
  })
})
