/**
 * The WebAssembly cut search against the JavaScript one, which stays the reference: the same
 * cut for any bytes, parameters and bounds; the committed module is exactly gear.wat assembled;
 * the memory grows for larger inputs; offsets outside the loaded bytes are refused.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { loadChunkHasher } from '../../src/chunkstore/chunk-id.js'
import { findCut, parseChunking } from '../../src/chunkstore/chunker.js'
import { randomRuns, windowDistinct } from '../../src/chunkstore/codec.js'
import { wasmCutter } from '../../src/chunkstore/gear-wasm.js'
import type { WasmCutter } from '../../src/chunkstore/gear-wasm.js'
import { GEAR_WASM_BASE64 } from '../../src/chunkstore/gear-wasm-bytes.js'
import { cutSpan } from '../../src/chunkstore/span.js'
import { assembleGearWat, GEAR_WAT_PATH } from '../../scripts/wat.js'

function cutter(): WasmCutter {
  const found = wasmCutter()
  if (found === null) throw new Error('WebAssembly should run under node')
  return found
}

/** Bytes with every texture a cut search meets: random runs, runs of one byte, text. */
const textured = fc
  .array(
    fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }),
      fc
        .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 9000 }))
        .map(([b, n]) => new Uint8Array(n).fill(b)),
      fc.string({ maxLength: 2000 }).map((s) => Buffer.from(s.repeat(3))),
    ),
    { maxLength: 12 },
  )
  .map((parts) => Buffer.concat(parts))

const paramsArb = fc
  .tuple(
    fc.integer({ min: 6, max: 14 }),
    fc.integer({ min: 1, max: 3 }),
    fc.integer({ min: 1, max: 3 }),
    fc.constantFrom<'cdc' | 'fixed'>('cdc', 'cdc', 'fixed'),
  )
  .map(([bits, down, up, mode]) => {
    const avgSize = 2 ** bits
    return parseChunking({ mode, avgSize, minSize: Math.max(64, avgSize >> down), maxSize: avgSize << up })
  })

describe('the WebAssembly cut search', () => {
  it('property: cuts exactly where findCut does, for any bytes, parameters and bounds', () => {
    const wasm = cutter()
    fc.assert(
      fc.property(textured, paramsArb, fc.nat(), fc.nat(), (data, params, a, b) => {
        wasm.load(data)
        const start = data.length === 0 ? 0 : a % data.length
        const end = start + (data.length === start ? 0 : b % (data.length - start + 1))
        expect(wasm.findCut(start, end, params)).toBe(findCut(data, start, end, params))
        // And a whole pass, chunk by chunk, as cutSpan makes it.
        for (let at = 0; at < data.length;) {
          const cut = wasm.findCut(at, data.length, params)
          expect(cut).toBe(findCut(data, at, data.length, params))
          expect(cut).toBeGreaterThan(at)
          at = cut
        }
      }),
      { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 300) },
    )
  })

  it('cuts megabytes of mixed data as the JavaScript loop does, growing its memory as needed', () => {
    const wasm = cutter()
    const rng = createRng(7)
    const params = parseChunking({})
    for (const size of [100_000, 6 << 20, 1 << 20]) {
      const data = new Uint8Array(size)
      for (let i = 0; i < size; i += 4096) {
        // Pages of random bytes, of zeros and of a repeated phrase, as a database file has.
        const kind = rng.int(3)
        for (let j = i; j < Math.min(size, i + 4096); j++)
          data[j] = kind === 0 ? rng.int(256) : kind === 1 ? 0 : (j * 7) % 61
      }
      wasm.load(data)
      const ours: number[] = []
      const theirs: number[] = []
      for (let at = 0; at < size;) ours.push((at = wasm.findCut(at, size, params)))
      for (let at = 0; at < size;) theirs.push((at = findCut(data, at, size, params)))
      expect(ours).toEqual(theirs)
      expect(ours.length).toBeGreaterThan(size / params.maxSize)
    }
  })

  it('cutSpan gives the same chunks and ids with it as without it', async () => {
    await loadChunkHasher()
    const rng = createRng(11)
    const bytes = new Uint8Array(300_000).map((_, i) => (i % 50_000 < 40_000 ? rng.int(256) : 32))
    const span = { bytes, base: 0, own: 250_000 }
    const params = parseChunking({ minSize: 512, avgSize: 2048, maxSize: 8192 })
    expect(cutSpan(span, params, cutter())).toEqual(cutSpan(span, params, null))
  })

  it('refuses offsets outside the bytes loaded', () => {
    const wasm = cutter()
    wasm.load(new Uint8Array(100))
    const params = parseChunking({})
    expect(() => wasm.findCut(0, 101, params)).toThrow(RangeError)
    expect(() => wasm.findCut(50, 40, params)).toThrow(RangeError)
    expect(() => wasm.findCut(-1, 10, params)).toThrow(RangeError)
    expect(wasm.findCut(0, 100, params)).toBe(100)
  })

  it('property: counts the distinct bytes of a window as windowDistinct does, and finds the same random runs', () => {
    const wasm = cutter()
    fc.assert(
      fc.property(
        fc.oneof(
          textured,
          fc.nat(40_000).map((n) => createRng(n + 1).bytes(n)),
        ),
        fc.nat(),
        (data, a) => {
          wasm.load(data)
          const start = data.length === 0 ? 0 : a % data.length
          const end = Math.min(data.length, start + 1024)
          expect(wasm.distinct(start, end)).toBe(windowDistinct(data, start))
          expect(randomRuns(data, wasm)).toEqual(randomRuns(data, null))
        },
      ),
      { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 300) },
    )
  })

  it('starts its table afresh when the window stamps wrap', () => {
    // The project's lib has no WebAssembly types: the little used here.
    interface Wasm {
      readonly Module: new (bytes: Uint8Array) => object
      readonly Instance: new (module: object, imports: object) => { readonly exports: object }
    }
    const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly
    const instance = new wasm.Instance(new wasm.Module(Buffer.from(GEAR_WASM_BASE64, 'base64')), {})
    const exports = instance.exports as {
      memory: { buffer: ArrayBuffer }
      window: { value: number }
      distinct: (start: number, end: number) => number
    }
    const load = (bytes: Uint8Array) => {
      new Uint8Array(exports.memory.buffer, 2048, bytes.length).set(bytes)
    }
    // Every value seen in window 1; then the stamps wrap, and window 1's marks must not count.
    const every = Uint8Array.from({ length: 768 }, (_, i) => i % 256)
    load(every)
    expect(exports.distinct(0, 768)).toBe(256)
    exports.window.value = -1
    load(new Uint8Array(768).fill(7))
    expect(exports.distinct(0, 768)).toBe(1)
    // The window after the wrap must not take window 1's marks of 8, 9 and 10 for its own (a
    // period of 4, so every third byte meets all four values).
    load(Uint8Array.from({ length: 768 }, (_, i) => 7 + (i % 4)))
    expect(exports.distinct(0, 768)).toBe(4)
  })

  it('refuses windows outside the bytes loaded', () => {
    const wasm = cutter()
    wasm.load(new Uint8Array(100))
    expect(() => wasm.distinct(0, 101)).toThrow(RangeError)
    expect(() => wasm.distinct(60, 50)).toThrow(RangeError)
    expect(wasm.distinct(0, 100)).toBe(1)
  })

  it('is exactly gear.wat assembled (npm run build:wasm writes it)', async () => {
    const assembled = await assembleGearWat(readFileSync(GEAR_WAT_PATH, 'utf8'))
    expect(Buffer.from(assembled).toString('base64')).toBe(GEAR_WASM_BASE64)
  })
})
