/**
 * Log shipping: sealed segments of the local log copied to an object store (docs/FORMAT.md,
 * "Shipped segments"), so that another machine, starting from an empty directory, can restore
 * the log from the bucket (shipping-restore.ts) and recover to any shipped LSN.
 *
 * A sealed segment (every segment but the last, active one: the log syncs a segment whole before
 * it creates the next, and never writes to it again) is shipped once, byte for byte, under
 * `log/<segment file name>`, and never changes. Before it is shipped it is checked frame by frame
 * with the log's own reader, and its last LSN must be the next segment's base LSN - 1, so a
 * damaged local segment is refused (`CORRUPT_LOG`), never shipped as if it were good.
 *
 * The bucket's log must stay one history without holes, and the shipper checks what it can
 * cheaply: a name already shipped must hold the same segment (size and header; `ALREADY_EXISTS`
 * otherwise: the bucket holds another history), a shipped segment must not overlap its neighbours
 * (`ALREADY_EXISTS`), and it must continue the bucket's newest segment before it (`NOT_FOUND`
 * for a hole: records truncated locally before they were shipped; `allowGap` ships anyway).
 */
import { CairnError, isCairnError } from '../core/errors.js'
import type { BlobStore, Vfs } from '../core/ports.js'
import { SEGMENT_HEADER_BYTES } from './format.js'
import { checkSegmentBytes } from './segment-reader.js'
import { baseLsnOfName, listSegments } from './segments.js'
import type { SegmentRef } from './segments.js'

/** The key prefix of shipped segments. */
export const SHIPPED_PREFIX = 'log/'

/** A segment in the bucket. */
export interface ShippedSegment {
  readonly key: string
  /** The segment's file name, as in the local log. */
  readonly name: string
  readonly baseLsn: number
  readonly size: number
}

export interface ShipOptions {
  /**
   * Ship even when the first segment to ship does not continue the bucket's newest one (its
   * records were truncated locally before they were shipped). The bucket then has a hole: a
   * restore from an LSN before it is `NOT_FOUND`. Default false: `NOT_FOUND`, nothing shipped.
   */
  readonly allowGap?: boolean
}

export interface ShipResult {
  /** The keys put by this call, oldest first. */
  readonly shipped: string[]
  readonly bytes: number
}

/** The key a segment is shipped under. */
export function shippedKey(segmentName: string): string {
  return `${SHIPPED_PREFIX}${segmentName}`
}

/** The shipped segments, oldest first. Other keys under `log/` are ignored. */
export async function listShipped(blobs: BlobStore): Promise<ShippedSegment[]> {
  const found: ShippedSegment[] = []
  for await (const info of blobs.list(SHIPPED_PREFIX)) {
    const name = info.key.slice(SHIPPED_PREFIX.length)
    const baseLsn = baseLsnOfName(name)
    if (baseLsn !== undefined) found.push({ key: info.key, name, baseLsn, size: info.size })
  }
  return found.sort((a, b) => a.baseLsn - b.baseLsn)
}

/**
 * Deletes the shipped segments whose records are all below `beforeLsn`: a segment's last LSN is
 * the next shipped segment's base - 1, so the newest one is never deleted. Pass the oldest
 * retained checkpoint's LSN + 1. Oldest first, one at a time, so a crash midway leaves the
 * bucket's log contiguous. Resolves with the deleted keys.
 */
export async function pruneShipped(blobs: BlobStore, beforeLsn: number): Promise<string[]> {
  if (!Number.isSafeInteger(beforeLsn) || beforeLsn < 0) {
    throw new CairnError('BAD_OPTION', 'beforeLsn must be an integer >= 0', { op: 'wal.pruneShipped' })
  }
  const shipped = await listShipped(blobs)
  const doomed: string[] = []
  for (let i = 0; i + 1 < shipped.length; i++) {
    const segment = shipped[i]
    const next = shipped[i + 1]
    if (segment === undefined || next === undefined || next.baseLsn > beforeLsn) break
    doomed.push(segment.key)
  }
  for (const key of doomed) await blobs.delete([key])
  return doomed
}

