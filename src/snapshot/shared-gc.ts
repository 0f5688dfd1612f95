/**
 * Garbage collection in an object store that several stores share (machines writing checkpoints
 * under one bucket, deduplicating against each other's chunks), safe beside their writers with no
 * lock at all, so no crashed machine can hold one forever. Two phases, a run apart
 * (gc-records.ts has the records; docs/SHARED.md the protocol and its argument):
 *
 * 1. **Condemn.** List every store's manifests and tombstones; mark the chunks of every
 *    checkpoint kept (not tombstoned past `graceMs`, and every link of their chains); repack
 *    mostly dead packs (copies first, nothing deleted); put `gc/<run>/condemned` naming the packs
 *    that hold no live chunk and the expired manifests. Writers that begin after it exclude them.
 * 2. **Delete**, in a later run, once the condemnation is `deleteAfterMs` old: put
 *    `gc/<run>/deleting`, then list the manifests AGAIN and mark again. A condemned manifest is
 *    deleted only if no kept chain needs it now; a condemned pack only if every chunk in it live
 *    now has a safe copy elsewhere (condemned-delete.ts). Then `gc/<run>/done`.
 *
 * Why no committed checkpoint loses a chunk (invariant I9): a checkpoint put before the second
 * listing is marked by it. One put after it was put after the `deleting` marker, so its writer,
 * reading `gc/` after its put, finds a marker it had not seen and withdraws the checkpoint if the
 * run condemned anything it stands on (commit-guard.ts). A writer that began after the
 * condemnation never deduplicated against it. Markers stay `markerRetentionMs` after their run
 * finishes; a writer slower than that (less twice the allowed clock skew) withdraws too.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { CheckpointId, ChunkId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { prefixedBlobs } from '../core/prefixed-blobs.js'
import type { ChunkStore } from '../chunkstore/chunk-store.js'
import { listManifestIds, loadManifest, manifestKey } from './catalog.js'
import type { StoredManifest } from './catalog.js'
import type { SharedTiming } from './commit-guard.js'
import {
  activeRuns,
  condemnedByActiveRuns,
  loadCondemnation,
  manifestRefKey,
  markerTime,
  newRunName,
  putCondemnation,
  putMarker,
  readGcState,
  removeRun,
} from './gc-records.js'
import type { Condemnation, ManifestRef } from './gc-records.js'
import type { Manifest } from './manifest.js'
import { listTombstones } from './tombstones.js'
import type { Tombstone } from './tombstones.js'

export const STORES_PREFIX = 'stores/'

/** A store's own objects in the shared object store: `stores/<name>/`. */
export function storeView(root: BlobStore, name: string): BlobStore {
  return prefixedBlobs(root, `${STORES_PREFIX}${name}/`)
}

export interface SharedGcReport {
  readonly packsDeleted: number
  readonly packsRepacked: number
  readonly bytesFreed: number
  readonly chunksLive: number
  readonly chunksDeleted: number
  readonly manifestsDeleted: number
  /** Packs this run condemned (deleted by a later run). */
  readonly packsCondemned: number
  /** Condemned packs kept when deleting: unreadable, or tied by an index object to a pack kept. */
  readonly packsSpared: number
  /** Live chunks copied out of condemned packs before they went: checkpoints put since need them. */
  readonly chunksRescued: number
  /** Earlier runs whose condemnations this one deleted. */
  readonly runsDeleted: number
}

