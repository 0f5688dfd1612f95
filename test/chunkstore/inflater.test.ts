import { deflateRawSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { createChunkInflater, plainInflater } from '../../src/chunkstore/inflater.js'
import type { ChunkInflater } from '../../src/chunkstore/inflater.js'
import { expectBytes } from '../helpers.js'
import { rows, zlibPiece } from './zlib-pieces.js'

const chunk = zlibPiece(600, 40_000)

const inflaters: [string, () => ChunkInflater][] = [
  ['a reused zlib stream', createChunkInflater],
  ['inflateRawSync (the fallback)', () => plainInflater],
]

describe('chunk inflater', () => {
  it('reuses a zlib stream on this Node (the fast path is live, not the fallback)', () => {
    expect(createChunkInflater()).not.toBe(plainInflater)
  })

  for (const [name, make] of inflaters) {
    it(`property (${name}): any chunk decodes in place, touching nothing around it, after any damage before`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(chunk, fc.integer({ min: 0, max: 9 }), fc.boolean()), {
            minLength: 1,
            maxLength: 5,
          }),
          fc.nat(64),
          (chunks, at) => {
            const inflater = make()
            for (const [data, level, damageFirst] of chunks) {
              const stored = deflateRawSync(data, { level })
              if (damageFirst) {
                // A cut-short stream first: refused, and the next chunk decodes as if it never came.
                expect(
                  inflater.inflateInto(
                    stored.subarray(0, stored.length >> 1),
                    new Uint8Array(data.length + 1),
                    0,
                    data.length,
                  ),
                ).toBeTypeOf('string')
              }
              const out = new Uint8Array(at + data.length + 9).fill(0xa5)
              expect(inflater.inflateInto(stored, out, at, data.length)).toBeUndefined()
              expectBytes(out.subarray(at, at + data.length), data)
              expect(out.subarray(0, at).every((byte) => byte === 0xa5)).toBe(true)
              expect(out.subarray(at + data.length).every((byte) => byte === 0xa5)).toBe(true)
            }
          },
        ),
        { numRuns: Number(process.env['FC_NUM_RUNS'] ?? 100) },
      )
    })

    it(`${name}: refuses a stream longer, shorter or other than recorded, with no room of its own`, () => {
      const inflater = make()
      const data = rows(500)
      const stored = deflateRawSync(data)
      const out = new Uint8Array(data.length + 1)
      expect(inflater.inflateInto(stored, out, 0, data.length - 1)).toMatch(/past|inflate/)
      expect(inflater.inflateInto(stored, out, 0, 100)).toBeTypeOf('string')
      expect(inflater.inflateInto(stored, out, 0, data.length + 1)).toBeTypeOf('string')
      expect(inflater.inflateInto(stored.subarray(0, stored.length - 3), out, 0, data.length)).toBeTypeOf(
        'string',
      )
      expect(inflater.inflateInto(createRng(4).bytes(300), out, 0, 300)).toBeTypeOf('string')
      // A deflate bomb: 64 MiB of zeros recorded as 1 KiB stops at 1 KiB.
      const bomb = deflateRawSync(new Uint8Array(64 * 1024 * 1024))
      expect(inflater.inflateInto(bomb, new Uint8Array(2048), 0, 1024)).toBeTypeOf('string')
      // Exactly the room the chunk needs, no byte to spare: still decoded and checked.
      const exact = new Uint8Array(data.length)
      expect(inflater.inflateInto(stored, exact, 0, data.length)).toBeUndefined()
      expectBytes(exact, data)
      expect(inflater.inflateInto(stored, exact, 0, data.length - 1)).toBeTypeOf('string')
    })
  }

  it('a reused stream refuses bytes after the DEFLATE stream', () => {
    const data = rows(50)
    const stored = Buffer.concat([deflateRawSync(data), Buffer.from([1, 2, 3])])
    expect(
      createChunkInflater().inflateInto(stored, new Uint8Array(data.length + 1), 0, data.length),
    ).toMatch(/after/)
  })
})
