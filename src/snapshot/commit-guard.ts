/**
 * The writer's half of GC beside writers on other machines (shared-gc.ts has the other half and
 * the argument). A checkpoint in a shared object store runs between `begin` and `check`:
 *
 * - `begin` reads `gc/` once: the packs and manifests condemned by runs not yet done are excluded,
 *   so nothing new is deduplicated against them (those chunks are stored again), and a parent
 *   chain through a condemned manifest is refused. It notes which runs had begun deleting.
 * - After the manifest is put, `check` reads `gc/` again. A run whose deletion began since (a
 *   `deleting` marker not seen at `begin`) may have listed the manifests before this one was put,
 *   and so be deleting what it stands on: if that run condemned a pack holding one of its chunks,
 *   or a manifest of its chain, the checkpoint is in danger. So it is when the checkpoint took so
 *   long that a finished run's records may have come and gone unseen (`markerRetentionMs` less
 *   twice the clock skew allowed).
 *
 * A checkpoint in danger is withdrawn (tombstoned) and the caller gets a retryable `CONFLICT`:
 * it was never acknowledged, and the retry deduplicates against none of the condemned packs.
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { CheckpointId, PackId } from '../core/ids.js'
import { listPackIds, packKey } from '../chunkstore/pack-store.js'
import type { BlobStore } from '../core/ports.js'
import { condemnedByActiveRuns, loadCondemnation, manifestRefKey, readGcState } from './gc-records.js'
import type { ManifestRef } from './gc-records.js'

export interface SharedTiming {
  /** How long a finished GC run's records stay (default 7 days). */
  readonly markerRetentionMs: number
  /** The most two machines' clocks may differ by (default 5 minutes). */
  readonly maxClockSkewMs: number
  /** How long a condemnation waits before a later GC run deletes it (default 1 hour). */
  readonly deleteAfterMs: number
}

export const SHARED_TIMING_DEFAULTS: SharedTiming = {
  markerRetentionMs: 7 * 24 * 3_600_000,
  maxClockSkewMs: 5 * 60_000,
  deleteAfterMs: 3_600_000,
}

/** What a checkpoint stands on: the packs its own chunks were found in, and its chain's manifests. */
export interface CommitDependencies {
  readonly packs: ReadonlySet<string>
  /**
   * Of those, the packs this checkpoint put itself: a run condemning one came after it began, so
   * the markers cover them, and they need no HEAD.
   */
  readonly ownPacks: ReadonlySet<string>
  /** Packs unknown: a chunk whose pack could not be told (always danger). */
  readonly unknownPacks: number
  readonly manifests: readonly ManifestRef[]
}

export class CommitGuard {
  readonly #root: BlobStore
  readonly #clock: () => number
  readonly #timing: SharedTiming
  readonly #startedAt: number
  readonly #seenDeleting: ReadonlySet<string>
  /** Packs condemned by runs not yet done: not to be deduplicated against. */
  readonly excludedPacks: ReadonlySet<string>
  readonly #excludedManifests: ReadonlySet<string>

  private constructor(
    root: BlobStore,
    clock: () => number,
    timing: SharedTiming,
    startedAt: number,
    seenDeleting: ReadonlySet<string>,
    excludedPacks: ReadonlySet<string>,
    excludedManifests: ReadonlySet<string>,
  ) {
    this.#root = root
    this.#clock = clock
    this.#timing = timing
    this.#startedAt = startedAt
    this.#seenDeleting = seenDeleting
    this.excludedPacks = excludedPacks
    this.#excludedManifests = excludedManifests
  }

