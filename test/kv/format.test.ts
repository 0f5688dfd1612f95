/**
 * The key-value store's two formats: log records (record.ts) and checkpoint images (image.ts).
 * Both round-trip anything the store can hold; anything but the exact layout is refused with a
 * typed error naming the place (CORRUPT_LOG with the LSN; CORRUPT_OBJECT with the checkpoint and
 * offset; FORMAT_VERSION), never misread: every truncation and every single-byte change checked.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isCairnError } from '../../src/core/errors.js'
import { decodeImage, encodeImage } from '../../src/kv/image.js'
import { kvImagePieceBytes } from '../../src/kv/limits.js'
import { decodeRecord, encodeRecord } from '../../src/kv/record.js'
import type { MapChange, RecordOp } from '../../src/kv/record.js'
import { SortedMap, encodeKeyCode } from '../../src/kv/sorted-map.js'
import { bytes } from './kv-helpers.js'

const join = (pieces: Iterable<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat([...pieces]))
const recordOp: fc.Arbitrary<RecordOp> = fc.record(
  {
    key: fc.uint8Array({ maxLength: 40 }),
    value: fc.option(fc.uint8Array({ maxLength: 300 }), { nil: undefined }),
  },
  { requiredKeys: ['key'] },
)
const plain = (changes: readonly MapChange[]) =>
  changes.map(({ code, value }) => ({ code, value: value === undefined ? undefined : [...value] }))

describe('kv: log records', () => {
  it('property: any put, delete or batch decodes to the changes it encoded', () => {
    fc.assert(
      fc.property(fc.array(recordOp, { minLength: 1, maxLength: 6 }), (ops) => {
        const { record, changes } = encodeRecord(ops)
        expect(plain(changes)).toEqual(
          ops.map((op) => ({
            code: encodeKeyCode(op.key),
            value: op.value === undefined ? undefined : [...op.value],
          })),
        )
        expect(plain(decodeRecord(record, 7))).toEqual(plain(changes))
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 300) },
    )
  })

  it('a put of a 16-byte key and a 100-byte value is 118 bytes', () => {
    expect(encodeRecord([{ key: new Uint8Array(16), value: new Uint8Array(100) }]).record.length).toBe(118)
  })

  it('every truncation of a batch, and bytes added after it, are CORRUPT_LOG naming the LSN', () => {
    const { record } = encodeRecord([
      { key: bytes('alpha'), value: bytes('one') },
      { key: bytes('beta') },
      { key: bytes('gamma'), value: new Uint8Array(200) },
    ])
    const damaged = [
      ...Array.from({ length: record.length }, (_, n) => record.subarray(0, n)),
      new Uint8Array([...record, 0]),
    ]
    for (const data of damaged) {
      try {
        decodeRecord(data, 41)
        expect.unreachable(`a batch of ${String(data.length)} bytes decoded`)
      } catch (error) {
        expect(isCairnError(error, 'CORRUPT_LOG')).toBe(true)
        if (isCairnError(error)) expect(error.context).toMatchObject({ op: 'kv.replay', lsn: 41 })
      }
    }
  })

  it('an unknown kind, an empty batch, a key over its bound are CORRUPT_LOG', () => {
    for (const data of [
      new Uint8Array([0x00]),
      new Uint8Array([0x03, 0x00]),
      new Uint8Array([0x03, 0x01, 0x07, 0x00]),
      new Uint8Array([0x01, 0xff, 0xff, 0x7f]),
      new Uint8Array([0x01, 0x80, 0x80, 0x80, 0x80, 0x80]),
    ]) {
      expect(() => decodeRecord(data, 3)).toThrow(/CORRUPT_LOG/)
    }
  })
})

describe('kv: checkpoint images', () => {
  const sample = (count: number, valueBytes: (i: number) => number) => {
    const keys = Array.from({ length: count }, (_, i) =>
      encodeKeyCode(bytes(`key${String(i).padStart(6, '0')}`)),
    )
    const values = keys.map((_, i) => new Uint8Array(valueBytes(i)).fill(i & 0xff))
    return SortedMap.fromSorted(keys, values)
  }

  it('an image round-trips, in pieces, with a value larger than a piece and empty values', () => {
    const map = sample(3000, (i) =>
      i === 1500 ? kvImagePieceBytes * 2 + 3 : i % 3 === 0 ? 0 : 1 + (i % 200),
    )
    const pieces = [...encodeImage(map.image())]
    expect(pieces.length).toBeGreaterThan(3)
    const decoded = decodeImage(join(pieces), 'c1')
    decoded.check()
    const plainEntries = (m: SortedMap<Uint8Array>) =>
      [...m.entries()].map(([k, v]) => [k, Buffer.from(v).toString('hex')])
    expect(plainEntries(decoded)).toEqual(plainEntries(map))
    expect([...decodeImage(join(encodeImage(new SortedMap<Uint8Array>().image())), 'c0').entries()]).toEqual(
      [],
    )
  })

  it('every truncation of an image is refused, and so is a changed byte unless it lies inside a key or a value', () => {
    const map = sample(20, (i) => i % 4)
    const image = join(encodeImage(map.image()))
    for (let n = 0; n < image.length; n++) {
      expect(() => decodeImage(image.subarray(0, n), 'c2'), `truncated to ${String(n)}`).toThrow(
        /CORRUPT_OBJECT|FORMAT_VERSION/,
      )
    }
    let refused = 0
    for (let at = 0; at < image.length; at++) {
      const changed = image.slice()
      changed[at] = (changed[at] ?? 0) ^ 0x01
      try {
        // Accepted only with the framing intact: as many entries, each as long as it was.
        const decoded = [...decodeImage(changed, 'c2').entries()]
        expect(decoded.map(([k, v]) => k.length + v.length)).toEqual(
          [...map.entries()].map(([k, v]) => k.length + v.length),
        )
      } catch (error) {
        expect(isCairnError(error, 'CORRUPT_OBJECT') || isCairnError(error, 'FORMAT_VERSION')).toBe(true)
        if (isCairnError(error))
          expect(error.context).toMatchObject({ op: 'kv.open', path: 'kv.map', checkpoint: 'c2' })
        refused++
      }
    }
    // Changes inside a value's bytes (or a key's, keeping the order) decode: the chunk store's
    // BLAKE3 ids catch those before the image is read. Every change to the framing is refused.
    expect(refused).toBeGreaterThan(20)
  })

  it('a version other than 1 is FORMAT_VERSION; keys out of order are CORRUPT_OBJECT', () => {
    const image = join(encodeImage(sample(3, () => 1).image()))
    const future = image.slice()
    future[7] = 2
    expect(() => decodeImage(future, 'c3')).toThrow(/FORMAT_VERSION/)
    const swapped = image.slice()
    // Keys are 'key000000'.. at fixed offsets: make the second key sort before the first.
    const second = Buffer.from(swapped).indexOf('key000001')
    swapped[second + 3] = 0x2f
    expect(() => decodeImage(swapped, 'c3')).toThrow(/out of order/)
  })
})
