/**
 * Reading ahead in order: every item's outcome comes back in the items' order, settled; never
 * more than `limit` calls run at once; a failure is handed over at its turn; a caller that stops
 * early leaves no call running.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ahead } from '../../src/core/ahead.js'

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('ahead', () => {
  it('property: outcomes in order, at most limit at once, failures at their turn', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ delay: fc.nat(3), fails: fc.boolean() }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 8 }),
        async (items, limit) => {
          let running = 0
          let most = 0
          const seen: number[] = []
          const indexed = items.map((item, i) => ({ ...item, i }))
          for await (const [item, outcome] of ahead(indexed, limit, async (it) => {
            running++
            most = Math.max(most, running)
            await tick(it.delay)
            running--
            if (it.fails) throw new Error(`item ${String(it.i)}`)
            return it.i * 2
          })) {
            seen.push(item.i)
            if (item.fails)
              expect(outcome).toEqual({ status: 'rejected', reason: new Error(`item ${String(item.i)}`) })
            else expect(outcome).toEqual({ status: 'fulfilled', value: item.i * 2 })
          }
          expect(seen).toEqual(indexed.map((item) => item.i))
          expect(most).toBeLessThanOrEqual(limit)
        },
      ),
      { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 100) },
    )
  })

  it('overlaps the calls: ten 20 ms calls four at a time take about three rounds, not ten', async () => {
    const started = performance.now()
    for await (const [, outcome] of ahead([...Array(10).keys()], 4, () => tick(20)))
      expect(outcome.status).toBe('fulfilled')
    expect(performance.now() - started).toBeLessThan(190) // one after another: 200 ms at least
  })

  it('a caller that stops early leaves no call running', async () => {
    let running = 0
    for await (const [item] of ahead([...Array(20).keys()], 5, async () => {
      running++
      await tick(5)
      running--
    })) {
      if (item === 2) break
    }
    expect(running).toBe(0)
  })
})
