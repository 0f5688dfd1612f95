/**
 * The key-value store's write path on its own, with a log whose acknowledgements the test
 * controls: changes reach the map in LSN order whatever order acknowledgements come in, a write's
 * promise resolves only after its changes are applied, writes past the in-flight bound wait and
 * reach the log in call order, and a refused write is never applied.
 */
import { describe, expect, it } from 'vitest'
import { CairnError } from '../../src/core/errors.js'
import type { MapChange } from '../../src/kv/record.js'
import { WriteQueue } from '../../src/kv/write-queue.js'

/** A log that hands out LSNs at the call and settles each append when the test says. */
function fakeLog() {
  const pending: {
    lsn: number
    record: Uint8Array
    resolve: (lsn: number) => void
    reject: (e: unknown) => void
  }[] = []
  let next = 1
  return {
    pending,
    append: (record: Uint8Array) =>
      new Promise<number>((resolve, reject) => {
        pending.push({ lsn: next++, record, resolve, reject })
      }),
    ack(lsn: number) {
      const entry = pending.find((p) => p.lsn === lsn)
      entry?.resolve(lsn)
    },
  }
}

const change = (code: string): MapChange[] => [{ code, value: new Uint8Array([1]) }]
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('kv: write queue', () => {
  it('acknowledgements out of LSN order are applied in LSN order, each promise after its own changes', async () => {
    const log = fakeLog()
    const applied: number[] = []
    const queue = new WriteQueue(log.append, (lsn) => applied.push(lsn), 0)
    const resolvedAt: Record<number, number[]> = {}
    const writes = [1, 2, 3].map((n) =>
      queue.submit(new Uint8Array(10), change(`k${String(n)}`)).then((lsn) => {
        resolvedAt[lsn] = [...applied]
      }),
    )
    log.ack(3)
    log.ack(2)
    await tick()
    expect(applied).toEqual([]) // 2 and 3 wait for 1
    expect(queue.pending).toBe(3)
    log.ack(1)
    await Promise.all(writes)
    expect(applied).toEqual([1, 2, 3])
    expect(resolvedAt).toEqual({ 1: [1, 2, 3], 2: [1, 2, 3], 3: [1, 2, 3] })
    expect(queue.appliedLsn).toBe(3)
    await queue.settled()
  })

  it('writes past the in-flight bound wait, and reach the log in call order', async () => {
    const log = fakeLog()
    const queue = new WriteQueue(log.append, () => undefined, 0, 100)
    const sizes = [60, 30, 50, 5, 200, 5]
    const done = sizes.map((size) => queue.submit(new Uint8Array(size), change('k')))
    expect(log.pending.map((p) => p.record.length)).toEqual([60, 30]) // 50 would pass 100; 5 waits behind it
    log.ack(1)
    await tick()
    expect(log.pending.map((p) => p.record.length)).toEqual([60, 30, 50, 5])
    log.ack(2)
    log.ack(3)
    log.ack(4)
    await tick()
    expect(log.pending.map((p) => p.record.length)).toEqual([60, 30, 50, 5, 200]) // alone: over the bound but sent
    log.ack(5)
    await tick()
    log.ack(6)
    expect(await Promise.all(done)).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('a refused write rejects and is never applied; settled() waits for every write', async () => {
    const log = fakeLog()
    const applied: number[] = []
    const queue = new WriteQueue(log.append, (lsn) => applied.push(lsn), 0)
    const first = queue.submit(new Uint8Array(1), change('a'))
    const refused = queue.submit(new Uint8Array(1), change('b'))
    let settled = false
    void queue.settled().then(() => (settled = true))
    log.ack(1)
    log.pending[1]?.reject(new CairnError('DISK_FULL', 'no space', { op: 'wal.append' }))
    expect(await first).toBe(1)
    await expect(refused).rejects.toThrow(/DISK_FULL/)
    await tick()
    expect(settled).toBe(true)
    expect(applied).toEqual([1])
  })
})
