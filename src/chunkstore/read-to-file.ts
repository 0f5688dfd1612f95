/**
 * Reading an entry straight into a file: each ranged get is decoded, checked and written at its
 * chunks' places in the file by the thread that decoded it (a worker of the pool, or the calling
 * thread without one). No chunk comes back to the calling thread and nothing is gathered there:
 * it only plans the gets (read-entry.ts) and hands each one's bytes over. Restoring the bench's
 * 72 MB version this way instead of as a stream written by the calling thread: see
 * bench/chunkstore.bench.ts and README.md.
 *
 * The file is sized to the entry first, so the runs of zeros an entry may hold (a delta's
 * extension) are holes, never written. Memory: the same read-ahead bounds as a stream (16 MiB of
 * stored bytes, 32 MiB of raw), at most the store's `concurrencyMax` gets at once.
 *
 * Where the store's objects are files of this machine (the fs store over node), the thread that
 * decodes a get reads it too, from the pack's file (local-read.ts): the calling thread only plans.
 * Elsewhere (S3) the calling thread gets each range, into buffers reused from get to get
 * (read-buffers.ts), and hands it over. Measured on the bench's --full file (fresh processes,
 * interleaved, 2-core VM): restoring its first version (~40 gets) went from 820-1,100 ms with a
 * fresh buffer per get to 630-780 ms with reused ones (page faults ~35,000 -> ~18,000), and to
 * 684-696 ms (against 733-933 in the same runs) with the threads reading; its 20th version (~1,250
 * gets: its chunks lie in every version's packs) from 1,087-1,153 ms to 765-843 ms.
 *
 * The descriptor must stay open until the returned promise settles: every write has ended by then,
 * on success or failure (a write never lands after it settles, in this file or in another that
 * reused the descriptor number). It must be a regular file not opened for appending (Linux writes
 * an appending file's every write at its end, whatever the offset).
 */
import { fstat, ftruncate, write, writevSync } from 'node:fs'
import { translateFsError } from '../adapters/node/fs-errors.js'
import { CairnError } from '../core/errors.js'
import type { BlobStore } from '../core/ports.js'
import type { ChunkWork } from './chunk-work.js'
import type { IndexEntry } from './index-object.js'
import type { ChunkRef } from './ingest.js'
import type { PackRead } from './read-entry.js'
import { readLocalRange } from './local-read.js'
import { packKey, readPackRange } from './pack-store.js'
import { ReadBuffers } from './read-buffers.js'
import {
  AHEAD_BYTES,
  AHEAD_RAW_BYTES,
  AHEAD_WINDOWS,
  Gate,
  decodeRunInScratch,
  planReads,
  windowsOf,
} from './read-entry.js'

/** A piece of an entry, in order: a whole chunk, bytes `[from, to)` of one, or a run of zeros. */
export type EntryPiece =
  | ChunkRef
  | { readonly chunk: ChunkRef; readonly from: number; readonly to: number }
  | { readonly zeros: number }

/**
 * Where each chunk piece of an entry lies in it (runs of zeros only move the offset), the entry's
 * length, and how much of it is zeros. A piece whose lengths are not whole, not in order, or
 * outside its chunk is BAD_OPTION.
 */
export function layOut(pieces: readonly EntryPiece[]): {
  placed: { readonly ref: ChunkRef; readonly from: number; readonly to: number; readonly at: number }[]
  length: number
  zeros: number
} {
  const placed: { ref: ChunkRef; from: number; to: number; at: number }[] = []
  let length = 0
  let zeros = 0
  for (const piece of pieces) {
    if ('zeros' in piece) {
      if (!Number.isSafeInteger(piece.zeros) || piece.zeros < 0) {
        throw new CairnError('BAD_OPTION', `a run of ${String(piece.zeros)} zeros`, { op: 'entry.write' })
      }
      length += piece.zeros
      zeros += piece.zeros
      continue
    }
    const item =
      'chunk' in piece
        ? { ref: piece.chunk, from: piece.from, to: piece.to, at: length }
        : { ref: piece, from: 0, to: piece.length, at: length }
    if (
      !Number.isSafeInteger(item.from) ||
      !Number.isSafeInteger(item.to) ||
      item.from < 0 ||
      item.to > item.ref.length ||
      item.from > item.to
    ) {
      throw new CairnError(
        'BAD_OPTION',
        `a piece asks for bytes ${String(item.from)}-${String(item.to)} of a ${String(item.ref.length)}-byte chunk`,
        { op: 'entry.write', path: `chunks/${item.ref.id}` },
      )
    }
    placed.push(item)
    length += item.to - item.from
  }
  return { placed, length, zeros }
}

/** Bytes `[from, to)` of a chunk, placed at `at` in the file. */
export interface Placement {
  readonly entry: IndexEntry
  readonly from: number
  readonly to: number
  readonly at: number
}

