/**
 * The worker pool's node flags: inherited untouched (node then checks nothing more), except that
 * `--input-type`, which node refuses for a worker, is left out when the host runs with it
 * (review found that passing flags explicitly broke --max-old-space-size and friends). The pool
 * starts its threads lazily: a check never starts them, a cut does and is answered on the calling
 * thread until they load, with the same result; a closed pool refuses with CLOSED.
 */
import { EventEmitter } from 'node:events'
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { createRng } from '../../src/adapters/sim/rng.js'
import { computeChunkId, loadChunkHasher } from '../../src/chunkstore/chunk-id.js'
import { parseChunking } from '../../src/chunkstore/chunker.js'
import { inlineChunkWork } from '../../src/chunkstore/chunk-work.js'
import { workerChunkWork, workerExecArgv } from '../../src/chunkstore/worker-pool.js'
import { encodeChunk } from '../../src/chunkstore/codec.js'
import type { CairnError } from '../../src/core/errors.js'
import type { PackId } from '../../src/core/ids.js'
import { expectCairnError, makeTempDir } from '../helpers.js'

describe('chunk worker flags', () => {
  it('inherits flags as they are unless --input-type is among them, and then drops only it', () => {
    expect(workerExecArgv([])).toBeUndefined()
    expect(workerExecArgv(['--max-old-space-size=4096', '--expose-gc'])).toBeUndefined()
    expect(workerExecArgv(['--max-old-space-size=4096', '--input-type=module'])).toEqual([
      '--max-old-space-size=4096',
    ])
    expect(workerExecArgv(['--input-type', 'module', '--stack-size=2000'])).toEqual(['--stack-size=2000'])
  })
})

/** A chunk of `text`, deflated, and its index entry at the start of a pack. */
function storedChunk(text: string) {
  const data = new TextEncoder().encode(text)
  const stored = encodeChunk(data)
  const entry = {
    chunkId: computeChunkId(data),
    packId: 'ab'.repeat(32) as PackId,
    offset: 0,
    storedLength: stored.bytes.length,
    rawLength: data.length,
    codec: stored.codec,
  }
  return { stored, entry }
}

