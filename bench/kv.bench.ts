/**
 * The key-value store bench: durable writes, reads, scans, checkpoint and reopen of cairn's
 * embedded key-value store (src/kv), each beside LMDB (lmdb-js) on the same machine, in the same
 * run, on the same keys and values.
 *
 * - writes: `await kv.put(key, value)` from 1, 16 and 256 writers in flight, values of 100 B and
 *   4 KiB, random updates over a preloaded key set (100,000 keys of 100 B; 10,000 of 4 KiB: ~10
 *   and ~40 MB maps). The peer is LMDB's durable put, `await db.put(k, v); await db.flushed`, from
 *   as many writers: lmdb-js batches the puts issued in one event turn into one transaction, so
 *   with N writers in flight both stores group-commit N writes per sync (like-for-like); with 1
 *   writer both make one sync per write. `await db.put()` alone (committed, not yet flushed) is
 *   not durable and not measured.
 * - reads: `kv.get` of random keys against LMDB `db.get`, both returning a fresh copy; a full
 *   ordered scan against `db.getRange()`.
 * - the kv's own upkeep: a checkpoint of the whole map, and reopening (image + log replay).
 *
 * cairn's checkpoints run in the background at their defaults (every 50,000 writes or 60 s)
 * during the write measurements, which include their cost; the table counts them.
 */
import { randomFillSync } from 'node:crypto'
import { join } from 'node:path'
import { open as openLmdb } from 'lmdb'
import type { RootDatabase } from 'lmdb'
import { openKv } from '../src/kv/index.js'
import type { Kv } from '../src/kv/index.js'
import type { BenchOptions, BenchResult, Table } from './lib.js'
import { fmt, fmtRatio, latencyUs, median, now, reproduceCommand, Samples, withTempDir } from './lib.js'

const NAME = 'kv'
const VALUE_SIZES = [100, 4096] as const
const WRITERS = [1, 16, 256] as const
const KEY_BYTES = 16
const KEYS: Record<(typeof VALUE_SIZES)[number], number> = { 100: 100_000, 4096: 10_000 }
const WARMUP_MS = 150
const REOPEN_WRITES = 10_000
const MB = 1e6

interface Plan {
  readonly reps: number
  readonly writeMs: number
  readonly readMs: number
}
const QUICK: Plan = { reps: 2, writeMs: 1000, readMs: 400 }
const FULL: Plan = { reps: 5, writeMs: 3000, readMs: 1500 }

type Lmdb = RootDatabase<Uint8Array, Uint8Array>

interface Rate {
  readonly perSec: number
  readonly p50Us: number
  readonly p99Us: number
  readonly count: number
}

/** `writers` async loops, each awaiting its own operation until the deadline. */
async function writeLoop(
  writers: number,
  ms: number,
  op: (writer: number) => Promise<unknown>,
  samples?: Samples,
): Promise<Rate> {
  let count = 0
  const start = now()
  const until = start + ms
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      while (now() < until) {
        const t0 = now()
        await op(writer)
        samples?.push(now() - t0)
        count++
      }
    }),
  )
  const elapsed = now() - start
  const lat = samples === undefined ? { p50: Number.NaN, p99: Number.NaN } : latencyUs(samples)
  return { perSec: count / (elapsed / 1000), p50Us: lat.p50, p99Us: lat.p99, count }
}

async function timedWrites(
  writers: number,
  ms: number,
  op: (writer: number) => Promise<unknown>,
): Promise<Rate> {
  await writeLoop(writers, WARMUP_MS, op)
  return writeLoop(writers, ms, op, new Samples())
}

/** A synchronous loop of `op` for `ms`; operations per second. */
function readLoop(ms: number, op: () => unknown): number {
  let count = 0
  const start = now()
  const until = start + ms
  while (now() < until) {
    for (let i = 0; i < 256; i++) op()
    count += 256
  }
  return count / ((now() - start) / 1000)
}

/** A fast pseudo-random index below `bound` (xorshift32; the keys are already random). */
function indexer(seed: number): (bound: number) => number {
  let x = seed | 1
  return (bound) => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % bound
  }
}

const random = (bytes: number): Uint8Array => randomFillSync(new Uint8Array(bytes))

