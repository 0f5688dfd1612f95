/**
 * fileEntry: a file read by the chunk store straight into its buffers stores the very chunks its
 * bytes do; it opens at the first read, closes when reading stops, counts its bytes, and a file
 * that is not there is NOT_FOUND naming its path. The counting callback's own error is its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { fileEntry } from '../../src/adapters/node/file-entry.js'
import { MemoryBlobStore } from '../../src/adapters/memory/memory-blob-store.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { openChunkStore } from '../../src/chunkstore/chunk-store.js'
import { expectBytes, expectCairnError } from '../helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-file-entry-'))
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('fileEntry', () => {
  it('stores the chunks the bytes give, across many spans, counting every byte read (read into shared memory for a worker)', async () => {
    const store = await openChunkStore({ blobs: new MemoryBlobStore(), workers: 1 })
    await store.warm()
    // Over two 2 MiB spans and not a multiple of anything.
    const data = createRng(21).bytes(5 * 1024 * 1024 + 12_345)
    const path = join(dir, 'state.bin')
    writeFileSync(path, data)
    let counted = 0
    const fromFile = await store.putEntry(fileEntry(path, { onBytes: (n) => (counted += n) }))
    const fromBytes = await store.putEntry(data)
    expect(fromFile.chunks).toEqual(fromBytes.chunks)
    expect(fromFile.logicalBytes).toBe(data.length)
    expect(counted).toBe(data.length)
    expectBytes(await store.readEntryBytes(fromFile.chunks), data)
    await store.close()
  })

  it('an empty file is an empty entry', async () => {
    const store = await openChunkStore({ blobs: new MemoryBlobStore(), workers: 0 })
    const path = join(dir, 'empty.bin')
    writeFileSync(path, new Uint8Array(0))
    const put = await store.putEntry(fileEntry(path))
    expect(put.chunks).toEqual([])
    expect(put.logicalBytes).toBe(0)
    await store.close()
  })

  it('a missing file is NOT_FOUND naming it; a reader read already is CLOSED', async () => {
    const store = await openChunkStore({ blobs: new MemoryBlobStore(), workers: 0 })
    const missing = join(dir, 'not-there.bin')
    const error = await expectCairnError(store.putEntry(fileEntry(missing)), 'NOT_FOUND')
    expect(error.context.path).toBe(missing)
    const path = join(dir, 'once.bin')
    writeFileSync(path, createRng(22).bytes(1000))
    const once = fileEntry(path)
    await store.putEntry(once)
    await expectCairnError(store.putEntry(once), 'CLOSED')
    await store.close()
  })

  it("an error thrown by onBytes reaches the caller as it is, not as the file's IO error", async () => {
    const store = await openChunkStore({ blobs: new MemoryBlobStore(), workers: 0 })
    const path = join(dir, 'counted.bin')
    writeFileSync(path, createRng(23).bytes(10_000))
    const refusal = new Error('quota reached')
    const entry = fileEntry(path, {
      onBytes: () => {
        throw refusal
      },
    })
    await expect(store.putEntry(entry)).rejects.toBe(refusal)
    await store.close()
  })
})
