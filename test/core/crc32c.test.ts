import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { crc32c, crc32cIsNative, crc32cTable } from '../../src/core/crc32c.js'

const ascii = (text: string) => new TextEncoder().encode(text)

describe('core: crc32c', () => {
  it('matches the published check values', () => {
    expect(crc32c(ascii('123456789'))).toBe(0xe3069283)
    expect(crc32cTable(ascii('123456789'))).toBe(0xe3069283)
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa)
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43)
    expect(crc32c(new Uint8Array(0))).toBe(0)
  })

  it('uses the native binding on this machine (the bench figures assume it)', () => {
    expect(crc32cIsNative).toBe(true)
  })

  it('property: native and table agree on any bytes, offset and split, including continuations across both', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.nat(7), fc.nat(), (bytes, offset, splitSeed) => {
        const data = bytes.subarray(Math.min(offset, bytes.length))
        const whole = crc32cTable(data)
        expect(crc32c(data)).toBe(whole)
        const split = data.length === 0 ? 0 : splitSeed % data.length
        expect(crc32c(data.subarray(split), crc32c(data.subarray(0, split)))).toBe(whole)
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 300) },
    )
  })
})