interface SizeResult {
  readonly size: number
  readonly keys: number
  readonly kv: Record<number, Rate>
  readonly lmdb: Record<number, Rate>
  readonly checkpointsDuringWrites: Record<number, number>
  readonly kvGetsPerSec: number
  readonly lmdbGetsPerSec: number
  readonly kvScanPerSec: number
  readonly lmdbScanPerSec: number
  /** Measured in the first repetition only (nothing to compare it with in LMDB). */
  readonly upkeep: Upkeep | undefined
}

interface Upkeep {
  readonly mapBytes: number
  /** The checkpoint after the write measurements (random updates: nearly every chunk changed). */
  readonly afterUpdatesMs: number
  readonly afterUpdatesNewBytes: number
  /** A checkpoint right after another one and a single put. */
  readonly afterOneMs: number
  readonly afterOneNewBytes: number
  readonly reopenMs: number
  readonly reopenReplayed: number
}

/** Checkpoints after the random updates and after one put; then REOPEN_WRITES writes, and reopens. */
async function measureUpkeep(
  dir: string,
  kv: Kv,
  write: (writer: number) => Promise<unknown>,
): Promise<{ upkeep: Upkeep; kv: Kv }> {
  let t = now()
  const afterUpdates = await kv.checkpoint()
  const afterUpdatesMs = now() - t
  await write(0)
  t = now()
  const afterOne = await kv.checkpoint()
  const afterOneMs = now() - t
  let issued = 0
  await Promise.all(
    Array.from({ length: 256 }, async (_, w) => {
      while (issued < REOPEN_WRITES) {
        issued++
        await write(w)
      }
    }),
  )
  await kv.close()
  t = now()
  const reopened = await openKv({ dir, checkpointOnClose: false })
  return {
    kv: reopened,
    upkeep: {
      mapBytes: afterOne?.logicalBytes ?? Number.NaN,
      afterUpdatesMs,
      afterUpdatesNewBytes: afterUpdates?.newBytes ?? Number.NaN,
      afterOneMs,
      afterOneNewBytes: afterOne?.newBytes ?? Number.NaN,
      reopenMs: now() - t,
      reopenReplayed: reopened.recovery.recordsReplayed,
    },
  }
}

/** Loads the same keys and values into both stores (not measured). */
async function preload(kv: Kv, db: Lmdb, keys: readonly Uint8Array[], size: number): Promise<void> {
  for (let at = 0; at < keys.length; at += 1000) {
    const slice = keys.slice(at, at + 1000).map((key) => [key, random(size)] as const)
    await kv.putMany(slice)
    db.transactionSync(() => {
      for (const [key, value] of slice) db.putSync(key, value)
    })
  }
  await db.flushed
  await kv.checkpoint()
}

