/** The checkpoint manager for training loops: saves, restores, retention, sparse increments, async saves. */
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { CheckpointManager } from '../../src/training/index.js'
import type { CheckpointManagerOptions } from '../../src/training/index.js'
import { expectCairnError, makeTempDir } from '../helpers.js'

function open(
  disk: SimDisk,
  options: Partial<CheckpointManagerOptions> = {},
  clock = { now: 1_700_000_000_000 },
) {
  return CheckpointManager.open({
    dir: '',
    vfs: disk,
    ...options,
    store: { workers: 0, clock: () => clock.now, ...options.store },
  })
}

/** Byte equality of two tensors (toEqual walks a million elements slowly). */
function bytesOf(value: unknown): Buffer {
  if (!ArrayBuffer.isView(value)) throw new Error('not a tensor')
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

function weights(length: number, seed: number): Float32Array {
  const out = new Float32Array(length)
  for (let i = 0; i < length; i++) out[i] = Math.sin(seed * 7919 + i) * 10
  return out
}

describe('CheckpointManager', () => {
  it('saves named tensors of every dtype and JSON values, and restores them exactly, by step or latest', async () => {
    const disk = new SimDisk({ seed: 1 })
    const manager = await open(disk)
    const state = {
      w: weights(10_000, 1),
      b: new Float64Array([1.5, -2.25, Math.PI]),
      counts: new Int32Array([1, -2, 3]),
      mask: new Uint8Array([0, 1, 1, 0]),
      ids: new BigInt64Array([1n, -2n, 2n ** 60n]),
      lr: 0.001,
      loader: { epoch: 3, offset: 1234, files: ['a', 'b'] },
    }
    await manager.save(100, state, { metrics: { loss: 0.5 } })
    await manager.save(200, { ...state, w: weights(10_000, 2), lr: 0.0005 }, { metrics: { loss: 0.4 } })
    const first = await manager.restore(100)
    expect(first.step).toBe(100)
    expect(first.state).toEqual(state)
    const latest = await manager.restore('latest')
    expect(latest.step).toBe(200)
    expect(bytesOf(latest.state['w']).equals(bytesOf(weights(10_000, 2)))).toBe(true)
    expect(latest.state['lr']).toBe(0.0005)
    await expectCairnError(manager.restore(150), 'NOT_FOUND')
    await manager.close()
    // Reopened: the same.
    const again = await open(disk)
    expect((await again.latest())?.step).toBe(200)
    expect((await again.restore(100)).state).toEqual(state)
    await again.close()
  })

  it('restoreOrInit starts from init when there is no save, and resumes from the newest otherwise', async () => {
    const disk = new SimDisk({ seed: 2 })
    const manager = await open(disk)
    const fresh = await manager.restoreOrInit(() => ({ w: new Float32Array(4), step0: true }))
    expect(fresh).toEqual({ step: 0, state: { w: new Float32Array(4), step0: true }, restored: false })
    await manager.save(7, { w: new Float32Array([1, 2, 3, 4]) })
    const resumed = await manager.restoreOrInit(() => ({ w: new Float32Array(4) }))
    expect(resumed.restored).toBe(true)
    expect(resumed.step).toBe(7)
    expect(resumed.state['w']).toEqual(new Float32Array([1, 2, 3, 4]))
    await manager.close()
  })

  it('retention keeps exactly the newest maxToKeep, the best k by a metric and the pinned steps', async () => {
    const disk = new SimDisk({ seed: 3 })
    const manager = await open(disk, {
      maxToKeep: 2,
      best: { metric: 'loss', mode: 'min', k: 2 },
      fullEvery: 1,
    })
    const losses = [0.9, 0.3, 0.8, 0.1, 0.7, 0.6, 0.95, 0.85]
    manager.pin(3)
    for (const [i, loss] of losses.entries()) {
      await manager.save(i + 1, { w: weights(1000, i) }, { metrics: { loss } })
    }
    // Newest two: 7, 8; best two: 4 (0.1), 2 (0.3); pinned: 3.
    expect((await manager.saved()).map((s) => s.step)).toEqual([2, 3, 4, 7, 8])
    await manager.close()
  })

  it('keepEvery keeps one save for good every n steps (or hours), beside maxToKeep', async () => {
    const disk = new SimDisk({ seed: 4 })
    const clock = { now: 1_700_000_000_000 }
    const manager = await open(disk, { maxToKeep: 1, keepEvery: { steps: 30 }, fullEvery: 1 }, clock)
    for (let step = 10; step <= 100; step += 10) {
      clock.now += 60_000
      await manager.save(step, { w: weights(100, step) })
    }
    expect((await manager.saved()).map((s) => s.step)).toEqual([10, 40, 70, 100])
    await manager.close()
    const hourly = await open(
      new SimDisk({ seed: 5 }),
      { maxToKeep: 1, keepEvery: { hours: 2 }, fullEvery: 1 },
      clock,
    )
    for (let step = 1; step <= 6; step++) {
      clock.now += 3_600_000
      await hourly.save(step, { w: weights(100, step) })
    }
    expect((await hourly.saved()).map((s) => s.step)).toEqual([1, 3, 5, 6])
    await hourly.close()
  })

  it('a sparse incremental save of 1% of the rows writes about 1% of the bytes, and restores as full + increments', async () => {
    // On the real disk: the simulated one copies its file images, slow for 4 MiB states.
    const { dir, cleanup } = await makeTempDir()
    const manager = await CheckpointManager.open({
      dir,
      fullEvery: 10,
      rowBytes: 4096,
      store: { compression: 'none' },
    })
    const rows = 1024 // 4 MiB of float32, 1,024 rows of 4 KiB
    const w = weights(rows * 1024, 1)
    const full = await manager.save(1, { w })
    expect(full.kind).toBe('full')
    for (let r = 0; r < rows; r += 100) w[r * 1024 + 5] = -1 // 11 rows of 1,024: ~1%
    const sparse = await manager.save(2, { w })
    expect(sparse.kind).toBe('delta')
    const share = sparse.storedBytes / full.storedBytes
    expect(share).toBeGreaterThan(0.005)
    expect(share).toBeLessThan(0.02)
    expect(bytesOf((await manager.restore(2)).state['w']).equals(bytesOf(w))).toBe(true)
    expect(bytesOf((await manager.restore(1)).state['w']).equals(bytesOf(weights(rows * 1024, 1)))).toBe(true)
    await manager.close()
    await cleanup()
  })

  it('saveAsync returns once staged (the caller may change its tensors at once), and a failed background save is reported on the next call, then the next save is full', async () => {
    const disk = new SimDisk({ seed: 7 })
    const manager = await open(disk, { fullEvery: 5 })
    const w = weights(50_000, 1)
    await manager.saveAsync(1, { w })
    w.fill(0) // staged: a copy was taken
    await manager.wait()
    expect(bytesOf((await manager.restore(1)).state['w']).equals(bytesOf(weights(50_000, 1)))).toBe(true)
    // The disk fills up under the next background save: the next call says so.
    disk.setSpaceBudget(disk.usedBytes() + 1000)
    w[0] = 1
    await manager.saveAsync(2, { w })
    const failed = await expectCairnError(manager.saveAsync(3, { w }), 'DISK_FULL')
    expect(failed.message).toContain('step 2')
    disk.setSpaceBudget(undefined)
    const next = await manager.save(4, { w })
    expect(next.kind).toBe('full')
    expect(bytesOf((await manager.restore('latest')).state['w']).equals(bytesOf(w))).toBe(true)
    await manager.close()
  })

  it('shouldSave follows the cadence by steps or by seconds', async () => {
    const clock = { now: 1_700_000_000_000 }
    const bySteps = await open(new SimDisk({ seed: 8 }), { saveEvery: { steps: 50 } }, clock)
    expect([49, 50, 51, 100].map((step) => bySteps.shouldSave(step))).toEqual([false, true, false, true])
    await bySteps.close()
    const bySeconds = await open(new SimDisk({ seed: 9 }), { saveEvery: { seconds: 60 } }, clock)
    expect(bySeconds.shouldSave(1)).toBe(true)
    await bySeconds.save(1, { w: new Float32Array(1) })
    clock.now += 30_000
    expect(bySeconds.shouldSave(2)).toBe(false)
    clock.now += 30_000
    expect(bySeconds.shouldSave(3)).toBe(true)
    await bySeconds.close()
  })
})