export async function sharedGc(
  root: BlobStore,
  chunks: ChunkStore,
  clock: () => number,
  options: SharedTiming & { readonly graceMs: number; readonly repackDeadShare: number },
): Promise<SharedGcReport> {
  const totals = {
    packsDeleted: 0,
    bytesFreed: 0,
    chunksDeleted: 0,
    manifestsDeleted: 0,
    packsSpared: 0,
    chunksRescued: 0,
  }
  let runsDeleted = 0
  // Phase 2 for earlier runs: those old enough, and those whose deletion was cut short.
  const state = await readGcState(root)
  for (const run of activeRuns(state)) {
    let record: Condemnation
    try {
      record = await loadCondemnation(root, run)
    } catch (error) {
      if (isCairnError(error, 'NOT_FOUND')) continue
      throw error
    }
    if (!state.deleting.has(run) && record.at + options.deleteAfterMs > clock()) continue
    const done = await deleteRun(root, chunks, clock, record, options.graceMs)
    totals.packsDeleted += done.packsDeleted
    totals.bytesFreed += done.bytesFreed
    totals.chunksDeleted += done.chunksDeleted
    totals.manifestsDeleted += done.manifestsDeleted
    totals.packsSpared += done.packsSpared
    totals.chunksRescued += done.chunksRescued
    runsDeleted++
  }
  // Records of runs finished long enough ago that no writer can still be looking for them.
  for (const run of state.done) {
    const at = await markerTime(root, run, 'done')
    if (at !== undefined && at + options.markerRetentionMs <= clock()) await removeRun(root, run)
  }
  // Phase 1 for this run.
  const catalogs = await loadCatalogs(root)
  const { kept, live } = markLive(catalogs, clock(), options.graceMs)
  // An unreadable record is skipped: what it named is condemned again, harmlessly.
  const already = await condemnedByActiveRuns(root, await readGcState(root), () => undefined)
  const condemned = await chunks.condemn(live, { repackDeadShare: options.repackDeadShare })
  const packs = condemned.condemned.filter((pack) => !already.packs.has(pack))
  const manifests: ManifestRef[] = []
  for (const [store, catalog] of catalogs) {
    for (const id of catalog.manifests.keys()) {
      const ref = { store, id }
      if (!kept.has(manifestRefKey(ref)) && !already.manifests.has(manifestRefKey(ref))) manifests.push(ref)
    }
    // A tombstone of a manifest that is gone stands for nothing: no writer reads it.
    const stray = [...catalog.tombstones.keys()].filter((id) => !catalog.manifests.has(id))
    if (stray.length > 0) await storeView(root, store).delete(stray.map((id) => `tombstones/${id}`))
  }
  if (packs.length > 0 || manifests.length > 0) {
    const at = clock()
    await putCondemnation(root, { run: newRunName(at), at, packs, manifests })
  }
  return {
    ...totals,
    packsRepacked: condemned.packsRepacked,
    chunksLive: condemned.chunksLive,
    packsCondemned: packs.length,
    runsDeleted,
  }
}

async function deleteRun(
  root: BlobStore,
  chunks: ChunkStore,
  clock: () => number,
  record: Condemnation,
  graceMs: number,
): Promise<{
  packsDeleted: number
  bytesFreed: number
  chunksDeleted: number
  manifestsDeleted: number
  packsSpared: number
  chunksRescued: number
}> {
  await putMarker(root, record.run, 'deleting', clock())
  // After the marker: what every unfinished run condemned (none of it is a safe copy), then the
  // manifests, then (in deleteCondemned) the index objects.
  // A run whose condemnation cannot be read: nothing is decided on a guess.
  const others = await condemnedByActiveRuns(root, await readGcState(root), (_run, error) => {
    throw error
  })
  const protectedPacks = new Set<string>([...record.packs, ...others.packs])
  const catalogs = await loadCatalogs(root)
  const { kept, live } = markLive(catalogs, clock(), graceMs)
  // Deepest first, so a delta goes before the parent it stands on.
  const doomed = record.manifests
    .filter(
      (ref) => catalogs.get(ref.store)?.manifests.has(ref.id) === true && !kept.has(manifestRefKey(ref)),
    )
    .map((ref) => ({ ref, depth: depthOf(catalogs.get(ref.store)?.manifests.get(ref.id)?.manifest) }))
    .sort((a, b) => b.depth - a.depth)
  let bytesFreed = 0
  for (const { ref } of doomed) {
    const view = storeView(root, ref.store)
    bytesFreed += (await view.head(manifestKey(ref.id)))?.size ?? 0
    await view.delete([manifestKey(ref.id)])
    await view.delete([`tombstones/${ref.id}`])
  }
  const swept = await chunks.deleteCondemned({ condemned: record.packs, live, protectedPacks })
  await putMarker(root, record.run, 'done', clock())
  return {
    packsDeleted: swept.packsDeleted,
    bytesFreed: bytesFreed + swept.bytesFreed,
    chunksDeleted: swept.chunksDeleted,
    manifestsDeleted: doomed.length,
    packsSpared: swept.packsSpared,
    chunksRescued: swept.chunksRescued,
  }
}