/** A whole file's bytes. */
export async function readWholeFile(vfs: Vfs, path: string): Promise<Uint8Array> {
  const file = await vfs.open(path, 'read')
  try {
    return await file.read(0, await file.size())
  } finally {
    await file.close()
  }
}

/** True when two byte arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

export interface LogShipperOptions {
  readonly vfs: Vfs
  /** The log's directory inside the Vfs. Default `'wal'`, as `openWal`. */
  readonly dir?: string
  readonly blobs: BlobStore
}

/**
 * Ships the sealed segments of one local log to one bucket. Calls are serialised. It remembers
 * what it has shipped or checked, so a later call costs one `list` plus the new segments.
 */
export class LogShipper {
  readonly #vfs: Vfs
  readonly #dir: string
  readonly #blobs: BlobStore
  /** Keys this shipper put or checked against the local segment: key -> size. */
  readonly #verified = new Map<string, number>()
  /** Last LSNs of shipped segments this shipper knows: base LSN -> last LSN. */
  readonly #ends = new Map<number, number>()
  #tail: Promise<unknown> = Promise.resolve()

  constructor(options: LogShipperOptions) {
    this.#vfs = options.vfs
    this.#dir = options.dir ?? 'wal'
    this.#blobs = options.blobs
  }

  /**
   * Uploads every sealed segment the bucket does not hold yet, oldest first (see the file
   * comment for the checks). `NOT_FOUND` when the log directory does not exist.
   */
  ship(options: ShipOptions = {}): Promise<ShipResult> {
    const run = this.#tail.then(() => this.#ship(options))
    this.#tail = run.catch(() => undefined)
    return run
  }

