/**
 * A slot's history is pruned by its retention policy after each save, planned over that slot's
 * saves only: a hand-computed case (restic's rules, including "oldest daily snapshot"), and a
 * model check where three slots with different policies are saved in a random interleaving over
 * ten virtual days, the history of each compared after every save with a model that prunes each
 * slot's list alone with planRetention. Also: a dry run, time zones, automatic compaction.
 */
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { planRetention } from '../../src/retention/plan.js'
import type { RetentionPolicy } from '../../src/retention/plan.js'
import { SAVE_HISTORY_DEFAULT } from '../../src/saves/index.js'
import { DAY, HOUR, MINUTE, T0, openSimSaves, virtualClock } from './helpers.js'

describe('saves: history', () => {
  it('saves: pruning keeps exactly what the policy says of the slot (keepLast 2, keepDaily 3, by hand)', async () => {
    const clock = virtualClock(Date.UTC(2026, 2, 2, 0, 0))
    const saves = await openSimSaves(new SimDisk({ seed: 1 }), {
      clock: clock.read,
      history: { keepLast: 2, keepDaily: 3 },
    })
    const at = (day: number, hour: number) => Date.UTC(2026, 2, 1 + day, hour)
    const ids: string[] = []
    const times = [at(1, 9), at(1, 18), at(2, 10), at(3, 8), at(3, 12), at(3, 20)]
    const expected = [
      [1], // s1
      [2, 1], // both the last two
      [3, 2, 1], // s1 stays: the oldest daily snapshot while keepDaily has room
      [4, 3, 2], // keepDaily ran out at s2 (day 1): s1 goes
      [5, 4, 3, 2],
      [6, 5, 3, 2], // s4 is neither of the last two nor the newest of day 3
    ]
    for (const [i, time] of times.entries()) {
      clock.now = time
      ids.push((await saves.save('hero', { save: i + 1 })).id)
      // Another slot saved many times in between changes nothing of this one.
      for (let j = 0; j < 3; j++) {
        clock.now += MINUTE
        await saves.save('noise', { i, j })
      }
      const history = await saves.history('hero')
      expect(history.map((s) => ids.indexOf(s.id) + 1)).toEqual(expected[i])
    }
    expect((await saves.history('noise')).length).toBe(3 + 1) // keepLast 2 + newest of each of 2 earlier days
    await saves.close()
  })

  it('saves: three slots with their own policies, interleaved over ten days, each pruned as planRetention prunes it alone', async () => {
    const policies: Record<string, RetentionPolicy> = {
      a: SAVE_HISTORY_DEFAULT,
      b: { keepLast: 1 },
      c: { keepLast: 2, keepWeekly: 2, keepTags: ['keep'] },
    }
    const clock = virtualClock()
    const saves = await openSimSaves(new SimDisk({ seed: 2 }), {
      clock: clock.read,
      history: (slot) => policies[slot] ?? { keepLast: 1 },
      compactEvery: 8,
    })
    type ModelSave = { id: string; createdAt: Date; tags: string[] }
    const model = new Map<string, ModelSave[]>(Object.keys(policies).map((slot) => [slot, []]))
    const rng = createRng(5)
    for (let i = 0; i < 150; i++) {
      clock.now += rng.int(3) === 0 ? rng.int(DAY / 2) : rng.int(20 * MINUTE) + 1
      const slot = ['a', 'b', 'c'][rng.int(3)]!
      const tags = slot === 'c' && rng.int(8) === 0 ? ['keep'] : []
      const info = await saves.save(slot, { i }, { tags })
      const list = [...model.get(slot)!, { id: info.id, createdAt: info.savedAt, tags }]
      const kept = planRetention(
        list.map((s) => ({ ...s, kind: 'full' as const, metrics: {} })),
        policies[slot]!,
        { now: new Date(clock.now) },
      ).keep.map((e) => e.checkpoint.id)
      model.set(
        slot,
        list.filter((s) => kept.includes(s.id)),
      )
      expect((await saves.history(slot)).map((s) => s.id)).toEqual(kept)
    }
    expect(clock.now - T0).toBeGreaterThan(9 * DAY)
    for (const [slot, list] of model) {
      expect((await saves.history(slot)).map((s) => s.id)).toEqual(list.map((s) => s.id).reverse())
      // Every kept save still reads back after the compactions.
      for (const save of list) expect(await saves.loadVersion(slot, save.id)).toHaveProperty('i')
    }
    await saves.close()
  })

  it('saves: prune({ dryRun }) shows what a stricter policy would drop, and changes nothing; prune() applies it', async () => {
    const disk = new SimDisk({ seed: 3 })
    const clock = virtualClock()
    const saves = await openSimSaves(disk, { clock: clock.read })
    for (let i = 0; i < 5; i++) {
      clock.now += HOUR
      await saves.save('hero', { i })
      await saves.save('other', { i })
    }
    await saves.close()
    const stricter = await openSimSaves(disk, { clock: clock.read, history: { keepLast: 2 } })
    expect((await stricter.history('hero')).length).toBe(5) // opening prunes nothing
    const plans = await stricter.prune({ dryRun: true })
    expect(plans.map((p) => [p.slot, p.keep.length, p.drop.length])).toEqual([
      ['hero', 2, 3],
      ['other', 2, 3],
    ])
    expect(plans[0]!.keep[0]!.reasons).toEqual(['newest', 'last snapshot'])
    expect((await stricter.history('hero')).length).toBe(5)
    const applied = await stricter.prune({ slot: 'hero' })
    expect(applied.map((p) => p.slot)).toEqual(['hero'])
    expect((await stricter.history('hero')).map((s) => s.id)).toEqual(plans[0]!.keep.map((e) => e.save.id))
    expect((await stricter.history('other')).length).toBe(5)
    await stricter.close()
  })

  it("saves: the history's days are the time zone's days", async () => {
    const clock = virtualClock()
    const run = async (timeZone: string) => {
      const saves = await openSimSaves(new SimDisk({ seed: 4 }), {
        clock: clock.read,
        history: { keepDaily: 5 },
        timeZone,
      })
      // 02:00 to 05:00 UTC, one UTC day; in New York (UTC-4) 22:00 and 23:00, then 00:00 and 01:00 the next day.
      for (const hour of [2, 3, 4, 5]) {
        clock.now = Date.UTC(2026, 5, 10, hour)
        await saves.save('hero', { hour })
      }
      const kept = (await saves.history('hero')).map((s) => s.savedAt.getUTCHours())
      await saves.close()
      return kept
    }
    // The newest of each day, and the oldest save while keepDaily has room (restic's rule).
    expect(await run('UTC')).toEqual([5, 2])
    expect(await run('America/New_York')).toEqual([5, 3, 2])
  })

  it('saves: compaction runs by itself every compactEvery pruned saves, and space stays bounded', async () => {
    const disk = new SimDisk({ seed: 5 })
    const saves = await openSimSaves(disk, { history: { keepLast: 3 }, compactEvery: 4 })
    const rng = createRng(9)
    let peak = 0
    for (let i = 0; i < 40; i++) {
      await saves.save('hero', rng.bytes(20_000))
      await saves.history('hero') // pruning (and compaction) done
      const manifests = (await disk.readdir('objects/manifests')).filter((n) => !n.startsWith('.'))
      peak = Math.max(peak, manifests.length)
    }
    // 3 kept, and at most 4 pruned ones waiting for compaction.
    expect(peak).toBeLessThanOrEqual(3 + 4)
    expect(disk.usedBytes()).toBeLessThan(20 * 20_000)
    expect((await saves.history('hero')).length).toBe(3)
    await saves.close()
  })
})
