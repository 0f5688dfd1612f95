/**
 * Chunk ids: BLAKE3-256 of a chunk's uncompressed bytes, as 64 lowercase hex characters.
 *
 * blake3-wasm must be loaded once (`await loadChunkHasher()`) before `computeChunkId` is called.
 * Its one-shot `hash` copies the input into a WebAssembly heap that cannot grow past a few MiB:
 * measured here, 8 MiB hashed and 16 MiB aborted with an out-of-memory. So inputs above 1 MiB go
 * through the streaming hasher in 1 MiB pieces (same digest, ~1.05 GB/s; 16 KiB chunks one-shot
 * ~1 GB/s).
 */
import { createHash, hash, load } from 'blake3-wasm'
import type { ChunkId } from '../core/ids.js'

/** Above this size the streaming hasher is used (the one-shot copy must fit the wasm heap). */
const ONE_SHOT_BYTES_MAX = 1024 * 1024

let loading: Promise<void> | undefined

/** Loads the BLAKE3 implementation; safe to call many times and concurrently. */
export function loadChunkHasher(): Promise<void> {
  loading ??= load()
  return loading
}

/** BLAKE3-256 of `data` as a chunk id. Call `loadChunkHasher()` first. */
export function computeChunkId(data: Uint8Array): ChunkId {
  if (data.length <= ONE_SHOT_BYTES_MAX) return hash(data).toString('hex') as ChunkId
  const hasher = createHash()
  for (let at = 0; at < data.length; at += ONE_SHOT_BYTES_MAX) {
    hasher.update(data.subarray(at, Math.min(data.length, at + ONE_SHOT_BYTES_MAX)))
  }
  return hasher.digest().toString('hex') as ChunkId
}
