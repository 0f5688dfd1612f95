/**
 * The merged index: for every stored chunk, where it lies. The truth is the index objects in the
 * BlobStore (and, behind them, the pack footers); a `ChunkIndex` is a cache of their merge, kept
 * so "have I got this chunk?" costs a lookup, not a listing.
 *
 * A cache records, with each batch of entries and in the same atomic step, the key of the index
 * object they came from. On open, the chunk store compares those keys with the index objects
 * listed in the BlobStore: new ones are merged, and a key the cache holds but the store no longer
 * lists (an index removed by GC or by hand) makes it start again from nothing. Deleting a cache
 * therefore loses nothing but the time to rebuild it.
 *
 * Two implementations: `MemoryChunkIndex` here (tests, simulated disks, short-lived stores) and
 * the LMDB one in `adapters/lmdb` (the embedded default, which survives restarts).
 */
import type { ChunkId } from '../core/ids.js'
import type { IndexEntry } from './index-object.js'

/** An index object's key and its entries. */
export interface IndexObjectEntries {
  readonly key: string
  readonly entries: readonly IndexEntry[]
}

export interface ChunkIndex {
  /** Where chunk `id` is stored, or undefined when no merged index object names it. */
  get(id: ChunkId): IndexEntry | undefined
  /** True when some merged index object names chunk `id` (cheaper than `get`). */
  has(id: ChunkId): boolean
  /** The keys of the index objects merged so far. */
  indexObjects(): ReadonlySet<string>
  /** Merges the entries of index object `key`, atomically with recording `key`. */
  addIndexObject(key: string, entries: readonly IndexEntry[]): void
  /** Merges several index objects in one atomic step (on disk: one commit, one sync). */
  addIndexObjects(objects: readonly IndexObjectEntries[]): void
  /** Every entry, each chunk once. */
  entries(): Iterable<IndexEntry>
  /** How many chunks the index names. */
  readonly size: number
  /** Forgets everything (the next open rebuilds from the index objects). */
  clear(): void
  /** Resolves once every change so far is on stable storage (a cache on disk), at once in memory. */
  flushed(): Promise<void>
  close(): Promise<void>
}

/** A `ChunkIndex` held in memory: rebuilt from the index objects every time a store opens. */
export class MemoryChunkIndex implements ChunkIndex {
  readonly #entries = new Map<ChunkId, IndexEntry>()
  readonly #objects = new Set<string>()

  get size(): number {
    return this.#entries.size
  }

  get(id: ChunkId): IndexEntry | undefined {
    return this.#entries.get(id)
  }

  has(id: ChunkId): boolean {
    return this.#entries.has(id)
  }

  indexObjects(): ReadonlySet<string> {
    return this.#objects
  }

  addIndexObject(key: string, entries: readonly IndexEntry[]): void {
    for (const entry of entries) this.#entries.set(entry.chunkId, entry)
    this.#objects.add(key)
  }

  addIndexObjects(objects: readonly IndexObjectEntries[]): void {
    for (const { key, entries } of objects) this.addIndexObject(key, entries)
  }

  entries(): Iterable<IndexEntry> {
    return this.#entries.values()
  }

  clear(): void {
    this.#entries.clear()
    this.#objects.clear()
  }

  flushed(): Promise<void> {
    return Promise.resolve()
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}
