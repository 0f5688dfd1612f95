/**
 * GC: after retain + gc over a history of full and delta checkpoints, every kept checkpoint
 * restores byte-exact, the dropped ones are gone, stored bytes shrink, verify is clean, and the
 * writer never deduplicates against a chunk GC removed. A crash before every I/O of gc, under every
 * crash model, leaves every kept checkpoint restorable, and gc run again finishes the job.
 */
import { describe, expect, it } from 'vitest'
import { CRASH_MODELS } from '../src/adapters/sim/crash.js'
import { createRng } from '../src/adapters/sim/rng.js'
import { SimDisk } from '../src/adapters/sim/sim-disk.js'
import { createFsBlobStore } from '../src/adapters/blob-fs/fs-blob-store.js'
import { listPackIds, packKey, readPackFooter } from '../src/chunkstore/pack-store.js'
import { isCairnError } from '../src/core/errors.js'
import type { Store } from '../src/store.js'
import { expectBytes, openSimStore } from './helpers.js'

const encode = (text: string) => new TextEncoder().encode(text)

const open = (disk: SimDisk): Promise<Store> => openSimStore(disk)

function objectBytes(disk: SimDisk): number {
  return disk.usedBytes()
}

/** Six checkpoints: full, deltas, a full, deltas; each state remembered. */
async function history(disk: SimDisk): Promise<{ store: Store; states: Map<string, Uint8Array> }> {
  const store = await open(disk)
  const rng = createRng(1)
  const state = rng.bytes(120_000)
  const states = new Map<string, Uint8Array>()
  for (let i = 0; i < 6; i++) {
    const full = i % 3 === 0
    if (!full) state.set(rng.bytes(2000), rng.int(state.length - 2000))
    else state.set(rng.bytes(60_000), 0) // a full rewrite of half: old chunks become garbage
    const info = full
      ? await store.checkpoint({ lsn: 0, entries: { 'state.bin': state.slice() } })
      : await store.checkpoint({ lsn: 0, parent: 'latest', entries: { 'state.bin': state.slice() } })
    states.set(info.id, state.slice())
  }
  return { store, states }
}

/** Repacking at a quarter dead: this small history then repacks (the default, a half, does not). */
const GC = { graceMs: 0, repackDeadShare: 0.25 }

