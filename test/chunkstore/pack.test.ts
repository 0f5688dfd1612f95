/**
 * Packs: a sealed pack's footer lists exactly its chunks; every truncation, a flipped footer bit,
 * and lying trailers are CORRUPT_OBJECT (never a wrong entry, never a huge allocation); a newer
 * format version is FORMAT_VERSION.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { computeChunkId, loadChunkHasher } from '../../src/chunkstore/chunk-id.js'
import { decodeChunk, encodeChunk } from '../../src/chunkstore/codec.js'
import {
  PACK_ENTRY_BYTES,
  PACK_TRAILER_BYTES,
  PACK_VERSION,
  PackBuilder,
  decodePackFooter,
  decodeWholePack,
  packFooterBytes,
} from '../../src/chunkstore/pack.js'
import { crc32c } from '../../src/core/crc32c.js'
import { isCairnError } from '../../src/core/errors.js'
import { expectBytes } from '../helpers.js'
import { asVersion1 } from './pack-v1.js'

beforeAll(async () => {
  await loadChunkHasher()
})

function buildPack(chunks: readonly Uint8Array[]) {
  return buildPackInto(chunks)
}

function buildPackInto(chunks: readonly Uint8Array[], into?: ArrayBuffer) {
  const builder = new PackBuilder()
  for (const chunk of chunks) builder.add(computeChunkId(chunk), chunk.length, encodeChunk(chunk))
  return builder.seal(into)
}

/** Reads the footer as a reader would: trailer first, then exactly the tail it names. */
function readFooter(pack: Uint8Array) {
  if (pack.length < PACK_TRAILER_BYTES) return decodePackFooter(pack, pack.length, 'packs/test')
  const trailer = pack.subarray(pack.length - PACK_TRAILER_BYTES)
  const footerBytes = new DataView(trailer.buffer, trailer.byteOffset, PACK_TRAILER_BYTES).getUint32(20, true)
  const start = Math.max(0, pack.length - PACK_TRAILER_BYTES - footerBytes)
  return decodePackFooter(pack.subarray(start), pack.length, 'packs/test')
}

const chunksArb = fc.array(
  fc.oneof(
    fc.uint8Array({ maxLength: 3000 }),
    fc.nat(200).map((n) => new TextEncoder().encode('abc'.repeat(n))),
  ),
  { maxLength: 20 },
)

