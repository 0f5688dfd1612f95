/**
 * Autosave: the captured world is saved on its cadence (real timers, a few milliseconds apart),
 * stops on close, and a failure (the disk's, or the capture's) is never silent: it goes to
 * onError, or without one the next call on the saves throws it (and close() does).
 */
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { isCairnError } from '../../src/core/errors.js'
import type { CairnError } from '../../src/core/errors.js'
import { expectCairnError } from '../helpers.js'
import { openSimSaves } from './helpers.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until `done()` holds (at most 5 s). */
async function until(done: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await sleep(5)
  }
}

describe('saves: autosave', () => {
  it('saves: autosave saves the captured world on its cadence to its slot, and stops on close', async () => {
    const disk = new SimDisk({ seed: 1 })
    const saves = await openSimSaves(disk, { autosave: { everyMs: 5 } })
    let tick = 0
    const autosave = saves.autosave(() => ({ tick: ++tick }))
    expect(autosave.slot).toBe('autosave')
    await until(() => autosave.counts.saves >= 3)
    expect(autosave.lastSave?.slot).toBe('autosave')
    const loaded = (await saves.load('autosave')) as { tick: number }
    expect(loaded.tick).toBeGreaterThanOrEqual(3)
    await saves.close()
    expect(autosave.stopped).toBe(true)
    const after = tick
    const io = disk.ioCount
    await sleep(30)
    expect(tick).toBe(after)
    expect(disk.ioCount).toBe(io)
  })

  it('saves: the autosave option with a capture starts autosaving at open, to its slot; saveNow saves at once', async () => {
    let level = 1
    const saves = await openSimSaves(new SimDisk({ seed: 2 }), {
      autosave: { everyMs: 60_000, slot: 'auto-1', capture: () => Promise.resolve({ level }) },
    })
    const second = saves.autosave(() => new Uint8Array([level]), { everyMs: 60_000, slot: 'auto-bytes' })
    level = 7
    expect((await second.saveNow()).slot).toBe('auto-bytes')
    expect(await saves.load('auto-bytes')).toEqual(new Uint8Array([7]))
    await expectCairnError(saves.load('auto-1'), 'NOT_FOUND') // its first tick is a minute away
    await second.stop()
    await expectCairnError(second.saveNow(), 'CLOSED')
    await saves.close()
  })

  it('saves: a failed autosave goes to onError, naming the slot; autosaving goes on', async () => {
    const disk = new SimDisk({ seed: 3 })
    const errors: Error[] = []
    const saves = await openSimSaves(disk, {
      onError: (error) => {
        errors.push(error)
      },
    })
    await saves.save('auto', { v: 0 })
    disk.injectFault({ kind: 'EIO', ops: ['fdatasync'], path: /manifests/, times: 2 })
    let v = 0
    const autosave = saves.autosave(() => ({ v: ++v }), { everyMs: 5, slot: 'auto' })
    await until(() => autosave.counts.saves >= 1)
    await autosave.stop()
    expect(errors.length).toBe(2)
    expect(autosave.counts.failures).toBe(2)
    const error = errors[0] as CairnError
    expect(isCairnError(error, 'IO')).toBe(true)
    expect(error.message).toContain('slot "auto"')
    expect(await saves.load('auto')).toEqual({ v: autosave.counts.saves + 2 })
    await saves.close()
  })

  it('saves: without onError, a failed autosave is thrown by the next call, once', async () => {
    const disk = new SimDisk({ seed: 4 })
    const saves = await openSimSaves(disk)
    await saves.save('auto', { v: 0 })
    disk.injectFault({ kind: 'EIO', ops: ['fdatasync'], path: /manifests/ })
    const autosave = saves.autosave(() => ({ v: 1 }), { everyMs: 5, slot: 'auto' })
    await until(() => autosave.counts.failures >= 1)
    await autosave.stop()
    const error = await expectCairnError(saves.slots(), 'IO')
    expect(error.message).toContain('slot "auto"')
    expect(error.context.op).toBe('saves.autosave')
    expect((await saves.slots()).length).toBe(1) // thrown once
    await saves.close()
  })

  it('saves: a capture that throws is reported too; close() throws a failure nobody was told of', async () => {
    const saves = await openSimSaves(new SimDisk({ seed: 5 }))
    const autosave = saves.autosave(
      () => {
        throw new TypeError('the world is being rebuilt')
      },
      { everyMs: 5 },
    )
    await until(() => autosave.counts.failures >= 1)
    await expect(saves.close()).rejects.toThrow('the world is being rebuilt')
    await expectCairnError(saves.load('autosave'), 'CLOSED')
  })

  it('saves: autosave without a cadence is BAD_OPTION; after close it is CLOSED', async () => {
    const saves = await openSimSaves(new SimDisk({ seed: 6 }))
    expect(() => saves.autosave(() => ({}))).toThrow(/BAD_OPTION/)
    expect(() => saves.autosave(() => ({}), { everyMs: -1 })).toThrow(/BAD_OPTION/)
    expect(() => saves.autosave(() => ({}), { everyMs: 5, slot: '' })).toThrow(/INVALID_KEY/)
    await saves.close()
    expect(() => saves.autosave(() => ({}), { everyMs: 5 })).toThrow(/CLOSED/)
  })
})
