/**
 * The chunk store's write side: new chunks are "pending" from the moment ingest claims them,
 * appended to the open pack, and sealed with it once it is full (by bytes, or by chunk count); a
 * sealed pack is put in the background while the next fills, and its index object follows it
 * (pack-store.ts). Only then do its chunks join the index and stop being pending.
 *
 * Pending chunks are deduplicated against and readable from memory, but not yet safe to
 * reference from anything durable: `flush()` makes every one durable. Memory stays bounded: the
 * open pack, and at most one sealed pack waiting while another is put (ingest waits in
 * `afterSpan` otherwise).
 *
 * A failed pack put leaves its sealed pack in memory and its chunks pending: the next put (by a
 * later entry, or `flush()`) tries it again; when two packs wait, the entry being stored fails
 * with the error (its chunks added so far stay pending), and `flush()` reports it too.
 */
import { assert } from '../core/assert.js'
import type { ChunkId, PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import type { ChunkIndex } from './chunk-index.js'
import type { StoredChunk } from './codec.js'
import type { IngestSink } from './ingest.js'
import { PackBuilder } from './pack.js'
import type { SealedPack } from './pack.js'
import { putSealedPack } from './pack-store.js'
import { packBuffers } from './read-buffers.js'
import type { ReadBuffers } from './read-buffers.js'

/** A chunk claimed by ingest and not yet in a durable pack: its stored form once encoded. */
export interface PendingChunk {
  readonly rawLength: number
  stored: StoredChunk | undefined
}

/** A sealed pack waiting to be put; its id is chosen at the first put, kept for a retry. */
type PendingPack = SealedPack & { packId?: PackId }

export class PackPipeline {
  readonly #blobs: BlobStore
  readonly #index: ChunkIndex
  readonly #packBytes: number
  readonly #packChunks: number
  /** Every new pack's id is salted (a shared object store: no pack key is ever used twice). */
  readonly #unique: boolean
  /** True when a chunk is stored durably (where ingest may skip it). */
  readonly #durable: (id: ChunkId) => boolean
  readonly #pending = new Map<ChunkId, PendingChunk>()
  #builder = new PackBuilder()
  readonly #sealed: PendingPack[] = []
  /**
   * Buffers of packs already put, to seal the next ones into. A fresh ~16 MiB buffer per pack
   * meant fresh pages, written first by the seal's copy on the calling thread: on the 2-core VM
   * that copy ran at ~0.5 GB/s and took ~210 ms of a 268 MB first version's ~2 s. Let go when a
   * flush ends, so an idle store holds none.
   */
  #packBuffers: ReadBuffers
  /** The put loop while it runs. */
  #putRunning: Promise<void> | undefined
  #packsWritten = 0
  #packBytesWritten = 0
  /** Packs put since `packsPutFromNow` last began counting (a shared store's commit guard). */
  #recentPacks: Set<string> | undefined

  constructor(init: {
    readonly blobs: BlobStore
    readonly index: ChunkIndex
    readonly packBytes: number
    readonly packChunks: number
    readonly unique: boolean
    readonly durable: (id: ChunkId) => boolean
  }) {
    this.#blobs = init.blobs
    this.#index = init.index
    this.#packBytes = init.packBytes
    this.#packChunks = init.packChunks
    this.#unique = init.unique
    this.#durable = init.durable
    this.#packBuffers = packBuffers(init.packBytes)
  }

  /** The pending chunk `id`, if it is one. */
  pending(id: ChunkId): PendingChunk | undefined {
    return this.#pending.get(id)
  }

  isPending(id: ChunkId): boolean {
    return this.#pending.has(id)
  }

  get pendingCount(): number {
    return this.#pending.size
  }

  get packsWritten(): number {
    return this.#packsWritten
  }

  get packBytesWritten(): number {
    return this.#packBytesWritten
  }

  /**
   * Starts recording the packs put; the set it returns fills as they land (until the next call).
   * A shared store's commit guard need not look again for packs it put itself.
   */
  packsPutFromNow(): ReadonlySet<string> {
    this.#recentPacks = new Set()
    return this.#recentPacks
  }

  /** Seals the open pack and puts every sealed one: no chunk is pending after. */
  async flush(): Promise<void> {
    this.#seal()
    while (this.#sealed.length > 0) await this.#startPut()
    assert(this.#pending.size === 0, 'a flushed chunk store holds no pending chunk')
    this.#packBuffers = packBuffers(this.#packBytes)
  }

  /** What ingest asks of the store: claims against the index and pending chunks, and the open pack. */
  readonly sink: IngestSink = {
    claim: (id, length) => {
      if (this.#pending.has(id) || this.#durable(id)) return false
      this.#pending.set(id, { rawLength: length, stored: undefined })
      return true
    },
    release: (id) => {
      this.#pending.delete(id)
    },
    add: (id, length, stored) => {
      const pending = this.#pending.get(id)
      if (pending !== undefined) pending.stored = stored
      this.#builder.add(id, length, stored)
      // A pack is full by bytes, or by chunk count: its footer and index object must stay
      // within what a reader accepts (limits.ts), however small the chunks.
      if (this.#builder.dataBytes >= this.#packBytes || this.#builder.chunkCount >= this.#packChunks)
        this.#seal()
    },
    afterSpan: async () => {
      // Back-pressure: at most one sealed pack waits while another is put. A put that failed is
      // tried again here; if it fails again the error reaches this entry, whose chunks added so
      // far stay pending (readable, retried by the next put or flush).
      let failures = 0
      while (this.#sealed.length > 1) {
        try {
          await this.#startPut()
        } catch (error) {
          if (++failures > 1) throw error // once more at once: a passing fault costs no entry
        }
      }
      if (this.#sealed.length > 0) this.#startPut().catch(() => undefined)
    },
  }

  #seal(): void {
    if (this.#builder.chunkCount === 0) return
    const into = this.#packBuffers.take(this.#builder.sealedBytes).buffer as ArrayBuffer
    this.#sealed.push(this.#builder.seal(into))
    this.#builder = new PackBuilder()
  }

  /** The put loop, started unless it runs already; resolves when no sealed pack is left. */
  #startPut(): Promise<void> {
    if (this.#putRunning === undefined) {
      const run = this.#putSealed()
      this.#putRunning = run
      // Cleared as the loop ends, before anyone awaiting it resumes (handlers run in order).
      const clear = () => {
        if (this.#putRunning === run) this.#putRunning = undefined
      }
      run.then(clear, clear)
    }
    return this.#putRunning
  }

  /** Puts the sealed packs in order; each one's chunks join the index once it is durable. */
  async #putSealed(): Promise<void> {
    while (this.#sealed.length > 0) {
      const sealed = this.#sealed[0] as PendingPack
      const flushed = await putSealedPack(this.#blobs, sealed, { unique: this.#unique })
      this.#index.addIndexObject(flushed.indexKey, flushed.entries)
      for (const entry of flushed.entries) this.#pending.delete(entry.chunkId)
      this.#sealed.shift()
      // Nothing refers to the pack's bytes any more (its chunks are read from the pack now).
      this.#packBuffers.give(sealed.bytes.buffer)
      this.#packsWritten++
      this.#recentPacks?.add(flushed.packId)
      this.#packBytesWritten += sealed.bytes.length
    }
  }
}
