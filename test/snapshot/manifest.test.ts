/**
 * Manifests: a round trip keeps every field, the id is the BLAKE3 of the bytes, and a crafted or
 * damaged manifest is refused with a code before anything in it is trusted: names that would
 * escape a restore directory, chunk lists that do not add up, overlapping patches, lengths that
 * lie, a flipped bit, a newer format.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { computeChunkId, loadChunkHasher } from '../../src/chunkstore/chunk-id.js'
import { crc32c } from '../../src/core/crc32c.js'
import type { ChunkId } from '../../src/core/ids.js'
import { parseEntryName } from '../../src/snapshot/entry-name.js'
import type { DeltaManifest, FullManifest } from '../../src/snapshot/manifest.js'
import { MANIFEST_HEADER_BYTES, decodeManifest, encodeManifest } from '../../src/snapshot/manifest.js'
import { expectCairnError } from '../helpers.js'

beforeAll(async () => {
  await loadChunkHasher()
})

const id = (n: number) => n.toString(16).padStart(64, '0') as ChunkId
const full: FullManifest = {
  kind: 'full',
  lsn: 42,
  createdAt: 1_763_800_000_000,
  tags: ['best'],
  metrics: { val_loss: 0.21 },
  meta: { epoch: 3, note: 'ünïcode' },
  logicalBytes: 300,
  newBytes: 200,
  storedBytes: 100,
  entries: [
    {
      name: 'state.bin',
      length: 300,
      chunks: [
        { id: id(1), length: 100 },
        { id: id(2), length: 200 },
      ],
    },
    { name: 'dir/with space.txt', length: 0, chunks: [] },
  ],
}

/** A manifest whose body is `body` as given (a crafted one), with a correct header and CRC. */
function crafted(body: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(body))
  const bytes = new Uint8Array(MANIFEST_HEADER_BYTES + json.length)
  const view = new DataView(bytes.buffer)
  bytes.set(new TextEncoder().encode('CAIRNMAN'), 0)
  view.setUint16(8, 1, true)
  view.setUint32(12, crc32c(json), true)
  view.setUint32(16, json.length, true)
  bytes.set(json, MANIFEST_HEADER_BYTES)
  return bytes
}

const refuse = (bytes: Uint8Array, code: 'CORRUPT_OBJECT' | 'FORMAT_VERSION' = 'CORRUPT_OBJECT') =>
  expectCairnError(
    Promise.resolve().then(() => decodeManifest(bytes, 'manifests/x')),
    code,
  )

