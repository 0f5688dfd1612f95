/**
 * The save-game API on the simulated disk: worlds round-trip (bytes exactly, JSON as JSON does,
 * and what JSON would change silently is refused), slots are independent, `slots()` and
 * `history()` describe them, `loadVersion` reads any save of the history, `deleteSlot` removes a
 * slot whole, everything survives a reopen, and every error is typed and names its slot.
 */
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { openStore } from '../../src/store.js'
import { expectBytes, expectCairnError } from '../helpers.js'
import { MINUTE, openSimSaves, virtualClock } from './helpers.js'

describe('saves: worlds round-trip', () => {
  it('saves: bytes come back byte-exact as a plain Uint8Array, copied when save is called', async () => {
    const saves = await openSimSaves(new SimDisk({ seed: 1 }))
    const world = createRng(1).bytes(50_000)
    const expected = world.slice()
    const saving = saves.save('slot-1', world)
    world.fill(0) // the caller goes on playing: the save holds the world as it was
    const info = await saving
    expect(info).toMatchObject({ slot: 'slot-1', bytes: 50_000, format: 'bytes', tags: [], meta: null })
    const loaded = await saves.load('slot-1')
    expect(loaded).toBeInstanceOf(Uint8Array)
    expectBytes(loaded as Uint8Array, expected)
    // A Buffer is bytes too, and comes back as a plain Uint8Array.
    await saves.save('buffer', Buffer.from('héllo'))
    const back = await saves.load('buffer')
    expect(Buffer.isBuffer(back)).toBe(false)
    expect(new TextDecoder().decode(back as Uint8Array)).toBe('héllo')
    // Empty bytes are a world too.
    await saves.save('empty', new Uint8Array(0))
    expect(await saves.load('empty')).toEqual(new Uint8Array(0))
    await saves.close()
  })

  it('saves: a JSON value comes back equal, taken when save is called; JSON changes what it always changes', async () => {
    const saves = await openSimSaves(new SimDisk({ seed: 2 }))
    const world = {
      level: 3,
      name: 'Ærwyn ✓',
      hp: 41.5,
      alive: true,
      pet: null,
      inventory: [
        { id: 'sword', n: 1 },
        { id: 'potion', n: 12 },
      ],
      flags: { door7: true, nested: [[1, 2], []] },
    }
    const saving = saves.save('slot-1', world)
    world.level = 4 // taken when saved
    await saving
    expect(await saves.load('slot-1')).toEqual({ ...world, level: 3 })
    for (const value of ['just a string', 42, false, null, []]) {
      await saves.save('scalar', value)
      expect(await saves.load('scalar')).toEqual(value)
    }
    // As JSON.stringify does: a Date is saved as its ISO string, undefined properties are left
    // out, undefined array items become null.
    const at = new Date(Date.UTC(2026, 0, 2))
    await saves.save('lossy', { at, gone: undefined, list: [1, undefined, 3] })
    expect(await saves.load('lossy')).toEqual({ at: at.toISOString(), list: [1, null, 3] })
    const info = (await saves.history('lossy'))[0]!
    expect(info.format).toBe('json')
    expect(info.bytes).toBe(JSON.stringify({ at, list: [1, null, 3] }).length)
    await saves.close()
  })

  it('saves: what JSON would change without a trace is refused with BAD_OPTION naming the slot, and nothing is saved', async () => {
    const saves = await openSimSaves(new SimDisk({ seed: 3 }))
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    const refused: unknown[] = [
      { items: new Map([['a', 1]]) },
      { seen: new Set([1]) },
      { pixels: new Float32Array(4) },
      { raw: new Uint8Array(4) },
      { hp: Number.NaN },
      { hp: Infinity },
      { big: 10n },
      { fn: () => 1 },
      { sym: Symbol('x') },
      { re: /x/ },
      { err: new Error('x') },
      cyclic,
      undefined,
      new Float64Array(2),
    ]
    for (const world of refused) {
      const error = await expectCairnError(saves.save('hero', world as object), 'BAD_OPTION')
      expect(error.message).toContain('slot "hero"')
    }
    expect(await saves.slots()).toEqual([])
    await saves.close()
  })
})