/**
 * Decodes and checks the chunks lying in `bytes` (whose first byte is at pack offset `base`), then
 * writes each placement of them: `targets` holds four numbers per placement (the chunk's index in
 * `entries`, from, to, at). Placements that follow each other in the file go out in one write.
 * Returns the bytes written. Runs on a worker thread, or on the calling thread.
 */
export function placeRun(
  bytes: Uint8Array,
  entries: readonly IndexEntry[],
  base: number,
  targets: readonly number[],
  fd: number,
): number {
  // Written out below, before the next get is decoded on this thread: no buffer of their own.
  const raws = decodeRunInScratch(bytes, entries, base)
  const pieces: { readonly bytes: Uint8Array; readonly at: number }[] = []
  for (let i = 0; i < targets.length; i += 4) {
    const raw = raws[targets[i] as number] as Uint8Array
    pieces.push({ bytes: raw.subarray(targets[i + 1], targets[i + 2]), at: targets[i + 3] as number })
  }
  pieces.sort((a, b) => a.at - b.at)
  let written = 0
  for (let i = 0; i < pieces.length;) {
    const first = pieces[i] as { bytes: Uint8Array; at: number }
    const run: Uint8Array[] = []
    let end = first.at
    for (; i < pieces.length && (pieces[i] as { at: number }).at === end; i++) {
      const piece = pieces[i] as { bytes: Uint8Array; at: number }
      run.push(piece.bytes)
      end += piece.bytes.length
    }
    let count: number
    try {
      // libuv writes every buffer (looping over short writes and IOV_MAX) or fails.
      count = writevSync(fd, run, first.at)
    } catch (error) {
      throw writeError(error, fd, first.at)
    }
    if (count !== end - first.at) throw shortWrite(count, end - first.at, fd, first.at)
    written += count
  }
  return written
}

/** A get a thread reads itself from its pack's file (local-read.ts), and where its chunks go. */
export interface LocalPlacement {
  /** The pack's file (BlobStore `localPath`). */
  readonly path: string
  /** The pack's key, to name it in errors. */
  readonly key: string
  readonly offset: number
  readonly length: number
  /** As for `placeRun`: the chunks in the range, and four numbers per placement of them. */
  readonly entries: readonly IndexEntry[]
  readonly targets: readonly number[]
  readonly fd: number
}

/** `placeRun` for a get this thread reads itself. Returns the bytes written. */
export function placeLocalRun(placement: LocalPlacement): number {
  const { path, key, offset, length, entries, targets, fd } = placement
  return placeRun(readLocalRange(path, key, offset, length), entries, offset, targets, fd)
}

/** A stretch of the file: its gets, and for each the placements (four numbers each) it serves. */
interface FileWindow {
  readonly reads: readonly PackRead[]
  readonly targets: number[][]
  readonly storedBytes: number
  readonly rawBytes: number
}

/** The gets of a window's placements, and which placements each get serves. */
function planWindow(items: readonly Placement[]): FileWindow {
  const planned = planReads(items.map((item) => item.entry))
  const targets = planned.reads.map((): number[] => [])
  items.forEach((item, i) => {
    const where = planned.order[i] as { read: number; index: number }
    ;(targets[where.read] as number[]).push(where.index, item.from, item.to, item.at)
  })
  return { reads: planned.reads, targets, storedBytes: planned.storedBytes, rawBytes: planned.rawBytes }
}

function* fileWindows(placements: Iterable<Placement>): Generator<FileWindow> {
  for (const items of windowsOf(placements, (item) => item.entry)) yield planWindow(items)
}

/**
 * Writes every placement into the open file `fd`, sized to `length` first; `onBytes` hears of each
 * get's bytes once they are written. On a failure, the gets not yet started are skipped and the
 * first error is thrown once every one started has ended.
 */
