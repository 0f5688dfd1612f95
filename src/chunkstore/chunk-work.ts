/**
 * Where spans are cut and hashed, and new chunks compressed: on the calling thread
 * (`inlineChunkWork`, here), or on a pool of worker threads (worker-pool.ts; span.ts says how
 * parallel cutting gives the sequential chunks). Both give the same ids and bytes; the pool is
 * what lets ingest use every core (bench/chunkstore.bench.ts measures the two). This file holds
 * the contract both keep and the messages the pool's threads exchange (chunk-worker.ts).
 */
import { availableParallelism } from 'node:os'
import type { CairnErrorCode, CairnErrorContext } from '../core/errors.js'
import { loadChunkHasher } from './chunk-id.js'
import type { ChunkingParams } from './chunker.js'
import type { StoredChunk } from './codec.js'
import type { IndexEntry } from './index-object.js'
import { decodeRun, decodeRunInScratch } from './read-entry.js'
import { placeLocalRun, placeRun } from './read-to-file.js'
import type { LocalPlacement } from './read-to-file.js'
import { cutSpan, encodeRanges } from './span.js'
import type { EncodedRanges, Span, SpanCuts } from './span.js'

export interface ChunkWork {
  /** True when spans should be built in shared memory (the pool reads them in place). */
  readonly shared: boolean
  /** The span's speculative chunks and their ids (span.ts). */
  cut(span: Span, params: ChunkingParams): Promise<SpanCuts>
  /** The stored form of each range (start, end pairs) of `bytes`, in one fresh buffer. */
  encode(
    bytes: Uint8Array,
    ranges: readonly number[],
    compression: 'deflate' | 'none',
  ): Promise<StoredChunk[]>
  /**
   * The raw bytes of stored chunks lying back to back in `bytes` (whose first byte is at pack
   * offset `base`), each checked against its id: `CORRUPT_OBJECT` naming the pack and offset.
   * When `bytes` is a buffer of its own, it may be handed to a worker (not copied): unusable after.
   */
  decode(bytes: Uint8Array, entries: readonly IndexEntry[], base: number): Promise<Uint8Array[]>
  /**
   * As `decode`, but only checks (nothing comes back): `bytes` must be a buffer of its own, which
   * is handed to the worker (not copied) and unusable after.
   */
  check(bytes: Uint8Array, entries: readonly IndexEntry[], base: number): Promise<void>
  /**
   * As `decode`, but each chunk is written into the open file `fd` where `targets` place it (four
   * numbers per placement: the chunk's index in `entries`, from, to, at; read-to-file.ts), by the
   * thread that decoded it. Resolves with the bytes written and `bytes` given back, for the caller
   * to read into again (read-buffers.ts). `bytes` is handed over as for `decode`, or whole when
   * `lent` (its buffer is the caller's alone, however much of it `bytes` covers): a worker gives
   * back a view of the same buffer.
   */
  place(
    bytes: Uint8Array,
    entries: readonly IndexEntry[],
    base: number,
    targets: readonly number[],
    fd: number,
    lent?: boolean,
  ): Promise<{ readonly written: number; readonly bytes: Uint8Array }>
  /**
   * As `place`, but the thread reads the get itself, synchronously, from the pack's file
   * (local-read.ts). Resolves with the bytes written. Without a thread, the calling thread reads.
   */
  placeLocal(placement: LocalPlacement): Promise<number>
  /** Starts the threads (if any, and not yet) and resolves once every one takes jobs. */
  ready(): Promise<void>
  close(): Promise<void>
}

export type WorkRequest =
  | { readonly job: number; readonly op: 'cut'; readonly span: Span; readonly params: ChunkingParams }
  | {
      readonly job: number
      readonly op: 'encode'
      readonly bytes: Uint8Array
      readonly ranges: readonly number[]
      readonly compression: 'deflate' | 'none'
    }
  | {
      readonly job: number
      readonly op: 'decode'
      readonly bytes: Uint8Array
      readonly entries: readonly IndexEntry[]
      readonly base: number
    }
  | {
      readonly job: number
      readonly op: 'place'
      readonly bytes: Uint8Array
      readonly entries: readonly IndexEntry[]
      readonly base: number
      readonly targets: readonly number[]
      readonly fd: number
    }
  | { readonly job: number; readonly op: 'placeLocal'; readonly placement: LocalPlacement }
  | {
      readonly job: number
      readonly op: 'check'
      readonly bytes: Uint8Array
      readonly entries: readonly IndexEntry[]
      readonly base: number
    }

export type WorkReply =
  /** Sent once, unasked, when the worker has loaded and takes jobs. */
  | { readonly job: -1; readonly ready: true }
  | { readonly job: number; readonly cuts: SpanCuts }
  | { readonly job: number; readonly encoded: EncodedRanges }
  | { readonly job: number; readonly checked: number }
  /** The bytes written, and a `place` request's bytes given back (their buffer handed over). */
  | { readonly job: number; readonly placed: number; readonly bytes?: Uint8Array }
  /** Each chunk's raw bytes: a buffer of its own where it had one, else a view of one shared copy. */
  | { readonly job: number; readonly decoded: readonly Uint8Array[] }
  | {
      readonly job: number
      readonly error: string
      readonly code?: CairnErrorCode
      readonly context?: CairnErrorContext
    }

/** The stored chunks as views into the one buffer they were encoded into. */
export function storedChunks(encoded: EncodedRanges): StoredChunk[] {
  let at = 0
  return encoded.codecs.map((codec, i) => {
    const length = encoded.lengths[i] ?? 0
    const bytes = encoded.out.subarray(at, at + length)
    at += length
    return { codec, bytes }
  })
}

/** How many worker threads to use by default: one per core, at most 4; none on one core. */
export function defaultWorkerCount(): number {
  const cores = availableParallelism()
  return cores < 2 ? 0 : Math.min(4, cores)
}

/** Cutting, hashing and compression on the calling thread. */
export function inlineChunkWork(): ChunkWork {
  return {
    shared: false,
    async cut(span, params) {
      await loadChunkHasher()
      return cutSpan(span, params)
    },
    encode(bytes, ranges, compression) {
      return Promise.resolve(storedChunks(encodeRanges(bytes, ranges, compression)))
    },
    decode(bytes, entries, base) {
      return Promise.resolve(decodeRun(bytes, entries, base))
    },
    check(bytes, entries, base) {
      decodeRunInScratch(bytes, entries, base)
      return Promise.resolve()
    },
    place(bytes, entries, base, targets, fd) {
      return Promise.resolve({ written: placeRun(bytes, entries, base, targets, fd), bytes })
    },
    placeLocal(placement) {
      // A throw in the executor rejects: the read's error reaches the caller as the pool's would.
      return new Promise((resolve) => {
        resolve(placeLocalRun(placement))
      })
    },
    ready() {
      return Promise.resolve()
    },
    close() {
      return Promise.resolve()
    },
  }
}
