/**
 * The chunk store: entries in, chunk lists out, every chunk stored once.
 *
 * Write path (`putEntry`, ingest.ts): the source is copied into spans of ~2 MiB that worker
 * threads cut and hash (span.ts); the calling thread stitches their cuts into the sequential
 * chunks, claims the ones neither the index nor this session holds, and only those are compressed
 * (on the workers) and appended to the open pack. A full pack (by bytes, or by chunk count) is
 * sealed and put in the background while the next fills; its index object follows it
 * (pack-store.ts). Memory stays bounded: a few spans in flight, the open pack, and at most one
 * sealed pack waiting while another is put.
 *
 * Chunks reach the index only once their pack and index object are durable. Until then they are
 * "pending": deduplicated against and readable from memory, but not yet safe to reference from
 * anything durable. `flush()` makes every pending chunk durable; the checkpoint protocol calls it
 * before writing a manifest.
 *
 * A failed pack put leaves its sealed pack in memory and its chunks pending: the next put (by a
 * later entry, or `flush()`) tries it again; when two packs wait, the entry being stored fails
 * with the error (its chunks added so far stay pending), and `flush()` reports it too.
 */
import { assert } from '../core/assert.js'
import { CairnError } from '../core/errors.js'
import { indexEntriesMax, packChunksMax } from '../core/limits.js'
import type { ChunkId, PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { MemoryChunkIndex } from './chunk-index.js'
import type { ChunkIndex } from './chunk-index.js'
import { loadChunkHasher } from './chunk-id.js'
import { defaultWorkerCount, inlineChunkWork, workerChunkWork } from './chunk-work.js'
import type { ChunkWork } from './chunk-work.js'
import { parseChunking } from './chunker.js'
import type { ChunkingOptions, ChunkingParams } from './chunker.js'
import { decodeChunk } from './codec.js'
import type { StoredChunk } from './codec.js'
import { ingestEntry } from './ingest.js'
import { SpanBuffers } from './span.js'
import type { ChunkRef, IngestResult, IngestSink } from './ingest.js'
import { syncIndex } from './index-sync.js'
import { sweepPacks } from './sweep.js'
import { deleteCondemnedPacks } from './condemned-delete.js'
import type { CondemnedDeleteReport } from './condemned-delete.js'
import type { SweepOutcome, SweepReport } from './sweep.js'
import type { IndexEntry } from './index-object.js'
import type { IndexSyncReport } from './index-sync.js'
import { PackBuilder } from './pack.js'
import { packBuffers } from './read-buffers.js'
import type { ReadBuffers } from './read-buffers.js'
import type { SealedPack } from './pack.js'
import { packKey, putSealedPack } from './pack-store.js'
import { readEntryChunks } from './read-entry.js'
import { layOut, readIntoFile, writeAt } from './read-to-file.js'
import type { Placement } from './read-to-file.js'
import type { EntryPiece } from './read-to-file.js'
import { entryInput, isEntryReader } from './source.js'
import type { EntrySource } from './source.js'
import { verifyChunkStore } from './verify.js'
import type { VerifyOptions, VerifyReport } from './verify.js'

/** Packs of about this many bytes of chunk data (a pack may exceed it by one chunk). */
export const PACK_BYTES_DEFAULT: number = 16 * 1024 * 1024
const PACK_BYTES_MIN = 64 * 1024
const PACK_BYTES_MAX = 512 * 1024 * 1024
/** A pack is sealed at this many chunks whatever its bytes (its footer and index object must decode). */
const PACK_CHUNKS_CAP = Math.min(packChunksMax, indexEntriesMax)

export interface ChunkStoreOptions {
  readonly blobs: BlobStore
  /** The merged index cache; default in memory (rebuilt from the index objects on open). */
  readonly index?: ChunkIndex
  /** Default chunking for entries; `putEntry` may choose another per entry. */
  readonly chunking?: ChunkingOptions
  readonly compression?: 'deflate' | 'none'
  /** Target bytes of chunk data per pack (default 16 MiB). */
  readonly packBytes?: number
  /** At most this many chunks per pack (default and ceiling: the readers' limit, 2^20). */
  readonly packChunks?: number
  /** Worker threads for hashing and compression; 0 works on the calling thread. */
  readonly workers?: number
  /** Open for reading only: nothing is written, not even a repaired index object. */
  readonly readOnly?: boolean
  /**
   * The object store is shared with stores on other machines (docs/SHARED.md): every new pack's id
   * is salted, so no pack key is ever used twice, and no pack is indexed from its footer.
   */
  readonly shared?: boolean
}

export type { ChunkRef, EntryPiece }

/** What `putEntry` gives back: the chunk list and what storing it cost. */
export type PutEntryResult = IngestResult

export interface ChunkStoreStats {
  readonly chunksIndexed: number
  readonly chunksPending: number
  readonly packsWritten: number
  readonly packBytesWritten: number
  readonly lastSync: IndexSyncReport
}

interface PendingChunk {
  readonly rawLength: number
  stored: StoredChunk | undefined
}

/** A sealed pack waiting to be put; its id is chosen at the first put, kept for a retry. */
type PendingPack = SealedPack & { packId?: PackId }

/** Opens a chunk store on `blobs`, bringing the index cache up to date first. */
export async function openChunkStore(options: ChunkStoreOptions): Promise<ChunkStore> {
  const packBytes = options.packBytes ?? PACK_BYTES_DEFAULT
  if (!Number.isInteger(packBytes) || packBytes < PACK_BYTES_MIN || packBytes > PACK_BYTES_MAX) {
    throw new CairnError(
      'BAD_OPTION',
      `packBytes must be an integer in [${String(PACK_BYTES_MIN)}, ${String(PACK_BYTES_MAX)}]`,
      {
        op: 'chunkstore.open',
      },
    )
  }
  const packChunks = options.packChunks ?? PACK_CHUNKS_CAP
  if (!Number.isInteger(packChunks) || packChunks < 1 || packChunks > PACK_CHUNKS_CAP) {
    throw new CairnError('BAD_OPTION', `packChunks must be an integer in [1, ${String(PACK_CHUNKS_CAP)}]`, {
      op: 'chunkstore.open',
    })
  }
  const workers = options.workers ?? defaultWorkerCount()
  if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
    throw new CairnError('BAD_OPTION', 'workers must be an integer in [0, 64]', { op: 'chunkstore.open' })
  }
  const compression: unknown = options.compression ?? 'deflate'
  if (compression !== 'deflate' && compression !== 'none') {
    throw new CairnError('BAD_OPTION', `compression must be 'deflate' or 'none'`, { op: 'chunkstore.open' })
  }
  const params = parseChunking(options.chunking)
  await loadChunkHasher()
  const index = options.index ?? new MemoryChunkIndex()
  const overlay = new MemoryChunkIndex()
  const lastSync = await syncIndex(options.blobs, index, {
    writable: options.readOnly !== true,
    overlay,
    footers: options.shared !== true,
  })
  const work = workers === 0 ? inlineChunkWork() : workerChunkWork(workers)
  return new ChunkStore({
    ...options,
    index,
    overlay,
    params,
    compression,
    packBytes,
    work,
    workers,
    lastSync,
  })
}

