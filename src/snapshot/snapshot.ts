/**
 * A snapshot as users read it: the full state at a checkpoint, whatever its chain, read entry by
 * entry from the chunk store (whole, or as a stream in bounded memory).
 */
import { CairnError } from '../core/errors.js'
import type { CheckpointId, ChunkId } from '../core/ids.js'
import type { ChunkStore } from '../chunkstore/chunk-store.js'
import type { StoredManifest } from './catalog.js'
import { chunksOfPieces, readPieces, resolveChain } from './compose.js'
import type { ResolvedEntry } from './compose.js'
import type { JsonValue } from './manifest.js'

/** What `checkpoint()` returns and `checkpoints()` lists. */
export interface CheckpointInfo {
  readonly id: CheckpointId
  readonly lsn: number
  readonly kind: 'full' | 'delta'
  readonly parent?: CheckpointId
  readonly createdAt: Date
  readonly tags: readonly string[]
  readonly metrics: Readonly<Record<string, number>>
  readonly meta: JsonValue
  readonly logicalBytes: number
  readonly newBytes: number
  readonly storedBytes: number
}

export function infoOf({ id, manifest }: StoredManifest): CheckpointInfo {
  return {
    id,
    lsn: manifest.lsn,
    kind: manifest.kind,
    ...(manifest.kind === 'delta' ? { parent: manifest.parent } : {}),
    createdAt: new Date(manifest.createdAt),
    tags: manifest.tags,
    metrics: manifest.metrics,
    meta: manifest.meta,
    logicalBytes: manifest.logicalBytes,
    newBytes: manifest.newBytes,
    storedBytes: manifest.storedBytes,
  }
}

export class Snapshot {
  readonly info: CheckpointInfo
  readonly #entries: ReadonlyMap<string, ResolvedEntry>
  readonly #chunks: ChunkStore

  /** Composes `chain` (the full manifest first) over `chunks`. */
  constructor(chain: readonly StoredManifest[], chunks: ChunkStore) {
    const newest = chain[chain.length - 1]
    if (newest === undefined)
      throw new CairnError('NOT_FOUND', 'an empty chain has no snapshot', { op: 'snapshot.open' })
    this.info = infoOf(newest)
    this.#entries = resolveChain(chain)
    this.#chunks = chunks
  }

  /** The entry names, sorted. */
  entries(): Promise<string[]> {
    return Promise.resolve([...this.#entries.keys()].sort())
  }

  /** An entry's length in bytes. */
  size(name: string): number {
    return this.#entry(name).length
  }

  /** An entry's bytes, whole. */
  async read(name: string): Promise<Uint8Array> {
    const entry = this.#entry(name)
    const out = new Uint8Array(entry.length)
    let at = 0
    for await (const piece of this.stream(name)) {
      out.set(piece, at)
      at += piece.length
    }
    return out
  }

  /** An entry's bytes as a stream, in bounded memory; every chunk is checked against its id. */
  stream(name: string): AsyncIterable<Uint8Array> {
    const entry = this.#entry(name)
    const chunks = this.#chunks.readEntry(chunksOfPieces(entry.pieces))
    return readPieces(entry.pieces, chunks)
  }

  /**
   * Writes an entry into the open file `fd`, which becomes the entry (sized to it; runs of zeros
   * are holes): each chunk is decoded, checked and written by a worker thread, so a restore to
   * disk runs at the speed of the pool. `fd` must be a regular file not opened for appending,
   * and stay open until the promise settles, failure included. `onBytes` hears of every byte
   * once. Resolves with the entry's length.
   */
  async writeToFile(name: string, fd: number, onBytes?: (bytes: number) => void): Promise<number> {
    const entry = this.#entry(name)
    return await this.#chunks.writeEntryToFile(entry.pieces, fd, onBytes === undefined ? {} : { onBytes })
  }

  /** The resolved entries (for verify and GC: every chunk this snapshot reaches). */
  resolved(): ReadonlyMap<string, ResolvedEntry> {
    return this.#entries
  }

  /** Every chunk this snapshot reads, once. */
  chunkIds(): Set<ChunkId> {
    const ids = new Set<ChunkId>()
    for (const entry of this.#entries.values()) {
      for (const piece of entry.pieces) if (!('zeros' in piece)) ids.add(piece.chunk.id)
    }
    return ids
  }

  #entry(name: string): ResolvedEntry {
    const entry = this.#entries.get(name)
    if (entry === undefined) {
      throw new CairnError('NOT_FOUND', `no entry ${JSON.stringify(name)} in this snapshot`, {
        op: 'snapshot.read',
        checkpoint: this.info.id,
      })
    }
    return entry
  }
}