describe('manifests', () => {
  it('round-trip every field; the id is the BLAKE3-256 of the bytes', () => {
    const { id: checkpoint, bytes } = encodeManifest(full)
    expect(checkpoint).toBe(computeChunkId(bytes))
    expect(decodeManifest(bytes, 'm')).toEqual(full)
    const delta: DeltaManifest = {
      ...full,
      kind: 'delta',
      parent: checkpoint,
      depth: 1,
      entries: [],
      deleted: ['dir/with space.txt'],
      patched: [
        {
          name: 'state.bin',
          length: 400,
          data: [{ id: id(3), length: 50 }],
          patches: [{ offset: 350, length: 50 }],
        },
      ],
    }
    expect(decodeManifest(encodeManifest(delta).bytes, 'm')).toEqual(delta)
  })

  it('entry names cannot escape a directory, on write or on read', async () => {
    for (const bad of [
      '',
      '/etc/passwd',
      '../up',
      'a/../b',
      'a//b',
      './a',
      'a/.',
      'nul\0byte',
      'C:evil',
      'back\\slash',
    ]) {
      expect(() => parseEntryName(bad, 'test'), bad).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }))
      expect(() => encodeManifest({ ...full, entries: [{ name: bad, length: 0, chunks: [] }] }), bad).toThrow(
        expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
      )
      await refuse(crafted({ ...full, entries: [{ name: bad, length: 0, chunks: [] }] }))
    }
    expect(parseEntryName('tensors/layer 1.bin', 'test')).toBe('tensors/layer 1.bin')
  })

  it('lengths that lie, duplicates, overlapping patches, bad fields and unknown fields are refused', async () => {
    const entry = full.entries[0]!
    await refuse(crafted({ ...full, entries: [{ ...entry, length: 301 }] }))
    await refuse(crafted({ ...full, entries: [entry, entry] }))
    await refuse(crafted({ ...full, entries: [{ ...entry, chunks: [{ id: 'not-hex', length: 300 }] }] }))
    await refuse(crafted({ ...full, entries: [{ ...entry, chunks: [{ id: id(1), length: -1 }] }] }))
    await refuse(crafted({ ...full, lsn: 1.5 }))
    await refuse(crafted({ ...full, metrics: { loss: 'low' } }))
    await refuse(crafted({ ...full, kind: 'partial' }))
    await refuse(crafted([1, 2, 3]))
    const delta = { ...full, kind: 'delta', parent: id(9), depth: 1, entries: [], deleted: [] }
    const patched = (length: number, data: number, ...patches: [number, number][]) => [
      {
        name: 'a',
        length,
        data: data === 0 ? [] : [{ id: id(4), length: data }],
        patches: patches.map(([offset, n]) => ({ offset, length: n })),
      },
    ]
    const fine = crafted({ ...delta, patched: patched(100, 15, [10, 10], [20, 5]) })
    expect(decodeManifest(fine, 'm').kind).toBe('delta')
    await refuse(crafted({ ...delta, patched: patched(100, 25, [10, 20], [20, 5]) })) // overlap
    await refuse(crafted({ ...delta, patched: patched(100, 20, [90, 20]) })) // past the end
    await refuse(crafted({ ...delta, patched: patched(100, 5, [10, 10]) })) // data short
    await refuse(crafted({ ...delta, patched: patched(100, 0, [10, 0]) })) // an empty patch
    await refuse(crafted({ ...delta, patched: patched(100, 0), deleted: ['a'] })) // named twice
    await refuse(crafted({ ...delta, depth: 0, patched: [] }))
    await refuse(crafted({ ...delta, parent: 'nope', patched: [] }))
    // A field this version does not know (a newer writer's, naming chunks, say) is refused, at
    // every level: dropped silently, an older GC would free what it names.
    await refuse(crafted({ ...full, attachments: [{ id: id(5), length: 10 }] }))
    await refuse(crafted({ ...full, entries: [{ ...entry, extra: 1 }] }))
    await refuse(
      crafted({ ...full, entries: [{ ...entry, chunks: [{ id: id(1), length: 300, codec: 1 }] }] }),
    )
    await refuse(crafted({ ...delta, patched: [{ ...patched(100, 10, [10, 10])[0], more: [] }] }))
    await refuse(
      crafted({
        ...delta,
        patched: [{ ...patched(100, 10, [10, 10])[0], patches: [{ offset: 10, length: 10, x: 1 }] }],
      }),
    )
    await refuse(crafted({ ...full, parent: id(9) }))
  })

  it('a flipped bit, a short or oversized length, and a newer version are refused', async () => {
    const { bytes } = encodeManifest(full)
    const flipped = bytes.slice()
    flipped[MANIFEST_HEADER_BYTES + 5]! ^= 1
    await refuse(flipped)
    await refuse(bytes.subarray(0, bytes.length - 1))
    await refuse(bytes.subarray(0, 10))
    const huge = bytes.slice()
    new DataView(huge.buffer).setUint32(16, 0xffffffff, true)
    await refuse(huge)
    const newer = bytes.slice()
    new DataView(newer.buffer).setUint16(8, 2, true)
    await refuse(newer, 'FORMAT_VERSION')
    const notJson = crafted({})
    notJson[MANIFEST_HEADER_BYTES] = 0xff
    new DataView(notJson.buffer).setUint32(12, crc32c(notJson.subarray(MANIFEST_HEADER_BYTES)), true)
    await refuse(notJson)
  })
})
