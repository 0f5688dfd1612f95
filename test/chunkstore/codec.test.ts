import { deflateRawSync } from 'node:zlib'
import fc from 'fast-check'
import { inflateSync } from 'fflate'
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import {
  CODEC_DEFLATE,
  CODEC_RAW,
  decodeChunk,
  encodeChunk,
  encodeChunkInto,
  randomRuns,
  windowDistinct,
} from '../../src/chunkstore/codec.js'
import { expectBytes } from '../helpers.js'

const text = (n: number) => new TextEncoder().encode('{"key":"player-42","hp":100,"pos":[1,2,3]}\n'.repeat(n))

/** True when `needle` stands somewhere in `haystack` byte for byte. */
function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.length).includes(Buffer.from(needle))
}

/** Pieces of rows, random bytes and zeros, end to end: what a database file's chunks hold. */
const mixedChunk = fc
  .array(
    fc.oneof(
      fc.nat(120).map((n) => text(n)),
      fc.uint8Array({ maxLength: 9000 }),
      fc.nat(5000).map((n) => new Uint8Array(n)),
      fc
        .tuple(fc.integer({ min: 1, max: 1 << 30 }), fc.integer({ min: 1, max: 80_000 }))
        .map(([seed, n]) => createRng(seed).bytes(n)),
    ),
    { maxLength: 8 },
  )
  .map((pieces) => Uint8Array.from(Buffer.concat(pieces)))