export async function readIntoFile(
  blobs: BlobStore,
  work: ChunkWork,
  placements: Iterable<Placement>,
  fd: number,
  length: number,
  onBytes: (bytes: number) => void = () => undefined,
): Promise<void> {
  // Sized first: zeros are holes, and an existing file's old bytes are gone. An empty file (a new
  // one) is not cut to zero first: on ext4 that marks it for a flush of all its dirty pages when
  // it is closed (auto_da_alloc, for files replaced by truncation), which took 69-84 ms of a
  // 288 MB restore's ~790 (the close), in the caller's time.
  if ((await sizeOfFd(fd)) > 0) await truncateFd(fd, 0)
  await truncateFd(fd, length)
  const gate = new Gate(blobs.properties.concurrencyMax)
  // Kept between gets: as many as the read-ahead fills (sizes round up to a power of two, so
  // twice its stored bytes). Dropped with the restore.
  const buffers = new ReadBuffers(2 * AHEAD_BYTES)
  const inFlight = new Set<Promise<void>>()
  // Each pack's file, asked of the store once per restore, not once per get.
  const localPaths = new Map<string, string | undefined>()
  const localPathOf = (key: string): string | undefined => {
    if (!localPaths.has(key)) localPaths.set(key, blobs.localPath?.(key))
    return localPaths.get(key)
  }
  let aheadBytes = 0
  let aheadRaw = 0
  let failure: { readonly error: unknown } | undefined
  let wake: (() => void) | undefined
  try {
    for (const window of fileWindows(placements)) {
      // One window always runs; more while the read-ahead budget allows.
      while (
        failure === undefined &&
        inFlight.size > 0 &&
        (inFlight.size >= AHEAD_WINDOWS ||
          aheadBytes + window.storedBytes > AHEAD_BYTES ||
          aheadRaw + window.rawBytes > AHEAD_RAW_BYTES)
      )
        await new Promise<void>((resolve) => (wake = resolve))
      if (failure !== undefined) break
      aheadBytes += window.storedBytes
      aheadRaw += window.rawBytes
      // A failed get is recorded at once, so the gets not yet started (this window's too) skip.
      const reads = window.reads.map((read, r) =>
        gate
          .run(async () => {
            if (failure !== undefined) return
            const targets = window.targets[r] ?? []
            const key = packKey(read.packId)
            const path = localPathOf(key)
            if (path !== undefined) {
              // The thread that decodes the get reads it too (local-read.ts).
              const { offset, length, entries } = read
              onBytes(await work.placeLocal({ path, key, offset, length, entries, targets, fd }))
              return
            }
            const into = buffers.take(read.length)
            const bytes = await readPackRange(blobs, read.packId, read.offset, read.length, into)
            const lent = bytes.buffer === into.buffer
            // Read into a buffer of the store's own (which may share its memory with others,
            // as node's small buffers do): that one is never kept, ours is.
            if (!lent) buffers.give(into.buffer)
            const placed = await work.place(bytes, read.entries, read.offset, targets, fd, lent)
            if (lent) buffers.give(placed.bytes.buffer)
            onBytes(placed.written)
          })
          .catch((error: unknown) => {
            failure ??= { error }
          }),
      )
      // Settles once every read of the window has: none is left writing behind a failure.
      const tracked: Promise<void> = Promise.all(reads).then(() => {
        aheadBytes -= window.storedBytes
        aheadRaw -= window.rawBytes
        inFlight.delete(tracked)
        wake?.()
        wake = undefined
      })
      inFlight.add(tracked)
    }
  } catch (error) {
    // Planning failed (a chunk the index lacks, found as its window is planned): the gets not yet
    // started skip, as after a failed get.
    failure ??= { error }
  } finally {
    // Every write has ended before the caller may close the file.
    while (inFlight.size > 0) await Promise.allSettled([...inFlight])
  }
  if (failure !== undefined) throw failure.error
}

/** Writes all of `bytes` at `at` in the open file `fd`. */
export function writeAt(fd: number, bytes: Uint8Array, at: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    write(fd, bytes, 0, bytes.length, at, (error, count) => {
      if (error !== null) reject(writeError(error, fd, at))
      else if (count !== bytes.length) reject(shortWrite(count, bytes.length, fd, at))
      else resolve()
    })
  })
}

function sizeOfFd(fd: number): Promise<number> {
  return onFd(fd, (done) => {
    fstat(fd, (error, stats) => {
      done(error, error === null ? stats.size : 0)
    })
  })
}

function truncateFd(fd: number, length: number): Promise<void> {
  return onFd(fd, (done) => {
    ftruncate(fd, length, (error) => {
      done(error, undefined)
    })
  })
}

/** A callback call of node:fs on `fd`, its failure as `writeError`. */
function onFd<T>(
  fd: number,
  call: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      call((error, value) => {
        if (error === null) resolve(value)
        else reject(writeError(error, fd, 0))
      })
    } catch (error) {
      reject(writeError(error, fd, 0)) // a descriptor node refuses outright (not a number, negative)
    }
  })
}

/** An OS error of a write or truncate, as a CairnError naming the descriptor and offset. */
function writeError(error: unknown, fd: number, at: number): CairnError {
  const translated = translateFsError(error, 'entry.write', `fd ${String(fd)} @ ${String(at)}`)
  // translateFsError's permission hint speaks of the store's directory: this file is not in it.
  const context = { ...translated.context }
  delete context.hint
  return new CairnError(translated.code, translated.detail, context)
}

function shortWrite(count: number, expected: number, fd: number, at: number): CairnError {
  return new CairnError('IO', `wrote ${String(count)} of ${String(expected)} bytes`, {
    op: 'entry.write',
    path: `fd ${String(fd)} @ ${String(at)}`,
  })
}
