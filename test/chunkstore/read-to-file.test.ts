/**
 * Writing an entry straight into a file (`writeEntryToFile`, read-to-file.ts): whatever the pieces
 * (whole chunks, ranges of chunks, a chunk again, runs of zeros, chunks still pending), on the
 * calling thread or on the pool, the file holds exactly the entry's bytes and nothing after, and
 * progress adds up to its length; a damaged chunk is CORRUPT_OBJECT naming its pack, a chunk in
 * no index MISSING_CHUNK naming it, and a failure settles only once every get has ended, so the
 * caller may close the file; bad pieces and descriptors are refused before anything is written.
 */
import { mkdir, open, readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { MemoryBlobStore } from '../../src/adapters/memory/memory-blob-store.js'
import { createNodeVfs } from '../../src/adapters/node/node-vfs.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { openChunkStore } from '../../src/chunkstore/chunk-store.js'
import type { ChunkRef, ChunkStore, EntryPiece } from '../../src/chunkstore/chunk-store.js'
import { CairnError } from '../../src/core/errors.js'
import { parseChunkId } from '../../src/core/ids.js'
import type { ByteRange } from '../../src/core/ports.js'
import { expectBytes, expectCairnError, makeTempDir } from '../helpers.js'

const KiB = 1024
const MiB = 1024 * KiB
let dir = ''
let cleanup: () => Promise<void> = () => Promise.resolve()
const stores: ChunkStore[] = []
beforeAll(async () => {
  ;({ dir, cleanup } = await makeTempDir())
})
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close().catch(() => undefined)))
  await cleanup()
})

/** Rows that compress and random runs that do not, as a database file has. */
function mixedBytes(seed: number, length: number): Uint8Array {
  const rng = createRng(seed)
  const out = new Uint8Array(length)
  for (let at = 0; at < length; at += 4 * KiB) {
    const end = Math.min(length, at + 4 * KiB)
    if (rng.int(3) === 0) out.set(rng.bytes(end - at), at)
    else for (let i = at; i < end; i++) out[i] = 97 + ((i * 7) % 13)
  }
  return out
}

/** The bytes `pieces` stand for, given each chunk's bytes. */
function expected(pieces: readonly EntryPiece[], bytesOf: (ref: ChunkRef) => Uint8Array): Uint8Array {
  const parts = pieces.map((piece) =>
    'zeros' in piece
      ? new Uint8Array(piece.zeros)
      : 'chunk' in piece
        ? bytesOf(piece.chunk).subarray(piece.from, piece.to)
        : bytesOf(piece),
  )
  return new Uint8Array(Buffer.concat(parts))
}

/**
 * A memory store whose gets take 2 ms each, counted while they run (and pack gets in all);
 * `alter` may change what a get returns.
 */
class SlowBlobs extends MemoryBlobStore {
  running = 0
  packGets = 0
  readonly #alter: (key: string, bytes: Uint8Array) => Uint8Array

  constructor(alter: (key: string, bytes: Uint8Array) => Uint8Array = (_key, bytes) => bytes) {
    super()
    this.#alter = alter
  }

  override async get(key: string, range?: ByteRange): Promise<Uint8Array> {
    this.running++
    try {
      await new Promise((resolve) => setTimeout(resolve, 2))
      const bytes = await super.get(key, range)
      if (key.startsWith('packs/')) this.packGets++
      return this.#alter(key, bytes)
    } finally {
      this.running--
    }
  }
}

let fileNo = 0
/** Writes `pieces` into a new file (or over `existing` bytes) and reads the file back. */
async function writeAndRead(
  store: ChunkStore,
  pieces: readonly EntryPiece[],
  existing?: Uint8Array,
): Promise<{ bytes: Uint8Array; length: number; reported: number }> {
  const path = join(dir, `out-${String(fileNo++)}`)
  const file = await open(path, 'w+')
  let reported = 0
  let length: number
  try {
    if (existing !== undefined) await file.write(existing, 0, existing.length, 0)
    length = await store.writeEntryToFile(pieces, file.fd, { onBytes: (n) => (reported += n) })
  } finally {
    await file.close()
  }
  return { bytes: new Uint8Array(await readFile(path)), length, reported }
}

