/**
 * Model-based: random sequences of puts, deletes, batches, bursts of concurrent writes, explicit
 * checkpoints, scans, clean reopens and crashes (page cache kept, or lost) against a JS Map. The
 * store checkpoints in the background every 3 writes (retention and GC included), so crashes land
 * inside checkpoints too. After every step the whole map, and every scan asked for, equals the
 * model. Every write is awaited before a crash, so every one of them must survive it.
 * Run longer with FC_NUM_RUNS=2000.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { isCairnError } from '../../src/core/errors.js'
import type { Kv, KvScanOptions } from '../../src/kv/index.js'
import { hex, openSimKv } from './kv-helpers.js'

const KEYS = [[], [0x00], [0x00, 0x00], [0x01], [0x61], [0x61, 0x62], [0x7f], [0x80], [0xff], [0xff, 0xff]]
const key = fc.constantFrom(...KEYS).map((k) => new Uint8Array(k))
const value = fc.uint8Array({ maxLength: 600 })
type Write = { kind: 'put'; key: Uint8Array; value: Uint8Array } | { kind: 'delete'; key: Uint8Array }
const write: fc.Arbitrary<Write> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('put' as const), key, value }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), key }) },
)
const scanOptions: fc.Arbitrary<KvScanOptions> = fc.record(
  { start: key, end: key, prefix: key, limit: fc.nat(6), reverse: fc.boolean() },
  { requiredKeys: [] },
)

type Step =
  | Write
  | { kind: 'batch'; writes: Write[] }
  | { kind: 'burst'; writes: Write[] }
  | { kind: 'checkpoint' }
  | { kind: 'scan'; options: KvScanOptions }
  | { kind: 'reopen'; checkpointOnClose: boolean }
  | { kind: 'crash'; model: 'processCrash' | 'clearCache' }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: write },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('batch' as const), writes: fc.array(write, { maxLength: 4 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('burst' as const), writes: fc.array(write, { maxLength: 8 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('checkpoint' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('scan' as const), options: scanOptions }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('reopen' as const), checkpointOnClose: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      model: fc.constantFrom('processCrash' as const, 'clearCache' as const),
    }),
  },
)

/** The model's entries in key byte order, as hex pairs. */
function modelScan(model: Map<string, Uint8Array>, options: KvScanOptions = {}): [string, string][] {
  const bytesOf = (k: unknown) => (k instanceof Uint8Array ? Buffer.from(k) : undefined)
  const [start, end, prefix] = [bytesOf(options.start), bytesOf(options.end), bytesOf(options.prefix)]
  let entries = [...model].map(([k, v]) => [Buffer.from(k, 'hex'), v] as const)
  entries = entries.filter(
    ([k]) =>
      (start === undefined || Buffer.compare(k, start) >= 0) &&
      (end === undefined || Buffer.compare(k, end) < 0) &&
      (prefix === undefined || k.subarray(0, prefix.length).equals(prefix)),
  )
  entries.sort(([a], [b]) => Buffer.compare(a, b))
  if (options.reverse === true) entries.reverse()
  return entries.slice(0, options.limit ?? Infinity).map(([k, v]) => [k.toString('hex'), hex(v)])
}

const kvScan = (kv: Kv, options: KvScanOptions = {}): [string, string][] =>
  Array.from(kv.scan(options), ([k, v]) => [hex(k), hex(v)])

function applyWrite(model: Map<string, Uint8Array>, w: Write): void {
  if (w.kind === 'put') model.set(hex(w.key), w.value.slice())
  else model.delete(hex(w.key))
}

const issue = (kv: Kv, w: Write): Promise<number> =>
  w.kind === 'put' ? kv.put(w.key, w.value) : kv.delete(w.key)

let crashedCheckpoints = 0

describe('kv model', () => {
  it('property: after any writes, checkpoints, reopens and crashes, the store equals a JS Map', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), fc.nat(1000), async (steps, seed) => {
        let disk = new SimDisk({ seed })
        const errors: unknown[] = []
        const open = (d: SimDisk, checkpointOnClose = true) =>
          openSimKv(d, {
            checkpointEvery: { records: 3 },
            retention: { keepLast: 2, gcEvery: 2 },
            checkpointOnClose,
            onError: (error) => errors.push(error),
          })
        let kv = await open(disk)
        const model = new Map<string, Uint8Array>()
        for (const s of steps) {
          switch (s.kind) {
            case 'put':
            case 'delete':
              await issue(kv, s)
              applyWrite(model, s)
              break
            case 'batch':
              await kv.batch(
                s.writes.map((w) =>
                  w.kind === 'put'
                    ? { type: 'put', key: w.key, value: w.value }
                    : { type: 'delete', key: w.key },
                ),
              )
              for (const w of s.writes) applyWrite(model, w)
              break
            case 'burst':
              // Issued together, acknowledged in one or a few group commits; the last call wins.
              await Promise.all(s.writes.map((w) => issue(kv, w)))
              for (const w of s.writes) applyWrite(model, w)
              break
            case 'checkpoint':
              await kv.checkpoint()
              break
            case 'scan':
              expect(kvScan(kv, s.options)).toEqual(modelScan(model, s.options))
              break
            case 'reopen':
              await kv.close()
              kv = await open(disk, s.checkpointOnClose)
              break
            case 'crash':
              // The old store is abandoned mid-whatever (a background checkpoint may be running).
              disk = disk.crash(s.model, createRng(seed))
              kv = await open(disk)
              expect(kv.recovery.warnings).toEqual([])
              break
          }
          expect(kvScan(kv)).toEqual(modelScan(model))
          expect(kv.size).toBe(model.size)
        }
        await kv.close()
        // Background work fails only on a disk that lost power under it (a crash step).
        for (const error of errors)
          expect(isCairnError(error, 'IO') || isCairnError(error, 'LOG_FAILED'), String(error)).toBe(true)
        if (errors.length > 0) crashedCheckpoints++
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 40) },
    )
    console.log(`kv model: ${String(crashedCheckpoints)} runs crashed inside background work`)
  })
})