  static async begin(root: BlobStore, clock: () => number, timing: SharedTiming): Promise<CommitGuard> {
    const startedAt = clock()
    const state = await readGcState(root)
    const { packs, manifests } = await condemnedByActiveRuns(root, state, (run, error) => {
      if (error.code !== 'CORRUPT_OBJECT') throw error
      throw new CairnError(
        'CORRUPT_OBJECT',
        'a GC record cannot be read: no checkpoint can be committed safely',
        {
          op: 'store.checkpoint',
          path: `gc/${run}/condemned`,
          cause: error,
          hint: 'run verify; a GC run on any machine rewrites or removes it',
        },
      )
    })
    return new CommitGuard(root, clock, timing, startedAt, new Set(state.deleting.keys()), packs, manifests)
  }

  /** Refuses a parent chain through a manifest some GC run condemned. */
  checkChain(store: string, chain: readonly CheckpointId[]): void {
    for (const id of chain) {
      if (this.#excludedManifests.has(manifestRefKey({ store, id }))) {
        throw new CairnError(
          'CONFLICT',
          `checkpoint ${id.slice(0, 8)} is being deleted by GC: no delta can stand on it`,
          {
            op: 'store.checkpoint',
            checkpoint: id,
            retryable: true,
            hint: 'take a full checkpoint, or a delta on a checkpoint retention keeps',
          },
        )
      }
    }
  }

  /**
   * Why the committed checkpoint is in danger (and which of its packs are gone), or undefined
   * when it is safe.
   */
  async check(
    deps: CommitDependencies,
  ): Promise<{ readonly reason: string; readonly gone: readonly string[] } | undefined> {
    const why = await this.#danger(deps)
    if (why !== undefined) return { reason: why, gone: [] }
    // Belt and braces: every pack it stands on is there now (an index object may name a pack that
    // is gone, e.g. one rebuilt from a footer by a store elsewhere just before a deletion).
    const gone = await packsGone(
      this.#root,
      new Set([...deps.packs].filter((pack) => !deps.ownPacks.has(pack))),
    )
    if (gone.length > 0)
      return { reason: `${String(gone.length)} pack(s) its chunks were found in are gone`, gone }
    return undefined
  }

  async #danger(deps: CommitDependencies): Promise<string | undefined> {
    if (deps.unknownPacks > 0) return `${String(deps.unknownPacks)} chunk(s) in no known pack`
    const state = await readGcState(this.#root)
    const manifests = new Set(deps.manifests.map(manifestRefKey))
    for (const run of state.deleting.keys()) {
      if (this.#seenDeleting.has(run)) continue
      let record
      try {
        record = await loadCondemnation(this.#root, run)
      } catch (error) {
        if (!isCairnError(error)) throw error
        return `GC run ${run} began deleting, and what it condemned cannot be read`
      }
      if (record.packs.some((pack) => deps.packs.has(pack)))
        return `GC run ${run} began deleting packs this checkpoint's chunks were found in`
      if (record.manifests.some((ref) => manifests.has(manifestRefKey(ref))))
        return `GC run ${run} began deleting a checkpoint of this one's chain`
    }
    // Measured after the listing: a stall anywhere before it only makes the figure larger.
    const elapsed = this.#clock() - this.#startedAt
    const limit = this.#timing.markerRetentionMs - 2 * this.#timing.maxClockSkewMs
    if (elapsed > limit)
      return `the checkpoint took ${String(elapsed)} ms, longer than GC records are sure to be kept (${String(limit)} ms)`
    return undefined
  }
}

/** Which of `packs` do not exist: a HEAD each when few, else one listing of `packs/`. */
async function packsGone(root: BlobStore, packs: ReadonlySet<string>): Promise<string[]> {
  const wanted = [...packs]
  if (wanted.length > 64) {
    const present = new Set<string>(await listPackIds(root))
    return wanted.filter((pack) => !present.has(pack))
  }
  const gone: string[] = []
  for (let i = 0; i < wanted.length; i += 8) {
    const batch = wanted.slice(i, i + 8)
    const found = await Promise.all(batch.map((pack) => root.head(packKey(pack as PackId))))
    batch.forEach((pack, j) => {
      if (found[j] === undefined) gone.push(pack)
    })
  }
  return gone
}