describe('packs', () => {
  it('property: the footer lists every chunk, and each chunk reads back byte-exact with its id', () => {
    fc.assert(
      fc.property(chunksArb, (chunks) => {
        const { bytes, entries } = buildPack(chunks)
        const read = readFooter(bytes)
        expect(read).toEqual(entries)
        read.forEach((entry, i) => {
          const stored = bytes.subarray(entry.offset, entry.offset + entry.storedLength)
          const raw = decodeChunk(entry.codec, stored, entry.rawLength, 'packs/test')
          expectBytes(raw, chunks[i])
          expect(computeChunkId(raw)).toBe(entry.id)
        })
      }),
      { numRuns: 100 },
    )
  })

  it('property: sealed into a buffer already holding other bytes, a pack is byte for byte the one sealed fresh', () => {
    fc.assert(
      fc.property(chunksArb, fc.nat(4096), fc.integer({ min: 0, max: 255 }), (chunks, spare, fill) => {
        const builder = new PackBuilder()
        for (const chunk of chunks) builder.add(computeChunkId(chunk), chunk.length, encodeChunk(chunk))
        const fresh = buildPack(chunks)
        expect(builder.sealedBytes).toBe(fresh.bytes.length)
        const into = new ArrayBuffer(builder.sealedBytes + spare)
        new Uint8Array(into).fill(fill)
        const reused = builder.seal(into)
        expect(reused.bytes.buffer).toBe(into)
        expect(reused.bytes.byteOffset).toBe(0)
        expectBytes(reused.bytes, fresh.bytes)
        expect(reused.entries).toEqual(fresh.entries)
      }),
      { numRuns: 100 },
    )
    // A buffer too small is left alone: the pack gets one of its own.
    const small = new ArrayBuffer(10)
    const sealed = buildPackInto([new TextEncoder().encode('x'.repeat(100))], small)
    expect(sealed.bytes.buffer).not.toBe(small)
    expect(readFooter(sealed.bytes)).toEqual(sealed.entries)
  })

  it('property: any truncation of a pack is CORRUPT_OBJECT, never a shorter list', () => {
    fc.assert(
      fc.property(chunksArb, fc.double({ min: 0, max: 1, noNaN: true }), (chunks, cutFraction) => {
        const { bytes } = buildPack(chunks)
        const cut = Math.floor(cutFraction * (bytes.length - 1))
        let error: unknown
        try {
          readFooter(bytes.subarray(0, cut))
        } catch (caught) {
          error = caught
        }
        expect(isCairnError(error, 'CORRUPT_OBJECT')).toBe(true)
      }),
      { numRuns: 100 },
    )
  })

  it('a flipped bit in the footer fails its checksum', () => {
    const { bytes } = buildPack([new Uint8Array(100).fill(1), new Uint8Array(50).fill(2)])
    const at = bytes.length - PACK_TRAILER_BYTES - PACK_ENTRY_BYTES + 3
    bytes[at] = (bytes[at] ?? 0) ^ 0x10
    expect(() => readFooter(bytes)).toThrow(expect.objectContaining({ code: 'CORRUPT_OBJECT' }))
  })

  it('every flipped bit in the footer or trailer is refused (found by the crash proof: reserved bytes and a version of 0 went unchecked)', () => {
    const { bytes } = buildPack([new Uint8Array(100).fill(1), new Uint8Array(50).fill(2)])
    const tail = PACK_TRAILER_BYTES + packFooterBytes(2)
    for (let back = 0; back < tail; back++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = bytes.slice()
        const at = damaged.length - 1 - back
        damaged[at] = (damaged[at] ?? 0) ^ (1 << bit)
        let code: unknown
        try {
          readFooter(damaged)
        } catch (error) {
          code = (error as { code?: unknown }).code
        }
        // A flipped version bit may read as a newer format: refused too, with its own code.
        expect(['CORRUPT_OBJECT', 'FORMAT_VERSION'], `byte ${String(at)} bit ${String(bit)}`).toContain(code)
      }
    }
  })

  it('a trailer that lies about its count or sizes is refused before anything is allocated', () => {
    const { bytes } = buildPack([new Uint8Array(10).fill(1)])
    const lying = bytes.slice()
    const view = new DataView(lying.buffer)
    const t = lying.length - PACK_TRAILER_BYTES
    view.setUint32(t + 12, 0xffffffff, true) // four billion chunks
    view.setUint32(t + 20, 0xffffffff, true)
    expect(() => decodePackFooter(lying.subarray(t), lying.length, 'p')).toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
    )
    // A consistent footer whose chunk claims more bytes than the pack holds.
    const big = bytes.slice()
    const bigView = new DataView(big.buffer)
    const footerAt = big.length - PACK_TRAILER_BYTES - packFooterBytes(1)
    bigView.setUint32(footerAt + 33, 1_000_000, true)
    bigView.setUint32(footerAt + 37, 1_000_000, true)
    bigView.setUint32(
      big.length - PACK_TRAILER_BYTES + 16,
      crc32c(big.subarray(footerAt, big.length - PACK_TRAILER_BYTES)),
      true,
    )
    expect(() => readFooter(big)).toThrow(
      expect.objectContaining({
        code: 'CORRUPT_OBJECT',
        message: expect.stringContaining('fill') as unknown,
      }),
    )
  })

  it('property: a pack records the CRC-32C of its data; any flipped data bit shows, and the footer still reads', () => {
    fc.assert(
      fc.property(chunksArb, fc.nat(), fc.nat(7), (chunks, at, bit) => {
        const { bytes, entries } = buildPack(chunks)
        expect(decodeWholePack(bytes, 'packs/test')).toMatchObject({ entries, dataIntact: true })
        const dataBytes = entries.reduce((sum, entry) => sum + entry.storedLength, 0)
        if (dataBytes === 0) return
        const damaged = bytes.slice()
        damaged[at % dataBytes] = (damaged[at % dataBytes] ?? 0) ^ (1 << bit)
        expect(decodeWholePack(damaged, 'packs/test')).toMatchObject({
          entries,
          dataIntact: false,
          dataBytes,
        })
      }),
      { numRuns: 100 },
    )
  })

  it('a version 1 pack (no data CRC) still reads: the same entries, its data neither intact nor damaged', () => {
    const { bytes, entries } = buildPack([
      new Uint8Array(100).fill(1),
      new TextEncoder().encode('abc'.repeat(99)),
    ])
    const v1 = asVersion1(bytes, entries.length)
    expect(readFooter(v1)).toEqual(entries)
    expect(decodeWholePack(v1, 'packs/test')).toMatchObject({ entries, dataIntact: undefined })
    // A version 2 trailer on a version 1 footer (or the reverse) does not add up.
    const mixed = v1.slice()
    new DataView(mixed.buffer).setUint16(mixed.length - PACK_TRAILER_BYTES + 8, 2, true)
    expect(() => readFooter(mixed)).toThrow(expect.objectContaining({ code: 'CORRUPT_OBJECT' }))
  })

  it('a newer pack version is FORMAT_VERSION', () => {
    const { bytes } = buildPack([new Uint8Array(10)])
    new DataView(bytes.buffer).setUint16(bytes.length - PACK_TRAILER_BYTES + 8, PACK_VERSION + 1, true)
    expect(() => readFooter(bytes)).toThrow(expect.objectContaining({ code: 'FORMAT_VERSION' }))
  })
})
