/**
 * Packs and index objects in a BlobStore. Round trip; bit rot and truncation found on read
 * (CORRUPT_OBJECT, never wrong bytes); and a crash before every I/O index of a pack flush plus
 * index write, under every crash model: no index entry ever points at a missing or partial pack,
 * orphan packs are allowed and counted, and a flush that resolved is wholly readable.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { CRASH_MODELS } from '../../src/adapters/sim/crash.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { computeChunkId, loadChunkHasher } from '../../src/chunkstore/chunk-id.js'
import { encodeChunk } from '../../src/chunkstore/codec.js'
import { PackBuilder } from '../../src/chunkstore/pack.js'
import { decodeIndexObject, encodeIndexObject } from '../../src/chunkstore/index-object.js'
import type { PackId } from '../../src/core/ids.js'
import {
  flushPack,
  listPackIds,
  loadIndex,
  packKey,
  readChunk,
  rebuildIndexFromPacks,
} from '../../src/chunkstore/pack-store.js'
import { isCairnError } from '../../src/core/errors.js'
import { expectBytes, expectCairnError } from '../helpers.js'

beforeAll(async () => {
  await loadChunkHasher()
})

const CHUNKS = [
  new TextEncoder().encode('compressible '.repeat(300)),
  createRng(1).bytes(3000),
  createRng(2).bytes(700),
]

function builderOf(chunks: readonly Uint8Array[]): PackBuilder {
  const builder = new PackBuilder()
  for (const chunk of chunks) builder.add(computeChunkId(chunk), chunk.length, encodeChunk(chunk))
  return builder
}

describe('index objects', () => {
  it('are exactly 20 + 77 bytes an entry, and every field reads back', () => {
    const entries = CHUNKS.map((chunk, i) => ({
      chunkId: computeChunkId(chunk),
      packId: computeChunkId(new Uint8Array([i])) as string as PackId,
      offset: 1000 * i + 7,
      storedLength: chunk.length - i,
      rawLength: chunk.length,
      codec: (i % 2) as 0 | 1,
    }))
    const bytes = encodeIndexObject(entries)
    expect(bytes.length).toBe(20 + 77 * entries.length)
    expect(decodeIndexObject(bytes, 'index/x')).toEqual(entries)
  })
})

describe('packs in a BlobStore', () => {
  it('a flushed pack reads back byte-exact through the merged index', async () => {
    const store = await createFsBlobStore({ vfs: new SimDisk({ seed: 1 }), root: 'objects' })
    const { packId } = await flushPack(store, builderOf(CHUNKS))
    expect(await listPackIds(store)).toEqual([packId])
    const index = await loadIndex(store)
    expect(index.size).toBe(CHUNKS.length)
    for (const chunk of CHUNKS) expectBytes(await readChunk(store, index.get(computeChunkId(chunk))!), chunk)
    // Flushing the same content again is a no-op, not an error.
    await flushPack(store, builderOf(CHUNKS))
    expect(await listPackIds(store)).toEqual([packId])
  })

  it('the index rebuilt from pack footers alone equals the one from index objects', async () => {
    const disk = new SimDisk({ seed: 4 })
    const store = await createFsBlobStore({ vfs: disk, root: 'objects' })
    await flushPack(store, builderOf(CHUNKS))
    await flushPack(store, builderOf([createRng(7).bytes(1234), new Uint8Array(0)]))
    const fromObjects = await loadIndex(store)
    expect(fromObjects.size).toBe(5)
    expect(await rebuildIndexFromPacks(store)).toEqual(fromObjects)
    // With the index objects gone, the footers still give the whole index.
    await store.delete((await disk.readdir('objects/index')).map((name) => `index/${name}`))
    expect(await loadIndex(store)).toEqual(new Map())
    expect(await rebuildIndexFromPacks(store)).toEqual(fromObjects)
  })

  it('a flipped bit in a stored chunk is CORRUPT_OBJECT naming the pack and offset, never wrong bytes', async () => {
    const disk = new SimDisk({ seed: 2 })
    const store = await createFsBlobStore({ vfs: disk, root: 'objects' })
    const { packId, entries } = await flushPack(store, builderOf(CHUNKS))
    const target = entries[1]!
    disk.rot(`objects/${packKey(packId)}`, target.offset + 100, 2)
    const error = await expectCairnError(readChunk(store, target), 'CORRUPT_OBJECT')
    expect(error.context.path).toBe(`${packKey(packId)}@${String(target.offset)}`)
    expectBytes(await readChunk(store, entries[2]!), CHUNKS[2])
  })

  it('a truncated pack is CORRUPT_OBJECT for the chunks it lost; a damaged index object is refused', async () => {
    const disk = new SimDisk({ seed: 3 })
    const store = await createFsBlobStore({ vfs: disk, root: 'objects' })
    const { packId, entries } = await flushPack(store, builderOf(CHUNKS))
    const file = await disk.open(`objects/${packKey(packId)}`, 'readWrite')
    await file.truncate(entries[2]!.offset + 10)
    await file.close()
    await expectCairnError(readChunk(store, entries[2]!), 'CORRUPT_OBJECT')
    const [indexKey] = (await disk.readdir('objects/index')).map((n) => `objects/index/${n}`)
    disk.rot(indexKey!, 30, 1)
    await expectCairnError(loadIndex(store), 'CORRUPT_OBJECT')
  })

  it('a crash before every I/O index of a flush never leaves an index entry without its whole pack', async () => {
    const setup = async (disk: SimDisk) => {
      const store = await createFsBlobStore({ vfs: disk, root: 'objects' })
      await flushPack(store, builderOf([createRng(9).bytes(500)]))
      return store
    }
    const probe = new SimDisk({ seed: 1 })
    const probeStore = await setup(probe)
    const before = probe.ioCount
    await flushPack(probeStore, builderOf(CHUNKS))
    const flushIo = probe.ioCount - before
    let states = 0
    let orphans = 0
    for (let k = 1; k <= flushIo + 1; k++) {
      const disk = new SimDisk({ seed: k })
      const store = await setup(disk)
      disk.haltAtIo(disk.ioCount + k)
      let resolved = true
      try {
        await flushPack(store, builderOf(CHUNKS))
      } catch (error) {
        if (!disk.halted || !isCairnError(error, 'IO')) throw error
        resolved = false
      }
      for (const model of CRASH_MODELS) {
        for (let draw = 0; draw < (model === 'weak' || model === 'prefixPerFile' ? 4 : 1); draw++) {
          const booted = await createFsBlobStore({
            vfs: disk.crash(model, createRng(k * 10 + draw)),
            root: 'objects',
          })
          const index = await loadIndex(booted)
          // I10: every index entry's pack is there and whole (readChunk checks bytes and id).
          for (const entry of index.values()) await readChunk(booted, entry)
          const indexed = new Set([...index.values()].map((e) => e.packId))
          orphans += (await listPackIds(booted)).filter((id) => !indexed.has(id)).length
          if (resolved) for (const chunk of CHUNKS) expect(index.has(computeChunkId(chunk))).toBe(true)
          states += 1
        }
      }
    }
    expect(flushIo).toBeGreaterThan(10)
    expect(states).toBe((flushIo + 1) * 10)
    expect(orphans).toBeGreaterThan(0)
  })
})