describe('the worker pool', () => {
  const params = parseChunking({ minSize: 256, avgSize: 1024, maxSize: 4096 })
  const rng = createRng(9)
  const bytes = new Uint8Array(new SharedArrayBuffer(200_000)).map(() => rng.int(256))
  const span = { bytes, base: 0, own: bytes.length }

  it('starts no thread for a check, and runs it on the calling thread', async () => {
    await loadChunkHasher()
    const pool = workerChunkWork(2)
    try {
      const { stored, entry } = storedChunk('abc'.repeat(5000))
      await pool.check(stored.bytes.slice(), [entry], 0)
      expect(pool.threadsStarted).toBe(0)
      // A damaged chunk is still refused, wherever it is checked.
      const damaged = stored.bytes.slice()
      damaged[5] = (damaged[5] ?? 0) ^ 0xff
      await expectCairnError(pool.check(damaged, [entry], 0), 'CORRUPT_OBJECT')
    } finally {
      await pool.close()
    }
  })

  it('decode hands a buffer of its own to a thread, and copies a view into a larger one, which stays usable', async () => {
    await loadChunkHasher()
    const pool = workerChunkWork(1)
    try {
      await pool.ready()
      const { stored, entry } = storedChunk('xyz'.repeat(9000))
      const own = stored.bytes.slice()
      const [fromOwn] = await pool.decode(own, [entry], 0)
      expect(computeChunkId(fromOwn ?? new Uint8Array())).toBe(entry.chunkId)
      expect(own.buffer.byteLength).toBe(0) // transferred: detached here
      const larger = new Uint8Array(stored.bytes.length + 10)
      larger.set(stored.bytes, 10)
      const view = larger.subarray(10)
      const [fromView] = await pool.decode(view, [{ ...entry, offset: 10 }], 10)
      expect(computeChunkId(fromView ?? new Uint8Array())).toBe(entry.chunkId)
      expect(view.length).toBe(stored.bytes.length) // copied: the caller's buffer is whole
      expect(Array.from(view.subarray(0, 8))).toEqual(Array.from(stored.bytes.subarray(0, 8)))
    } finally {
      await pool.close()
    }
  })

  it('place writes the chunks of a lent buffer and gives the whole buffer back, handed over both ways (not copied)', async () => {
    await loadChunkHasher()
    const pool = workerChunkWork(1)
    const { dir, cleanup } = await makeTempDir()
    const file = await open(join(dir, 'placed'), 'w+')
    try {
      await pool.ready()
      const { stored, entry } = storedChunk('abc'.repeat(9000))
      const buffer = new ArrayBuffer(stored.bytes.length + 4096) // larger than the get, as a kept one is
      const lent = new Uint8Array(buffer, 0, stored.bytes.length)
      lent.set(stored.bytes)
      const placed = await pool.place(lent, [entry], 0, [0, 0, entry.rawLength, 5], file.fd, true)
      expect(placed.written).toBe(entry.rawLength)
      expect(buffer.byteLength).toBe(0) // handed over: detached here
      expect(placed.bytes.buffer.byteLength).toBe(stored.bytes.length + 4096) // the whole buffer, back
      expect(placed.bytes.byteOffset).toBe(0)
      expect(Array.from(placed.bytes)).toEqual(Array.from(stored.bytes))
      const written = await readFile(join(dir, 'placed'))
      expect(new TextDecoder().decode(written.subarray(5))).toBe('abc'.repeat(9000))
    } finally {
      await file.close()
      await pool.close()
      await cleanup()
    }
  })

  it('decode of a read holding inflated, stored-raw and tiny chunks gives back each one byte-exact', async () => {
    await loadChunkHasher()
    const pool = workerChunkWork(1)
    try {
      await pool.ready()
      const rng = createRng(4)
      const pieces = [
        new TextEncoder().encode('record '.repeat(4000)),
        new Uint8Array(9000).map(() => rng.int(256)), // incompressible: stored raw
        new TextEncoder().encode('z'.repeat(100)), // inflates into node's shared buffer pool
        new TextEncoder().encode('again '.repeat(3000)),
      ]
      const stored = pieces.map((piece) => encodeChunk(piece))
      expect(stored.map((chunk) => chunk.codec)).toEqual([1, 0, 1, 1])
      const read = new Uint8Array(stored.reduce((sum, chunk) => sum + chunk.bytes.length, 0))
      let offset = 0
      const entries = stored.map((chunk, i) => {
        read.set(chunk.bytes, offset)
        const piece = pieces[i] ?? new Uint8Array()
        const entry = {
          chunkId: computeChunkId(piece),
          packId: 'cd'.repeat(32) as PackId,
          offset,
          storedLength: chunk.bytes.length,
          rawLength: piece.length,
          codec: chunk.codec,
        }
        offset += chunk.bytes.length
        return entry
      })
      const decoded = await pool.decode(read, entries, 0)
      expect(decoded.map((chunk) => Buffer.from(chunk).toString('hex'))).toEqual(
        pieces.map((piece) => Buffer.from(piece).toString('hex')),
      )
    } finally {
      await pool.close()
    }
  })

  it('starts its threads with the first cut, which the calling thread answers meanwhile, the same as the threads do', async () => {
    const pool = workerChunkWork(2)
    try {
      const early = await pool.cut(span, params)
      expect(pool.threadsStarted).toBe(2)
      await pool.ready()
      expect(await pool.cut(span, params)).toEqual(early)
      expect(early).toEqual(await inlineChunkWork().cut(span, params))
    } finally {
      await pool.close()
    }
  })

  it('a pool whose threads cannot be created refuses every job and its waiters with IO', async () => {
    const pool = workerChunkWork(2, () => {
      throw new Error('no threads here')
    })
    try {
      const waiting = expectCairnError(pool.ready(), 'IO')
      await expectCairnError(pool.cut(span, params), 'IO')
      await expectCairnError(pool.cut(span, params), 'IO') // not quietly on the calling thread
      await waiting
      await expectCairnError(pool.ready(), 'IO')
      expect(pool.threadsStarted).toBe(0)
    } finally {
      await pool.close()
    }
  })

  it('closing fails a running job only once its thread has stopped (a place job writes a file its caller then closes)', async () => {
    const events: string[] = []
    // A thread that loads, takes the job and never answers; it takes a while to stop.
    const thread = new (class extends EventEmitter {
      postMessage(request: { op: string }) {
        events.push(`job ${request.op}`)
      }
      ref() {}
      unref() {}
      async terminate() {
        events.push('terminating')
        await new Promise((resolve) => setTimeout(resolve, 20))
        events.push('stopped')
        return 0
      }
    })()
    const pool = workerChunkWork(1, () => thread as unknown as Worker)
    const ready = pool.ready()
    thread.emit('message', { job: -1, ready: true })
    await ready
    const { stored, entry } = storedChunk('xyz'.repeat(4000))
    const placing = pool.place(stored.bytes.slice(), [entry], 0, [0, 0, entry.rawLength, 0], 99)
    const failed = placing.then(
      () => events.push('resolved'),
      (error: unknown) => events.push(`failed ${(error as CairnError).code}`),
    )
    await pool.close()
    await failed
    expect(events).toEqual(['job place', 'terminating', 'stopped', 'failed CLOSED'])
  })

  it('a closed pool refuses jobs and its waiters with CLOSED', async () => {
    const pool = workerChunkWork(1)
    const waiting = expectCairnError(pool.ready(), 'CLOSED')
    await pool.close()
    await waiting
    await expectCairnError(pool.cut(span, params), 'CLOSED')
    await expectCairnError(pool.ready(), 'CLOSED')
  })
})
