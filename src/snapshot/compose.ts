/**
 * The state at a checkpoint: its chain (the full manifest, then each delta on it) composed into
 * one piece list per entry, without copying any entry. A piece is a byte range of a chunk or a
 * run of zeros (what an entry extended past its end by a patch holds before the patch).
 *
 * Composing is O(chunks + patches) and touches no data; reading an entry streams its pieces'
 * chunks through the chunk store (runs of adjacent chunks read together, each checked against
 * its id) and slices them, in bounded memory.
 *
 * A chain that does not fit together (a delta that deletes or patches an entry its parent does
 * not have, a chain not starting with a full manifest) is `CORRUPT_OBJECT` naming the manifest.
 */
import { CairnError } from '../core/errors.js'
import type { ChunkRef } from '../chunkstore/ingest.js'
import type { Manifest, ManifestPatch } from './manifest.js'

/** Bytes `[from, to)` of a chunk, or `zeros` zero bytes. */
export type Piece =
  { readonly chunk: ChunkRef; readonly from: number; readonly to: number } | { readonly zeros: number }

export interface ResolvedEntry {
  readonly name: string
  readonly length: number
  readonly pieces: readonly Piece[]
}

function pieceLength(piece: Piece): number {
  return 'zeros' in piece ? piece.zeros : piece.to - piece.from
}

/** Bytes `[from, to)` of a piece (relative to the piece). */
function slicePiece(piece: Piece, from: number, to: number): Piece {
  return 'zeros' in piece
    ? { zeros: to - from }
    : { chunk: piece.chunk, from: piece.from + from, to: piece.from + to }
}

function wholeChunks(chunks: readonly ChunkRef[]): Piece[] {
  return chunks.map((chunk) => ({ chunk, from: 0, to: chunk.length }))
}

/** Appends a piece, merging runs of zeros and adjacent ranges of one chunk. */
function push(out: Piece[], piece: Piece): void {
  if (pieceLength(piece) === 0) return
  const last = out[out.length - 1]
  if (last !== undefined && 'zeros' in last && 'zeros' in piece) {
    out[out.length - 1] = { zeros: last.zeros + piece.zeros }
  } else if (
    last !== undefined &&
    !('zeros' in last) &&
    !('zeros' in piece) &&
    last.chunk === piece.chunk &&
    last.to === piece.from
  ) {
    out[out.length - 1] = { chunk: last.chunk, from: last.from, to: piece.to }
  } else {
    out.push(piece)
  }
}

/**
 * `pieces` (an entry of `oldLength` bytes) resized to `length` (cut, or extended with zeros) and
 * with `patches` (in offset order, not overlapping, within `length`) written over it, their bytes
 * taken in turn from `data`.
 */
export function applyPatches(
  pieces: readonly Piece[],
  oldLength: number,
  length: number,
  patches: readonly ManifestPatch[],
  data: readonly ChunkRef[],
): Piece[] {
  const out: Piece[] = []
  const old = new Cursor(pieces)
  const source = new Cursor(wholeChunks(data))
  let at = 0 // bytes of the resized entry emitted
  /** Copies the old content (then zeros past its end) up to `until`. */
  const copyTo = (until: number) => {
    const fromOld = Math.max(0, Math.min(until, oldLength) - at)
    old.take(fromOld, out)
    if (until > at + fromOld) push(out, { zeros: until - at - fromOld })
    at = until
  }
  for (const patch of patches) {
    copyTo(patch.offset)
    source.take(patch.length, out)
    old.skip(Math.max(0, Math.min(oldLength, patch.offset + patch.length) - patch.offset))
    at = patch.offset + patch.length
  }
  copyTo(length)
  return out
}

/** Reads a piece list front to back, in slices. */
class Cursor {
  readonly #pieces: readonly Piece[]
  #index = 0
  #within = 0

  constructor(pieces: readonly Piece[]) {
    this.#pieces = pieces
  }

  /** Appends the next `bytes` bytes to `out`. */
  take(bytes: number, out: Piece[]): void {
    this.#walk(bytes, (piece, from, to) => {
      push(out, slicePiece(piece, from, to))
    })
  }

  skip(bytes: number): void {
    this.#walk(bytes, () => undefined)
  }

  #walk(bytes: number, visit: (piece: Piece, from: number, to: number) => void): void {
    let left = bytes
    while (left > 0 && this.#index < this.#pieces.length) {
      const piece = this.#pieces[this.#index] as Piece
      const take = Math.min(pieceLength(piece) - this.#within, left)
      visit(piece, this.#within, this.#within + take)
      left -= take
      this.#within += take
      if (this.#within === pieceLength(piece)) {
        this.#index++
        this.#within = 0
      }
    }
  }
}

