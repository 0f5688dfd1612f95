/**
 * Which checkpoints are saves of which slot: what each save records in its checkpoint's `meta`,
 * and the index of slots built from the store's checkpoints when the saves open (then kept in
 * step with every save, prune and deletion while they are open: one writer holds the store).
 *
 * A save is a full checkpoint with one entry (the world), tagged `slot:<name>`, with meta
 * `{ cairnSaves: { v: 1, slot, format, meta } }`. Deleting a slot commits a marker, an empty
 * checkpoint tagged `slot-deleted:<name>` with meta `{ cairnSaves: { v: 1, slot, deleted: true } }`:
 * every save of the slot older than a live marker is deleted (doomed), whether or not its
 * tombstone is written yet. The marker is the one write that deletes the slot, so a crash leaves
 * the slot whole or gone, never an older save brought back. Checkpoints without `cairnSaves` in
 * their meta are not saves, and are left alone.
 */
import { CairnError } from '../core/errors.js'
import type { CheckpointId } from '../core/ids.js'
import type { JsonValue } from '../snapshot/manifest.js'
import type { CheckpointInfo } from '../snapshot/snapshot.js'
import { SLOT_TAG_PREFIX } from './errors.js'
import { WORLD_FORMATS } from './world.js'
import type { WorldFormat } from './world.js'

/** The key of the save API's record in a checkpoint's meta. */
export const SAVES_META_KEY = 'cairnSaves'
/** The version of that record; a newer one is refused with `FORMAT_VERSION`. */
export const SAVES_FORMAT_VERSION = 1

/** A save, as `history`, `slots` and `save` describe it. */
export interface SaveInfo {
  /** The id of its checkpoint: pass it to `loadVersion`. */
  readonly id: CheckpointId
  readonly slot: string
  /** When it was saved (the store's clock; strictly increasing from save to save). */
  readonly savedAt: Date
  /** The size of the world as stored: its bytes, or its JSON text in UTF-8. */
  readonly bytes: number
  readonly format: WorldFormat
  /** The tags given to `save` (the slot's own tag is not among them). */
  readonly tags: readonly string[]
  /** The meta given to `save` (null when none). */
  readonly meta: JsonValue
}

/** A copy of `save` for a caller: a change to it must not reach the index. */
export function copySave(save: SaveInfo): SaveInfo {
  return { ...save, savedAt: new Date(save.savedAt), tags: [...save.tags], meta: structuredClone(save.meta) }
}

/** A save as the index keeps it: its checkpoint, and what the save API read from it. */
export interface SaveEntry {
  readonly checkpoint: CheckpointInfo
  readonly save: SaveInfo
}

/** What a checkpoint is to the save API. */
export type SaveRecord =
  | { readonly kind: 'save'; readonly entry: SaveEntry }
  | { readonly kind: 'deletion'; readonly slot: string; readonly checkpoint: CheckpointInfo }
  | { readonly kind: 'other' }

/** The meta of a save's checkpoint. */
export function saveMeta(slot: string, format: WorldFormat, meta: JsonValue): JsonValue {
  return { [SAVES_META_KEY]: { v: SAVES_FORMAT_VERSION, slot, format, meta } }
}

/** The meta of a slot's deletion marker. */
export function deletionMeta(slot: string): JsonValue {
  return { [SAVES_META_KEY]: { v: SAVES_FORMAT_VERSION, slot, deleted: true } }
}