describe('writeEntryToFile', () => {
  it('property: any pieces of stored chunks give the file exactly their bytes', async () => {
    const store = await openChunkStore({
      blobs: new MemoryBlobStore(),
      workers: 0,
      packBytes: 64 * KiB,
      chunking: { minSize: 2 * KiB, avgSize: 4 * KiB, maxSize: 16 * KiB },
    })
    stores.push(store)
    const data = mixedBytes(1, 400 * KiB)
    const put = await store.putEntry(data)
    await store.flush()
    const byId = new Map<string, Uint8Array>()
    let at = 0
    for (const ref of put.chunks) {
      byId.set(ref.id, data.subarray(at, at + ref.length))
      at += ref.length
    }
    const piece = fc.oneof(
      fc.nat(put.chunks.length - 1).map((i): EntryPiece => put.chunks[i] as ChunkRef),
      fc
        .tuple(
          fc.nat(put.chunks.length - 1),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.double({ min: 0, max: 1, noNaN: true }),
        )
        .map(([i, a, b]): EntryPiece => {
          const chunk = put.chunks[i] as ChunkRef
          const [from, to] = [a, b].map((x) => Math.floor(x * chunk.length)).sort((x, y) => x - y) as [
            number,
            number,
          ]
          return { chunk, from, to }
        }),
      fc.integer({ min: 0, max: 20 * KiB }).map((zeros): EntryPiece => ({ zeros })),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 30 }), fc.boolean(), async (pieces, overwrite) => {
        const want = expected(pieces, (ref) => byId.get(ref.id) as Uint8Array)
        // Over a longer file of other bytes: nothing of them is left, the zeros are zeros.
        const existing = overwrite ? new Uint8Array(want.length + 5000).fill(0xee) : undefined
        const got = await writeAndRead(store, pieces, existing)
        expect(got.length).toBe(want.length)
        expectBytes(got.bytes, want)
        expect(got.reported).toBe(want.length)
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 40) },
    )
  })

  it('on the worker pool, an entry larger than the read-ahead is written byte-exact, holes left as holes', async () => {
    const store = await openChunkStore({ blobs: new MemoryBlobStore(), workers: 2, packBytes: 2 * MiB })
    stores.push(store)
    await store.warm()
    // 40 MiB, a third random: more raw bytes than the 32 MiB read ahead, so windows wait their turn.
    const data = mixedBytes(2, 40 * MiB)
    const put = await store.putEntry(data)
    await store.flush()
    const pieces: EntryPiece[] = [...put.chunks, { zeros: 8 * MiB }, ...put.chunks.slice(0, 10)]
    const got = await writeAndRead(store, pieces)
    expectBytes(got.bytes.subarray(0, data.length), data)
    expect(got.bytes.subarray(data.length, data.length + 8 * MiB).every((b) => b === 0)).toBe(true)
    expect(got.length).toBe(got.bytes.length)
    expect(got.reported).toBe(got.length)
    // The 8 MiB of zeros were never written: the file holds fewer blocks than its length.
    const path = join(dir, `out-${String(fileNo - 1)}`)
    const info = await stat(path)
    expect(info.blocks * 512).toBeLessThan(info.size)
  })

  for (const workers of [0, 2]) {
    it(`reads its gets into a few buffers, reused from get to get (workers: ${String(workers)})`, async () => {
      // A reused buffer still starts with an earlier get's bytes when the next get is read into it.
      const earlier = new Set<string>()
      let gets = 0
      let reused = 0
      const blobs = new (class extends MemoryBlobStore {
        override async get(key: string, range?: ByteRange, into?: Uint8Array): Promise<Uint8Array> {
          if (!key.startsWith('packs/') || range === undefined) return super.get(key, range, into)
          gets++
          expect(into?.length).toBeGreaterThanOrEqual(range.length)
          if (into !== undefined && earlier.has(Buffer.from(into.subarray(0, 32)).toString('hex'))) reused++
          const bytes = await super.get(key, range, into)
          if (bytes.length >= 32) earlier.add(Buffer.from(bytes.subarray(0, 32)).toString('hex'))
          return bytes
        }
      })()
      const store = await openChunkStore({ blobs, workers, packBytes: 1 * MiB })
      stores.push(store)
      await store.warm()
      // Random bytes, stored raw: ~70 gets of about 1 MiB, against 16 MiB of them read ahead.
      const data = createRng(6).bytes(64 * MiB)
      const put = await store.putEntry(data)
      await store.flush()
      const got = await writeAndRead(store, put.chunks)
      expectBytes(got.bytes, data)
      expect(gets).toBeGreaterThanOrEqual(64)
      // Fresh buffers only for the gets read ahead at once (16 MiB, and a window of 8 MiB at
      // most beyond it); the later gets reuse them. Without reuse, every get was fresh.
      expect(gets - reused).toBeLessThanOrEqual(24)
    })
  }

  it('never keeps a buffer the store read into itself (found in review: a view of shared memory, as the small buffers of node are, was kept and read into again)', async () => {
    // The store ignores `into`, and hands out its first get as a view of a slab of its own,
    // smaller than the buffers a restore makes (so the first a later get would be lent if kept).
    const slab = new ArrayBuffer(1.5 * MiB)
    let slabAt = 0
    let slabLent = 0
    const blobs = new (class extends MemoryBlobStore {
      override async get(key: string, range?: ByteRange, into?: Uint8Array): Promise<Uint8Array> {
        if (into?.buffer === slab) slabLent++
        const bytes = await super.get(key, range)
        if (!key.startsWith('packs/') || slabAt > 0 || bytes.length > slab.byteLength) return bytes
        const view = new Uint8Array(slab, slabAt, bytes.length)
        view.set(bytes)
        slabAt += bytes.length
        return view
      }
    })()
    const store = await openChunkStore({ blobs, workers: 0, packBytes: 1 * MiB })
    stores.push(store)
    // More than the 16 MiB read ahead: later gets take the buffers earlier ones gave back.
    const data = createRng(9).bytes(40 * MiB)
    const put = await store.putEntry(data)
    await store.flush()
    expectBytes((await writeAndRead(store, put.chunks)).bytes, data)
    expect(slabAt).toBeGreaterThan(0)
    expect(slabLent).toBe(0)
  })

  for (const workers of [0, 2]) {
    it(`from a store of local files, the gets are read by the thread that decodes them, with the store's errors (workers: ${String(workers)})`, async () => {
      const root = join(dir, `local-${String(workers)}`)
      await mkdir(root)
      const blobs = await createFsBlobStore({ vfs: createNodeVfs({ root, io: 'async' }), root: 'objects' })
      let packGets = 0
      const get = blobs.get.bind(blobs)
      blobs.get = (key, range, into) => {
        if (key.startsWith('packs/')) packGets++
        return get(key, range, into)
      }
      const store = await openChunkStore({ blobs, workers, packBytes: 256 * KiB })
      stores.push(store)
      await store.warm()
      const data = mixedBytes(7, 3 * MiB)
      const put = await store.putEntry(data)
      await store.flush()
      expectBytes((await writeAndRead(store, put.chunks)).bytes, data)
      expect(packGets).toBe(0)

      const packs = (await readdir(join(root, 'objects', 'packs'), { recursive: true, withFileTypes: true }))
        .filter((item) => item.isFile())
        .map((item) => join(item.parentPath, item.name))
      const [flipped, cut, gone] = packs as [string, string, string]
      const bytes = await readFile(flipped)
      const flip = async () => {
        bytes[100] = (bytes[100] as number) ^ 0x04
        await writeFile(flipped, bytes)
      }
      await flip()
      const flippedError = await expectCairnError(writeAndRead(store, put.chunks), 'CORRUPT_OBJECT')
      expect(flippedError.context.path).toMatch(/^packs\//)
      await flip() // mended
      await truncate(cut, 1000)
      const cutError = await expectCairnError(writeAndRead(store, put.chunks), 'CORRUPT_OBJECT')
      expect(cutError.context.path).toMatch(/^packs\/.*@/)
      await rm(gone)
      await rm(cut)
      const goneError = await expectCairnError(writeAndRead(store, put.chunks), 'NOT_FOUND')
      expect(goneError.context.path).toMatch(/^packs\//)
    })
  }

  it('writes chunks still pending (not yet in a pack) from memory', async () => {
    const store = await openChunkStore({ blobs: new MemoryBlobStore(), workers: 0, packBytes: 64 * MiB })
    stores.push(store)
    const old = mixedBytes(3, 300 * KiB)
    const first = await store.putEntry(old)
    await store.flush()
    const fresh = mixedBytes(4, 200 * KiB)
    const second = await store.putEntry(fresh) // its chunks stay pending: the pack is not full
    const got = await writeAndRead(store, [...second.chunks, ...first.chunks])
    const want = new Uint8Array(fresh.length + old.length)
    want.set(fresh)
    want.set(old, fresh.length)
    expectBytes(got.bytes, want)
  })

  it('a damaged chunk is CORRUPT_OBJECT, and every get has ended when it settles', async () => {
    let damage = false
    const blobs = new SlowBlobs((key, bytes) => {
      if (!damage || !key.startsWith('packs/') || bytes.length <= 100) return bytes
      damage = false
      const copy = bytes.slice()
      copy[50] = (copy[50] as number) ^ 0x10
      return copy
    })
    const store = await openChunkStore({ blobs, workers: 2, packBytes: 256 * KiB })
    stores.push(store)
    const data = mixedBytes(5, 6 * MiB)
    const put = await store.putEntry(data)
    await store.flush()
    damage = true
    const path = join(dir, 'damaged')
    const file = await open(path, 'w')
    const error = await expectCairnError(store.writeEntryToFile(put.chunks, file.fd), 'CORRUPT_OBJECT')
    expect(blobs.running).toBe(0)
    await file.close()
    expect(error).toBeInstanceOf(CairnError)
    expect(error.context.path).toMatch(/^packs\//)
  })

  it('a chunk in no index, past the first windows, is MISSING_CHUNK once every get has ended', async () => {
    // Chunks are located window by window as the restore reaches them, so the missing one is
    // found while the windows before it are being read and written.
    const blobs = new SlowBlobs()
    const store = await openChunkStore({ blobs, workers: 2, packBytes: 256 * KiB })
    stores.push(store)
    const put = await store.putEntry(mixedBytes(7, 24 * MiB))
    await store.flush()
    const last = put.chunks[put.chunks.length - 1] as ChunkRef
    const absent: ChunkRef = {
      id: parseChunkId((last.id.startsWith('0') ? '1' : '0') + last.id.slice(1)),
      length: last.length,
    }
    expect(store.has(absent.id)).toBe(false)
    const file = await open(join(dir, 'missing'), 'w')
    try {
      const error = await expectCairnError(
        store.writeEntryToFile([...put.chunks, absent], file.fd),
        'MISSING_CHUNK',
      )
      expect(error.context.path).toBe(`chunks/${absent.id}`)
      expect(blobs.running).toBe(0)
      // The windows before it were read (located lazily, not all up front).
      expect(blobs.packGets).toBeGreaterThan(0)
    } finally {
      await file.close()
    }
  })

  it('refuses a bad descriptor, a fractional or negative run of zeros, a range outside its chunk', async () => {
    const store = await openChunkStore({ blobs: new MemoryBlobStore(), workers: 0 })
    stores.push(store)
    const put = await store.putEntry(mixedBytes(6, 10 * KiB))
    await store.flush()
    const chunk = put.chunks[0] as ChunkRef
    const file = await open(join(dir, 'refused'), 'w')
    try {
      for (const pieces of [
        [{ chunk, from: 0, to: chunk.length + 1 }],
        [{ chunk, from: 0.5, to: 2 }],
        [{ zeros: -1 }],
        [{ zeros: 1.5 }],
        [{ zeros: Number.NaN }],
      ] as EntryPiece[][])
        await expectCairnError(store.writeEntryToFile(pieces, file.fd), 'BAD_OPTION')
      await expectCairnError(store.writeEntryToFile([chunk], -1), 'BAD_OPTION')
      await expectCairnError(store.writeEntryToFile([chunk], 1.5), 'BAD_OPTION')
      expect((await file.stat()).size).toBe(0)
    } finally {
      await file.close()
    }
  })
})
