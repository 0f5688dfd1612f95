/**
 * A crash never loses a slot's previous save. Setup: slot A has two saves (a1, a2; policy keepLast
 * 2), slot B one (JSON), compaction after every pruned save. The operation: save a3 to A (which
 * shares most chunks with a2), then its pruning (a1 tombstoned) and a compaction (GC) after it;
 * and, as a second operation, deleting slot A. The simulated disk loses power before every I/O
 * index of the operation, in turn; the disk is booted under every crash model; the saves reopen.
 *
 * Checked each time: `load('A')` returns exactly a2 or exactly a3 (a3 whenever its save had
 * resolved), never an error, never a mix; A's history is one the operation could leave; B is
 * intact; the store verifies with every chunk read; and the reopened saves save and prune again.
 * After a deletion: A is gone (whenever deleteSlot had resolved) or whole, never older.
 *
 *   SAVES_CRASH_DRAWS=8 npx vitest run test/saves/saves-crash.test.ts   (more draws of the random models per index)
 */
import { describe, expect, it } from 'vitest'
import { CRASH_MODELS } from '../../src/adapters/sim/crash.js'
import type { CrashModel } from '../../src/adapters/sim/crash.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { isCairnError } from '../../src/core/errors.js'
import type { SaveGames } from '../../src/saves/index.js'
import { expectBytes, expectCairnError, openSimStore, sameBytes } from '../helpers.js'
import { MINUTE, openSimSaves, virtualClock } from './helpers.js'

/** Extra draws of the random crash models (prefixPerFile, weak) at each I/O index. */
const DRAWS = Number(process.env.SAVES_CRASH_DRAWS ?? 1)

const a1 = createRng(1).bytes(40_000)
const a2 = a1.slice()
a2.set(createRng(2).bytes(300), 10_000)
const a3 = a2.slice()
a3.set(createRng(3).bytes(300), 25_000)
const a4 = createRng(4).bytes(5_000)
const b = { hero: 'Ærwyn', level: 12, inventory: ['sword', 'map'] }

function open(disk: SimDisk): Promise<SaveGames> {
  const clock = virtualClock()
  return openSimSaves(disk, {
    clock: () => (clock.now += MINUTE),
    history: { keepLast: 2 },
    compactEvery: 1,
  })
}

/** Before the crash: A holds a1 and a2, B holds b; nothing in progress. */
async function setup(disk: SimDisk): Promise<{ saves: SaveGames; ids: string[] }> {
  const saves = await open(disk)
  const ids = [(await saves.save('A', a1)).id]
  await saves.save('B', b)
  ids.push((await saves.save('A', a2)).id)
  expect((await saves.history('A')).length).toBe(2)
  return { saves, ids }
}

type Operation = 'save' | 'deleteSlot'

/** The operation crashed at every I/O; `acked` records which of its promises resolved. */
async function operate(saves: SaveGames, operation: Operation, acked: { op: boolean; after: boolean }) {
  if (operation === 'save') await saves.save('A', a3)
  else await saves.deleteSlot('A')
  acked.op = true
  await saves.history('A') // its pruning and compaction are done
  acked.after = true
}

/** The states a crash at one index leaves, each booted: every model once, the random ones DRAWS times. */
function bootedStates(disk: SimDisk, k: number): { model: CrashModel; disk: SimDisk }[] {
  const states: { model: CrashModel; disk: SimDisk }[] = []
  for (const model of CRASH_MODELS) {
    const draws = model === 'weak' || model === 'prefixPerFile' ? DRAWS : 1
    for (let draw = 0; draw < draws; draw++)
      states.push({ model, disk: disk.crash(model, createRng(k * 1000 + draw)) })
  }
  return states
}

