/**
 * One run at a time: `idle` waits out every run, however many start while it waits; `current`
 * never rejects; `after` runs when a run ends unless a later run took its place.
 */
import { describe, expect, it } from 'vitest'
import { OneAtATime } from '../../src/core/one-at-a-time.js'

const later = <T>(ms: number, value: T, fail = false) =>
  new Promise<T>((resolve, reject) =>
    setTimeout(() => {
      if (fail) reject(new Error('failed'))
      else resolve(value)
    }, ms),
  )

describe('OneAtATime', () => {
  it('tracks a run, hands back its own outcome, and frees the slot when it ends', async () => {
    const slot = new OneAtATime()
    expect(slot.busy).toBe(false)
    const failing = slot.track(later(5, 0, true))
    expect(slot.busy).toBe(true)
    await expect(slot.current).resolves.toBeUndefined()
    await expect(failing).rejects.toThrow('failed')
    await slot.idle()
    expect(slot.busy).toBe(false)
    expect(slot.current).toBeUndefined()
  })

  it('idle waits for a run started as the one before ended (a cadence starting the next)', async () => {
    const slot = new OneAtATime()
    const ended: string[] = []
    void slot.track(later(5, 'a'), () => {
      ended.push('a')
      void slot.track(later(5, 'b'), () => ended.push('b'))
    })
    await slot.idle()
    ended.push('idle')
    expect(slot.busy).toBe(false)
    expect(ended).toEqual(['a', 'b', 'idle'])
  })

  it('after runs only for the run still current when it ends', async () => {
    const slot = new OneAtATime()
    const ended: string[] = []
    void slot.track(later(1, 'x'), () => ended.push('x'))
    void slot.track(later(5, 'y'), () => ended.push('y'))
    await slot.idle()
    expect(ended).toEqual(['y'])
  })
})