describe('gc', () => {
  it('keeps every kept checkpoint byte-exact, removes the dropped, frees space, and never leaves a stale dedup', async () => {
    const disk = new SimDisk({ seed: 1 })
    const { store, states } = await history(disk)
    const before = objectBytes(disk)
    const plan = await store.retain({ keepLast: 2 })
    const report = await store.gc({ graceMs: 0 })
    expect(report.packsDeleted).toBeGreaterThan(0)
    expect(report.manifestsDeleted).toBe(plan.drop.length)
    // Live chunks counted once each: exactly the chunks the kept checkpoints read.
    const keptChunks = new Set<string>()
    for (const { checkpoint } of plan.keep)
      for (const id of (await store.snapshot(checkpoint.id)).chunkIds()) keptChunks.add(id)
    expect(report.chunksLive).toBe(keptChunks.size)
    expect(report.chunksDeleted).toBeGreaterThan(0)
    expect(objectBytes(disk)).toBeLessThan(before)
    for (const { checkpoint } of plan.keep) {
      expectBytes(
        await (await store.snapshot(checkpoint.id)).read('state.bin'),
        states.get(checkpoint.id),
        checkpoint.id,
      )
    }
    for (const { checkpoint } of plan.drop) await expect(store.snapshot(checkpoint.id)).rejects.toThrow()
    expect((await store.verify({ readData: true })).problems).toEqual([])
    // Storing a dropped state again stores it anew (nothing deduplicated against deleted chunks).
    const [dropped] = plan.drop
    const again = await store.checkpoint({
      lsn: 0,
      entries: { 'state.bin': states.get(dropped!.checkpoint.id)! },
    })
    await store.close()
    const reopened = await open(disk)
    expectBytes(
      await (await reopened.snapshot(again.id)).read('state.bin'),
      states.get(dropped!.checkpoint.id),
    )
    expect((await reopened.verify({ readData: true })).problems).toEqual([])
    await reopened.close()
  })

  it('a tombstoned checkpoint stays readable within its grace period', async () => {
    const { store, states } = await history(new SimDisk({ seed: 2 }))
    const plan = await store.retain({ keepLast: 1 })
    const report = await store.gc({ graceMs: 3_600_000 })
    expect(report.manifestsDeleted).toBe(0)
    for (const { checkpoint } of plan.drop) {
      expectBytes(await (await store.snapshot(checkpoint.id)).read('state.bin'), states.get(checkpoint.id))
    }
    await store.close()
  })

  it('with repacking, mostly dead packs are rewritten: kept checkpoints intact, more space freed', async () => {
    const plain = await history(new SimDisk({ seed: 3 }))
    await plain.store.retain({ keepLast: 2 })
    const without = await plain.store.gc({ graceMs: 0 })
    const disk = new SimDisk({ seed: 3 })
    const { store, states } = await history(disk)
    const plan = await store.retain({ keepLast: 2 })
    const report = await store.gc({ graceMs: 0, repackDeadShare: 0.25 })
    expect(report.packsRepacked).toBeGreaterThan(0)
    expect(report.bytesFreed).toBeGreaterThan(without.bytesFreed)
    for (const { checkpoint } of plan.keep) {
      expectBytes(await (await store.snapshot(checkpoint.id)).read('state.bin'), states.get(checkpoint.id))
    }
    expect((await store.verify({ readData: true })).problems).toEqual([])
    await store.close()
    const reopened = await open(disk)
    for (const { checkpoint } of plan.keep) {
      expectBytes(await (await reopened.snapshot(checkpoint.id)).read('state.bin'), states.get(checkpoint.id))
    }
    await reopened.close()
    await plain.store.close()
  })

  it('a pack lost by hand: gc drops its index entries, so storing the state again heals it', async () => {
    const disk = new SimDisk({ seed: 9 })
    const store = await open(disk)
    const state = createRng(9).bytes(50_000)
    const first = await store.checkpoint({ lsn: 0, entries: { 'state.bin': state } })
    await store.close()
    for (const dir of await disk.readdir('objects/packs'))
      for (const pack of await disk.readdir(`objects/packs/${dir}`))
        await disk.unlink(`objects/packs/${dir}/${pack}`)
    const damaged = await open(disk)
    await damaged.gc({ graceMs: 0 })
    expect((await damaged.verify()).problems.length).toBeGreaterThan(0)
    // Nothing left names the lost chunks, so the same state is stored anew, not deduplicated away.
    const again = await damaged.checkpoint({ lsn: 0, entries: { 'state.bin': state } })
    expect(again.newBytes).toBe(state.length)
    await damaged.close()
    const reopened = await open(disk)
    expectBytes(await (await reopened.snapshot(again.id)).read('state.bin'), state)
    expectBytes(await (await reopened.snapshot(first.id)).read('state.bin'), state)
    expect((await reopened.verify({ readData: true })).problems).toEqual([])
    await reopened.close()
  })

  it('a damaged live chunk in a pack due for repacking: gc leaves that pack, finishes, and never returns wrong bytes', async () => {
    const clean = await history(new SimDisk({ seed: 11 }))
    await clean.store.retain({ keepLast: 2 })
    expect((await clean.store.gc(GC)).packsRepacked).toBeGreaterThan(0)
    await clean.store.close()

    const disk = new SimDisk({ seed: 11 })
    const { store, states } = await history(disk)
    const plan = await store.retain({ keepLast: 2 })
    const keptChunks = new Set<string>()
    for (const { checkpoint } of plan.keep)
      for (const id of (await store.snapshot(checkpoint.id)).chunkIds()) keptChunks.add(id)
    await store.close()
    // One bit flipped inside the first live chunk of every pack.
    const blobs = await createFsBlobStore({ vfs: disk, root: 'objects' })
    for (const packId of await listPackIds(blobs)) {
      const live = (await readPackFooter(blobs, packId)).find((entry) => keptChunks.has(entry.chunkId))
      if (live !== undefined) disk.rot(`objects/${packKey(packId)}`, live.offset + 1, 2)
    }
    const damaged = await open(disk)
    const report = await damaged.gc(GC)
    expect(report.packsRepacked).toBe(0) // every candidate failed its check and stayed
    expect((await damaged.verify({ readData: true })).problems.length).toBeGreaterThan(0)
    for (const { checkpoint } of plan.keep) {
      const read = (await damaged.snapshot(checkpoint.id)).read('state.bin')
      await read.then(
        (bytes) => {
          expectBytes(bytes, states.get(checkpoint.id))
        },
        (error: unknown) => {
          expect(error).toMatchObject({ code: 'CORRUPT_OBJECT' })
        },
      )
    }
    await damaged.close()
  })

  it('gc refuses to run while a manifest cannot be read, and deletes nothing', async () => {
    const disk = new SimDisk({ seed: 4 })
    const store = await open(disk)
    const a = await store.checkpoint({ lsn: 0, entries: { x: createRng(4).bytes(40_000) } })
    const b = await store.checkpoint({ lsn: 0, parent: 'latest', entries: { y: createRng(5).bytes(100) } })
    await store.close()
    const packsBefore = (await disk.readdir('objects/packs')).length
    disk.rot(`objects/manifests/${a.id}`, 30, 1)
    const damaged = await open(disk) // a fresh open: nothing cached from before the damage
    await expect(damaged.gc({ graceMs: 0 })).rejects.toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
    )
    expect((await disk.readdir('objects/packs')).length).toBe(packsBefore)
    await damaged.close()
    disk.rot(`objects/manifests/${a.id}`, 30, 1) // flipped back: byte-exact again
    const reopened = await open(disk)
    expect((await (await reopened.snapshot(b.id)).read('x')).length).toBe(40_000)
    await reopened.close()
  })

  it('an expired checkpoint a kept one stands on keeps its own chunks too, whatever the listing order', async () => {
    for (const seed of [5, 6, 7, 8]) {
      const disk = new SimDisk({ seed })
      const store = await open(disk)
      const f = await store.checkpoint({
        lsn: 0,
        entries: { z: createRng(seed).bytes(30_000), k: createRng(seed + 1).bytes(30_000) },
      })
      await store.applyRetention({ keep: [], drop: [] })
      const d = await store.checkpoint({ lsn: 0, parent: f.id, deleted: ['z'], entries: { n: encode('n') } })
      // Tombstone F by hand (a plan would keep it as D's base): D stands on it, so GC keeps it whole.
      await disk.mkdir('objects/tombstones', { recursive: true })
      const file = await disk.open(`objects/tombstones/${f.id}`, 'createExclusive')
      await file.write(encode(JSON.stringify({ at: 0, reasons: [] })), 0)
      await file.close()
      await store.gc({ graceMs: 0 })
      expect((await store.verify({ readData: true })).problems).toEqual([])
      expect((await (await store.snapshot(d.id)).read('k')).length).toBe(30_000)
      expect((await (await store.snapshot(f.id)).read('z')).length).toBe(30_000)
      await store.close()
    }
  })

  it('a manifest delete that fails partway leaves no deleted checkpoint served from memory', async () => {
    let deletedBeforeFault = 0
    for (let target = 0; target < 4; target++) {
      const disk = new SimDisk({ seed: 3 })
      const store = await open(disk)
      for (let i = 0; i < 5; i++)
        await store.checkpoint({ lsn: 0, entries: { 'a.bin': encode(`state ${String(i)}`) } })
      const plan = await store.retain({ keepLast: 1 })
      const dropped = plan.drop.map((d) => d.checkpoint.id)
      for (const id of dropped) await store.snapshot(id) // cached in memory
      disk.injectFault({
        kind: 'EIO',
        ops: ['unlink'],
        path: new RegExp(`manifests/${dropped[target] ?? ''}$`),
      })
      await expect(store.gc({ graceMs: 0 })).rejects.toThrow()
      for (const id of dropped) {
        const onDisk = await disk.stat(`objects/manifests/${id}`).then(
          () => true,
          () => false,
        )
        if (!onDisk) deletedBeforeFault++
        // Gone from the store: gone from memory too.
        if (!onDisk) await expect(store.snapshot(id)).rejects.toThrow()
      }
      await store.close()
    }
    expect(deletedBeforeFault).toBeGreaterThan(0)
  })

  it('a crash before every I/O of gc (repacking included) leaves every kept checkpoint restorable, and gc again finishes', async () => {
    const setup = async (seed: number) => {
      const disk = new SimDisk({ seed })
      const { store, states } = await history(disk)
      const plan = await store.retain({ keepLast: 2 })
      return { disk, store, states, kept: plan.keep.map((e) => e.checkpoint.id) }
    }
    const probe = await setup(1)
    const start = probe.disk.ioCount
    const probeReport = await probe.store.gc(GC)
    // This history repacks, so every step of a repack is crashed too (a repack cut short must be
    // finished by the next run, not leave a duplicate pack behind).
    expect(probeReport.packsRepacked).toBeGreaterThan(0)
    const gcIo = probe.disk.ioCount - start
    const finalBytes = objectBytes(probe.disk)
    let checked = 0
    const step = Number(process.env.GC_CRASH_STEP ?? Math.max(1, Math.floor(gcIo / 40)))
    for (let k = 1; k <= gcIo + 1; k += step) {
      const { disk, store, states, kept } = await setup(k)
      disk.haltAtIo(disk.ioCount + k)
      try {
        await store.gc(GC)
      } catch (error) {
        if (!disk.halted || !isCairnError(error)) throw error
      }
      for (const model of CRASH_MODELS) {
        const booted = disk.crash(model, createRng(k))
        const reopened = await open(booted)
        for (const id of kept)
          expectBytes(
            await (await reopened.snapshot(id)).read('state.bin'),
            states.get(id),
            `k=${String(k)} ${model}`,
          )
        await reopened.gc(GC)
        expect((await reopened.verify({ readData: true })).problems).toEqual([])
        expect(objectBytes(booted)).toBeLessThanOrEqual(finalBytes + 4096)
        await reopened.close()
        checked++
      }
    }
    expect(gcIo).toBeGreaterThan(10)
    expect(checked).toBeGreaterThan(10)
  })
})
