/** Inputs for the zlib-stream tests (deflater, inflater): rows of text, random bytes, zeros. */
import fc from 'fast-check'
import type { Arbitrary } from 'fast-check'
import { createRng } from '../../src/adapters/sim/rng.js'

/** `n` rows of JSON-like text: what deflate shrinks. */
export function rows(n: number): Uint8Array {
  return new TextEncoder().encode('{"id":7,"user":"tango_4","state":"active"}\n'.repeat(n))
}

/** Rows (up to `maxRows`), random bytes (up to 20,000) or zeros (up to `maxZeros`): what a chunk's pieces hold. */
export function zlibPiece(maxRows: number, maxZeros: number): Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.nat(maxRows).map((n) => rows(n)),
    fc
      .tuple(fc.integer({ min: 1, max: 1 << 30 }), fc.nat(20_000))
      .map(([seed, n]) => createRng(seed).bytes(n)),
    fc.nat(maxZeros).map((n) => new Uint8Array(n)),
  )
}
