/**
 * Manifests in a BlobStore, at `manifests/<checkpoint id>`: put once (if absent), never changed.
 * A checkpoint exists exactly when its manifest does (the commit protocol puts it last).
 *
 * A chain is loaded by following parents down to the full manifest, checking on the way that
 * each delta's depth is its parent's plus one: a chain cannot loop or grow past its recorded
 * depth, and a missing or damaged link is an error naming it, never a shorter state.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { CheckpointId } from '../core/ids.js'
import { parseCheckpointId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { computeChunkId } from '../chunkstore/chunk-id.js'
import { checkManifestEnvelope, decodeManifest, encodeManifest } from './manifest.js'
import type { Manifest } from './manifest.js'

const PREFIX = 'manifests/'

export function manifestKey(id: CheckpointId): string {
  return `${PREFIX}${id}`
}

export interface StoredManifest {
  readonly id: CheckpointId
  readonly manifest: Manifest
}

/** Puts a manifest (if absent: the same id is the same bytes); resolves once it is durable. */
export async function putManifest(blobs: BlobStore, manifest: Manifest): Promise<StoredManifest> {
  const { id, bytes } = encodeManifest(manifest)
  try {
    await blobs.put(manifestKey(id), bytes, { ifAbsent: true })
  } catch (error) {
    if (!isCairnError(error, 'ALREADY_EXISTS')) throw error
  }
  return { id, manifest }
}

/** A manifest by id: `NOT_FOUND`, or `CORRUPT_OBJECT` when its bytes do not hash to its id or do not decode. */
export async function loadManifest(blobs: BlobStore, id: CheckpointId): Promise<StoredManifest> {
  const bytes = await manifestBytes(blobs, id)
  return { id, manifest: decodeManifest(bytes, manifestKey(id)) }
}

/** Checks a manifest is intact (it hashes to its id, its envelope and CRC check) without parsing it. */
export async function checkManifest(blobs: BlobStore, id: CheckpointId): Promise<void> {
  checkManifestEnvelope(await manifestBytes(blobs, id), manifestKey(id))
}

/** A manifest's bytes, checked against its id. */
async function manifestBytes(blobs: BlobStore, id: CheckpointId): Promise<Uint8Array> {
  const key = manifestKey(id)
  let bytes: Uint8Array
  try {
    bytes = await blobs.get(key)
  } catch (error) {
    if (isCairnError(error, 'NOT_FOUND')) {
      throw new CairnError('NOT_FOUND', `no checkpoint ${id.slice(0, 8)}`, {
        op: 'manifest.read',
        path: key,
        checkpoint: id,
      })
    }
    throw error
  }
  // The id is the BLAKE3 of these very bytes: hashing them is the whole check.
  if ((computeChunkId(bytes) as string) !== id) {
    throw new CairnError('CORRUPT_OBJECT', 'manifest does not hash to its id', {
      op: 'manifest.read',
      path: key,
      checkpoint: id,
    })
  }
  return bytes
}

/** The ids of every manifest in the store, in no set order. */
export async function listManifestIds(blobs: BlobStore): Promise<CheckpointId[]> {
  const ids: CheckpointId[] = []
  for await (const { key } of blobs.list(PREFIX)) {
    const name = key.slice(PREFIX.length)
    try {
      ids.push(parseCheckpointId(name, 'manifest.list'))
    } catch {
      // Not a manifest (a stray file): ignored here, reported by verify.
    }
  }
  return ids
}

/** The chain of `id`: its full manifest first, then each delta up to `id` itself. */
/** Where loadChain finds manifests read before, and keeps those it reads (a Map, or a bounded cache). */
export interface ManifestLookup {
  get(id: CheckpointId): StoredManifest | undefined
  set(id: CheckpointId, stored: StoredManifest): void
}

export async function loadChain(
  blobs: BlobStore,
  id: CheckpointId,
  cache: ManifestLookup = new Map(),
): Promise<StoredManifest[]> {
  const chain: StoredManifest[] = []
  let next: CheckpointId | undefined = id
  let expectedDepth: number | undefined
  while (next !== undefined) {
    const stored: StoredManifest = cache.get(next) ?? (await loadManifest(blobs, next))
    cache.set(next, stored)
    const depth = stored.manifest.kind === 'full' ? 0 : stored.manifest.depth
    if (expectedDepth !== undefined && depth !== expectedDepth) {
      throw new CairnError(
        'CORRUPT_OBJECT',
        `chain depth ${String(depth)} where ${String(expectedDepth)} was due`,
        {
          op: 'manifest.chain',
          path: manifestKey(next),
          checkpoint: id,
        },
      )
    }
    chain.unshift(stored)
    expectedDepth = depth - 1
    next = stored.manifest.kind === 'delta' ? stored.manifest.parent : undefined
  }
  return chain
}
