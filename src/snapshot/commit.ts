/**
 * Building a checkpoint's manifest: its entries stored in the chunk store, and the manifest that
 * names them, full or delta. The commit protocol around it (store.ts): chunks flushed (packs, then
 * index objects), then the manifest put; the checkpoint exists exactly when its manifest does.
 *
 * The chain policy keeps restore bounded: a delta becomes a full snapshot when the chain would
 * grow past `maxChainLength`, or when the chain's deltas would together hold more new bytes than
 * `maxDeltaShare` of their base's state. A full snapshot made that way re-stores nothing that is
 * already stored: its entries are cut again and deduplicated.
 */
import { CairnError } from '../core/errors.js'
import type { ChunkRef, ChunkStore, PutEntryResult } from '../chunkstore/chunk-store.js'
import type { EntrySource } from '../chunkstore/source.js'
import type { StoredManifest } from './catalog.js'
import { chunksOfPieces, readPieces, resolveChain } from './compose.js'
import type { Piece } from './compose.js'
import { parseEntryName } from './entry-name.js'
import type {
  DeltaManifest,
  FullManifest,
  JsonValue,
  Manifest,
  ManifestEntry,
  ManifestPatch,
  PatchedEntry,
} from './manifest.js'

export interface ChainPolicy {
  /** The most deltas a chain may hold (default 16). */
  readonly maxChainLength: number
  /** The most new bytes a chain's deltas may hold together, as a share of their base (default 0.5). */
  readonly maxDeltaShare: number
}

export const CHAIN_POLICY_DEFAULTS: ChainPolicy = { maxChainLength: 16, maxDeltaShare: 0.5 }

export interface CheckpointRequest {
  /** The state covers every log record <= lsn. */
  readonly lsn: number
  /** Entries added or replaced whole. */
  readonly entries?: Readonly<Record<string, EntrySource>>
  /** Entries of the parent that are gone (a delta only). */
  readonly deleted?: readonly string[]
  /** Bytes written into entries of the parent, which they may extend (a delta only). */
  readonly patches?: Readonly<
    Record<string, readonly { readonly offset: number; readonly data: Uint8Array }[]>
  >
  readonly tags?: readonly string[]
  readonly metrics?: Readonly<Record<string, number>>
  readonly meta?: JsonValue
}

function badOption(why: string): CairnError {
  return new CairnError('BAD_OPTION', why, { op: 'store.checkpoint' })
}

interface Totals {
  logicalBytes: number
  newBytes: number
  storedBytes: number
}

function count(totals: Totals, put: PutEntryResult): void {
  totals.logicalBytes += put.logicalBytes
  totals.newBytes += put.newBytes
  totals.storedBytes += put.storedBytes
}

/**
 * Stores the request's bytes and returns its manifest: full when there is no parent (or the chain
 * policy says so), else a delta on `parentChain` (the parent's chain, its full manifest first).
 */
