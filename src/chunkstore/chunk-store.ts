/**
 * The chunk store: entries in, chunk lists out, every chunk stored once.
 *
 * Write path (`putEntry`, ingest.ts): the source is copied into spans of ~2 MiB that worker
 * threads cut and hash (span.ts); the calling thread stitches their cuts into the sequential
 * chunks, claims the ones neither the index nor this session holds, and only those are compressed
 * (on the workers) and appended to the open pack. A full pack is sealed and put in the background
 * while the next fills; its index object follows it (pack-pipeline.ts). Memory stays bounded: a
 * few spans in flight, the open pack, and at most one sealed pack waiting while another is put.
 *
 * Chunks reach the index only once their pack and index object are durable. Until then they are
 * "pending": deduplicated against and readable from memory, but not yet safe to reference from
 * anything durable. `flush()` makes every pending chunk durable; the checkpoint protocol calls it
 * before writing a manifest. A failed pack put is tried again by the next put or flush.
 *
 * Read path: `readEntry` (read-entry.ts) and `writeEntryToFile` (read-to-file.ts). Maintenance:
 * `sweep`, `condemn` and `deleteCondemned` (sweep.ts, condemned-delete.ts), then the index cache
 * brought back in line (index-sync.ts).
 */
import { CairnError } from '../core/errors.js'
import { indexEntriesMax, packChunksMax } from '../core/limits.js'
import type { ChunkId, PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { MemoryChunkIndex } from './chunk-index.js'
import type { ChunkIndex } from './chunk-index.js'
import { loadChunkHasher } from './chunk-id.js'
import { defaultWorkerCount, inlineChunkWork } from './chunk-work.js'
import type { ChunkWork } from './chunk-work.js'
import { parseChunking } from './chunker.js'
import type { ChunkingOptions, ChunkingParams } from './chunker.js'
import { ingestEntry } from './ingest.js'
import { workerChunkWork } from './worker-pool.js'
import { SpanBuffers } from './span.js'
import type { ChunkRef, IngestResult } from './ingest.js'
import { syncIndex } from './index-sync.js'
import { sweepPacks } from './sweep.js'
import { deleteCondemnedPacks } from './condemned-delete.js'
import type { CondemnedDeleteReport } from './condemned-delete.js'
import type { SweepOutcome, SweepReport } from './sweep.js'
import type { IndexEntry } from './index-object.js'
import type { IndexSyncReport } from './index-sync.js'
import { PackPipeline } from './pack-pipeline.js'
import { packKey } from './pack-store.js'
import { EntryReader } from './entry-reader.js'
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
  readonly #work: ChunkWork
  readonly #readOnly: boolean
  /** Spans in flight per entry: enough to keep every worker busy. */
  readonly #depth: number
  readonly #buffers: SpanBuffers
  /** New chunks, from claimed to durable: the open pack, sealed packs and their puts. */
  readonly #packs: PackPipeline
  readonly #reader: EntryReader
  #exclusive: Promise<unknown> = Promise.resolve()
  #closed = false
  /** Set as `close()` begins: no new work is accepted. */
  #closing = false
  #excluded: ReadonlySet<string> = new Set()
  readonly #shared: boolean
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
    this.#packs = new PackPipeline({
      blobs: init.blobs,
      index: init.index,
      packBytes: init.packBytes,
      packChunks: init.packChunks ?? PACK_CHUNKS_CAP,
      unique: this.#shared,
      durable: (id) => this.#durable(id),
    })
    this.#reader = new EntryReader({
      blobs: init.blobs,
      work: init.work,
      packs: this.#packs,
      lookUp: (id) => this.#index.get(id) ?? this.#overlay.get(id),
    })
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
    return this.#packs.isPending(id) || this.#durable(id)
  }

  /** True when the chunk is durably stored outside the excluded packs. */
  #durable(id: ChunkId): boolean {
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
    return this.#packs.packsPutFromNow()
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

  #flush(): Promise<void> {
    return this.#packs.flush()
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
    return await this.#reader.readChunk(ref)
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
      if (this.#packs.isPending(id)) continue
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
    yield* this.#reader.readEntry(chunks)
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
    return await this.#reader.writeEntryToFile(pieces, fd, options.onBytes)
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
      chunksPending: this.#packs.pendingCount,
      packsWritten: this.#packs.packsWritten,
      packBytesWritten: this.#packs.packBytesWritten,
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
      return await ingestEntry(input, params, this.#work, this.#compression, this.#packs.sink, {
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
