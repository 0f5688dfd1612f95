/**
 * Retention on a store: a dry run changes nothing; applying tombstones the dropped checkpoints
 * (they leave checkpoints(), 'latest' and recover(), and can still be read by id); a plan that
 * drops the newest checkpoint or a base a kept delta stands on is refused.
 */
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../src/adapters/sim/sim-disk.js'
import { openStore } from '../src/store.js'
import { expectCairnError } from './helpers.js'

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

async function history() {
  const store = await openStore({ dir: '', vfs: new SimDisk({ seed: 1 }), workers: 0, packBytes: 64 * 1024 })
  const ids = []
  for (let i = 1; i <= 5; i++) {
    ids.push(
      (
        await store.checkpoint({
          lsn: 0,
          entries: { 'state.bin': encode(`v${String(i)}`) },
          tags: i === 2 ? ['best'] : [],
        })
      ).id,
    )
  }
  return { store, ids }
}

describe('store retention', () => {
  it('a dry run changes nothing; applying tombstones the dropped, which stay readable by id', async () => {
    const { store, ids } = await history()
    const dry = await store.retain({ keepLast: 2, keepTags: ['best'] }, { dryRun: true })
    expect(dry.keep.map((e) => e.checkpoint.id)).toEqual([ids[4], ids[3], ids[1]])
    expect(await store.checkpoints()).toHaveLength(5)
    const plan = await store.retain({ keepLast: 2, keepTags: ['best'] })
    expect(plan.drop.map((e) => e.checkpoint.id)).toEqual([ids[2], ids[0]])
    expect((await store.checkpoints()).map((c) => c.id)).toEqual([ids[1], ids[3], ids[4]])
    expect(decode(await (await store.snapshot(ids[0]!)).read('state.bin'))).toBe('v1')
    expect((await store.snapshot('latest')).info.id).toBe(ids[4])
    await store.close()
  })

  it('recover() skips tombstoned checkpoints', async () => {
    const { store, ids } = await history()
    await store.applyRetention({ keep: [], drop: [] })
    const plan = await store.retain({ keepLast: 1 }, { dryRun: true })
    await store.applyRetention(plan)
    expect((await store.recover()).checkpoint?.id).toBe(ids[4])
    await store.close()
  })

  it('a plan that drops the newest, or a base a kept delta stands on, is refused', async () => {
    const store = await openStore({
      dir: '',
      vfs: new SimDisk({ seed: 2 }),
      workers: 0,
      packBytes: 64 * 1024,
    })
    const base = await store.checkpoint({ lsn: 0, entries: { a: new Uint8Array(10_000) } })
    const delta = await store.checkpoint({ lsn: 0, parent: 'latest', entries: { b: encode('b') } })
    expect(delta.kind).toBe('delta')
    const entry = (checkpoint: typeof base) => ({ checkpoint, reasons: [] })
    await expectCairnError(store.applyRetention({ keep: [entry(base)], drop: [entry(delta)] }), 'BAD_OPTION')
    await expectCairnError(store.applyRetention({ keep: [entry(delta)], drop: [entry(base)] }), 'BAD_OPTION')
    expect(await store.checkpoints()).toHaveLength(2)
    await expectCairnError(store.retain({}), 'BAD_OPTION')
    await store.close()
  })

  it('a chain through a checkpoint tombstoned already keeps its links beyond it (found by the crash proof)', async () => {
    const disk = new SimDisk({ seed: 2 })
    const store = await openStore({ dir: '', vfs: disk, workers: 0, packBytes: 64 * 1024 })
    const full = await store.checkpoint({ lsn: 0, entries: { 'state.bin': encode('base') } })
    const middle = await store.checkpoint({ lsn: 0, parent: 'latest', entries: { 'b.bin': encode('b') } })
    const top = await store.checkpoint({ lsn: 0, parent: 'latest', entries: { 'c.bin': encode('c') } })
    // The middle link tombstoned by hand (another tool, an older version): the planner no longer
    // sees it, nor, through it, that the top delta stands on the full checkpoint.
    await disk.mkdir('objects/tombstones', { recursive: true })
    const file = await disk.open(`objects/tombstones/${middle.id}`, 'createExclusive')
    await file.write(encode(JSON.stringify({ at: 0, reasons: [] })), 0)
    await file.close()
    const plan = await store.retain({ keepLast: 1 })
    expect(plan.keep.map((e) => [e.checkpoint.id, e.reasons])).toEqual([
      [top.id, ['newest', 'last snapshot']],
      [full.id, [`base of ${top.id.slice(0, 8)}`]],
    ])
    expect(decode(await (await store.snapshot(top.id)).read('state.bin'))).toBe('base')
    await store.close()
  })
})