describe('chunk codec', () => {
  it('property: a window shows the distinct values of every third byte of its first 1 KiB', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(3000), (data, from) => {
        const start = Math.min(from, data.length)
        const sampled = new Set<number>()
        for (let i = start; i < Math.min(data.length, start + 1024); i += 3) sampled.add(data[i] as number)
        expect(windowDistinct(data, start)).toBe(sampled.size)
      }),
    )
  })

  it('property: random runs are whole windows in order, each at least 2 KiB, inside the chunk', () => {
    fc.assert(
      fc.property(mixedChunk, (data) => {
        const runs = randomRuns(data)
        let last = 0
        for (let i = 0; i < runs.length; i += 2) {
          const [start, end] = [runs[i] as number, runs[i + 1] as number]
          expect(start % 1024).toBe(0)
          expect(start).toBeGreaterThanOrEqual(last)
          expect(end).toBeLessThanOrEqual(data.length)
          expect(end - start >= 2048 || (start === 0 && end === data.length)).toBe(true)
          for (let at = start; at + 1024 <= end; at += 1024)
            expect(windowDistinct(data, at)).toBeGreaterThanOrEqual(150)
          last = end
        }
      }),
    )
  })

  it('property: any chunk round-trips, and a deflated one is readable by fflate too', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 20_000 }),
          fc.nat(500).map((n) => text(n)),
          mixedChunk,
        ),
        (data) => {
          const stored = encodeChunk(data)
          expectBytes(decodeChunk(stored.codec, stored.bytes, data.length, 'test'), data)
          if (stored.codec === CODEC_DEFLATE) expectBytes(inflateSync(stored.bytes), data, 'fflate')
        },
      ),
    )
  })

  it('property: a chunk encoded into a shared buffer lands at its offset and leaves the rest alone', () => {
    fc.assert(
      fc.property(mixedChunk, fc.nat(100), (data, at) => {
        const out = new Uint8Array(at + data.length + 50).fill(0xa5)
        const form = encodeChunkInto(data, out, at)
        expect([CODEC_RAW, CODEC_DEFLATE]).toContain(form.codec)
        expect(form.length).toBeLessThanOrEqual(data.length)
        expect(out.subarray(0, at).every((byte) => byte === 0xa5)).toBe(true)
        expect(out.subarray(at + data.length).every((byte) => byte === 0xa5)).toBe(true)
        expectBytes(decodeChunk(form.codec, out.subarray(at, at + form.length), data.length, 'test'), data)
      }),
    )
    // Room for the stored form is not enough: a raw chunk must fit too.
    expect(() => encodeChunkInto(text(100), new Uint8Array(text(100).length - 1), 0)).toThrow(
      expect.objectContaining({ code: 'OUT_OF_RANGE' }),
    )
  })

  it('compresses text and stores random bytes raw', () => {
    const compressible = encodeChunk(text(400))
    expect(compressible.codec).toBe(CODEC_DEFLATE)
    expect(compressible.bytes.length).toBeLessThan(text(400).length / 5)
    const random = createRng(1).bytes(64 * 1024)
    expect(encodeChunk(random).codec).toBe(CODEC_RAW)
    // Rows in a random chunk too few to save 10% in all: raw.
    expect(encodeChunk(Buffer.concat([random, text(20)])).codec).toBe(CODEC_RAW)
    expect(encodeChunk(text(400), 'none').codec).toBe(CODEC_RAW)
  })

  it('stores random pages among rows as they are (stored blocks), deflates the rows, in one stream', () => {
    const rng = createRng(5)
    const pages = [text(100), rng.bytes(4096), text(90), rng.bytes(70_000), text(50), rng.bytes(3000)]
    const data = Uint8Array.from(Buffer.concat(pages))
    const stored = encodeChunk(data)
    expect(stored.codec).toBe(CODEC_DEFLATE)
    // Each random page's whole windows stand verbatim in the stored bytes; the 70,000-byte one
    // spans two stored blocks (65,535 bytes at most each), so it is looked for in pieces.
    expect(contains(stored.bytes, (pages[1] as Uint8Array).subarray(1024, 3072))).toBe(true)
    expect(contains(stored.bytes, (pages[3] as Uint8Array).subarray(2048, 60_000))).toBe(true)
    expect(contains(stored.bytes, (pages[3] as Uint8Array).subarray(66_000, 68_000))).toBe(true)
    // The rows are deflated: the stream is far smaller than the chunk less its random pages.
    const randomBytes = 4096 + 70_000 + 3000
    expect(stored.bytes.length).toBeLessThan(randomBytes + (data.length - randomBytes) / 3)
    expectBytes(decodeChunk(stored.codec, stored.bytes, data.length, 'test'), data)
    expectBytes(inflateSync(stored.bytes), data, 'fflate')
  })

  it('samples every byte lane of 2- and 4-byte records: a bf16 tensor is deflated', () => {
    // bfloat16 values near zero: the high byte (sign, exponent) takes a few values, the low one any.
    const rng = createRng(9)
    const tensor = new Uint8Array(32 * 1024)
    for (let i = 0; i < tensor.length; i += 2) {
      tensor[i] = rng.int(256)
      tensor[i + 1] = 0x3c + rng.int(3) + (rng.chance(0.5) ? 0x80 : 0)
    }
    const stored = encodeChunk(tensor)
    expect(stored.codec).toBe(CODEC_DEFLATE)
    expectBytes(decodeChunk(stored.codec, stored.bytes, tensor.length, 'test'), tensor)
  })

  it('hostile stored bytes are CORRUPT_OBJECT, never wrong bytes or a huge allocation', () => {
    const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024))
    expect(bomb.length).toBeLessThan(100_000)
    // A footer that says 1 KiB for what inflates to 64 MiB: stopped at 1 KiB.
    expect(() => decodeChunk(CODEC_DEFLATE, bomb, 1024, 'packs/x@10')).toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
    )
    expect(() => decodeChunk(CODEC_DEFLATE, createRng(2).bytes(100), 5000, 'p')).toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
    )
    const stored = encodeChunk(text(100))
    expect(() => decodeChunk(stored.codec, stored.bytes, text(100).length + 1, 'p')).toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
    )
    expect(() => decodeChunk(CODEC_RAW, new Uint8Array(10), 11, 'p')).toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
    )
    expect(() => decodeChunk(7, new Uint8Array(10), 10, 'p')).toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
    )
  })
})
