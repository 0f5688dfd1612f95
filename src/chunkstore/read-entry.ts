/**
 * Reading an entry back: its chunks in order, each decompressed and checked against its id.
 *
 * Chunks that lie back to back in one pack (an entry written in one go lies so) are fetched by a
 * single ranged get of up to 4 MiB, up to 16 MiB of such gets are in flight ahead of the consumer, and each
 * run is decoded and checked on the worker pool while the next is read: a restore runs at the
 * speed of inflate and hashing on every core rather than of one request per chunk.
 * Memory: at most 16 MiB of stored bytes and 32 MiB of their raw bytes read ahead (or one run,
 * when a run is larger), plus what the consumer holds.
 */
import type { BlobStore } from '../core/ports.js'
import type { ChunkWork } from './chunk-work.js'
import type { IndexEntry } from './index-object.js'
import { checkStoredChunk, readPackRange } from './pack-store.js'

const RUN_BYTES_MAX = 4 * 1024 * 1024
/** A run also stops at this many raw bytes: a well-compressed run must not decode into a flood. */
const RUN_RAW_BYTES_MAX = 8 * 1024 * 1024

interface Run {
  readonly entries: IndexEntry[]
  readonly offset: number
  length: number
  rawLength: number
}

function* runsOf(entries: Iterable<IndexEntry>): Generator<Run> {
  let run: Run | undefined
  for (const entry of entries) {
    const last = run?.entries[run.entries.length - 1]
    if (
      run !== undefined &&
      last !== undefined &&
      last.packId === entry.packId &&
      last.offset + last.storedLength === entry.offset &&
      run.length + entry.storedLength <= RUN_BYTES_MAX &&
      run.rawLength + entry.rawLength <= RUN_RAW_BYTES_MAX
    ) {
      run.entries.push(entry)
      run.length += entry.storedLength
      run.rawLength += entry.rawLength
      continue
    }
    if (run !== undefined) yield run
    run = { entries: [entry], offset: entry.offset, length: entry.storedLength, rawLength: entry.rawLength }
  }
  if (run !== undefined) yield run
}

/** The raw bytes of chunks stored back to back in `bytes`, whose first byte is at pack offset `base`. */
export function decodeRun(bytes: Uint8Array, entries: readonly IndexEntry[], base: number): Uint8Array[] {
  return entries.map((entry) => {
    const at = entry.offset - base
    return checkStoredChunk(entry, bytes.subarray(at, at + entry.storedLength))
  })
}

/** Read ahead at most this many stored bytes, raw bytes, and runs. */
const AHEAD_BYTES = 16 * 1024 * 1024
const AHEAD_RAW_BYTES = 32 * 1024 * 1024
const AHEAD_RUNS = 64

/** The raw bytes of each located chunk, in order. */
export async function* readEntryChunks(
  blobs: BlobStore,
  work: ChunkWork,
  located: readonly { readonly entry: IndexEntry }[],
): AsyncGenerator<Uint8Array> {
  const runs = runsOf(located.map((item) => item.entry))
  const inFlight: { bytes: number; rawBytes: number; raw: Promise<Uint8Array[]> }[] = []
  let aheadBytes = 0
  let aheadRaw = 0
  let pending = runs.next()
  const fill = () => {
    // Always one run in flight; more while the budget allows.
    while (
      pending.done !== true &&
      (inFlight.length === 0 ||
        (inFlight.length < AHEAD_RUNS &&
          aheadBytes + pending.value.length <= AHEAD_BYTES &&
          aheadRaw + pending.value.rawLength <= AHEAD_RAW_BYTES))
    ) {
      const run = pending.value
      const first = run.entries[0] as IndexEntry
      const raw = readPackRange(blobs, first.packId, run.offset, run.length).then((bytes) =>
        work.decode(bytes, run.entries, run.offset),
      )
      raw.catch(() => undefined) // awaited in order below; a failure surfaces there
      inFlight.push({ bytes: run.length, rawBytes: run.rawLength, raw })
      aheadBytes += run.length
      aheadRaw += run.rawLength
      pending = runs.next()
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
