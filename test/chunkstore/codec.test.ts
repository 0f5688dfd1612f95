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
  sampleEntropy,
} from '../../src/chunkstore/codec.js'
import { expectBytes } from '../helpers.js'

const text = (n: number) => new TextEncoder().encode('{"key":"player-42","hp":100,"pos":[1,2,3]}\n'.repeat(n))

/** Order-0 entropy by the textbook sum of -p log2 p. */
function entropyByDefinition(sample: Uint8Array): number {
  const counts = new Map<number, number>()
  for (const byte of sample) counts.set(byte, (counts.get(byte) ?? 0) + 1)
  let bits = 0
  for (const count of counts.values()) bits -= (count / sample.length) * Math.log2(count / sample.length)
  return bits
}

describe('chunk codec', () => {
  it('property: the entropy check equals -sum p log2 p, for windows and samples of any size', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 3000 }),
          fc
            .tuple(fc.integer({ min: 1, max: 4 }), fc.nat(2048))
            .map(([values, n]) => Uint8Array.from({ length: n }, (_, i) => (i * 7) % values)),
        ),
        (sample) => {
          expect(sampleEntropy(sample)).toBeCloseTo(entropyByDefinition(sample), 9)
        },
      ),
    )
  })

  it('property: any chunk round-trips, and a deflated one is readable by fflate too', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 20_000 }),
          fc.nat(500).map((n) => text(n)),
        ),
        (data) => {
          const stored = encodeChunk(data)
          expectBytes(decodeChunk(stored.codec, stored.bytes, data.length, 'test'), data)
          if (stored.codec === CODEC_DEFLATE) expectBytes(inflateSync(stored.bytes), data, 'fflate')
        },
      ),
    )
  })

  it('compresses text and stores random bytes raw, after a probe', () => {
    const compressible = encodeChunk(text(400))
    expect(compressible.codec).toBe(CODEC_DEFLATE)
    expect(compressible.bytes.length).toBeLessThan(text(400).length / 5)
    const random = createRng(1).bytes(64 * 1024)
    expect(encodeChunk(random).codec).toBe(CODEC_RAW)
    expect(encodeChunk(text(400), 'none').codec).toBe(CODEC_RAW)
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
