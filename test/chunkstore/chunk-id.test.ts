import fc from 'fast-check'
import { hash, load } from 'blake3-wasm'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  chunkHasherName,
  computeChunkId,
  computeChunkIdWasm,
  loadChunkHasher,
} from '../../src/chunkstore/chunk-id.js'
import { parseChunkId } from '../../src/core/ids.js'

beforeAll(async () => {
  await loadChunkHasher()
  await load()
})

describe('chunk ids', () => {
  it('are BLAKE3-256: the published vectors for "" and "abc"', () => {
    expect(computeChunkId(new Uint8Array(0))).toBe(
      'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    )
    expect(computeChunkId(new TextEncoder().encode('abc'))).toBe(
      '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85',
    )
  })

  it('hash inputs larger than the wasm one-shot limit (16 MiB + 1) without aborting, and parse as ids', () => {
    const big = new Uint8Array(16 * 1024 * 1024 + 1).fill(7)
    const id = computeChunkId(big)
    expect(parseChunkId(id)).toBe(id)
    big[big.length - 1] = 8
    expect(computeChunkId(big)).not.toBe(id)
  })

  it('property: above 1 MiB the streamed digest equals blake3-wasm one-shot hash of the same bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1024 * 1024 + 1, max: 1024 * 1024 + 70_000 }),
        fc.nat(255),
        async (length, seed) => {
          const data = new Uint8Array(length).map((_, i) => (i * 31 + seed) & 0xff)
          // One-shot works up to 8 MiB; the wasm path streams everything above 1 MiB.
          expect(await computeChunkIdWasm(data)).toBe(hash(data).toString('hex'))
          expect(computeChunkId(data)).toBe(hash(data).toString('hex'))
        },
      ),
      { numRuns: 10 },
    )
  })

  it('property: the native and wasm implementations give the same ids (native is loaded here)', async () => {
    expect(chunkHasherName()).toBe('native')
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 70_000 }),
          fc.integer({ min: 0, max: 3 << 20 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
        ),
        async (data) => {
          expect(computeChunkId(data)).toBe(await computeChunkIdWasm(data))
        },
      ),
      { numRuns: 40 },
    )
  })
})
