/**
 * The chunk store's read side: a chunk, an entry as a stream or as bytes (read-entry.ts), or an
 * entry written straight into a file (read-to-file.ts). Durable chunks are located in the index
 * and checked against the length the entry recorded; pending ones (pack-pipeline.ts) are read
 * from memory.
 */
import { CairnError } from '../core/errors.js'
import type { ChunkId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import type { ChunkWork } from './chunk-work.js'
import { decodeChunk } from './codec.js'
import type { IndexEntry } from './index-object.js'
import type { ChunkRef } from './ingest.js'
import type { PackPipeline } from './pack-pipeline.js'
import { readEntryChunks } from './read-entry.js'
import { layOut, readIntoFile, writeAt } from './read-to-file.js'
import type { EntryPiece, Placement } from './read-to-file.js'

export class EntryReader {
  readonly #blobs: BlobStore
  readonly #work: ChunkWork
  readonly #packs: PackPipeline
  /** A durable chunk's index entry, or undefined. */
  readonly #lookUp: (id: ChunkId) => IndexEntry | undefined

  constructor(init: {
    readonly blobs: BlobStore
    readonly work: ChunkWork
    readonly packs: PackPipeline
    readonly lookUp: (id: ChunkId) => IndexEntry | undefined
  }) {
    this.#blobs = init.blobs
    this.#work = init.work
    this.#packs = init.packs
    this.#lookUp = init.lookUp
  }

  /** A chunk's raw bytes, checked against its id. */
  async readChunk(ref: ChunkRef): Promise<Uint8Array> {
    const pending = this.#packs.pending(ref.id)
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
    const [bytes] = await collect(readEntryChunks(this.#blobs, this.#work, this.#locate([ref])))
    return bytes ?? new Uint8Array(0)
  }

  /** An entry's bytes as a stream of pieces (about a chunk each), in bounded memory. */
  async *readEntry(chunks: readonly ChunkRef[]): AsyncGenerator<Uint8Array> {
    // Runs of durable chunks are read together (read-entry.ts plans their ranged gets); pending ones one by one.
    let run: ChunkRef[] = []
    for (const ref of chunks) {
      if (this.#packs.isPending(ref.id)) {
        if (run.length > 0) yield* readEntryChunks(this.#blobs, this.#work, this.#locate(run))
        run = []
        yield await this.readChunk(ref)
      } else {
        run.push(ref)
      }
    }
    if (run.length > 0) yield* readEntryChunks(this.#blobs, this.#work, this.#locate(run))
  }

  /** `ChunkStore.writeEntryToFile`, once its arguments are checked. */
  async writeEntryToFile(
    pieces: readonly EntryPiece[],
    fd: number,
    onBytes?: (bytes: number) => void,
  ): Promise<number> {
    const { placed, length, zeros } = layOut(pieces)
    const packs = this.#packs
    const none = packs.pendingCount === 0
    const durable = none ? placed : placed.filter((item) => !packs.isPending(item.ref.id))
    const pending = none ? [] : placed.filter((item) => packs.isPending(item.ref.id))
    // Located as the restore reaches them, window by window, while the gets of the windows before
    // run: not all up front (~110 ms of index lookups for the bench's 288 MB version, ~15,000
    // chunks, before its first get started).
    const locate = (ref: ChunkRef) => this.#locateOne(ref)
    function* placements(): Generator<Placement> {
      for (const { ref, from, to, at } of durable) yield { entry: locate(ref), from, to, at }
    }
    await readIntoFile(this.#blobs, this.#work, placements(), fd, length, onBytes)
    // Chunks not yet in a pack are read from memory, on this thread.
    for (const item of pending) {
      const raw = (await this.readChunk(item.ref)).subarray(item.from, item.to)
      await writeAt(fd, raw, item.at)
      onBytes?.(raw.length)
    }
    // The runs of zeros are in the file (as holes) since it was sized: progress adds up to its length.
    if (zeros > 0) onBytes?.(zeros)
    return length
  }

  /** The index entries of durable chunks, checked against the lengths the entry recorded. */
  #locate(refs: readonly ChunkRef[]): { ref: ChunkRef; entry: IndexEntry }[] {
    return refs.map((ref) => ({ ref, entry: this.#locateOne(ref) }))
  }

  /** A durable chunk's index entry, checked against the length the entry recorded. */
  #locateOne(ref: ChunkRef): IndexEntry {
    const entry = this.#lookUp(ref.id)
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
}

function missing(id: ChunkId, why: string): CairnError {
  return new CairnError('MISSING_CHUNK', `chunk ${id.slice(0, 8)} ${why}`, {
    op: 'chunk.read',
    path: `chunks/${id}`,
  })
}

async function collect(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const piece of pieces) out.push(piece)
  return out
}