export class ChunkStore {
  readonly #blobs: BlobStore
  readonly #index: ChunkIndex
  /** Entries read from pack footers by a read-only open (never written to the cache). */
  readonly #overlay: ChunkIndex
  readonly #params: ChunkingParams
  readonly #compression: 'deflate' | 'none'
  readonly #packBytes: number
  readonly #packChunks: number
  readonly #work: ChunkWork
  readonly #readOnly: boolean
  /** Spans in flight per entry: enough to keep every worker busy. */
  readonly #depth: number
  readonly #buffers: SpanBuffers
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
  #exclusive: Promise<unknown> = Promise.resolve()
  #closed = false
  /** Set as `close()` begins: no new work is accepted. */
  #closing = false
  #packsWritten = 0
  /** Packs this store put since `packsPutSince` last began counting (a shared store's commit guard). */
  #recentPacks: Set<string> | undefined
  #excluded: ReadonlySet<string> = new Set()
  readonly #shared: boolean
  #packBytesWritten = 0
  readonly #lastSync: IndexSyncReport

  /** Use `openChunkStore`. */
  constructor(init: {
    readonly blobs: BlobStore
    readonly index: ChunkIndex
    readonly overlay?: ChunkIndex
    readonly params: ChunkingParams
    readonly compression: 'deflate' | 'none'
    readonly packBytes: number
    readonly packChunks?: number
    readonly work: ChunkWork
    readonly workers: number
    readonly readOnly?: boolean
    readonly shared?: boolean
    readonly lastSync: IndexSyncReport
  }) {
    this.#shared = init.shared === true
    this.#blobs = init.blobs
    this.#index = init.index
    this.#overlay = init.overlay ?? new MemoryChunkIndex()
    this.#params = init.params
    this.#compression = init.compression
    this.#packBytes = init.packBytes
    this.#packBuffers = packBuffers(init.packBytes)
    this.#packChunks = init.packChunks ?? PACK_CHUNKS_CAP
    this.#work = init.work
    this.#readOnly = init.readOnly === true
    this.#depth = 2 * Math.max(1, init.workers) + 2
    this.#buffers = new SpanBuffers(init.work.shared)
    this.#lastSync = init.lastSync
  }