/** What `checkpoint` is to the save API, from its meta and tags. */
export function readRecord(checkpoint: CheckpointInfo): SaveRecord {
  const meta = checkpoint.meta
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return { kind: 'other' }
  const record = (meta as Readonly<Record<string, JsonValue>>)[SAVES_META_KEY]
  if (record === undefined) return { kind: 'other' }
  const bad = (why: string): never => {
    throw new CairnError(
      'CORRUPT_OBJECT',
      `the save record of checkpoint ${checkpoint.id.slice(0, 8)} ${why}`,
      {
        op: 'saves.open',
        checkpoint: checkpoint.id,
      },
    )
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return bad('is not an object')
  const fields = record as Readonly<Record<string, JsonValue>>
  if (typeof fields.v !== 'number') return bad('has no version')
  if (fields.v > SAVES_FORMAT_VERSION) {
    throw new CairnError(
      'FORMAT_VERSION',
      `checkpoint ${checkpoint.id.slice(0, 8)} is a save of format ${String(fields.v)}; this version reads ${String(SAVES_FORMAT_VERSION)}`,
      { op: 'saves.open', checkpoint: checkpoint.id, hint: 'open these saves with a newer cairn' },
    )
  }
  const slot = fields.slot
  if (typeof slot !== 'string' || slot.length === 0) return bad('names no slot')
  if (fields.deleted === true) return { kind: 'deletion', slot, checkpoint }
  const format = fields.format
  if (typeof format !== 'string' || !(WORLD_FORMATS as readonly string[]).includes(format))
    return bad('has no world format')
  const save: SaveInfo = {
    id: checkpoint.id,
    slot,
    savedAt: new Date(checkpoint.createdAt),
    bytes: checkpoint.logicalBytes,
    format: format as WorldFormat,
    tags: checkpoint.tags.filter((tag) => tag !== `${SLOT_TAG_PREFIX}${slot}`),
    meta: fields.meta ?? null,
  }
  return { kind: 'save', entry: { checkpoint, save } }
}

/** The slots and their saves; the deleted saves and deletion markers still to tombstone. */
export class SlotIndex {
  /** Each slot's live saves, oldest first. */
  readonly #slots = new Map<string, SaveEntry[]>()
  /** Saves of deleted slots whose tombstones are not written yet. */
  readonly #doomed = new Map<CheckpointId, SaveEntry>()
  /** Live deletion markers, by checkpoint id. */
  readonly #markers = new Map<CheckpointId, { readonly slot: string; readonly checkpoint: CheckpointInfo }>()
  /** The newest checkpoint of the store (retention never drops it). */
  #newest: CheckpointId | undefined

  /** The index of `checkpoints` (the store's live checkpoints, oldest first). */
  static build(checkpoints: readonly CheckpointInfo[]): SlotIndex {
    const index = new SlotIndex()
    for (const checkpoint of checkpoints) {
      const record = readRecord(checkpoint)
      if (record.kind === 'save') index.addSave(record.entry)
      else if (record.kind === 'deletion') index.addDeletion(record.slot, record.checkpoint)
      index.#newest = checkpoint.id
    }
    return index
  }

  get newest(): CheckpointId | undefined {
    return this.#newest
  }

  /** The slots that have saves. */
  slots(): string[] {
    return [...this.#slots.keys()]
  }

  /** A slot's live saves, oldest first (empty when it has none). */
  saves(slot: string): readonly SaveEntry[] {
    return this.#slots.get(slot) ?? []
  }

  /** A save just committed (the newest checkpoint of the store). */
  addSave(entry: SaveEntry): void {
    const saves = this.#slots.get(entry.save.slot)
    if (saves === undefined) this.#slots.set(entry.save.slot, [entry])
    else saves.push(entry)
    this.#newest = entry.checkpoint.id
  }

  /** A deletion marker just committed: every live save of the slot is doomed. Returns how many. */
  addDeletion(slot: string, marker: CheckpointInfo): number {
    const saves = this.#slots.get(slot) ?? []
    for (const entry of saves) this.#doomed.set(entry.checkpoint.id, entry)
    this.#slots.delete(slot)
    this.#markers.set(marker.id, { slot, checkpoint: marker })
    this.#newest = marker.id
    return saves.length
  }

  /** Forgets saves whose tombstones are written (pruned, or doomed). */
  removeSaves(ids: ReadonlySet<CheckpointId>): void {
    for (const id of ids) this.#doomed.delete(id)
    for (const [slot, saves] of this.#slots) {
      const left = saves.filter((entry) => !ids.has(entry.checkpoint.id))
      if (left.length === 0) this.#slots.delete(slot)
      else this.#slots.set(slot, left)
    }
  }

  /** Saves of deleted slots still to tombstone. */
  doomed(): SaveEntry[] {
    return [...this.#doomed.values()]
  }

  /**
   * Markers that may be tombstoned now: every doomed save of their slot is tombstoned already
   * (else the marker is what keeps them deleted), and they are not the store's newest checkpoint.
   */
  droppableMarkers(): { readonly slot: string; readonly checkpoint: CheckpointInfo }[] {
    const pending = new Set([...this.#doomed.values()].map((entry) => entry.save.slot))
    return [...this.#markers.values()].filter(
      ({ slot, checkpoint }) => !pending.has(slot) && checkpoint.id !== this.#newest,
    )
  }

  removeMarkers(ids: ReadonlySet<CheckpointId>): void {
    for (const id of ids) this.#markers.delete(id)
  }
}