/** After the crash: the reopened saves hold an old or a new state, whole; returns which. */
async function check(
  booted: SimDisk,
  operation: Operation,
  acked: { op: boolean; after: boolean },
  ids: readonly string[],
  label: string,
): Promise<'old' | 'new'> {
  const saves = await open(booted)
  expect(await saves.load('B'), label).toEqual(b)
  const history = (await saves.history('A')).map((s) => s.id)
  let state: 'old' | 'new'
  if (operation === 'save') {
    const world = (await saves.load('A')) as Uint8Array
    state = sameBytes(world, a3) ? 'new' : 'old'
    if (state === 'old') expectBytes(world, a2, `${label}: neither a2 nor a3`)
    if (acked.op) expect(state, `${label}: a resolved save survives`).toBe('new')
    if (state === 'old') expect(history, label).toEqual([ids[1], ids[0]])
    else {
      // a3, a2, and a1 unless its tombstone is durable (it is once the pruning resolved).
      const older = history.slice(1)
      if (acked.after) expect(older, label).toEqual([ids[1]])
      else expect([[ids[1]], [ids[1], ids[0]]], label).toContainEqual(older)
    }
  } else {
    const found = await saves.load('A').then(
      (world) => world,
      (error: unknown) => {
        if (!isCairnError(error, 'NOT_FOUND')) throw error
        return undefined
      },
    )
    state = found === undefined ? 'new' : 'old'
    if (acked.op) expect(state, `${label}: a resolved deletion survives`).toBe('new')
    if (state === 'old') {
      expectBytes(found as Uint8Array, a2, `${label}: the slot is whole`)
      expect(history, label).toEqual([ids[1], ids[0]])
    } else expect(history, label).toEqual([])
  }
  // The reopened saves carry on: a new save, pruned to the policy.
  await saves.save('A', a4)
  expectBytes((await saves.load('A')) as Uint8Array, a4, label)
  expect((await saves.history('A')).length, label).toBeLessThanOrEqual(2)
  await saves.close()
  const store = await openSimStore(booted)
  expect((await store.verify({ readData: true })).problems, label).toEqual([])
  await store.close()
  return state
}

describe('saves crash', () => {
  it.each(['save', 'deleteSlot'] as const)(
    'saves: a crash before every I/O of a %s (and the pruning and compaction after it) leaves the old or the new slot, whole',
    async (operation) => {
      const probe = new SimDisk({ seed: 1 })
      const { saves: probeSaves } = await setup(probe)
      const before = probe.ioCount
      await operate(probeSaves, operation, { op: false, after: false })
      const operationIo = probe.ioCount - before
      await probeSaves.close()
      const seen = { old: 0, new: 0 }
      let states = 0
      for (let k = 1; k <= operationIo + 1; k++) {
        const disk = new SimDisk({ seed: k })
        const { saves, ids } = await setup(disk)
        disk.haltAtIo(disk.ioCount + k)
        const acked = { op: false, after: false }
        try {
          await operate(saves, operation, acked)
        } catch (error) {
          if (!disk.halted || !isCairnError(error)) throw error
        }
        if (k <= operationIo) expect(disk.halted, `k=${String(k)}: the operation reached this I/O`).toBe(true)
        for (const { model, disk: booted } of bootedStates(disk, k)) {
          seen[await check(booted, operation, acked, ids, `k=${String(k)} ${model}`)]++
          states++
        }
      }
      console.log(
        `saves crash, ${operation}: ${String(operationIo)} I/O indexes, ${String(states)} crash states (old ${String(seen.old)}, new ${String(seen.new)})`,
      )
      expect(operationIo).toBeGreaterThan(20)
      expect(seen.old).toBeGreaterThan(0)
      expect(seen.new).toBeGreaterThan(0)
    },
    60_000 * DRAWS,
  )

  it('saves: a crash right after a save resolves, before any pruning, still loads the new save', async () => {
    const disk = new SimDisk({ seed: 99 })
    const { saves } = await setup(disk)
    await saves.save('A', a3)
    disk.haltAtIo(disk.ioCount + 1) // the pruning queued behind it fails at its first I/O
    await expectCairnError(saves.history('A'), 'IO') // that failure, thrown by the next call
    for (const model of CRASH_MODELS) {
      const reopened = await open(disk.crash(model, createRng(7)))
      expectBytes((await reopened.load('A')) as Uint8Array, a3, model)
      await reopened.close()
    }
  })
})