interface StoreCatalog {
  readonly manifests: Map<CheckpointId, StoredManifest>
  readonly tombstones: Map<CheckpointId, Tombstone>
}

/** Every store's manifests (each read whole and checked) and tombstones. */
async function loadCatalogs(root: BlobStore): Promise<Map<string, StoreCatalog>> {
  const names = new Set<string>()
  for await (const { key } of root.list(STORES_PREFIX)) {
    const name = key.slice(STORES_PREFIX.length).split('/')[0]
    if (name !== undefined && name !== '') names.add(name)
  }
  const catalogs = new Map<string, StoreCatalog>()
  for (const name of [...names].sort()) {
    const view = storeView(root, name)
    const manifests = new Map<CheckpointId, StoredManifest>()
    for (const id of await listManifestIds(view)) {
      try {
        manifests.set(id, await loadManifest(view, id))
      } catch (error) {
        if (isCairnError(error, 'NOT_FOUND')) continue // deleted since the listing
        if (isCairnError(error, 'CORRUPT_OBJECT') || isCairnError(error, 'FORMAT_VERSION'))
          throw refuse(name, id, error)
        throw error
      }
    }
    catalogs.set(name, { manifests, tombstones: await listTombstones(view) })
  }
  return catalogs
}

/** Kept: every checkpoint not tombstoned `graceMs` ago, and every link of their chains; live: their chunks. */
function markLive(
  catalogs: ReadonlyMap<string, StoreCatalog>,
  now: number,
  graceMs: number,
): { kept: Set<string>; live: Set<ChunkId> } {
  const kept = new Set<string>()
  const live = new Set<ChunkId>()
  for (const [store, { manifests, tombstones }] of catalogs) {
    for (const id of manifests.keys()) {
      const tombstone = tombstones.get(id)
      if (tombstone !== undefined && now - tombstone.at >= graceMs) continue
      const links: StoredManifest[] = []
      let broken: CheckpointId | undefined
      for (let at: CheckpointId | undefined = id; at !== undefined && !kept.has(`${store}/${at}`);) {
        const stored = manifests.get(at)
        if (stored === undefined || links.includes(stored)) {
          broken = at
          break
        }
        links.push(stored)
        at = stored.manifest.kind === 'delta' ? stored.manifest.parent : undefined
      }
      if (broken !== undefined) {
        // A dropped checkpoint whose chain is already broken needs nothing kept; a live one does.
        if (tombstone !== undefined) continue
        throw refuse(
          store,
          id,
          new CairnError('NOT_FOUND', `its chain lacks checkpoint ${broken.slice(0, 8)}`, {
            op: 'store.gc',
            checkpoint: broken,
          }),
        )
      }
      for (const stored of links) {
        kept.add(`${store}/${stored.id}`)
        for (const chunk of chunksOf(stored.manifest)) live.add(chunk)
      }
    }
  }
  return { kept, live }
}

/** Every chunk a manifest names itself (not its chain's). */
export function chunksOf(manifest: Manifest): ChunkId[] {
  const ids: ChunkId[] = []
  for (const entry of manifest.entries) for (const ref of entry.chunks) ids.push(ref.id)
  if (manifest.kind === 'delta')
    for (const patched of manifest.patched) for (const ref of patched.data) ids.push(ref.id)
  return ids
}

function depthOf(manifest: Manifest | undefined): number {
  return manifest?.kind === 'delta' ? manifest.depth : 0
}

function refuse(store: string, id: CheckpointId, error: CairnError): CairnError {
  return new CairnError(
    'CORRUPT_OBJECT',
    `gc refuses to run: checkpoint ${id.slice(0, 8)} of store ${store} cannot be read`,
    {
      op: 'store.gc',
      checkpoint: id,
      cause: error,
      hint: 'run verify on that store; repair or remove the damaged manifest first',
    },
  )
}