export async function buildManifest(
  chunks: ChunkStore,
  request: CheckpointRequest,
  parentChain: readonly StoredManifest[] | undefined,
  policy: ChainPolicy,
  now: number,
): Promise<Manifest> {
  if (!Number.isSafeInteger(request.lsn) || request.lsn < 0)
    throw badOption('lsn must be a non-negative integer')
  const names = Object.keys(request.entries ?? {}).map((name) => parseEntryName(name, 'store.checkpoint'))
  const deleted = (request.deleted ?? []).map((name) => parseEntryName(name, 'store.checkpoint'))
  const patchedNames = Object.keys(request.patches ?? {}).map((name) =>
    parseEntryName(name, 'store.checkpoint'),
  )
  const seen = new Set<string>()
  for (const name of [...names, ...deleted, ...patchedNames]) {
    if (seen.has(name))
      throw badOption(`entry ${JSON.stringify(name)} is named twice (entries, deleted, patches)`)
    seen.add(name)
  }
  if (parentChain === undefined && (deleted.length > 0 || patchedNames.length > 0)) {
    throw badOption('deleted and patches need a parent checkpoint')
  }
  const metrics = request.metrics ?? {}
  for (const [key, value] of Object.entries(metrics)) {
    if (!Number.isFinite(value)) throw badOption(`metric ${JSON.stringify(key)} is not a finite number`)
  }
  const common = {
    lsn: request.lsn,
    createdAt: now,
    tags: [...(request.tags ?? [])],
    metrics: { ...metrics },
    meta: request.meta ?? null,
  }

  // The entries stored whole.
  const totals: Totals = { logicalBytes: 0, newBytes: 0, storedBytes: 0 }
  const entries: ManifestEntry[] = []
  for (const name of names) {
    const source = (request.entries ?? {})[name] as EntrySource
    const put = await chunks.putEntry(source, { name })
    count(totals, put)
    entries.push({ name, length: put.logicalBytes, chunks: put.chunks })
  }

  if (parentChain === undefined) {
    const full: FullManifest = { kind: 'full', ...common, ...totals, entries: sortByName(entries) }
    return full
  }

  // A delta: patches stored, each write as a chunk list of its own.
  const parentState = resolveChain(parentChain)
  const patched: PatchedEntry[] = []
  for (const name of patchedNames) {
    const old = parentState.get(name)
    if (old === undefined)
      throw badOption(`patches name ${JSON.stringify(name)}, which the parent does not have`)
    const writes = [...((request.patches ?? {})[name] ?? [])].sort((a, b) => a.offset - b.offset)
    const patches: ManifestPatch[] = []
    let end = 0
    for (const write of writes) {
      if (!Number.isSafeInteger(write.offset) || write.offset < 0)
        throw badOption('a patch offset must be a non-negative integer')
      if (!(write.data instanceof Uint8Array) || write.data.length === 0)
        throw badOption('a patch must write some bytes')
      if (write.offset < end) throw badOption(`patches of ${JSON.stringify(name)} overlap`)
      patches.push({ offset: write.offset, length: write.data.length })
      end = write.offset + write.data.length
    }
    // The writes' bytes back to back, as one stream: small writes share chunks.
    const put = await chunks.putEntry(
      writes.map((write) => write.data),
      { name },
    )
    count(totals, put)
    patched.push({ name, length: Math.max(old.length, end), data: put.chunks, patches })
  }
  for (const name of deleted) {
    if (!parentState.has(name))
      throw badOption(`deletes ${JSON.stringify(name)}, which the parent does not have`)
  }

  const parent = parentChain[parentChain.length - 1] as StoredManifest
  const base = parentChain[0]?.manifest.logicalBytes ?? 0
  const deltaBytes =
    parentChain.slice(1).reduce((sum, link) => sum + link.manifest.newBytes, 0) + totals.newBytes
  const depth = parentChain.length // the parent's deltas, plus this one
  const delta: DeltaManifest = {
    kind: 'delta',
    ...common,
    ...totals,
    parent: parent.id,
    depth,
    entries: sortByName(entries),
    deleted: [...deleted].sort(),
    patched: patched.sort((a, b) => (a.name < b.name ? -1 : 1)),
  }
  if (depth <= policy.maxChainLength && deltaBytes <= policy.maxDeltaShare * Math.max(1, base)) return delta
  return asFull(
    chunks,
    [...parentChain, { id: '(this checkpoint)' as StoredManifest['id'], manifest: delta }],
    common,
    totals,
  )
}

/** The state of `chain` as a full manifest: entries that are not whole chunks are stored again (deduplicated). */
async function asFull(
  chunks: ChunkStore,
  chain: readonly StoredManifest[],
  common: Omit<FullManifest, 'kind' | 'entries' | 'logicalBytes' | 'newBytes' | 'storedBytes'>,
  totals: Totals,
): Promise<FullManifest> {
  const entries: ManifestEntry[] = []
  let logicalBytes = 0
  for (const entry of resolveChain(chain).values()) {
    logicalBytes += entry.length
    const whole = wholeChunksOf(entry.pieces)
    if (whole !== undefined) {
      entries.push({ name: entry.name, length: entry.length, chunks: whole })
      continue
    }
    const bytes = readPieces(entry.pieces, chunks.readEntry(chunksOfPieces(entry.pieces)))
    const put = await chunks.putEntry(bytes, { name: entry.name })
    totals.newBytes += put.newBytes
    totals.storedBytes += put.storedBytes
    entries.push({ name: entry.name, length: put.logicalBytes, chunks: put.chunks })
  }
  return {
    kind: 'full',
    ...common,
    logicalBytes,
    newBytes: totals.newBytes,
    storedBytes: totals.storedBytes,
    entries: sortByName(entries),
  }
}

/** The chunk list of pieces that are all whole chunks, or undefined when some is a range or zeros. */
function wholeChunksOf(pieces: readonly Piece[]): ChunkRef[] | undefined {
  const chunks: ChunkRef[] = []
  for (const piece of pieces) {
    if ('zeros' in piece || piece.from !== 0 || piece.to !== piece.chunk.length) return undefined
    chunks.push(piece.chunk)
  }
  return chunks
}

function sortByName<T extends { readonly name: string }>(items: T[]): T[] {
  return items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}