/** The entries at the newest manifest of `chain` (the full manifest first, then each delta). */
export function resolveChain(
  chain: readonly { readonly id: string; readonly manifest: Manifest }[],
): Map<string, ResolvedEntry> {
  const corrupt = (id: string, why: string) =>
    new CairnError('CORRUPT_OBJECT', `manifest ${why}`, {
      op: 'snapshot.resolve',
      path: `manifests/${id}`,
      checkpoint: id,
    })
  const first = chain[0]
  if (first?.manifest.kind !== 'full')
    throw corrupt(first?.id ?? '(none)', 'chain does not start with a full manifest')
  const state = new Map<string, ResolvedEntry>()
  for (const { id, manifest } of chain) {
    if (manifest.kind === 'delta') {
      for (const name of manifest.deleted) {
        if (!state.delete(name))
          throw corrupt(id, `deletes ${JSON.stringify(name)}, which its parent does not have`)
      }
      for (const entry of manifest.patched) {
        const old = state.get(entry.name)
        if (old === undefined)
          throw corrupt(id, `patches ${JSON.stringify(entry.name)}, which its parent does not have`)
        state.set(entry.name, {
          name: entry.name,
          length: entry.length,
          pieces: applyPatches(old.pieces, old.length, entry.length, entry.patches, entry.data),
        })
      }
    }
    for (const entry of manifest.entries) {
      state.set(entry.name, { name: entry.name, length: entry.length, pieces: wholeChunks(entry.chunks) })
    }
  }
  return state
}

/** How many bytes of recently read chunks a reader keeps, so a chunk that pieces come back to is read once. */
const WINDOW_BYTES = 8 * 1024 * 1024

/**
 * The chunks a reader keeps: least recently used out first, within `WINDOW_BYTES`. Deciding from
 * ids and lengths only, it decides the same way when listing the chunks to fetch
 * (`chunksOfPieces`) and when reading them (`readPieces`).
 */
class ChunkWindow {
  readonly #held = new Map<string, Uint8Array | undefined>()
  readonly #lengths = new Map<string, number>()
  #bytes = 0

  /** True when `ref` must be fetched (it is not held); either way it is now the most recent. */
  admit(ref: ChunkRef): boolean {
    if (this.#held.has(ref.id)) {
      const bytes = this.#held.get(ref.id)
      this.#held.delete(ref.id)
      this.#held.set(ref.id, bytes)
      return false
    }
    this.#held.set(ref.id, undefined)
    this.#lengths.set(ref.id, ref.length)
    this.#bytes += ref.length
    for (const [id] of this.#held) {
      if (this.#bytes <= WINDOW_BYTES || this.#held.size <= 1) break
      this.#held.delete(id)
      this.#bytes -= this.#lengths.get(id) ?? 0
      this.#lengths.delete(id)
    }
    return true
  }

  keep(ref: ChunkRef, bytes: Uint8Array): void {
    if (this.#held.has(ref.id)) this.#held.set(ref.id, bytes)
  }

  get(ref: ChunkRef): Uint8Array | undefined {
    return this.#held.get(ref.id)
  }
}

/** The chunks an entry's pieces read, in order: each once while a reader still holds it. */
export function chunksOfPieces(pieces: readonly Piece[]): ChunkRef[] {
  const refs: ChunkRef[] = []
  const window = new ChunkWindow()
  for (const piece of pieces) {
    if (!('zeros' in piece) && window.admit(piece.chunk)) refs.push(piece.chunk)
  }
  return refs
}

/** Streams an entry's bytes: `chunks` yields the raw bytes of `chunksOfPieces(pieces)`, in order. */
export async function* readPieces(
  pieces: readonly Piece[],
  chunks: AsyncIterator<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const window = new ChunkWindow()
  const zeros = new Uint8Array(64 * 1024)
  for (const piece of pieces) {
    if ('zeros' in piece) {
      for (let left = piece.zeros; left > 0; left -= zeros.length)
        yield zeros.slice(0, Math.min(left, zeros.length))
      continue
    }
    if (window.admit(piece.chunk)) {
      const next = await chunks.next()
      if (next.done === true) {
        throw new CairnError('MISSING_CHUNK', 'an entry ended before its pieces did', { op: 'snapshot.read' })
      }
      window.keep(piece.chunk, next.value)
    }
    const bytes = window.get(piece.chunk)
    if (bytes === undefined) throw new Error('a chunk admitted to the window is held')
    yield bytes.subarray(piece.from, piece.to)
  }
}
