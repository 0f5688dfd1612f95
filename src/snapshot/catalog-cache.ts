/**
 * What a store knows of each checkpoint without reading its manifest: its `CheckpointInfo`, kept
 * by id. A manifest is immutable and named by the hash of its bytes, so an info cached under an
 * id can never go stale; which checkpoints exist is always the listing of `manifests/`. Opening
 * a store then costs a listing, not a decode of every manifest ever kept.
 *
 * Each value carries a CRC-32C: a damaged entry reads as absent (the manifest is read instead),
 * never as wrong facts that could reorder checkpoints. Two implementations: in memory here, and
 * on disk in `adapters/lmdb` (the default for a store on the real disk).
 */
import { crc32c } from '../core/crc32c.js'
import type { CheckpointId } from '../core/ids.js'
import type { CheckpointInfo } from './snapshot.js'

export interface CatalogCache {
  get(id: CheckpointId): CheckpointInfo | undefined
  set(info: CheckpointInfo): void
  delete(id: CheckpointId): void
  close(): Promise<void>
}

/** An info as bytes: its JSON (createdAt in ms) after a CRC-32C of it. */
export function encodeInfo(info: CheckpointInfo): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify({ ...info, createdAt: info.createdAt.getTime() }))
  const out = new Uint8Array(4 + json.length)
  new DataView(out.buffer).setUint32(0, crc32c(json), true)
  out.set(json, 4)
  return out
}

/** The info in `bytes`, or undefined when they do not check or do not parse. */
export function decodeInfo(bytes: Uint8Array, id: CheckpointId): CheckpointInfo | undefined {
  if (bytes.length < 4) return undefined
  const json = bytes.subarray(4)
  if (new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) !== crc32c(json)) return undefined
  try {
    const parsed = JSON.parse(new TextDecoder().decode(json)) as Omit<CheckpointInfo, 'createdAt'> & {
      createdAt: number
    }
    if (parsed.id !== id || typeof parsed.createdAt !== 'number' || typeof parsed.lsn !== 'number')
      return undefined
    return { ...parsed, createdAt: new Date(parsed.createdAt) }
  } catch {
    return undefined
  }
}

export class MemoryCatalogCache implements CatalogCache {
  readonly #infos = new Map<CheckpointId, CheckpointInfo>()

  get(id: CheckpointId): CheckpointInfo | undefined {
    return this.#infos.get(id)
  }

  set(info: CheckpointInfo): void {
    this.#infos.set(info.id, info)
  }

  delete(id: CheckpointId): void {
    this.#infos.delete(id)
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}
