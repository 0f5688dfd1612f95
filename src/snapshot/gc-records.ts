/**
 * The records of garbage collection in a shared object store (snapshot/shared-gc.ts), under
 * `gc/<run>/`: a run condemns, a later run deletes, and writers on other machines read both.
 *
 * - `gc/<run>/condemned`: what run `<run>` found unreachable: packs, and manifests (by store).
 *   Nothing is deleted yet. Writers that see it deduplicate against none of those packs.
 * - `gc/<run>/deleting`: put before the deletion of what `<run>` condemned begins. A writer that
 *   finds a marker it did not see when it began, for a run that condemned something its checkpoint
 *   stands on, withdraws that checkpoint (commit-guard.ts).
 * - `gc/<run>/done`: the deletion finished. A done run's records stay for `markerRetentionMs`
 *   (so a writer still finds the marker), then go.
 *
 * Each is JSON `{ "format": "cairn.gc.<kind>", "version": 1, "at": <ms>, ... }`. Run names sort by
 * time: `<ms, 15 digits>-<8 hex>`.
 */
import { randomBytes } from 'node:crypto'
import { CairnError, isCairnError } from '../core/errors.js'
import type { CheckpointId, PackId } from '../core/ids.js'
import { parseCheckpointId, parsePackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'

const PREFIX = 'gc/'
const VERSION = 1
const KINDS = ['condemned', 'deleting', 'done'] as const
type RecordKind = (typeof KINDS)[number]

/** A manifest of one store of the shared object store. */
export interface ManifestRef {
  readonly store: string
  readonly id: CheckpointId
}

export interface Condemnation {
  readonly run: string
  /** When it was written, by the condemning machine's clock (ms since the epoch). */
  readonly at: number
  readonly packs: readonly PackId[]
  readonly manifests: readonly ManifestRef[]
}

/** What `gc/` holds: the runs and their markers' keys (records are read on demand). */
export interface GcState {
  /** Runs with a `condemned` record. */
  readonly condemned: ReadonlySet<string>
  /** Runs whose deletion began: `deleting` marker key by run. */
  readonly deleting: ReadonlyMap<string, string>
  /** Runs whose deletion finished. */
  readonly done: ReadonlySet<string>
}

export function newRunName(at: number): string {
  return `${String(Math.max(0, Math.floor(at))).padStart(15, '0')}-${randomBytes(4).toString('hex')}`
}

export function recordKey(run: string, kind: RecordKind): string {
  return `${PREFIX}${run}/${kind}`
}

/** Lists `gc/` (one listing). */
export async function readGcState(root: BlobStore): Promise<GcState> {
  const condemned = new Set<string>()
  const deleting = new Map<string, string>()
  const done = new Set<string>()
  for await (const { key } of root.list(PREFIX)) {
    const [run, kind, ...rest] = key.slice(PREFIX.length).split('/')
    if (run === undefined || rest.length > 0) continue
    if (kind === 'condemned') condemned.add(run)
    else if (kind === 'deleting') deleting.set(run, key)
    else if (kind === 'done') done.add(run)
  }
  return { condemned, deleting, done }
}

/** Runs that condemned something and have not finished deleting it. */
export function activeRuns(state: GcState): string[] {
  return [...state.condemned].filter((run) => !state.done.has(run)).sort()
}

/** What the runs not yet done condemned: packs, and manifests as `<store>/<id>`. */
export interface Condemned {
  readonly packs: Set<string>
  readonly manifests: Set<string>
}

/**
 * Reads the condemnation of every run not yet done. A record gone meanwhile (its run finished and
 * was removed) is skipped; one that cannot be read goes to `unreadable`, which throws to refuse
 * or returns to skip it.
 */
export async function condemnedByActiveRuns(
  root: BlobStore,
  state: GcState,
  unreadable: (run: string, error: CairnError) => void,
): Promise<Condemned> {
  const packs = new Set<string>()
  const manifests = new Set<string>()
  for (const run of activeRuns(state)) {
    let record: Condemnation
    try {
      record = await loadCondemnation(root, run)
    } catch (error) {
      if (isCairnError(error, 'NOT_FOUND')) continue
      if (!isCairnError(error)) throw error
      unreadable(run, error)
      continue
    }
    for (const pack of record.packs) packs.add(pack)
    for (const ref of record.manifests) manifests.add(manifestRefKey(ref))
  }
  return { packs, manifests }
}

export function manifestRefKey(ref: ManifestRef): string {
  return `${ref.store}/${ref.id}`
}

export async function putCondemnation(root: BlobStore, record: Condemnation): Promise<void> {
  await putRecord(root, record.run, 'condemned', {
    at: record.at,
    packs: record.packs,
    manifests: record.manifests.map((ref) => `${ref.store}/${ref.id}`),
  })
}

/**
 * A run's condemnation. `NOT_FOUND` when it is gone; `CORRUPT_OBJECT` when it does not decode
 * (callers then act as if everything were condemned: nothing is decided on a guess).
 */
export async function loadCondemnation(root: BlobStore, run: string): Promise<Condemnation> {
  const key = recordKey(run, 'condemned')
  const body = await getRecord(root, key, 'condemned')
  const at = body['at']
  const packs = body['packs']
  const manifests = body['manifests']
  if (typeof at !== 'number' || !Array.isArray(packs) || !Array.isArray(manifests)) throw damaged(key)
  try {
    return {
      run,
      at,
      packs: packs.map((pack) => parsePackId(String(pack), 'gc.read')),
      manifests: manifests.map((text) => {
        const value = String(text)
        const slash = value.lastIndexOf('/')
        if (slash <= 0) throw damaged(key)
        return { store: value.slice(0, slash), id: parseCheckpointId(value.slice(slash + 1), 'gc.read') }
      }),
    }
  } catch (error) {
    if (isCairnError(error)) throw damaged(key, error)
    throw error
  }
}

export async function putMarker(
  root: BlobStore,
  run: string,
  kind: 'deleting' | 'done',
  at: number,
): Promise<void> {
  await putRecord(root, run, kind, { at })
}

/** When a marker was put (ms), or undefined when it is gone or does not decode. */
export async function markerTime(
  root: BlobStore,
  run: string,
  kind: 'deleting' | 'done',
): Promise<number | undefined> {
  try {
    const at = (await getRecord(root, recordKey(run, kind), kind))['at']
    return typeof at === 'number' ? at : undefined
  } catch (error) {
    if (isCairnError(error, 'NOT_FOUND') || isCairnError(error, 'CORRUPT_OBJECT')) return undefined
    throw error
  }
}

/** Removes a finished run's records: the condemnation first, its `done` marker last. */
export async function removeRun(root: BlobStore, run: string): Promise<void> {
  for (const kind of KINDS) await root.delete([recordKey(run, kind)])
}

async function putRecord(
  root: BlobStore,
  run: string,
  kind: RecordKind,
  body: Record<string, unknown>,
): Promise<void> {
  const json = JSON.stringify({ format: `cairn.gc.${kind}`, version: VERSION, ...body })
  await root.put(recordKey(run, kind), new TextEncoder().encode(json))
}

async function getRecord(root: BlobStore, key: string, kind: RecordKind): Promise<Record<string, unknown>> {
  const bytes = await root.get(key)
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    throw damaged(key)
  }
  if (parsed === null || typeof parsed !== 'object') throw damaged(key)
  const body = parsed as Record<string, unknown>
  if (body['format'] !== `cairn.gc.${kind}`) throw damaged(key)
  const version = body['version']
  if (typeof version !== 'number' || version < 1) throw damaged(key)
  if (version > VERSION) {
    throw new CairnError('FORMAT_VERSION', `a GC record of version ${String(version)}`, {
      op: 'gc.read',
      path: key,
      hint: 'upgrade cairn: another machine runs a newer GC',
    })
  }
  return body
}

function damaged(key: string, cause?: unknown): CairnError {
  return new CairnError('CORRUPT_OBJECT', 'a GC record does not decode', {
    op: 'gc.read',
    path: key,
    ...(cause === undefined ? {} : { cause }),
  })
}