async function measureSize(
  dir: string,
  size: 100 | 4096,
  plan: Plan,
  rep: number,
  progress: (line: string) => void,
): Promise<SizeResult> {
  const keys = Array.from({ length: KEYS[size] }, () => random(KEY_BYTES))
  const values = Array.from({ length: Math.max(...WRITERS) }, () => random(size))
  let kv = await openKv({ dir: join(dir, 'kv'), checkpointOnClose: false })
  const db: Lmdb = openLmdb<Uint8Array, Uint8Array>({
    path: join(dir, 'lmdb'),
    encoding: 'binary',
    keyEncoding: 'binary',
  })
  try {
    await preload(kv, db, keys, size)
    const pick = indexer(rep * 7919 + size)
    const key = () => keys[pick(keys.length)] as Uint8Array
    const kvRates: Record<number, Rate> = {}
    const lmdbRates: Record<number, Rate> = {}
    const checkpointsDuringWrites: Record<number, number> = {}
    const order = rep % 2 === 0 ? WRITERS : [...WRITERS].reverse()
    for (const writers of order) {
      const runKv = async () => {
        const before = kv.stats().checkpoints
        kvRates[writers] = await timedWrites(writers, plan.writeMs, (w) =>
          kv.put(key(), values[w] as Uint8Array),
        )
        checkpointsDuringWrites[writers] = kv.stats().checkpoints - before
      }
      const runLmdb = async () => {
        lmdbRates[writers] = await timedWrites(writers, plan.writeMs, async (w) => {
          await db.put(key(), values[w] as Uint8Array)
          await db.flushed
        })
      }
      // Alternate which goes first, so a drift of the disk hits both alike.
      if ((rep + writers) % 2 === 0) {
        await runKv()
        await runLmdb()
      } else {
        await runLmdb()
        await runKv()
      }
      progress(
        `rep ${String(rep + 1)} ${String(size)} B, ${String(writers)} writers: kv ${fmt(kvRates[writers]?.perSec ?? 0)}/s, ` +
          `LMDB ${fmt(lmdbRates[writers]?.perSec ?? 0)}/s`,
      )
    }

    const kvGetsPerSec = readLoop(plan.readMs, () => kv.get(key()))
    const lmdbGetsPerSec = readLoop(plan.readMs, () => db.get(key()))
    let t = now()
    let scanned = 0
    for (const entry of kv.scan()) scanned += entry[1].length > -1 ? 1 : 0
    const kvScanPerSec = scanned / ((now() - t) / 1000)
    t = now()
    scanned = 0
    for (const entry of db.getRange({})) scanned += entry.value.length > -1 ? 1 : 0
    const lmdbScanPerSec = scanned / ((now() - t) / 1000)

    let upkeep: Upkeep | undefined
    if (rep === 0) {
      const measured = await measureUpkeep(join(dir, 'kv'), kv, (w) => kv.put(key(), values[w] as Uint8Array))
      kv = measured.kv
      upkeep = measured.upkeep
    }
    return {
      size,
      keys: keys.length,
      kv: kvRates,
      lmdb: lmdbRates,
      checkpointsDuringWrites,
      kvGetsPerSec,
      lmdbGetsPerSec,
      kvScanPerSec,
      lmdbScanPerSec,
      upkeep,
    }
  } finally {
    await kv.close()
    await db.close()
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const plan = options.full ? FULL : QUICK
  const progress = (line: string): void => {
    process.stderr.write(`  ${line}\n`)
  }
  const results: SizeResult[] = []
  for (let rep = 0; rep < plan.reps; rep++) {
    for (const size of VALUE_SIZES) {
      results.push(
        await withTempDir(`${NAME}-${String(size)}`, (dir) => measureSize(dir, size, plan, rep, progress)),
      )
    }
  }
  return report(options, plan, results)
}

function report(options: BenchOptions, plan: Plan, results: readonly SizeResult[]): BenchResult {
  const writeRows: string[][] = []
  const ratios: Record<string, number[]> = {}
  const range = (values: readonly number[]): string =>
    values.length > 1 ? ` (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})` : ''
  for (const size of VALUE_SIZES) {
    const of = results.filter((r) => r.size === size)
    for (const writers of WRITERS) {
      const kv = of.map((r) => r.kv[writers]).filter((x): x is Rate => x !== undefined)
      const lmdb = of.map((r) => r.lmdb[writers]).filter((x): x is Rate => x !== undefined)
      const perRep = of.map(
        (r) => (r.kv[writers]?.perSec ?? Number.NaN) / (r.lmdb[writers]?.perSec ?? Number.NaN),
      )
      ratios[`${String(size)}B-${String(writers)}`] = perRep
      const checkpoints = of.map((r) => r.checkpointsDuringWrites[writers] ?? 0)
      const cell = (rates: readonly Rate[], key: 'perSec' | 'p50Us' | 'p99Us') =>
        fmt(median(rates.map((x) => x[key])))
      writeRows.push([
        'cairn kv put',
        `${String(size)} B`,
        String(writers),
        cell(kv, 'perSec'),
        cell(kv, 'p50Us'),
        cell(kv, 'p99Us'),
        `${fmtRatio(median(perRep))}${range(perRep)} of LMDB`,
        String(median(checkpoints)),
      ])
      writeRows.push([
        'LMDB put + await flushed',
        `${String(size)} B`,
        String(writers),
        cell(lmdb, 'perSec'),
        cell(lmdb, 'p50Us'),
        cell(lmdb, 'p99Us'),
        '1.00×',
        '-',
      ])
    }
  }
  const readRows: string[][] = []
  const upkeepRows: string[][] = []
  for (const size of VALUE_SIZES) {
    const of = results.filter((r) => r.size === size)
    const m = (f: (r: SizeResult) => number) => median(of.map(f))
    const keys = String(of[0]?.keys ?? 0)
    readRows.push([
      'get (random key), a fresh copy',
      `${String(size)} B`,
      keys,
      fmt(m((r) => r.kvGetsPerSec)),
      fmt(m((r) => r.lmdbGetsPerSec)),
      fmtRatio(m((r) => r.kvGetsPerSec / r.lmdbGetsPerSec)),
    ])
    readRows.push([
      'full scan in key order (entries/s)',
      `${String(size)} B`,
      keys,
      fmt(m((r) => r.kvScanPerSec)),
      fmt(m((r) => r.lmdbScanPerSec)),
      fmtRatio(m((r) => r.kvScanPerSec / r.lmdbScanPerSec)),
    ])
    const upkeep = of.find((r) => r.upkeep !== undefined)?.upkeep
    if (upkeep !== undefined) {
      const mb = (bytes: number) => fmt(bytes / MB, 2)
      upkeepRows.push([
        `${String(size)} B`,
        keys,
        mb(upkeep.mapBytes),
        `${fmt(upkeep.afterUpdatesMs)} (${mb(upkeep.afterUpdatesNewBytes)} MB new)`,
        `${fmt(upkeep.afterOneMs)} (${mb(upkeep.afterOneNewBytes)} MB new)`,
        fmt(upkeep.reopenReplayed),
        fmt(upkeep.reopenMs),
      ])
    }
  }
  const tables: Table[] = [
    {
      title: `Durable writes: random updates, N writers in flight (${String(plan.reps)} repetitions × ${String(plan.writeMs / 1000)} s, medians; ratio per repetition)`,
      headers: [
        'store',
        'value',
        'writers',
        'writes/s',
        'p50 µs',
        'p99 µs',
        'ratio (range)',
        'kv checkpoints during',
      ],
      rows: writeRows,
    },
    {
      title: `Reads (${String(plan.readMs / 1000)} s each, medians)`,
      headers: ['read', 'value', 'keys', 'cairn kv /s', 'LMDB /s', 'kv ÷ LMDB'],
      rows: readRows,
    },
    {
      title: "The kv store's upkeep (first repetition; LMDB has no counterpart)",
      headers: [
        'value',
        'keys',
        'map MB',
        'checkpoint after the random updates, ms',
        'checkpoint after 1 put, ms',
        'records replayed',
        'reopen ms',
      ],
      rows: upkeepRows,
    },
  ]
  const headline = VALUE_SIZES.flatMap((size) =>
    WRITERS.map(
      (w) =>
        `${String(size)} B × ${String(w)}: ${fmtRatio(median(ratios[`${String(size)}B-${String(w)}`] ?? []))}`,
    ),
  )
  return {
    name: NAME,
    summary: `cairn kv durable writes ÷ LMDB durable puts, same writers in flight: ${headline.join('; ')}`,
    tables,
    notes: [
      "Like-for-like: both acknowledge a write only once it is on stable storage and both group-commit concurrent writers. cairn's kv appends each write to its log (`sync: 'always'`: concurrent appends share one fdatasync) and applies it to its in-memory map once durable; LMDB's durable put is `await db.put(); await db.flushed` (lmdb-js batches the puts of one event turn into one transaction and, with its default overlappingSync, flushes after the commit). With 1 writer each makes one sync per write (LMDB: one transaction per put). `await db.put()` alone resolves once the transaction is committed and visible, before it is flushed: a crash can lose it, so it is not measured against these.",
      `Keys are ${String(KEY_BYTES)} random bytes; each repetition preloads ${fmt(KEYS[100])} keys of 100 B or ${fmt(KEYS[4096])} of 4 KiB into fresh stores, then updates random ones. Each writer writes its own preallocated value. Both stores run in this process, one after the other per writer count (which goes first alternates), on fresh files in os.tmpdir().`,
      "cairn's write figures include the background checkpoints that fell in the measurement (default cadence: every 50,000 writes or 60 s; each a full image of the map, deduplicated by the chunk store); 'kv checkpoints during' counts them. Upkeep: the checkpoint after the write measurements follows tens of thousands of random updates, which touch nearly every 16 KiB chunk of the image, so nearly all of it is new; the one after a single put reads and hashes the whole map and stores only the chunk(s) around the change.",
      `Reads: cairn's map is in memory (a sorted list of sorted leaves, latin1 key strings compared natively); LMDB reads a memory-mapped B+tree. Both return a fresh copy of the value. Reopen: after the checkpoints, ${fmt(REOPEN_WRITES)} more writes; then openKv (the store's recovery, reading and decoding the image, replaying the log; its first read starts the chunk store's worker threads).`,
    ],
    raw: { plan, reproduce: reproduceCommand(NAME, options), ratios, results },
  }
}
