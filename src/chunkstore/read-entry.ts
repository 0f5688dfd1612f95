/**
 * Reading an entry back: its chunks in order, each decompressed and checked against its id.
 *
 * The entry is read a window at a time (up to 8 MiB of its bytes). A window's chunks are grouped
 * by pack and sorted by offset, and chunks close together in a pack are fetched by one ranged get
 * (up to 4 MiB), gaps included while the gap bytes stay fewer than the chunk bytes. So a later
 * version whose chunks alternate between an old pack and a few new ones still reads each pack in
 * long stretches, not one request per stretch between two changes (measured on the bench's
 * versioned file: 518 gets for 72 MB before, ~40 after). Each get is decoded and checked on the
 * worker pool while the next windows are read: a restore runs at the speed of inflate and hashing
 * on every core.
 *
 * Memory: at most 16 MiB of stored bytes and 32 MiB of their raw bytes read ahead (or one window,
 * when a window is larger), plus what the consumer holds; at most the store's `concurrencyMax`
 * gets at once.
 */
import type { ChunkId, PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import type { ChunkWork } from './chunk-work.js'
import type { IndexEntry } from './index-object.js'
import { CODEC_RAW } from './codec.js'
import { checkStoredChunk, checkStoredChunkInto, readPackRange } from './pack-store.js'

/** The most stored bytes one get reads (a chunk larger than this is read alone). */
export const READ_BYTES_MAX: number = 4 * 1024 * 1024
/** A read also stops at this many raw bytes: a well-compressed read must not decode into a flood. */
const READ_RAW_BYTES_MAX = 8 * 1024 * 1024
/** The most of an entry's bytes read as one window. */
export const WINDOW_RAW_BYTES: number = 8 * 1024 * 1024
/** Chunks closer than this in a pack are read together (the gap is read and dropped)... */
const GAP_BYTES_MAX = 256 * 1024

/** One ranged get of a pack, and the chunks in it (ascending offsets, each once). */
export interface PackRead {
  readonly packId: PackId
  readonly offset: number
  length: number
  rawLength: number
  /** Bytes of the read that belong to no chunk asked for. */
  gapBytes: number
  readonly entries: IndexEntry[]
}

/** A stretch of the entry: its reads, and where each of its chunks is among them, in entry order. */
export interface ReadWindow {
  readonly reads: PackRead[]
  readonly order: readonly { readonly read: number; readonly index: number }[]
  readonly storedBytes: number
  readonly rawBytes: number
}

/**
 * The gets that fetch `entries` (chunks of one window): by pack, by offset, near ones merged. A
 * chunk id is read from one place: the index gives each id one entry.
 */
export function planReads(entries: readonly IndexEntry[]): ReadWindow {
  // Keyed by chunk id (the index places each chunk once): the ids are the entry's own strings,
  // hashed once, where keys of pack id and offset were three new 70-character strings per chunk.
  // Packs are numbered in the order they first appear, so the sort compares numbers, not 64-hex
  // ids. Planning the 34 windows of the bench's 20th --full version (~15,000 chunks, 1,247 gets)
  // took 43 ms in a fresh process and 13 warm before, 20 and 3.5 after.
  const unique = new Map<ChunkId, IndexEntry>()
  for (const entry of entries) unique.set(entry.chunkId, entry)
  const packNo = new Map<PackId, number>()
  const sorted = [...unique.values()].map((entry) => {
    let no = packNo.get(entry.packId)
    if (no === undefined) {
      no = packNo.size
      packNo.set(entry.packId, no)
    }
    return { entry, no }
  })
  sorted.sort((a, b) => a.no - b.no || a.entry.offset - b.entry.offset)
  const reads: PackRead[] = []
  const where = new Map<ChunkId, { read: number; index: number }>()
  let read: PackRead | undefined
  for (const { entry } of sorted) {
    const end = read === undefined ? 0 : read.offset + read.length
    const gap = entry.offset - end
    const joins =
      read !== undefined &&
      read.packId === entry.packId &&
      gap >= 0 &&
      gap <= GAP_BYTES_MAX &&
      // ...while the read holds fewer dead bytes than chunk bytes.
      read.gapBytes + gap <= read.length - read.gapBytes + entry.storedLength &&
      read.length + gap + entry.storedLength <= READ_BYTES_MAX &&
      read.rawLength + entry.rawLength <= READ_RAW_BYTES_MAX
    if (read === undefined || !joins) {
      read = { packId: entry.packId, offset: entry.offset, length: 0, rawLength: 0, gapBytes: 0, entries: [] }
      reads.push(read)
    } else {
      read.gapBytes += gap
      read.length += gap
    }
    where.set(entry.chunkId, { read: reads.length - 1, index: read.entries.length })
    read.entries.push(entry)
    read.length += entry.storedLength
    read.rawLength += entry.rawLength
  }
  let storedBytes = 0
  let rawBytes = 0
  for (const r of reads) {
    storedBytes += r.length
    rawBytes += r.rawLength
  }
  const order = entries.map((entry) => where.get(entry.chunkId) as { read: number; index: number })
  return { reads, order, storedBytes, rawBytes }
}

/**
 * Consecutive windows of `items` holding about `WINDOW_RAW_BYTES` of chunks each (at least one
 * item each), `entryOf` naming an item's chunk.
 */
export function* windowsOf<T>(items: Iterable<T>, entryOf: (item: T) => IndexEntry): Generator<T[]> {
  let window: T[] = []
  let raw = 0
  for (const item of items) {
    const { rawLength } = entryOf(item)
    if (window.length > 0 && raw + rawLength > WINDOW_RAW_BYTES) {
      yield window
      window = []
      raw = 0
    }
    window.push(item)
    raw += rawLength
  }
  if (window.length > 0) yield window
}

/**
 * The raw bytes of chunks lying in `bytes` (whose first byte is at pack offset `base`), in the order
 * given; bytes between them are skipped.
 */
export function decodeRun(bytes: Uint8Array, entries: readonly IndexEntry[], base: number): Uint8Array[] {
  return entries.map((entry) => checkStoredChunk(entry, storedIn(bytes, entry, base)))
}

/** A chunk's stored bytes in `bytes`, whose first byte is at pack offset `base`. */
function storedIn(bytes: Uint8Array, entry: IndexEntry, base: number): Uint8Array {
  const at = entry.offset - base
  return bytes.subarray(at, at + entry.storedLength)
}

/** Where a thread decodes chunks it only writes out or checks (kept for reuse; one get's raw bytes). */
let scratch = new Uint8Array(0)

/**
 * `decodeRun`'s chunks for a caller that is done with them before its next call: a raw chunk is a
 * view of `bytes`, a deflated one a view of this thread's scratch buffer, reused from call to
 * call (no allocation, page faults or garbage per chunk).
 */
export function decodeRunInScratch(
  bytes: Uint8Array,
  entries: readonly IndexEntry[],
  base: number,
): Uint8Array[] {
  let needed = 1 // a byte to spare after the last chunk (inflater.ts)
  for (const entry of entries) if (entry.codec !== CODEC_RAW) needed += entry.rawLength
  // Sized for the largest get at once: growing it get by get faulted in fresh pages each time.
  if (scratch.length < needed) scratch = new Uint8Array(Math.max(needed, READ_RAW_BYTES_MAX + 1))
  let put = 0
  return entries.map((entry) => {
    const stored = storedIn(bytes, entry, base)
    if (entry.codec === CODEC_RAW) return checkStoredChunk(entry, stored)
    const raw = checkStoredChunkInto(entry, stored, scratch, put)
    put += entry.rawLength
    return raw
  })
}

/** Runs at most `width` tasks at once, the others in the order they came. */
export class Gate {
  readonly #width: number
  #running = 0
  readonly #queue: (() => void)[] = []

  constructor(width: number) {
    this.#width = Math.max(1, Math.floor(width))
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#width) await new Promise<void>((resolve) => this.#queue.push(resolve))
    else this.#running++
    try {
      return await task()
    } finally {
      // The slot passes straight to the next in line (it stays counted), or is freed.
      const next = this.#queue.shift()
      if (next === undefined) this.#running--
      else next()
    }
  }
}

/** The first failure among settled reads, in the window's read order. */
function firstFailure(results: readonly PromiseSettledResult<unknown>[]): unknown {
  for (const result of results) if (result.status === 'rejected') return result.reason
  return undefined
}

/** Read ahead at most this many stored bytes (gaps included), raw bytes, and windows. */
export const AHEAD_BYTES: number = 16 * 1024 * 1024
export const AHEAD_RAW_BYTES: number = 32 * 1024 * 1024
export const AHEAD_WINDOWS: number = 16

function* readWindows(located: readonly { readonly entry: IndexEntry }[]): Generator<ReadWindow> {
  for (const window of windowsOf(located, (item) => item.entry))
    yield planReads(window.map((item) => item.entry))
}

/** The raw bytes of each located chunk, in order. */
export async function* readEntryChunks(
  blobs: BlobStore,
  work: ChunkWork,
  located: readonly { readonly entry: IndexEntry }[],
): AsyncGenerator<Uint8Array> {
  const windows = readWindows(located)
  const inFlight: { bytes: number; rawBytes: number; raw: Promise<Uint8Array[]> }[] = []
  // A window may hold hundreds of reads (chunks spread over many packs): at most the store's
  // concurrency run at once, the earlier windows' first (review found 964 at once, and EMFILE).
  const gate = new Gate(blobs.properties.concurrencyMax)
  let aheadBytes = 0
  let aheadRaw = 0
  let pending = windows.next()
  const fill = () => {
    // Always one window in flight; more while the budget allows.
    while (
      pending.done !== true &&
      (inFlight.length === 0 ||
        (inFlight.length < AHEAD_WINDOWS &&
          aheadBytes + pending.value.storedBytes <= AHEAD_BYTES &&
          aheadRaw + pending.value.rawBytes <= AHEAD_RAW_BYTES))
    ) {
      const window = pending.value
      const decoded = window.reads.map((read) =>
        gate.run(() =>
          readPackRange(blobs, read.packId, read.offset, read.length).then((bytes) =>
            work.decode(bytes, read.entries, read.offset),
          ),
        ),
      )
      // Settles once every read of the window has: none is left running behind a failure.
      const raw = Promise.allSettled(decoded).then((results) =>
        window.order.map(({ read, index }) => {
          const result = results[read] as PromiseSettledResult<Uint8Array[]>
          if (result.status === 'rejected') throw firstFailure(results)
          return result.value[index] as Uint8Array
        }),
      )
      raw.catch(() => undefined) // awaited in order below; a failure surfaces there
      inFlight.push({ bytes: window.storedBytes, rawBytes: window.rawBytes, raw })
      aheadBytes += window.storedBytes
      aheadRaw += window.rawBytes
      pending = windows.next()
    }
  }
  try {
    fill()
    for (let head = inFlight.shift(); head !== undefined; head = inFlight.shift()) {
      const chunks = await head.raw
      aheadBytes -= head.bytes
      aheadRaw -= head.rawBytes
      fill()
      yield* chunks
    }
  } finally {
    // A consumer that stops early leaves no read unobserved.
    await Promise.allSettled(inFlight.map((item) => item.raw))
  }
}