describe('saves: slots and history', () => {
  it('saves: slots are independent; slots() lists each with its newest save, most recent first', async () => {
    const clock = virtualClock()
    const saves = await openSimSaves(new SimDisk({ seed: 4 }), { clock: clock.read })
    const infos = []
    for (const [slot, world] of [
      ['a', { v: 'a1' }],
      ['b', { v: 'b1' }],
      ['a', { v: 'a2' }],
      ['c', new Uint8Array([1, 2, 3])],
      ['b', { v: 'b2-longer' }],
    ] as const) {
      clock.now += MINUTE
      infos.push(await saves.save(slot, world))
    }
    expect(await saves.load('a')).toEqual({ v: 'a2' })
    expect(await saves.load('b')).toEqual({ v: 'b2-longer' })
    expect(await saves.load('c')).toEqual(new Uint8Array([1, 2, 3]))
    const slots = await saves.slots()
    expect(slots.map((s) => [s.slot, s.saves, s.id, s.bytes])).toEqual([
      ['b', 2, infos[4]!.id, JSON.stringify({ v: 'b2-longer' }).length],
      ['c', 1, infos[3]!.id, 3],
      ['a', 2, infos[2]!.id, JSON.stringify({ v: 'a2' }).length],
    ])
    expect(slots[0]!.savedAt).toEqual(new Date(clock.now))
    await saves.close()
  })

  it('saves: history is newest first with times, sizes, tags and meta; loadVersion reads any of it', async () => {
    const clock = virtualClock()
    const saves = await openSimSaves(new SimDisk({ seed: 5 }), { clock: clock.read })
    const ids = []
    for (let i = 1; i <= 4; i++) {
      clock.now += MINUTE
      const info = await saves.save(
        'hero',
        { turn: i },
        { tags: i === 2 ? ['boss-beaten'] : [], meta: { title: `Turn ${String(i)}` } },
      )
      ids.push(info.id)
    }
    await saves.save('other', { x: 1 })
    const history = await saves.history('hero')
    expect(history.map((s) => s.id)).toEqual([...ids].reverse())
    expect(history.map((s) => s.savedAt.getTime())).toEqual(
      [4, 3, 2, 1].map((m) => clock.now - (4 - m) * MINUTE),
    )
    expect(history[2]).toMatchObject({ slot: 'hero', tags: ['boss-beaten'], meta: { title: 'Turn 2' } })
    expect(history[0]!.tags).toEqual([])
    for (const [i, id] of ids.entries()) expect(await saves.loadVersion('hero', id)).toEqual({ turn: i + 1 })
    // What history returns is the caller's: changing it changes nothing of the saves.
    ;(history[2]!.tags as string[]).push('changed')
    ;(history[2]!.meta as { title: string }).title = 'changed'
    history[2]!.savedAt.setTime(0)
    expect(await saves.history('hero')).not.toEqual(history)
    expect((await saves.history('hero'))[2]).toMatchObject({
      tags: ['boss-beaten'],
      meta: { title: 'Turn 2' },
    })
    expect(await saves.history('nobody')).toEqual([])
    await saves.close()
  })

  it('saves: deleteSlot removes a slot and its whole history, leaves the others, and the slot can be saved again', async () => {
    const clock = virtualClock()
    const saves = await openSimSaves(new SimDisk({ seed: 6 }), { clock: clock.read })
    for (let i = 0; i < 3; i++) {
      clock.now += MINUTE
      await saves.save('doomed', { i })
      await saves.save('kept', { i })
    }
    const old = (await saves.history('doomed'))[1]!.id
    expect(await saves.deleteSlot('doomed')).toBe(3)
    expect(await saves.deleteSlot('doomed')).toBe(0)
    expect(await saves.deleteSlot('never-was')).toBe(0)
    await expectCairnError(saves.load('doomed'), 'NOT_FOUND')
    await expectCairnError(saves.loadVersion('doomed', old), 'NOT_FOUND')
    expect(await saves.history('doomed')).toEqual([])
    expect((await saves.slots()).map((s) => s.slot)).toEqual(['kept'])
    expect(await saves.load('kept')).toEqual({ i: 2 })
    expect((await saves.history('kept')).length).toBe(3)
    // Compaction frees the deleted saves' manifests.
    const report = await saves.compact()
    expect(report.manifestsDeleted).toBe(3)
    await saves.save('doomed', { reborn: true })
    expect(await saves.load('doomed')).toEqual({ reborn: true })
    expect((await saves.history('doomed')).length).toBe(1)
    await saves.close()
  })

  it('saves: everything survives a reopen, the deletion of a slot included', async () => {
    const disk = new SimDisk({ seed: 7 })
    const clock = virtualClock()
    const saves = await openSimSaves(disk, { clock: clock.read })
    await saves.save('a', { v: 1 }, { tags: ['t'], meta: { m: 1 } })
    await saves.save('b', createRng(3).bytes(10_000))
    await saves.save('gone', { v: 0 })
    await saves.deleteSlot('gone')
    const before = { slots: await saves.slots(), a: await saves.history('a') }
    await saves.close()
    const reopened = await openSimSaves(disk, { clock: clock.read })
    expect(await reopened.slots()).toEqual(before.slots)
    expect(await reopened.history('a')).toEqual(before.a)
    expect(await reopened.load('a')).toEqual({ v: 1 })
    expectBytes((await reopened.load('b')) as Uint8Array, createRng(3).bytes(10_000))
    await expectCairnError(reopened.load('gone'), 'NOT_FOUND')
    await reopened.close()
  })
})

