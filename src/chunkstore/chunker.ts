/**
 * Content-defined chunking: FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking at
 * level 2, and fixed-size chunking for entries updated in place (tensors, database pages).
 *
 * A boundary depends only on the bytes before it (a 32-bit gear hash over roughly the last 32
 * bytes), so inserting bytes into an entry changes the chunks around the insertion and no others,
 * and the same content cuts the same way wherever it appears. The gear table and the masks are
 * part of the storage format (docs/FORMAT.md): changing them changes every chunk id.
 *
 * The hash runs on an Int32Array with `| 0` arithmetic (an Uint32Array with `>>> 0` ran ~6x
 * slower): ~0.4-0.45 GB/s on this project's machine. Ingest cuts with the same search in
 * WebAssembly (gear-wasm.ts, ~1 GB/s); this one is the reference, and cuts where that cannot run.
 */
import { CairnError } from '../core/errors.js'
import { chunkBytesMax, chunkBytesMin } from '../core/limits.js'

export const CHUNKING_MODES = ['cdc', 'fixed'] as const

export interface ChunkingOptions {
  /** `'cdc'` (content-defined, the default) or `'fixed'` (every chunk `avgSize`, the last shorter). */
  readonly mode?: 'cdc' | 'fixed'
  readonly minSize?: number
  readonly avgSize?: number
  readonly maxSize?: number
}

/** Chunking parameters once checked. */
export interface ChunkingParams {
  readonly mode: 'cdc' | 'fixed'
  readonly minSize: number
  readonly avgSize: number
  readonly maxSize: number
  /** Harder mask, used before `avgSize` (bits + 2 ones). */
  readonly maskS: number
  /** Easier mask, used from `avgSize` on (bits - 2 ones). */
  readonly maskL: number
}

/** Small, changes scattered: 16 KiB average cut 11.4x dedup on the versioned-file set (BENCHMARKS.md). */
export const CHUNKING_DEFAULTS: {
  readonly minSize: number
  readonly avgSize: number
  readonly maxSize: number
} = {
  minSize: 4 * 1024,
  avgSize: 16 * 1024,
  maxSize: 64 * 1024,
}

/**
 * The gear table: 256 pseudo-random 32-bit values from splitmix32 seeded with 0x63616972 ("cair").
 * Part of the format: docs/FORMAT.md gives the generator, so any reader can rebuild it.
 */
export const GEAR: Int32Array = buildGear(0x63616972)

function buildGear(seed: number): Int32Array {
  const table = new Int32Array(256)
  let state = seed | 0
  for (let i = 0; i < 256; i++) {
    state = (state + 0x9e3779b9) | 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    table[i] = z ^ (z >>> 16)
  }
  return table
}

/** A mask of `ones` one-bits at the top of a 32-bit word (the bits that see the most bytes). */
function topMask(ones: number): number {
  return ones <= 0 ? 0 : (~0 << (32 - ones)) | 0
}

/** Checks chunking options and derives the masks. `BAD_OPTION` names the first bad one. */
export function parseChunking(options: ChunkingOptions = {}): ChunkingParams {
  const mode = options.mode ?? 'cdc'
  const minSize = options.minSize ?? CHUNKING_DEFAULTS.minSize
  const avgSize = options.avgSize ?? CHUNKING_DEFAULTS.avgSize
  const maxSize = options.maxSize ?? CHUNKING_DEFAULTS.maxSize
  const bad = (message: string) => new CairnError('BAD_OPTION', message, { op: 'chunking' })
  if (!CHUNKING_MODES.includes(mode)) throw bad("chunking.mode must be 'cdc' or 'fixed'")
  for (const [name, value] of [
    ['minSize', minSize],
    ['avgSize', avgSize],
    ['maxSize', maxSize],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < chunkBytesMin || value > chunkBytesMax) {
      throw bad(
        `chunking.${name} must be an integer from ${String(chunkBytesMin)} to ${String(chunkBytesMax)}`,
      )
    }
  }
  if (!(minSize <= avgSize && avgSize <= maxSize)) throw bad('chunking needs minSize <= avgSize <= maxSize')
  if ((avgSize & (avgSize - 1)) !== 0) throw bad('chunking.avgSize must be a power of two')
  const bits = Math.log2(avgSize)
  return { mode, minSize, avgSize, maxSize, maskS: topMask(bits + 2), maskL: topMask(bits - 2) }
}

/**
 * Where the first chunk of `data[start, end)` ends (an offset into `data`). `end` must be the end
 * of the input or at least `maxSize` bytes past `start`, so the answer never depends on bytes
 * not yet seen.
 */
export function findCut(data: Uint8Array, start: number, end: number, params: ChunkingParams): number {
  const length = end - start
  if (length <= params.minSize) return end
  if (params.mode === 'fixed') return start + Math.min(params.avgSize, length)
  const barrier = start + Math.min(length, params.maxSize)
  const normal = start + Math.min(length, params.avgSize)
  const { maskS, maskL } = params
  const gear = GEAR
  let hash = 0
  let i = start + params.minSize
  // Typed-array reads in range are numbers; the casts only tell TypeScript what V8 knows.
  for (; i < normal; i++) {
    hash = ((hash << 1) + (gear[data[i] as number] as number)) | 0
    if ((hash & maskS) === 0) return i + 1
  }
  for (; i < barrier; i++) {
    hash = ((hash << 1) + (gear[data[i] as number] as number)) | 0
    if ((hash & maskL) === 0) return i + 1
  }
  // No boundary before maxSize: cut there (or at the end of the input when it comes first).
  return barrier
}

/** Cuts a whole buffer into chunks (views into `data`). */
export function chunkBuffer(data: Uint8Array, params: ChunkingParams): Uint8Array[] {
  const chunks: Uint8Array[] = []
  for (let start = 0; start < data.length;) {
    const cut = findCut(data, start, data.length, params)
    chunks.push(data.subarray(start, cut))
    start = cut
  }
  return chunks
}

/**
 * Cuts a stream into chunks with bounded memory (at most `maxSize` plus one input piece held),
 * giving the very same chunks as `chunkBuffer` of the whole input, however the input is split.
 * Each chunk is a view that stays valid only until the next one is asked for: copy what you keep.
 */
async function* chunkViews(
  source: AsyncIterable<Uint8Array>,
  params: ChunkingParams,
): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array = new Uint8Array(0)
  for await (const piece of source) {
    pending = concat(pending, piece)
    let start = 0
    // Cut only where a boundary is final: at least maxSize bytes ahead, or a boundary found.
    while (pending.length - start >= params.maxSize) {
      const cut = findCut(pending, start, pending.length, params)
      yield pending.subarray(start, cut)
      start = cut
    }
    // Keep the tail in a buffer of its own, so the piece it came from can be collected.
    pending = pending.slice(start)
  }
  for (let start = 0; start < pending.length;) {
    const cut = findCut(pending, start, pending.length, params)
    yield pending.subarray(start, cut)
    start = cut
  }
}

/** `chunkViews`, each chunk a fresh copy the caller may keep. */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  params: ChunkingParams,
): AsyncGenerator<Uint8Array> {
  for await (const view of chunkViews(source, params)) yield view.slice()
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}
