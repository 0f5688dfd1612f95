/**
 * Checkpoints on a cadence: after N records (full every Kth time, deltas between), after a time,
 * the state captured in the same turn as the LSN it covers, and the next checkpoint full after
 * one fails.
 */
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../src/adapters/sim/sim-disk.js'
import { openStore } from '../src/store.js'
import type { CheckpointInfo } from '../src/snapshot/snapshot.js'
import { collect, expectBytes, expectCairnError } from './helpers.js'

const ROW = 16

async function world(seed: number) {
  const store = await openStore({ dir: '', vfs: new SimDisk({ seed }), workers: 0, packBytes: 64 * 1024 })
  const state = new Uint8Array(64 * ROW)
  const dirty = new Set<number>()
  const change = (i: number): Uint8Array => {
    const row = i % 64
    state.fill(i & 0xff, row * ROW, (row + 1) * ROW)
    dirty.add(row)
    return new Uint8Array([row, i & 0xff])
  }
  const capture = ({ full }: { lsn: number; full: boolean }) => {
    const patches = [...dirty].map((row) => ({
      offset: row * ROW,
      data: state.slice(row * ROW, (row + 1) * ROW),
    }))
    dirty.clear()
    return full ? { entries: { 'state.bin': state.slice() } } : { patches: { 'state.bin': patches } }
  }
  return { store, state, change, capture }
}

describe('cadence', () => {
  it('checkpoints every N records, full every Kth time, each covering exactly the records before it', async () => {
    const { store, state, change, capture } = await world(1)
    const made: CheckpointInfo[] = []
    const cadence = store.cadence({
      everyRecords: 10,
      fullEvery: 3,
      capture,
      onCheckpoint: (info) => made.push(info),
      onError: (error) => {
        throw error
      },
    })
    for (let i = 1; i <= 65; i++) {
      const record = change(i) // applied in the same turn as the append
      await cadence.append(record)
    }
    await cadence.stop()
    expect(made.map((c) => c.kind)).toEqual(['full', 'delta', 'delta', 'full', 'delta', 'delta'])
    expect(made.map((c) => c.lsn)).toEqual([10, 20, 30, 40, 50, 60])
    // The newest checkpoint plus the records after it give the state.
    const { checkpoint, snapshot, records } = await store.recover()
    expect(checkpoint?.lsn).toBe(60)
    const recovered = await snapshot!.read('state.bin')
    for (const { data } of await collect(records))
      recovered.fill(data[1]!, data[0]! * ROW, (data[0]! + 1) * ROW)
    expectBytes(recovered, state)
    await store.close()
  })

  it('checkpoints after a time, and bad options are BAD_OPTION', async () => {
    const { store, change, capture } = await world(2)
    const made: CheckpointInfo[] = []
    const cadence = store.cadence({ everyMs: 30, capture, onCheckpoint: (info) => made.push(info) })
    await cadence.append(change(1))
    await new Promise((resolve) => setTimeout(resolve, 120))
    await cadence.stop()
    expect(made.length).toBe(1) // one, not one per tick: nothing was appended after it
    expect(made[0]?.lsn).toBe(1)
    await expectCairnError(
      Promise.resolve().then(() => store.cadence({ capture })),
      'BAD_OPTION',
    )
    await expectCairnError(
      Promise.resolve().then(() => store.cadence({ everyRecords: 0, capture })),
      'BAD_OPTION',
    )
    await store.close()
  })

  it('after a failed checkpoint the next one is full', async () => {
    const { store, change, capture } = await world(3)
    const kinds: string[] = []
    const errors: unknown[] = []
    let fail = false
    const cadence = store.cadence({
      everyRecords: 5,
      fullEvery: 100,
      capture: (due) => {
        if (fail) {
          fail = false
          return { entries: { '../bad': new Uint8Array(1) } } // refused: the checkpoint fails
        }
        return capture(due)
      },
      onCheckpoint: (info) => kinds.push(info.kind),
      onError: (error) => errors.push(error),
    })
    for (let i = 1; i <= 5; i++) await cadence.append(change(i))
    await cadence.checkpointNow().catch(() => undefined)
    fail = true
    for (let i = 6; i <= 10; i++) await cadence.append(change(i))
    await cadence.stop()
    await cadence.checkpointNow()
    expect(errors).toHaveLength(1)
    expect(kinds[0]).toBe('full')
    expect(kinds.at(-1)).toBe('full')
    await store.close()
  })

  it('a checkpoint that always fails does not spin: appends go on, errors are reported a few times', async () => {
    const { store, change } = await world(4)
    const errors: unknown[] = []
    const cadence = store.cadence({
      everyRecords: 1,
      capture: () => {
        throw new Error('capture broke')
      },
      onError: (error) => errors.push(error),
    })
    for (let i = 1; i <= 50; i++) await cadence.append(change(i))
    await cadence.stop()
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.length).toBeLessThan(5) // backed off, not once per append
    expect((await store.checkpoints()).length).toBe(0)
    await store.close()
  })
})