  async #ship(options: ShipOptions): Promise<ShipResult> {
    const { segments: local } = await listSegments(this.#vfs, this.#dir)
    const bucket = new Map((await listShipped(this.#blobs)).map((s) => [s.baseLsn, s]))
    const result: { shipped: string[]; bytes: number } = { shipped: [], bytes: 0 }
    for (let i = 0; i + 1 < local.length; i++) {
      const segment = local[i]
      const next = local[i + 1]
      if (segment === undefined || next === undefined) break
      const present = bucket.get(segment.baseLsn)
      if (present !== undefined) {
        await this.#checkPresent(segment, present)
        this.#ends.set(segment.baseLsn, next.baseLsn - 1)
        continue
      }
      const key = shippedKey(segment.name)
      const bytes = await readWholeFile(this.#vfs, segment.path)
      const { lastLsn } = await checkSegmentBytes(bytes, segment.baseLsn, {
        op: 'wal.ship',
        path: segment.path,
      })
      if (lastLsn !== next.baseLsn - 1) {
        throw new CairnError(
          'CORRUPT_LOG',
          `the segment ends at LSN ${String(lastLsn)}, but the next one starts at ${String(next.baseLsn)}`,
          { op: 'wal.ship', path: segment.path, offset: bytes.length, lsn: lastLsn + 1 },
        )
      }
      await this.#checkNeighbours(segment, lastLsn, bucket, local, options)
      await this.#put(key, bytes)
      bucket.set(segment.baseLsn, { key, name: segment.name, baseLsn: segment.baseLsn, size: bytes.length })
      this.#verified.set(key, bytes.length)
      this.#ends.set(segment.baseLsn, lastLsn)
      result.shipped.push(key)
      result.bytes += bytes.length
    }
    return result
  }

  /** A name already shipped must hold this very segment: same size, same header (its salt). */
  async #checkPresent(segment: SegmentRef, present: ShippedSegment): Promise<void> {
    if (this.#verified.get(present.key) === present.size) return
    const file = await this.#vfs.open(segment.path, 'read')
    let size: number
    let header: Uint8Array
    try {
      size = await file.size()
      header = await file.read(0, SEGMENT_HEADER_BYTES)
    } finally {
      await file.close()
    }
    const same =
      size === present.size &&
      sameBytes(header, await this.#blobs.get(present.key, { offset: 0, length: header.length }))
    if (!same) {
      const why =
        size === present.size
          ? 'its header (salt) differs'
          : `${String(present.size)} bytes, the local segment ${String(size)}`
      throw conflict(present.key, `the bucket holds a different ${present.key} (${why})`)
    }
    this.#verified.set(present.key, size)
  }

  /** The segment about to be put must neither overlap its bucket neighbours nor leave a hole. */
  async #checkNeighbours(
    segment: SegmentRef,
    lastLsn: number,
    bucket: ReadonlyMap<number, ShippedSegment>,
    local: readonly SegmentRef[],
    options: ShipOptions,
  ): Promise<void> {
    let before: ShippedSegment | undefined
    let after: ShippedSegment | undefined
    for (const shipped of bucket.values()) {
      if (shipped.baseLsn < segment.baseLsn && shipped.baseLsn > (before?.baseLsn ?? -1)) before = shipped
      if (shipped.baseLsn > segment.baseLsn && shipped.baseLsn < (after?.baseLsn ?? Infinity)) after = shipped
    }
    if (after !== undefined && after.baseLsn <= lastLsn) {
      throw conflict(
        after.key,
        `the bucket's ${after.key} starts inside ${segment.name} (its LSNs up to ${String(lastLsn)})`,
      )
    }
    if (before === undefined) return
    const localBefore = local.findIndex((s) => s.baseLsn === before.baseLsn)
    if (localBefore >= 0 && local[localBefore + 1]?.baseLsn === segment.baseLsn) return
    const end = this.#ends.get(before.baseLsn) ?? (await this.#lastLsnOf(before))
    if (end >= segment.baseLsn) {
      throw conflict(
        before.key,
        `the bucket's ${before.key} holds LSNs up to ${String(end)}, past ${segment.name}'s base`,
      )
    }
    if (end < segment.baseLsn - 1 && options.allowGap !== true) {
      throw new CairnError(
        'NOT_FOUND',
        `records ${String(end + 1)}..${String(segment.baseLsn - 1)} are neither in the bucket nor in the local log`,
        {
          op: 'wal.ship',
          path: segment.path,
          lsn: end + 1,
          hint: 'ship before truncating the log; pass { allowGap: true } to ship past the hole',
        },
      )
    }
  }

  /** Downloads and checks a shipped segment this shipper knows nothing of; its last LSN. */
  async #lastLsnOf(shipped: ShippedSegment): Promise<number> {
    const bytes = await this.#blobs.get(shipped.key)
    const { lastLsn } = await checkSegmentBytes(bytes, shipped.baseLsn, { op: 'wal.ship', path: shipped.key })
    this.#ends.set(shipped.baseLsn, lastLsn)
    return lastLsn
  }

  /** Puts a segment if absent; a racing shipper that put the same size first is fine. */
  async #put(key: string, bytes: Uint8Array): Promise<void> {
    try {
      await this.#blobs.put(key, bytes, { ifAbsent: true })
    } catch (error) {
      if (!isCairnError(error, 'ALREADY_EXISTS')) throw error
      const info = await this.#blobs.head(key)
      if (info?.size !== bytes.length)
        throw conflict(key, `${key} appeared in the bucket with other bytes`, error)
    }
  }
}

/** One-shot {@link LogShipper.ship}: ships the sealed segments of the log in `logDir`. */
export function shipLog(
  vfs: Vfs,
  logDir: string,
  blobs: BlobStore,
  options: ShipOptions = {},
): Promise<ShipResult> {
  return new LogShipper({ vfs, dir: logDir, blobs }).ship(options)
}

function conflict(key: string, message: string, cause?: unknown): CairnError {
  return new CairnError('ALREADY_EXISTS', message, {
    op: 'wal.ship',
    path: key,
    ...(cause === undefined ? {} : { cause }),
    hint:
      'the bucket holds another history of this log (a second writer, or a log restored to an ' +
      'earlier LSN and written on): ship it under another prefix, or delete the diverging shipped segments',
  })
}
