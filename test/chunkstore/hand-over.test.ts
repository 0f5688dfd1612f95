/**
 * What a chunk worker posts back after a decode: an inflated chunk's own buffer is handed over as
 * it is (no copy); views of a larger buffer, chunks in node's shared buffer pool, and a buffer
 * seen twice are copied into one buffer handed over with them. Every chunk keeps its bytes.
 */
import { deflateRawSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { CODEC_DEFLATE, decodeChunk } from '../../src/chunkstore/codec.js'
import { handOver } from '../../src/chunkstore/hand-over.js'

function inflated(text: string): Uint8Array {
  const raw = new TextEncoder().encode(text)
  return decodeChunk(CODEC_DEFLATE, deflateRawSync(raw, { level: 1 }), raw.length, 'test@0')
}

describe('handOver', () => {
  it('hands over an inflated chunk with its own buffer, and copies views of a larger one', () => {
    const big = inflated('row '.repeat(5000))
    const read = new Uint8Array(100).map((_, i) => i)
    const rawA = read.subarray(10, 30)
    const rawB = read.subarray(50, 90)
    const { chunks, transfer } = handOver([rawA, big, rawB])
    expect(chunks[1]).toBe(big)
    expect(transfer).toContain(big.buffer)
    expect(transfer).not.toContain(read.buffer)
    expect(transfer).toHaveLength(2)
    const copy = transfer.find((buffer) => buffer !== big.buffer) as ArrayBuffer
    expect(copy.byteLength).toBe(rawA.length + rawB.length)
    expect(chunks[0]?.buffer).toBe(copy)
    expect(chunks[2]?.buffer).toBe(copy)
    expect(Array.from(chunks[0] ?? [])).toEqual(Array.from(rawA))
    expect(Array.from(chunks[2] ?? [])).toEqual(Array.from(rawB))
  })

  it('copies a chunk that lives in the shared buffer pool, which is never handed over', () => {
    // Small Buffers share node's pool (a raw chunk read back can be a view of one).
    const small: Uint8Array = Buffer.from('tiny')
    expect(small.buffer.byteLength).toBeGreaterThan(small.length + 1)
    const { chunks, transfer } = handOver([small])
    expect(transfer).not.toContain(small.buffer)
    expect(chunks[0]?.buffer).not.toBe(small.buffer)
    expect(new TextDecoder().decode(chunks[0])).toBe('tiny')
  })

  it('hands a buffer over once when two chunks share it, copying the second', () => {
    const big = inflated('abc'.repeat(3000))
    const { chunks, transfer } = handOver([big, big])
    expect(transfer.filter((buffer) => buffer === big.buffer)).toHaveLength(1)
    expect(chunks[0]).toBe(big)
    expect(chunks[1]?.buffer).not.toBe(big.buffer)
    expect(Array.from(chunks[1] ?? [])).toEqual(Array.from(big))
  })

  it('hands over nothing extra when every chunk has its own buffer', () => {
    const a = inflated('a'.repeat(10_000))
    const b = inflated('b'.repeat(20_000))
    const { chunks, transfer } = handOver([a, b])
    expect(chunks).toEqual([a, b])
    expect(transfer).toEqual([a.buffer, b.buffer])
  })
})
