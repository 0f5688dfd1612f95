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
 * with `patches` (in offset order, not overlapping, within `length`) written over it.
 */
export function applyPatches(
  pieces: readonly Piece[],
  oldLength: number,
  length: number,
  patches: readonly ManifestPatch[],
): Piece[] {
  const out: Piece[] = []
  let at = 0 // bytes of the resized entry emitted
  let index = 0 // the old piece being read
  let within = 0 // bytes of it already used
  /** Copies the old content (then zeros past its end) up to `until`. */
  const copyTo = (until: number) => {
    while (at < until) {
      if (at >= oldLength || index >= pieces.length) {
        push(out, { zeros: until - at })
        at = until
        return
      }
      const piece = pieces[index] as Piece
      const take = Math.min(pieceLength(piece) - within, until - at)
      push(out, slicePiece(piece, within, within + take))
      at += take
      within += take
      if (within === pieceLength(piece)) {
        index++
        within = 0
      }
    }
  }
  /** Skips `bytes` of the old content (what a patch overwrites). */
  const skip = (bytes: number) => {
    let left = bytes
    while (left > 0 && index < pieces.length) {
      const piece = pieces[index] as Piece
      const take = Math.min(pieceLength(piece) - within, left)
      left -= take
      within += take
      if (within === pieceLength(piece)) {
        index++
        within = 0
      }
    }
  }
  for (const patch of patches) {
    copyTo(patch.offset)
    for (const piece of wholeChunks(patch.chunks)) push(out, piece)
    skip(Math.max(0, Math.min(oldLength, patch.offset + patch.length) - patch.offset))
    at = patch.offset + patch.length
  }
  copyTo(length)
  return out
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
          pieces: applyPatches(old.pieces, old.length, entry.length, entry.patches),
        })
      }
    }
    for (const entry of manifest.entries) {
      state.set(entry.name, { name: entry.name, length: entry.length, pieces: wholeChunks(entry.chunks) })
    }
  }
  return state
}

/** The chunks an entry's pieces read, in order (a chunk read once for adjacent pieces of it). */
export function chunksOfPieces(pieces: readonly Piece[]): ChunkRef[] {
  const refs: ChunkRef[] = []
  let last: Piece | undefined
  for (const piece of pieces) {
    if ('zeros' in piece) continue
    const previous = last
    last = piece
    if (
      previous !== undefined &&
      !('zeros' in previous) &&
      previous.chunk === piece.chunk &&
      previous.to <= piece.from
    )
      continue
    refs.push(piece.chunk)
  }
  return refs
}

/** Streams an entry's bytes: `chunks` yields the raw bytes of `chunksOfPieces(pieces)`, in order. */
export async function* readPieces(
  pieces: readonly Piece[],
  chunks: AsyncIterator<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  let current: { ref: ChunkRef; bytes: Uint8Array } | undefined
  let lastPiece: Piece | undefined
  const zeros = new Uint8Array(64 * 1024)
  for (const piece of pieces) {
    if ('zeros' in piece) {
      for (let left = piece.zeros; left > 0; left -= zeros.length)
        yield zeros.slice(0, Math.min(left, zeros.length))
      continue
    }
    const reuse =
      current !== undefined &&
      lastPiece !== undefined &&
      !('zeros' in lastPiece) &&
      lastPiece.chunk === piece.chunk &&
      lastPiece.to <= piece.from
    lastPiece = piece
    if (!reuse) {
      const next = await chunks.next()
      if (next.done === true) {
        throw new CairnError('MISSING_CHUNK', 'an entry ended before its pieces did', { op: 'snapshot.read' })
      }
      current = { ref: piece.chunk, bytes: next.value }
    }
    if (current === undefined) continue
    yield current.bytes.subarray(piece.from, piece.to)
  }
}
