/**
 * The Store: checkpoints (full, delta with entries, deletes and patches) read back as the full
 * state; the chain policy turns a long chain into a full snapshot with the same state; the log is
 * truncated behind a checkpoint and replayed after it; recover() steps over a damaged newest
 * checkpoint with a warning; one writer at a time (LOCKED, stale locks taken over); a read-only
 * open beside the writer reads snapshots and refuses to write.
 */
import { open as openFile, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createRng } from '../src/adapters/sim/rng.js'
import { SimDisk } from '../src/adapters/sim/sim-disk.js'
import { openStore } from '../src/store.js'
import type { Store, StoreOptions } from '../src/store.js'
import { collect, expectBytes, expectCairnError, makeTempDir } from './helpers.js'

const open: Store[] = []
const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const store of open) await store.close().catch(() => undefined)
  for (const cleanup of cleanups) await cleanup()
})

async function simStore(disk: SimDisk, options: Partial<StoreOptions> = {}): Promise<Store> {
  const store = await openStore({ dir: '', vfs: disk, workers: 0, packBytes: 64 * 1024, ...options })
  open.push(store)
  return store
}

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

describe('store', () => {
  it('full and delta checkpoints read back as the full state; the log is replayed after the newest', async () => {
    const disk = new SimDisk({ seed: 1 })
    const store = await simStore(disk)
    const model = createRng(1).bytes(200_000)
    for (let i = 1; i <= 3; i++) await store.append(encode(`put ${String(i)}`))
    const full = await store.checkpoint({
      lsn: 3,
      entries: { 'model.bin': model, 'old.txt': encode('old'), 'keep.txt': encode('keep') },
      tags: ['first'],
      metrics: { loss: 0.5 },
      meta: { epoch: 1 },
    })
    expect(full).toMatchObject({
      kind: 'full',
      lsn: 3,
      tags: ['first'],
      metrics: { loss: 0.5 },
      meta: { epoch: 1 },
    })
    await store.append(encode('put 4'))
    const row = createRng(2).bytes(4096)
    const delta = await store.checkpoint({
      lsn: 4,
      parent: 'latest',
      entries: { 'new.txt': encode('new') },
      deleted: ['old.txt'],
      patches: {
        'model.bin': [
          { offset: 4096 * 17, data: row },
          { offset: 200_000, data: encode('tail') },
        ],
      },
    })
    expect(delta).toMatchObject({ kind: 'delta', parent: full.id, lsn: 4 })
    expect(delta.newBytes).toBeLessThan(16 * 1024)
    await store.append(encode('put 5'))
    const expected = new Uint8Array(200_004)
    expected.set(model)
    expected.set(row, 4096 * 17)
    expected.set(encode('tail'), 200_000)
    const snap = await store.snapshot('latest')
    expect(await snap.entries()).toEqual(['keep.txt', 'model.bin', 'new.txt'])
    expectBytes(await snap.read('model.bin'), expected)
    expect(decode(await snap.read('new.txt'))).toBe('new')
    await expectCairnError(snap.read('old.txt'), 'NOT_FOUND')
    // The older checkpoint still reads as it was.
    expect(await (await store.snapshot(full.id)).entries()).toEqual(['keep.txt', 'model.bin', 'old.txt'])
    expect((await store.checkpoints()).map((c) => c.id)).toEqual([full.id, delta.id])
    await store.close()

    const reopened = await simStore(disk)
    const { checkpoint, snapshot, records, warnings } = await reopened.recover()
    expect(warnings).toEqual([])
    expect(checkpoint?.id).toBe(delta.id)
    expectBytes(await snapshot!.read('model.bin'), expected)
    expect((await collect(records)).map((r) => decode(r.data))).toEqual(['put 5'])
    expect(await reopened.append(encode('put 6'))).toBe(6)
  })

  it('writeToFile gives a file the entry read whole, a delta that grew it with a hole included', async () => {
    const store = await simStore(new SimDisk({ seed: 11 }))
    const data = createRng(11).bytes(150_000)
    await store.checkpoint({ lsn: 0, entries: { 'state.bin': data, 'empty.bin': new Uint8Array(0) } })
    // Written 1 MB past the end: the gap between reads as zeros.
    await store.checkpoint({
      lsn: 0,
      parent: 'latest',
      patches: {
        'state.bin': [
          { offset: 1_200_000, data: encode('tail') },
          { offset: 10, data: encode('head') },
        ],
      },
    })
    const snap = await store.snapshot('latest')
    const { dir, cleanup } = await makeTempDir()
    cleanups.push(cleanup)
    for (const name of ['state.bin', 'empty.bin']) {
      const path = join(dir, name)
      const file = await openFile(path, 'w')
      let reported = 0
      try {
        expect(await snap.writeToFile(name, file.fd, (n) => (reported += n))).toBe(snap.size(name))
      } finally {
        await file.close()
      }
      const written = await readFile(path)
      expectBytes(new Uint8Array(written), await snap.read(name), name)
      expect(reported).toBe(snap.size(name))
    }
    await expectCairnError(snap.writeToFile('missing.bin', -1), 'NOT_FOUND')
  })

  it('the chain policy makes a full snapshot when the chain would grow too long, with the same state', async () => {
    const store = await simStore(new SimDisk({ seed: 2 }), { chain: { maxChainLength: 2 } })
    const data = createRng(3).bytes(100_000)
    await store.checkpoint({ lsn: 0, entries: { 'state.bin': data } })
    const kinds = []
    for (let i = 1; i <= 4; i++) {
      data.set(encode(`v${String(i)}`), i * 1000)
      const info = await store.checkpoint({
        lsn: 0,
        parent: 'latest',
        patches: { 'state.bin': [{ offset: i * 1000, data: encode(`v${String(i)}`) }] },
      })
      kinds.push(info.kind)
      expectBytes(await (await store.snapshot(info.id)).read('state.bin'), data, `checkpoint ${String(i)}`)
    }
    expect(kinds).toEqual(['delta', 'delta', 'full', 'delta'])
  })

  it('a chain of 100 deltas restores byte-exact at every point', async () => {
    const store = await simStore(new SimDisk({ seed: 6 }), {
      chain: { maxChainLength: 1000, maxDeltaShare: 1000 },
    })
    const rng = createRng(6)
    const state = rng.bytes(64 * 1024)
    const points: { id: Awaited<ReturnType<Store['checkpoint']>>['id']; bytes: Uint8Array }[] = []
    const first = await store.checkpoint({ lsn: 0, entries: { 'rows.bin': state } })
    points.push({ id: first.id, bytes: state.slice() })
    for (let i = 1; i <= 100; i++) {
      const offset = rng.int(state.length - 100)
      const row = rng.bytes(1 + rng.int(100))
      state.set(row, offset)
      const info = await store.checkpoint({
        lsn: 0,
        parent: 'latest',
        patches: { 'rows.bin': [{ offset, data: row }] },
      })
      expect(info.kind).toBe('delta')
      points.push({ id: info.id, bytes: state.slice() })
    }
    for (const [i, point] of points.entries()) {
      expectBytes(await (await store.snapshot(point.id)).read('rows.bin'), point.bytes, `point ${String(i)}`)
    }
  })

  it('recover() steps over a damaged newest checkpoint to an older intact one, and says so', async () => {
    const disk = new SimDisk({ seed: 4 })
    const store = await simStore(disk)
    const first = await store.checkpoint({ lsn: 0, entries: { a: encode('first') } })
    const second = await store.checkpoint({ lsn: 0, entries: { a: encode('second') } })
    await store.close()
    disk.rot(`objects/manifests/${second.id}`, 30, 1)
    const reopened = await simStore(disk)
    const { checkpoint, snapshot, warnings } = await reopened.recover()
    expect(checkpoint?.id).toBe(first.id)
    expect(decode(await snapshot!.read('a'))).toBe('first')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ code: 'CORRUPT_OBJECT', checkpoint: second.id })
    expect((await reopened.verify()).ok).toBe(false)
  })

  it('a checkpoint whose chunks are gone is stepped over by recover() and reported by verify', async () => {
    const disk = new SimDisk({ seed: 9 })
    const store = await simStore(disk)
    const first = await store.checkpoint({ lsn: 0, entries: { a: encode('first') } })
    await store.checkpoint({ lsn: 0, entries: { b: createRng(9).bytes(100_000) } })
    await store.close()
    // Remove the packs only the second checkpoint needs (as a GC bug, or a hand, might).
    const firstChunks = new Set<string>()
    const probe = await simStore(disk)
    for (const piece of [...(await probe.snapshot(first.id)).resolved().values()].flatMap((e) => e.pieces))
      if (!('zeros' in piece)) firstChunks.add(piece.chunk.id)
    await probe.close()
    for (const dir of await disk.readdir('objects/packs')) {
      for (const name of await disk.readdir(`objects/packs/${dir}`)) {
        const bytes = await (await disk.open(`objects/packs/${dir}/${name}`, 'read')).read(0, 1 << 20)
        if (![...firstChunks].some((id) => Buffer.from(bytes).includes(Buffer.from(id, 'hex'))))
          await disk.unlink(`objects/packs/${dir}/${name}`)
      }
    }
    const reopened = await simStore(disk)
    const { checkpoint, warnings } = await reopened.recover()
    expect(checkpoint?.id).toBe(first.id)
    expect(warnings.map((w) => w.code)).toEqual(['MISSING_CHUNK'])
    const report = await reopened.verify()
    expect(report.ok).toBe(false)
    expect(report.problems.some((p) => p.code === 'MISSING_CHUNK' && p.where.startsWith('manifests/'))).toBe(
      true,
    )
  })

  it('verify names the checkpoints a damaged chunk hurts', async () => {
    const disk = new SimDisk({ seed: 10 })
    const store = await simStore(disk)
    const a = await store.checkpoint({ lsn: 0, entries: { x: createRng(10).bytes(30_000) } })
    const b = await store.checkpoint({ lsn: 0, parent: 'latest', entries: { y: encode('y') } })
    expect((await store.verify({ readData: true })).ok).toBe(true)
    const [dir] = await disk.readdir('objects/packs')
    const [name] = await disk.readdir(`objects/packs/${dir!}`)
    disk.rot(`objects/packs/${dir!}/${name!}`, 100, 1)
    const report = await store.verify({ readData: true })
    const damaged = report.problems.find((p) => p.code === 'CORRUPT_OBJECT')
    expect(damaged?.checkpoints.slice().sort()).toEqual([a.id, b.id].sort())
    expect(report.checkpointsChecked).toBe(2)
  })

  it('bad checkpoint requests are typed errors, and nothing is committed', async () => {
    const store = await simStore(new SimDisk({ seed: 5 }))
    await expectCairnError(store.checkpoint({ lsn: 0, entries: { '../escape': encode('x') } }), 'INVALID_KEY')
    await expectCairnError(store.checkpoint({ lsn: -1, entries: {} }), 'BAD_OPTION')
    await expectCairnError(store.checkpoint({ lsn: 0, deleted: ['a'] }), 'BAD_OPTION')
    await expectCairnError(store.checkpoint({ lsn: 0, parent: 'latest', entries: {} }), 'NOT_FOUND')
    await store.checkpoint({ lsn: 0, entries: { a: encode('a') } })
    await expectCairnError(store.checkpoint({ lsn: 0, parent: 'latest', deleted: ['b'] }), 'BAD_OPTION')
    await expectCairnError(
      store.checkpoint({
        lsn: 0,
        parent: 'latest',
        patches: {
          a: [
            { offset: 0, data: encode('xy') },
            { offset: 1, data: encode('z') },
          ],
        },
      }),
      'BAD_OPTION',
    )
    expect(await store.checkpoints()).toHaveLength(1)
  })

  it('a read-only store reads the log beside the writer, and after a crash, changing nothing', async () => {
    const disk = new SimDisk({ seed: 7 })
    const writer = await simStore(disk, { wal: { sync: 'always', segmentBytes: 4096 } })
    for (let i = 1; i <= 300; i++) await writer.append(encode(`record ${String(i)}`))
    const reader = await simStore(disk, { readOnly: true })
    expect((await collect(reader.readLog())).map((r) => decode(r.data))).toHaveLength(300)
    expect((await collect(reader.readLog({ from: 290 }))).map((r) => r.lsn)).toEqual(
      [...Array(11).keys()].map((k) => 290 + k),
    )
    await expectCairnError(
      Promise.resolve().then(() => reader.append(encode('no'))),
      'NOT_SUPPORTED',
    )
    // After a crash that may tear the tail: every acknowledged record, and not a byte changed.
    const crashed = disk.crash('weak', createRng(7))
    // A torn frame at the tail for sure: garbage after the last whole frame of the last segment.
    const last = (await crashed.readdir('log'))
      .filter((n) => n.endsWith('.seg'))
      .sort()
      .at(-1)!
    const file = await crashed.open(`log/${last}`, 'readWrite')
    const bytes = await file.read(0, await file.size())
    // Where the frames end: the first long run of zeros after the header (the log zero-fills ahead).
    let end = 40
    while (end < bytes.length && bytes.subarray(end, end + 64).some((b) => b !== 0)) end++
    await file.write(createRng(8).bytes(100), end)
    await file.fsync()
    await file.close()
    const before = crashed.fingerprint()
    const after = await simStore(crashed, { readOnly: true })
    const records = await collect(after.readLog())
    expect(records.map((r) => decode(r.data))).toEqual(
      [...Array(300).keys()].map((k) => `record ${String(k + 1)}`),
    )
    expect(crashed.fingerprint()).toBe(before)
  })

  it('a checkpoint covers only logged records, never goes back, and completes across close()', async () => {
    const store = await simStore(new SimDisk({ seed: 8 }), { wal: { sync: 'none' } })
    for (let i = 1; i <= 3; i++) await store.append(encode(`r${String(i)}`))
    await expectCairnError(store.checkpoint({ lsn: 100, entries: {} }), 'BAD_OPTION')
    await store.checkpoint({ lsn: 3, entries: { a: encode('a') } }) // lsn 3 not yet synced: flushed first
    await expectCairnError(store.checkpoint({ lsn: 2, entries: {} }), 'BAD_OPTION')
    await store.append(encode('r4'))
    const pending = store.checkpoint({ lsn: 4, entries: { a: encode('b') } })
    const closing = store.close()
    expect((await pending).lsn).toBe(4)
    await closing
    await expectCairnError(store.append(encode('late')), 'CLOSED')
  })

  it('one writer at a time: LOCKED, a stale lock taken over, and a reader beside the writer', async () => {
    const { dir, cleanup } = await makeTempDir()
    cleanups.push(cleanup)
    const writer = await openStore({ dir, workers: 0 })
    open.push(writer)
    await expectCairnError(openStore({ dir, workers: 0 }), 'LOCKED')
    // The same directory through a symlink is the same store.
    await symlink(dir, `${dir}-link`)
    cleanups.push(() => rm(`${dir}-link`, { force: true }))
    await expectCairnError(openStore({ dir: `${dir}-link`, workers: 0 }), 'LOCKED')
    const info = await writer.checkpoint({ lsn: 0, entries: { 'world.bin': encode('hello') } })
    await expectCairnError(openStore({ dir: join(dir, 'nothing-here'), readOnly: true }), 'NOT_FOUND')
    const reader = await openStore({ dir, workers: 0, readOnly: true })
    open.push(reader)
    expect(decode(await (await reader.snapshot('latest')).read('world.bin'))).toBe('hello')
    await expectCairnError(
      Promise.resolve().then(() => reader.checkpoint({ lsn: 1, entries: {} })),
      'NOT_SUPPORTED',
    )
    await reader.close()
    await writer.close()
    // A lock left by a process that is gone is taken over.
    await writeFile(
      join(dir, 'LOCK'),
      JSON.stringify({
        pid: 2 ** 22 + 7,
        host: (await import('node:os')).hostname(),
        since: 0,
        token: 'dead',
      }),
    )
    const next = await openStore({ dir, workers: 0 })
    open.push(next)
    expect((await next.checkpoints()).map((c) => c.id)).toEqual([info.id])
    await next.close()
    // A crash inside a takeover leaves its gate too: an old gate is cleared and the takeover done
    // in the same open (found by the crash proof: the open after such a crash was LOCKED).
    const dead = { pid: 2 ** 22 + 7, host: (await import('node:os')).hostname(), since: 0, token: 'dead' }
    await writeFile(join(dir, 'LOCK'), JSON.stringify(dead))
    await writeFile(join(dir, 'LOCK.takeover'), '')
    const old = new Date(Date.now() - 60_000)
    await utimes(join(dir, 'LOCK.takeover'), old, old)
    const after = await openStore({ dir, workers: 0 })
    open.push(after)
    await after.close()
  })
})
