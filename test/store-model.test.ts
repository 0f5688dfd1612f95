/**
 * Model-based: random sequences of appends, full and delta checkpoints (entries put, deleted and
 * patched), crashes (page cache lost, or kept) and reopens. After every step, recover() gives the
 * model's state: the newest checkpoint's entries byte-exact, and every acknowledged record after it.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRng } from '../src/adapters/sim/rng.js'
import { SimDisk } from '../src/adapters/sim/sim-disk.js'
import type { Store } from '../src/store.js'
import { collect, expectBytes, openSimStore } from './helpers.js'

const NAMES = ['a.bin', 'b.bin', 'dir/c.bin']

type Op =
  | { kind: 'append'; text: string }
  | { kind: 'full'; entries: Record<string, Uint8Array> }
  | {
      kind: 'delta'
      put: Record<string, Uint8Array>
      del: string[]
      patch: { name: string; offset: number; data: Uint8Array }[]
    }
  | { kind: 'crash'; model: 'processCrash' | 'clearCache' }

const bytes = fc.uint8Array({ maxLength: 3000 })
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('append' as const), text: fc.string({ maxLength: 20 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('full' as const),
      entries: fc.dictionary(fc.constantFrom(...NAMES), bytes),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('delta' as const),
      put: fc.dictionary(fc.constantFrom(...NAMES), bytes, { maxKeys: 1 }),
      del: fc.subarray(NAMES, { maxLength: 1 }),
      patch: fc.array(
        fc.record({
          name: fc.constantFrom(...NAMES),
          offset: fc.nat(4000),
          data: fc.uint8Array({ minLength: 1, maxLength: 200 }),
        }),
        { maxLength: 3 },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      model: fc.constantFrom('processCrash' as const, 'clearCache' as const),
    }),
  },
)

const open = (disk: SimDisk): Promise<Store> =>
  openSimStore(disk, {
    chunking: { minSize: 256, avgSize: 1024, maxSize: 4096 },
    wal: { sync: 'always', segmentBytes: 4096 },
    chain: { maxChainLength: 3 },
  })

describe('store model', () => {
  it('property: after any sequence of appends, checkpoints and crashes, recover() equals the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), fc.nat(1000), async (ops, seed) => {
        let disk = new SimDisk({ seed })
        let store = await open(disk)
        // The model: committed state and its LSN, and every acknowledged record.
        let committed: { lsn: number; entries: Map<string, Uint8Array> } | undefined
        const log: string[] = []
        const decode = (b: Uint8Array) => new TextDecoder().decode(b)
        try {
          for (const step of ops) {
            if (step.kind === 'append') {
              const lsn = await store.append(new TextEncoder().encode(step.text))
              log.push(step.text)
              expect(lsn).toBe(log.length)
            } else if (step.kind === 'full') {
              const info = await store.checkpoint({ lsn: log.length, entries: step.entries })
              expect(info.kind).toBe('full')
              committed = { lsn: log.length, entries: new Map(Object.entries(step.entries)) }
            } else if (step.kind === 'delta') {
              if (committed === undefined) continue
              const entries = new Map(committed.entries)
              const put: Record<string, Uint8Array> = {}
              const deleted: string[] = []
              const patches: Record<string, { offset: number; data: Uint8Array }[]> = {}
              for (const [name, data] of Object.entries(step.put)) {
                put[name] = data
                entries.set(name, data)
              }
              for (const name of step.del) {
                if (name in put || !entries.has(name)) continue
                deleted.push(name)
                entries.delete(name)
              }
              for (const p of step.patch) {
                const old = entries.get(p.name)
                if (old === undefined || p.name in put || deleted.includes(p.name)) continue
                const writes = (patches[p.name] ??= [])
                const end = writes.reduce((max, w) => Math.max(max, w.offset + w.data.length), 0)
                const offset = Math.max(p.offset, end)
                writes.push({ offset, data: p.data })
                const next = new Uint8Array(Math.max(old.length, offset + p.data.length))
                next.set(old)
                next.set(p.data, offset)
                entries.set(p.name, next)
              }
              await store.checkpoint({ lsn: log.length, parent: 'latest', entries: put, deleted, patches })
              committed = { lsn: log.length, entries }
            } else {
              disk = disk.crash(step.model, createRng(seed + log.length))
              store = await open(disk)
            }
            const { checkpoint, snapshot, records, warnings } = await store.recover()
            expect(warnings).toEqual([])
            expect(checkpoint?.lsn).toBe(committed?.lsn)
            if (committed !== undefined) {
              expect(await snapshot!.entries()).toEqual([...committed.entries.keys()].sort())
              for (const [name, data] of committed.entries)
                expectBytes(await snapshot!.read(name), data, name)
            }
            expect((await collect(records)).map((r) => decode(r.data))).toEqual(
              log.slice(committed?.lsn ?? 0),
            )
          }
        } finally {
          await store.close().catch(() => undefined)
        }
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 40) },
    )
  })
})