  /** The BlobStore the packs and index objects live in. */
  get blobs(): BlobStore {
    return this.#blobs
  }

  /** True when the chunk is stored (durably, or pending in this session) outside the excluded packs. */
  has(id: ChunkId): boolean {
    if (this.#pending.has(id)) return true
    if (this.#excluded.size === 0) return this.#index.has(id) || this.#overlay.has(id)
    const entry = this.#index.get(id) ?? this.#overlay.get(id)
    return entry !== undefined && !this.#excluded.has(entry.packId)
  }

  /**
   * Deduplicate against none of these packs until told otherwise: a chunk found only in them is
   * stored again (GC on another machine condemned them; snapshot/commit-guard.ts).
   */
  exclude(packs: ReadonlySet<string>): void {
    this.#excluded = packs
  }

  /**
   * Starts recording the packs this store puts; the set it returns fills as they land (until the
   * next call). A shared store's commit guard need not look again for packs it put itself.
   */
  packsPutFromNow(): ReadonlySet<string> {
    this.#recentPacks = new Set()
    return this.#recentPacks
  }

  /** Merges index objects other machines put since the last look (a shared object store). */
  refresh(): Promise<IndexSyncReport> {
    return this.#serially('chunkstore.refresh', () => this.#syncIndex(!this.#readOnly))
  }

  /**
   * The first phase of GC in a shared object store: repacks as `sweep` does, deletes nothing, and
   * gives back the packs that hold none of `live` (snapshot/shared-gc.ts).
   */
  condemn(
    live: ReadonlySet<ChunkId>,
    options: { readonly repackDeadShare?: number } = {},
  ): Promise<SweepReport & { readonly condemned: readonly PackId[] }> {
    return this.#maintain('chunkstore.condemn', false, () =>
      this.#sweepPacks(live, options.repackDeadShare, true),
    )
  }

  /** The second phase: deletes what a run condemned, as condemned-delete.ts allows. */
  deleteCondemned(
    options: Omit<Parameters<typeof deleteCondemnedPacks>[1], 'packBytes'>,
  ): Promise<CondemnedDeleteReport> {
    return this.#maintain('chunkstore.deleteCondemned', true, () =>
      deleteCondemnedPacks(this.#blobs, { ...options, packBytes: this.#packBytes }),
    )
  }

  /**
   * Stores an entry and gives back its chunk list. Chunks already stored are not stored again.
   * `name` only names the entry in errors. The chunks are durable after `flush()`.
   */
  putEntry(
    source: EntrySource,
    options: { readonly chunking?: ChunkingOptions; readonly name?: string } = {},
  ): Promise<PutEntryResult> {
    try {
      const params = options.chunking === undefined ? this.#params : parseChunking(options.chunking)
      return this.#serially('entry.put', () => this.#putEntry(source, params, options.name ?? '(entry)'))
    } catch (error) {
      // Refused at once (a closed store, a bad option): a reader is closed here, as ingest closes
      // the readers it takes, so a caller's file handle is never left open.
      if (isEntryReader(source)) {
        void Promise.resolve()
          .then(() => source.close())
          .catch(() => undefined)
      }
      throw error
    }
  }

  /** Seals the open pack and makes every pending chunk durable (packs, then index objects). */
  flush(): Promise<void> {
    return this.#serially('chunkstore.flush', () => this.#flush())
  }

  async #flush(): Promise<void> {
    this.#seal()
    while (this.#sealed.length > 0) await this.#startPut()
    assert(this.#pending.size === 0, 'a flushed chunk store holds no pending chunk')
    this.#packBuffers = packBuffers(this.#packBytes)
  }

  /**
   * Starts the worker threads now and resolves once they take jobs. Without it they start with
   * the first entry written or read (running its first pieces on the calling thread meanwhile):
   * call it where a later write must not share the cores with their loading.
   */
  async warm(): Promise<void> {
    this.#checkOpen('chunkstore.warm')
    await this.#work.ready()
  }

  /** A chunk's raw bytes, checked against its id. */
  async readChunk(ref: ChunkRef): Promise<Uint8Array> {
    this.#checkOpen('chunk.read')
    const pending = this.#pending.get(ref.id)
    if (pending !== undefined) {
      if (pending.stored === undefined) throw missing(ref.id, 'is still being written')
      const raw = decodeChunk(
        pending.stored.codec,
        pending.stored.bytes,
        pending.rawLength,
        `pending/${ref.id}`,
      )
      // A raw chunk's bytes are the pack's own: the caller gets a copy it may change.
      return raw === pending.stored.bytes ? raw.slice() : raw
    }
    const [bytes] = await collectOne(readEntryChunks(this.#blobs, this.#work, this.#locate([ref])))
    return bytes ?? new Uint8Array(0)
  }

  /** The pack a durable chunk lies in (undefined when pending or unknown). */
  packOf(id: ChunkId): string | undefined {
    return (this.#index.get(id) ?? this.#overlay.get(id))?.packId
  }

  /**
   * The chunks of `ids` that cannot be read: in no index, or in a pack that is gone (each pack
   * looked up once). Pending chunks are present.
   */
  async absent(ids: Iterable<ChunkId>): Promise<ChunkId[]> {
    this.#checkOpen('chunkstore.absent')
    const missing: ChunkId[] = []
    const packs = new Map<string, boolean>()
    for (const id of ids) {
      if (this.#pending.has(id)) continue
      const entry = this.#index.get(id) ?? this.#overlay.get(id)
      if (entry === undefined) {
        missing.push(id)
        continue
      }
      let present = packs.get(entry.packId)
      if (present === undefined) {
        present = (await this.#blobs.head(packKey(entry.packId))) !== undefined
        packs.set(entry.packId, present)
      }
      if (!present) missing.push(id)
    }
    return missing
  }

  /** An entry's bytes as a stream of pieces (about a chunk each), in bounded memory. */
  async *readEntry(chunks: readonly ChunkRef[]): AsyncGenerator<Uint8Array> {
    this.#checkOpen('entry.read')
    // Runs of durable chunks are read together (read-entry.ts plans their ranged gets); pending ones one by one.
    let run: ChunkRef[] = []
    for (const ref of chunks) {
      if (this.#pending.has(ref.id)) {
        if (run.length > 0) yield* readEntryChunks(this.#blobs, this.#work, this.#locate(run))
        run = []
        yield await this.readChunk(ref)
      } else {
        run.push(ref)
      }
    }
    if (run.length > 0) yield* readEntryChunks(this.#blobs, this.#work, this.#locate(run))
  }

  /**
   * Writes an entry into the open file `fd`: the file is sized to the entry (runs of zeros are
   * left as holes) and each chunk is decoded, checked against its id and written at its place by
   * a worker thread (read-to-file.ts), so nothing passes through the calling thread. `pieces` is
   * the entry in order: whole chunks, ranges of chunks, runs of zeros. `fd` must be a regular file
   * not opened for appending, and stay open until the promise settles, failure included.
   * `onBytes` hears of every byte of the entry once (zeros included). Resolves with its length.
   * Chunks are looked up in the index as the restore reaches them: one the store lacks is
   * `MISSING_CHUNK` then, with the file holding part of the entry (as after any failure).
   */
  async writeEntryToFile(
    pieces: readonly EntryPiece[],
    fd: number,
    options: { readonly onBytes?: (bytes: number) => void } = {},
  ): Promise<number> {
    this.#checkOpen('entry.write')
    if (!Number.isSafeInteger(fd) || fd < 0)
      throw new CairnError('BAD_OPTION', `${String(fd)} is not a file descriptor`, { op: 'entry.write' })
    const { placed, length, zeros } = layOut(pieces)
    const pendingIds = this.#pending
    const durable = pendingIds.size === 0 ? placed : placed.filter((item) => !pendingIds.has(item.ref.id))
    const pending = pendingIds.size === 0 ? [] : placed.filter((item) => pendingIds.has(item.ref.id))
    // Located as the restore reaches them, window by window, while the gets of the windows before
    // run: not all up front (~110 ms of index lookups for the bench's 288 MB version, ~15,000
    // chunks, before its first get started).
    const locate = (ref: ChunkRef) => this.#locateOne(ref)
    function* placements(): Generator<Placement> {
      for (const { ref, from, to, at } of durable) yield { entry: locate(ref), from, to, at }
    }
    await readIntoFile(this.#blobs, this.#work, placements(), fd, length, options.onBytes)
    // Chunks not yet in a pack are read from memory, on this thread.
    for (const item of pending) {
      const raw = (await this.readChunk(item.ref)).subarray(item.from, item.to)
      await writeAt(fd, raw, item.at)
      options.onBytes?.(raw.length)
    }
    // The runs of zeros are in the file (as holes) since it was sized: progress adds up to its length.
    if (zeros > 0) options.onBytes?.(zeros)
    return length
  }

  /** An entry's bytes, whole. */
  async readEntryBytes(chunks: readonly ChunkRef[]): Promise<Uint8Array> {
    let total = 0
    for (const ref of chunks) total += ref.length
    const out = new Uint8Array(total)
    let at = 0
    for await (const piece of this.readEntry(chunks)) {
      out.set(piece, at)
      at += piece.length
    }
    return out
  }

  /** Checks packs, index objects and (with `readData`) every chunk's bytes. */
  verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    this.#checkOpen('chunkstore.verify')
    return verifyChunkStore(this.#blobs, options)
  }

  /**
   * Drops the packs that hold none of `live` (sweep.ts), then rebuilds the index cache from the
   * index objects left, so nothing is deduplicated against a chunk that is gone. Flushes first.
   */
  sweep(
    live: ReadonlySet<ChunkId>,
    options: { readonly repackDeadShare?: number } = {},
  ): Promise<SweepReport> {
    return this.#maintain(
      'chunkstore.sweep',
      true,
      () => this.#sweepPacks(live, options.repackDeadShare, false),
      // The index objects the sweep leaves, which it read or wrote: the cache is rebuilt from
      // them without reading each again (~20-30 ms of a GC on 40 index objects).
      (swept) => swept.indexObjects,
    ).then(({ packsDeleted, packsRepacked, bytesFreed, chunksLive, chunksDeleted }) => ({
      packsDeleted,
      packsRepacked,
      bytesFreed,
      chunksLive,
      chunksDeleted,
    }))
  }

  /** sweep.ts on this store's blobs, pack size, pack ids and checks (repacking off by default). */
  #sweepPacks(
    live: ReadonlySet<ChunkId>,
    repackDeadShare: number | undefined,
    condemnOnly: boolean,
  ): Promise<SweepOutcome> {
    return sweepPacks(this.#blobs, live, {
      repackDeadShare: repackDeadShare ?? 1,
      packBytes: this.#packBytes,
      uniquePackIds: this.#shared,
      check: (bytes, entries, base) => this.#work.check(bytes, entries, base),
      condemnOnly,
    })
  }

  /**
   * Maintenance that rewrites packs or index objects (sweep, condemn, deleteCondemned): flushes
   * first, runs `body`, and brings the index cache back in line with the index objects left. With
   * `forget`, the cache first forgets everything, durably: a crash midway then rebuilds it from the
   * index objects left, never trusting an entry whose pack was removed.
   */
  #maintain<T>(
    op: string,
    forget: boolean,
    body: () => Promise<T>,
    known?: (result: T) => ReadonlyMap<string, readonly IndexEntry[]> | undefined,
  ): Promise<T> {
    return this.#serially(op, async () => {
      if (this.#readOnly) throw new CairnError('NOT_SUPPORTED', 'the chunk store is open read-only', { op })
      await this.#flush()
      if (forget) {
        this.#index.clear()
        this.#overlay.clear()
        await this.#index.flushed()
      }
      let held: ReadonlyMap<string, readonly IndexEntry[]> | undefined
      try {
        const result = await body()
        held = known?.(result)
        return result
      } finally {
        await this.#syncIndex(true, held)
      }
    })
  }

  #syncIndex(
    writable: boolean,
    known?: ReadonlyMap<string, readonly IndexEntry[]>,
  ): Promise<IndexSyncReport> {
    return syncIndex(this.#blobs, this.#index, {
      writable,
      overlay: this.#overlay,
      footers: !this.#shared,
      ...(known === undefined ? {} : { known }),
    })
  }

  stats(): ChunkStoreStats {
    return {
      chunksIndexed: this.#index.size,
      chunksPending: this.#pending.size,
      packsWritten: this.#packsWritten,
      packBytesWritten: this.#packBytesWritten,
      lastSync: this.#lastSync,
    }
  }

  /**
   * Flushes (unless read-only), stops the workers and closes the index cache. Calls made after
   * `close()` began are `CLOSED`. A flush that fails leaves the store open, so it can be retried.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    if (!this.#readOnly) {
      this.#closing = true
      try {
        await this.#exclusive
        await this.#flush()
      } catch (error) {
        this.#closing = false
        throw error
      }
    }
    this.#closed = true
    this.#closing = true
    await this.#work.close()
    await this.#index.close()
  }

  async #putEntry(source: EntrySource, params: ChunkingParams, name: string): Promise<PutEntryResult> {
    const input = entryInput(source, name)
    try {
      if (this.#readOnly)
        throw new CairnError('NOT_SUPPORTED', 'the chunk store is open read-only', {
          op: 'entry.put',
          path: name,
        })
      return await ingestEntry(input, params, this.#work, this.#compression, this.#sink, {
        depth: this.#depth,
        buffers: this.#buffers,
      })
    } catch (error) {
      // Ingest closes a reader once it reads it; one it never started on is closed here (closing
      // a checked reader twice calls the caller's close once).
      if (isEntryReader(input)) await input.close().catch(() => undefined)
      throw error
    }
  }

  /** What ingest asks of the store: claims against the index and pending chunks, and the open pack. */
  readonly #sink: IngestSink = {
    claim: (id, length) => {
      if (this.has(id)) return false
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
      const flushed = await putSealedPack(this.#blobs, sealed, { unique: this.#shared })
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

  /** The index entries of durable chunks, checked against the lengths the entry recorded. */
  #locate(refs: readonly ChunkRef[]): { ref: ChunkRef; entry: IndexEntry }[] {
    return refs.map((ref) => ({ ref, entry: this.#locateOne(ref) }))
  }

  /** A durable chunk's index entry, checked against the length the entry recorded. */
  #locateOne(ref: ChunkRef): IndexEntry {
    const entry = this.#index.get(ref.id) ?? this.#overlay.get(ref.id)
    if (entry === undefined) throw missing(ref.id, 'is in no index')
    if (entry.rawLength !== ref.length) {
      throw new CairnError(
        'CORRUPT_OBJECT',
        `chunk ${ref.id.slice(0, 8)} is ${String(entry.rawLength)} bytes in the index, ${String(ref.length)} in the entry`,
        { op: 'entry.read', path: `chunks/${ref.id}` },
      )
    }
    return entry
  }

  #serially<T>(op: string, task: () => Promise<T>): Promise<T> {
    this.#checkOpen(op)
    const run = this.#exclusive.then(task, task)
    this.#exclusive = run.catch(() => undefined)
    return run
  }

  #checkOpen(op: string): void {
    if (this.#closed || this.#closing) throw new CairnError('CLOSED', 'the chunk store is closed', { op })
  }
}

function missing(id: ChunkId, why: string): CairnError {
  return new CairnError('MISSING_CHUNK', `chunk ${id.slice(0, 8)} ${why}`, {
    op: 'chunk.read',
    path: `chunks/${id}`,
  })
}

async function collectOne(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const piece of pieces) out.push(piece)
  return out
}
