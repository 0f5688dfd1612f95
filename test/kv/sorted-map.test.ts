/**
 * The ordered map against a model (a JS Map, sorted on demand), by property: random inserts,
 * overwrites and deletes over a key space large enough to split and merge leaves, then range
 * scans of every shape; and scans that run while the map changes under them.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  LEAF_KEYS_MAX,
  SortedMap,
  decodeKeyCode,
  encodeKeyCode,
  prefixEndCode,
} from '../../src/kv/sorted-map.js'

const code = fc.uint8Array({ maxLength: 3 }).map((bytes) => encodeKeyCode(bytes))
type Op = { kind: 'set'; key: string; value: number } | { kind: 'delete'; key: string }
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), key: code, value: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: code }) },
)

function sortedModel(model: Map<string, number>): [string, number][] {
  return [...model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

describe('kv: sorted map', () => {
  it('key codes keep byte order: comparing codes is comparing bytes (memcmp, shorter first)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }), (a, b) => {
        const bytesOrder = Math.sign(Buffer.compare(a, b))
        const [x, y] = [encodeKeyCode(a), encodeKeyCode(b)]
        expect(x < y ? -1 : x > y ? 1 : 0).toBe(bytesOrder)
        expect([...decodeKeyCode(x)]).toEqual([...a])
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 300) },
    )
    for (const length of [255, 256, 257, 16 * 1024]) {
      const long = new Uint8Array(length).map((_, i) => (i * 131) & 0xff)
      const code = encodeKeyCode(long)
      expect(code.length).toBe(length)
      expect(Buffer.compare(decodeKeyCode(code), long)).toBe(0)
    }
    expect(prefixEndCode('a\xff\xff')).toBe('b')
    expect(prefixEndCode('\xff')).toBeUndefined()
    expect(prefixEndCode('')).toBeUndefined()
  })

  it('property: after any inserts, overwrites and deletes, get and every range scan equal the model', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 3000 }),
        fc.array(
          fc.record({
            start: fc.option(code, { nil: undefined }),
            end: fc.option(code, { nil: undefined }),
            reverse: fc.boolean(),
          }),
          { maxLength: 8 },
        ),
        (ops, ranges) => {
          const map = new SortedMap<number>()
          const model = new Map<string, number>()
          for (const o of ops) {
            if (o.kind === 'set') {
              expect(map.set(o.key, o.value)).toBe(!model.has(o.key))
              model.set(o.key, o.value)
            } else {
              expect(map.delete(o.key)).toBe(model.delete(o.key))
            }
          }
          map.check()
          expect(map.size).toBe(model.size)
          const sorted = sortedModel(model)
          expect([...map.entries()]).toEqual(sorted)
          for (const [key, value] of sorted) expect(map.get(key)).toBe(value)
          for (const { start, end, reverse } of ranges) {
            const inRange = sorted.filter(
              ([k]) => (start === undefined || k >= start) && (end === undefined || k < end),
            )
            expect([...map.entries({ start, end, reverse })]).toEqual(reverse ? inRange.reverse() : inRange)
          }
        },
      ),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 60) },
    )
  })

  it('leaves split past LEAF_KEYS_MAX and merge back as keys go; fromSorted builds the same map', () => {
    const map = new SortedMap<number>()
    const keys = Array.from({ length: LEAF_KEYS_MAX * 6 }, (_, i) => `k${String(i).padStart(6, '0')}`)
    for (const key of [...keys].reverse()) map.set(key, 1)
    map.check()
    expect(map.image().leaves.length).toBeGreaterThan(6)
    for (const key of keys.filter((_, i) => i % 8 !== 0)) map.delete(key)
    map.check()
    expect(map.image().leaves.length).toBeLessThan(4)
    const rebuilt = SortedMap.fromSorted(
      keys.filter((_, i) => i % 8 === 0),
      keys.filter((_, i) => i % 8 === 0).map(() => 1),
    )
    rebuilt.check()
    expect([...rebuilt.entries()]).toEqual([...map.entries()])
  })

  it('property: a scan while the map changes gives each key at most once, in order, and every key present throughout', () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 1500 }),
        fc.array(op, { maxLength: 400 }),
        fc.boolean(),
        (before, during, reverse) => {
          const map = new SortedMap<number>()
          for (const o of before) {
            if (o.kind === 'set') map.set(o.key, o.value)
            else map.delete(o.key)
          }
          const initial = new Set([...map.entries()].map(([k]) => k))
          const touched = new Set(during.map((o) => o.key))
          const seen: string[] = []
          let i = 0
          for (const [key] of map.entries({ reverse })) {
            seen.push(key)
            for (let n = 0; n < 3 && i < during.length; n++, i++) {
              const o = during[i] as Op
              if (o.kind === 'set') map.set(o.key, o.value)
              else map.delete(o.key)
            }
          }
          map.check()
          const ordered = [...seen].sort()
          expect(seen).toEqual(reverse ? ordered.reverse() : ordered)
          expect(new Set(seen).size).toBe(seen.length)
          for (const key of initial) if (!touched.has(key)) expect(seen).toContain(key)
        },
      ),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 100) },
    )
  })
})
