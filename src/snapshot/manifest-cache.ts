/**
 * The manifests a store has read lately, bounded by the chunk references they hold (a manifest of
 * a large state names hundreds of thousands of chunks): least recently used go first. A store
 * keeps the small facts of every checkpoint (`CheckpointInfo`) apart, so its memory follows the
 * states it is working on, not the length of its history.
 */
import type { CheckpointId } from '../core/ids.js'
import type { StoredManifest } from './catalog.js'
import type { Manifest } from './manifest.js'

/** Chunk references held at most (~100 bytes each once parsed): ~100 MB. */
export const MANIFEST_CACHE_REFS: number = 1 << 20

function weightOf(manifest: Manifest): number {
  let refs = 1
  for (const entry of manifest.entries) refs += entry.chunks.length
  if (manifest.kind === 'delta')
    for (const entry of manifest.patched) refs += entry.data.length + entry.patches.length
  return refs
}

export class ManifestCache {
  readonly #limit: number
  readonly #items = new Map<CheckpointId, { stored: StoredManifest; weight: number }>()
  #weight = 0

  constructor(limit: number = MANIFEST_CACHE_REFS) {
    this.#limit = limit
  }

  get(id: CheckpointId): StoredManifest | undefined {
    const item = this.#items.get(id)
    if (item === undefined) return undefined
    // Most recently used last: Map keeps insertion order.
    this.#items.delete(id)
    this.#items.set(id, item)
    return item.stored
  }

  set(id: CheckpointId, stored: StoredManifest): void {
    this.delete(id)
    const weight = weightOf(stored.manifest)
    this.#items.set(id, { stored, weight })
    this.#weight += weight
    // The newest item stays even when it alone is over the limit.
    for (const [oldest, item] of this.#items) {
      if (this.#weight <= this.#limit || oldest === id) break
      this.#items.delete(oldest)
      this.#weight -= item.weight
    }
  }

  delete(id: CheckpointId): void {
    const item = this.#items.get(id)
    if (item === undefined) return
    this.#items.delete(id)
    this.#weight -= item.weight
  }

  clear(): void {
    this.#items.clear()
    this.#weight = 0
  }

  get size(): number {
    return this.#items.size
  }
}
