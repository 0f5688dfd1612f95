/**
 * The write path of one entry, as a pipeline over spans (span.ts):
 *
 *   cut + hash (worker) -> stitch + claim (in order) -> compress new chunks (worker) -> add (in order)
 *
 * Only chunks nobody holds are compressed: a later version of an entry that is mostly unchanged
 * costs little more than cutting and hashing it. At most `depth` spans are in flight, so memory
 * is bounded whatever the entry's size. The sink (the chunk store) decides what is new, and takes
 * the new chunks in entry order.
 */
import type { ChunkId } from '../core/ids.js'
import type { ChunkWork } from './chunk-work.js'
import type { ChunkingParams } from './chunker.js'
import type { StoredChunk } from './codec.js'
import type { EntryReader } from './source.js'
import { SPAN_BYTES, SpanBuffers, spanStream, stitchSpan } from './span.js'
import type { SpanChunk } from './span.js'

export interface IngestSink {
  /** Claims a chunk if nobody holds it: true when it is new and will be added. */
  claim(id: ChunkId, length: number): boolean
  /** Takes a claimed chunk's stored form, in entry order. Synchronous: a claim is added whole or not at all. */
  add(id: ChunkId, length: number, stored: StoredChunk): void
  /** Called after each span's new chunks are added: where full packs are put (and back-pressure applied). */
  afterSpan(): Promise<void>
  /** Gives back a claim that will never be added (the ingest failed). */
  release(id: ChunkId): void
}

/** One chunk of an entry: its id and raw length. An entry is its chunk list, in order. */
export interface ChunkRef {
  readonly id: ChunkId
  readonly length: number
}

export interface IngestResult {
  readonly chunks: ChunkRef[]
  /** The entry's length. */
  readonly logicalBytes: number
  /** Raw bytes of the chunks this entry added to the store. */
  readonly newBytes: number
  /** Their bytes as stored (compressed where that paid). */
  readonly storedBytes: number
  readonly newChunks: number
}

export async function ingestEntry(
  input: AsyncIterable<Uint8Array> | EntryReader,
  params: ChunkingParams,
  work: ChunkWork,
  compression: 'deflate' | 'none',
  sink: IngestSink,
  options: { readonly depth: number; readonly spanBytes?: number; readonly buffers?: SpanBuffers },
): Promise<IngestResult> {
  const { depth, spanBytes = SPAN_BYTES, buffers = new SpanBuffers(work.shared) } = options
  const chunks: ChunkRef[] = []
  let logicalBytes = 0
  let newBytes = 0
  let storedBytes = 0
  let newChunks = 0
  const claimed = new Set<ChunkId>()
  let aborted = false
  // Where the next true chunk starts, in the entry; each stitch waits for the one before.
  let stitched: Promise<number> = Promise.resolve(0)
  let added: Promise<void> = Promise.resolve()
  // The spans in flight: the promise that ends each, and every step of it (to settle on failure).
  const window: { added: Promise<void>; steps: Promise<unknown>[] }[] = []
  try {
    for await (const span of spanStream(input, params.maxSize, spanBytes, buffers)) {
      const steps: Promise<unknown>[] = []
      // Every step is observed here, so none is an unhandled rejection; each is awaited below.
      const track = <T>(step: Promise<T>): Promise<T> => {
        step.catch(() => undefined)
        steps.push(step)
        return step
      }
      const cuts = track(work.cut(span, params))
      const stitch = track(
        Promise.all([cuts, stitched]).then(([spanCuts, from]) => {
          // After a failure nothing more is claimed: every claim must be released or added.
          if (aborted) throw new Error('ingest aborted')
          const result = stitchSpan(span, spanCuts, from - span.base, params)
          const fresh: SpanChunk[] = []
          for (const chunk of result.chunks) {
            const length = chunk.end - chunk.start
            chunks.push({ id: chunk.id, length })
            logicalBytes += length
            if (sink.claim(chunk.id, length)) {
              claimed.add(chunk.id)
              fresh.push(chunk)
            }
          }
          return { fresh, next: span.base + result.next }
        }),
      )
      stitched = track(stitch.then((result) => result.next))
      const encoded = track(
        stitch.then(({ fresh }) =>
          fresh.length === 0
            ? []
            : work.encode(
                span.bytes,
                fresh.flatMap((chunk) => [chunk.start, chunk.end]),
                compression,
              ),
        ),
      )
      added = track(
        Promise.all([stitch, encoded, added]).then(async ([{ fresh }, stored]) => {
          if (aborted) throw new Error('ingest aborted')
          for (const [i, chunk] of fresh.entries()) {
            const form = stored[i] as StoredChunk
            const length = chunk.end - chunk.start
            sink.add(chunk.id, length, form)
            claimed.delete(chunk.id)
            newChunks++
            newBytes += length
            storedBytes += form.bytes.length
          }
          // Cut, stitched, encoded and added: nothing reads the span's buffer any more.
          buffers.give(span.bytes)
          await sink.afterSpan()
        }),
      )
      window.push({ added, steps })
      // Bounded memory: at most `depth` spans in flight.
      if (window.length >= depth) {
        await window[0]?.added
        window.shift() // only once it succeeded: on failure its steps are settled below
      }
      // Filling spans is synchronous: let the workers' replies in between.
      else await new Promise((resolve) => setImmediate(resolve))
    }
    await added
  } catch (error) {
    // Once every step in flight has settled (and none claims any more), chunks claimed but never
    // added are given back: nothing may be deduplicated against a chunk that will not be stored.
    aborted = true
    await Promise.allSettled(window.flatMap((span) => span.steps))
    for (const id of claimed) sink.release(id)
    throw error
  }
  return { chunks, logicalBytes, newBytes, storedBytes, newChunks }
}