describe('saves: errors', () => {
  it('saves: every error is a typed CairnError naming the slot', async () => {
    const saves = await openSimSaves(new SimDisk({ seed: 8 }))
    expect((await expectCairnError(saves.load('hero'), 'NOT_FOUND')).message).toContain('slot "hero"')
    await saves.save('hero', { v: 1 })
    const malformed = await expectCairnError(saves.loadVersion('hero', 'not-an-id'), 'INVALID_ID')
    expect(malformed.message).toContain('slot "hero"')
    const absent = await expectCairnError(saves.loadVersion('hero', 'ab'.repeat(32)), 'NOT_FOUND')
    expect(absent.message).toContain('slot "hero"')
    const otherSlot = (await saves.save('villain', { v: 2 })).id
    await expectCairnError(saves.loadVersion('hero', otherSlot), 'NOT_FOUND')
    for (const bad of ['', ' padded', 'tab\there', 'x'.repeat(129)]) {
      await expectCairnError(saves.save(bad, { v: 1 }), 'INVALID_KEY')
    }
    const tag = await expectCairnError(saves.save('hero', { v: 1 }, { tags: ['slot:villain'] }), 'BAD_OPTION')
    expect(tag.message).toContain('slot "hero"')
    await saves.close()
    const closed = await expectCairnError(saves.load('hero'), 'CLOSED')
    expect(closed.context.op).toBe('saves.load')
    await saves.close() // twice is fine
  })

  it('saves: a failing disk is the store code, naming the slot, and the previous save is intact', async () => {
    const disk = new SimDisk({ seed: 9 })
    const saves = await openSimSaves(disk)
    await saves.save('hero', { v: 1 })
    disk.injectFault({ kind: 'EIO', ops: ['fdatasync'], path: /manifests/ })
    const error = await expectCairnError(saves.save('hero', { v: 2 }), 'IO')
    expect(error.message).toContain('slot "hero"')
    expect(error.context.op).toBe('saves.save')
    expect(await saves.load('hero')).toEqual({ v: 1 })
    expect((await saves.history('hero')).length).toBe(1)
    await saves.save('hero', { v: 3 })
    expect(await saves.load('hero')).toEqual({ v: 3 })
    await saves.close()
  })

  it('saves: pruning that fails part way is reported, and the history is what the store holds; pruning again finishes', async () => {
    const disk = new SimDisk({ seed: 12 })
    const clock = virtualClock()
    const saves = await openSimSaves(disk, { clock: clock.read, history: { keepLast: 10 } })
    for (let i = 0; i < 5; i++) {
      clock.now += MINUTE
      await saves.save('hero', { i })
    }
    await saves.close()
    const errors: Error[] = []
    const stricter = await openSimSaves(disk, {
      clock: clock.read,
      history: { keepLast: 2 },
      onError: (error) => errors.push(error),
    })
    // Three tombstones are put side by side; the first one's fdatasync fails, the other two land.
    disk.injectFault({ kind: 'EIO', ops: ['fdatasync'], path: /tombstones/ })
    const error = await expectCairnError(stricter.prune(), 'IO')
    expect(error.message).toContain('slot "hero"')
    const history = await stricter.history('hero')
    expect(history.length).toBe(3) // the two kept, and the one whose tombstone failed
    expect(await stricter.load('hero')).toEqual({ i: 4 })
    await stricter.prune()
    expect((await stricter.history('hero')).map((s) => s.id)).toEqual(history.slice(0, 2).map((s) => s.id))
    expect(errors).toEqual([])
    await stricter.close()
  })

  it('saves: options out of range are BAD_OPTION; a second writer is LOCKED', async () => {
    const disk = new SimDisk({ seed: 10 })
    await expectCairnError(openSimSaves(disk, { history: {} }), 'BAD_OPTION')
    await expectCairnError(openSimSaves(disk, { history: { keepLast: -2 } }), 'BAD_OPTION')
    await expectCairnError(openSimSaves(disk, { compactEvery: -1 }), 'BAD_OPTION')
    await expectCairnError(openSimSaves(disk, { timeZone: 'Mars/Olympus' }), 'BAD_OPTION')
    await expectCairnError(openSimSaves(disk, { autosave: { everyMs: 0 } }), 'BAD_OPTION')
    await expectCairnError(openSimSaves(disk, { store: { readOnly: true } }), 'BAD_OPTION')
    const saves = await openSimSaves(disk)
    await expectCairnError(openSimSaves(disk), 'LOCKED')
    await saves.close()
  })

  it('saves: checkpoints that are not saves are left alone', async () => {
    const disk = new SimDisk({ seed: 11 })
    const store = await openStore({ dir: '', vfs: disk, workers: 0 })
    await store.checkpoint({ lsn: 0, entries: { 'other.bin': new Uint8Array([9]) }, tags: ['slot:fake'] })
    await store.close()
    const saves = await openSimSaves(disk, { history: { keepLast: 1 } })
    await saves.save('a', { v: 1 })
    await saves.save('a', { v: 2 })
    await saves.compact()
    expect((await saves.slots()).map((s) => s.slot)).toEqual(['a'])
    await saves.close()
    const after = await openStore({ dir: '', vfs: disk, workers: 0 })
    expect((await after.checkpoints()).map((c) => c.tags[0])).toEqual(['slot:fake', 'slot:a'])
    await after.close()
  })
})
