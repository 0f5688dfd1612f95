/**
 * The write-ahead log bench: durable appends and replay, each against its physical limit
 * measured in the same run on the same disk.
 *
 * - raw limit: a blocking loop of `fs.writeSync` + `fs.fdatasyncSync` on a fresh file, one record
 *   per sync and N records per sync (one write of N records, one fdatasync);
 * - cairn, `sync: 'always'`: 1 appender (sequential `await wal.append`) and 64 concurrent
 *   appenders; the ratio against the raw loop at the same records-per-fdatasync;
 * - peers: LMDB durable puts (`put` then `await db.flushed`), SQLite WAL synchronous=FULL when
 *   better-sqlite3 is installed;
 * - replay: open + `readLog({ from: 1 })` over a 128 MiB (quick) / 1 GiB (--full) log of 4 KiB
 *   records, against a raw sequential read of the same segment files.
 *
 * Every measurement runs in a fresh temp dir under os.tmpdir(). The disk's speed drifts by tens
 * of percent from one second to the next here, so cairn and the raw loops it is compared with
 * take turns in 250 ms slices on open files (interleaved()), and a ratio is the median over the
 * repetitions of the ratio of their summed slices.
 */
import { randomFillSync } from 'node:crypto'
import { closeSync, fdatasyncSync, openSync, readdirSync, readSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { open as openLmdb } from 'lmdb'
import { createNodeVfs } from '../src/adapters/node/node-vfs.js'
import type { OpenMode, Vfs, VfsFile } from '../src/core/ports.js'
import { openWal } from '../src/wal/index.js'
import type { Wal, WalStats } from '../src/wal/index.js'
import type { BenchOptions, BenchResult, Table } from './lib.js'
import {
  fmt,
  fmtRatio,
  latencyUs,
  median,
  now,
  reproduceCommand,
  Samples,
  verdict,
  withTempDir,
} from './lib.js'

const NAME = 'wal'
const SEGMENT_BYTES = 64 * 1024 * 1024
const RECORD_SIZES = [128, 4096] as const
const CONCURRENT = 64
const WARMUP_MS = 150
const TARGET_SINGLE = 0.9
const TARGET_CONCURRENT = 0.8
const TARGET_REPLAY_MBPS = 400
const REPLAY_RECORD_BYTES = 4096
const MB = 1e6
const MiB = 1024 * 1024
/** The io mode of a default NodeVfs ('sync' or 'async'), which cairn's figures use. */
const DEFAULT_IO = createNodeVfs({ root: '.' }).io

interface Plan {
  readonly reps: number
  readonly measureMs: number
  readonly replayBytes: number
  readonly replayReps: number
}

const QUICK: Plan = { reps: 3, measureMs: 1000, replayBytes: 128 * MiB, replayReps: 3 }
const FULL: Plan = { reps: 5, measureMs: 3000, replayBytes: 1024 * MiB, replayReps: 3 }

// ---------------------------------------------------------------------------------------------
// A Vfs that counts what reaches the disk (an independent check of wal.stats())
// ---------------------------------------------------------------------------------------------

interface IoCounts {
  reads: number
  bytesRead: number
  fdatasyncs: number
  fsyncs: number
  fsyncDirs: number
  writes: number
  bytesWritten: number
}

function countingVfs(inner: Vfs): { vfs: Vfs; counts: IoCounts } {
  const counts: IoCounts = {
    reads: 0,
    bytesRead: 0,
    fdatasyncs: 0,
    fsyncs: 0,
    fsyncDirs: 0,
    writes: 0,
    bytesWritten: 0,
  }
  const wrap = (file: VfsFile): VfsFile => ({
    get path() {
      return file.path
    },
    read: async (position, length) => {
      const bytes = await file.read(position, length)
      counts.reads++
      counts.bytesRead += bytes.length
      return bytes
    },
    write: (data, position) => {
      counts.writes++
      counts.bytesWritten += data.length
      return file.write(data, position)
    },
    append: (data) => {
      counts.writes++
      counts.bytesWritten += data.length
      return file.append(data)
    },
    size: () => file.size(),
    truncate: (size) => file.truncate(size),
    fdatasync: () => {
      counts.fdatasyncs++
      return file.fdatasync()
    },
    fsync: () => {
      counts.fsyncs++
      return file.fsync()
    },
    close: () => file.close(),
  })
  const vfs: Vfs = {
    properties: inner.properties,
    open: async (path: string, mode: OpenMode) => wrap(await inner.open(path, mode)),
    rename: (source, target) => inner.rename(source, target),
    link: (existing, target) => inner.link(existing, target),
    unlink: (path) => inner.unlink(path),
    readdir: (path) => inner.readdir(path),
    mkdir: (path, options) => inner.mkdir(path, options),
    rmdir: (path) => inner.rmdir(path),
    fsyncDir: (path) => {
      counts.fsyncDirs++
      return inner.fsyncDir(path)
    },
    stat: (path) => inner.stat(path),
  }
  return { vfs, counts }
}

// ---------------------------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------------------------

interface Measurement {
  readonly records: number
  readonly seconds: number
  readonly recordsPerSec: number
  /** fdatasync calls per second; NaN where unknown (LMDB, SQLite). */
  readonly syncsPerSec: number
  readonly recordsPerSync: number
  /** Per sync for the raw loop, per append/put for everything else. */
  readonly p50Us: number
  readonly p99Us: number
  readonly extra?: Record<string, unknown>
}

function random(bytes: number): Uint8Array {
  return randomFillSync(new Uint8Array(bytes))
}

function measurement(
  records: number,
  syncs: number,
  ms: number,
  samples: Samples,
  extra?: Record<string, unknown>,
): Measurement {
  const lat = latencyUs(samples)
  const seconds = ms / 1000
  return {
    records,
    seconds,
    recordsPerSec: records / seconds,
    syncsPerSec: Number.isNaN(syncs) ? Number.NaN : syncs / seconds,
    recordsPerSync: Number.isNaN(syncs) || syncs === 0 ? Number.NaN : records / syncs,
    p50Us: lat.p50,
    p99Us: lat.p99,
    ...(extra === undefined ? {} : { extra }),
  }
}

/** Slices in which cairn and its raw peers take turns, so all of them see the same disk. */
const SLICE_MS = 250

/** The accounting both raw writers share: a latency sample per sync, and the totals. */
class SyncMeter {
  readonly samples = new Samples()
  records = 0
  syncs = 0
  ms = 0

  protected countSync(elapsedMs: number, records: number): void {
    this.samples.push(elapsedMs)
    this.syncs++
    this.records += records
  }

  result(): Measurement {
    return measurement(this.records, this.syncs, this.ms, this.samples)
  }
}

/**
 * The raw limit on one open, fresh file: write `batch` records with one `writeSync` and make
 * them durable with one `fdatasyncSync`, in a blocking loop. With `preZeroed` the file is first
 * filled with zeros and synced, and the loop overwrites it (no size change per sync).
 */
class RawWriter extends SyncMeter {
  readonly #fd: number
  readonly #recordBytes: number
  readonly #preZeroed: boolean
  #buffer: Uint8Array = new Uint8Array(0)
  #position = 0
  static readonly PRE_ZEROED_BYTES = 32 * MiB

  constructor(path: string, recordBytes: number, preZeroed = false) {
    super()
    this.#fd = openSync(path, 'w')
    this.#recordBytes = recordBytes
    this.#preZeroed = preZeroed
    if (preZeroed) {
      const zeros = new Uint8Array(MiB)
      for (let at = 0; at < RawWriter.PRE_ZEROED_BYTES; at += zeros.length) {
        writeSync(this.#fd, zeros, 0, zeros.length, at)
      }
      fdatasyncSync(this.#fd)
    }
  }

  /** Writes and syncs batches of `batch` records for `ms`; counted unless `warmup`. */
  run(batch: number, ms: number, warmup = false): void {
    if (this.#buffer.length !== batch * this.#recordBytes) this.#buffer = random(batch * this.#recordBytes)
    const buffer = this.#buffer
    const start = now()
    const until = start + ms
    for (let t = start; t < until;) {
      if (this.#preZeroed) {
        if (this.#position + buffer.length > RawWriter.PRE_ZEROED_BYTES) this.#position = 0
        writeSync(this.#fd, buffer, 0, buffer.length, this.#position)
        this.#position += buffer.length
      } else {
        writeSync(this.#fd, buffer)
      }
      fdatasyncSync(this.#fd)
      const t1 = now()
      if (!warmup) this.countSync(t1 - t, batch)
      t = t1
    }
    if (!warmup) this.ms += now() - start
  }

  close(): void {
    closeSync(this.#fd)
  }
}

/** The raw loop alone, after a warm-up, on a fresh file in `dir`. */
function rawLoop(
  dir: string,
  recordBytes: number,
  batch: number,
  ms: number,
  preZeroed = false,
): Measurement {
  const raw = new RawWriter(join(dir, 'raw.log'), recordBytes, preZeroed)
  try {
    raw.run(batch, WARMUP_MS, true)
    raw.run(batch, ms)
    return raw.result()
  } finally {
    raw.close()
  }
}

/**
 * The raw loop through cairn's own NodeVfs (`VfsFile.write` + `VfsFile.fdatasync`, with the
 * default io mode, as cairn uses it): the ceiling of any log that does its I/O through the Vfs.
 */
class VfsWriter extends SyncMeter {
  readonly #file: VfsFile
  readonly #recordBytes: number
  #buffer: Uint8Array = new Uint8Array(0)
  #position = 0

  private constructor(file: VfsFile, recordBytes: number) {
    super()
    this.#file = file
    this.#recordBytes = recordBytes
  }

  static async open(dir: string, recordBytes: number): Promise<VfsWriter> {
    return new VfsWriter(await createNodeVfs({ root: dir }).open('vfs.log', 'create'), recordBytes)
  }

  async run(batch: number, ms: number, warmup = false): Promise<void> {
    if (this.#buffer.length !== batch * this.#recordBytes) this.#buffer = random(batch * this.#recordBytes)
    const buffer = this.#buffer
    const start = now()
    const until = start + ms
    for (let t = start; t < until;) {
      await this.#file.write(buffer, this.#position)
      this.#position += buffer.length
      await this.#file.fdatasync()
      const t1 = now()
      if (!warmup) this.countSync(t1 - t, batch)
      t = t1
    }
    if (!warmup) this.ms += now() - start
  }

  close(): Promise<void> {
    return this.#file.close()
  }
}

/** `appenders` async loops, each awaiting its own operation until the deadline. */
async function concurrentLoops(
  appenders: number,
  ms: number,
  operation: (appender: number) => Promise<unknown>,
  samples?: Samples,
): Promise<{ count: number; ms: number }> {
  let count = 0
  const start = now()
  const until = start + ms
  const loop = async (appender: number): Promise<void> => {
    while (now() < until) {
      const t0 = now()
      await operation(appender)
      samples?.push(now() - t0)
      count++
    }
  }
  await Promise.all(Array.from({ length: appenders }, (_, i) => loop(i)))
  return { count, ms: now() - start }
}

/** cairn's log with `sync: 'always'`, appended to by `appenders` concurrent loops, in slices. */
class CairnWriter {
  readonly samples = new Samples()
  records = 0
  ms = 0
  readonly #wal: Wal
  readonly #counts: IoCounts
  readonly #appenders: number
  readonly #op: (appender: number) => Promise<void>
  #lsnGaps = 0
  #stats0: WalStats | undefined
  #io0: IoCounts | undefined

  private constructor(wal: Wal, counts: IoCounts, recordBytes: number, appenders: number) {
    this.#wal = wal
    this.#counts = counts
    this.#appenders = appenders
    const records = Array.from({ length: appenders }, () => random(recordBytes))
    let lastLsn = 0
    this.#op = async (appender: number): Promise<void> => {
      const lsn = await wal.append(records[appender]!)
      if (appenders === 1 && lastLsn !== 0 && lsn !== lastLsn + 1) this.#lsnGaps++
      lastLsn = lsn
    }
  }

  static async open(dir: string, recordBytes: number, appenders: number): Promise<CairnWriter> {
    const { vfs, counts } = countingVfs(createNodeVfs({ root: dir }))
    const wal = await openWal({ vfs, dir: 'wal', sync: 'always', segmentBytes: SEGMENT_BYTES })
    return new CairnWriter(wal, counts, recordBytes, appenders)
  }

  async run(ms: number, warmup = false): Promise<void> {
    if (!warmup) {
      this.#stats0 ??= this.#wal.stats()
      this.#io0 ??= { ...this.#counts }
    }
    const done = await concurrentLoops(this.#appenders, ms, this.#op, warmup ? undefined : this.samples)
    if (!warmup) {
      this.records += done.count
      this.ms += done.ms
    }
  }

  /** Records per fdatasync so far (warm-up included), from wal.stats(). */
  batch(): number {
    const { records, syncs } = this.#wal.stats()
    return syncs === 0 ? 1 : Math.max(1, Math.round(records / syncs))
  }

  result(): Measurement {
    const s1 = this.#wal.stats()
    const s0 = this.#stats0 ?? s1
    const io0 = this.#io0 ?? this.#counts
    const io1 = this.#counts
    const stats = {
      appends: s1.appends - s0.appends,
      records: s1.records - s0.records,
      batches: s1.batches - s0.batches,
      syncs: s1.syncs - s0.syncs,
      rotations: s1.rotations - s0.rotations,
      bytesWritten: s1.bytesWritten - s0.bytesWritten,
    }
    // Records per fdatasync from wal.stats(); the fdatasyncs seen at the Vfs are kept as a cross-check.
    return measurement(this.records, stats.syncs, this.ms, this.samples, {
      stats,
      observed: {
        fdatasyncs: io1.fdatasyncs - io0.fdatasyncs,
        fsyncs: io1.fsyncs - io0.fsyncs,
        fsyncDirs: io1.fsyncDirs - io0.fsyncDirs,
        writes: io1.writes - io0.writes,
        bytesWritten: io1.bytesWritten - io0.bytesWritten,
      },
      lsnGaps: this.#lsnGaps,
    })
  }

  close(): Promise<void> {
    return this.#wal.close()
  }
}

/**
 * cairn with `appenders` appenders, the raw limit (on a growing and on a pre-zeroed file) and the
 * raw loop through the NodeVfs, taking turns in slices of SLICE_MS on fresh files in `dir` (the
 * order reversed every other turn), so a drift of the disk's speed hits all of them alike. The raw loops write cairn's records per
 * fdatasync so far (1 for one appender).
 */
async function interleaved(
  dir: string,
  recordBytes: number,
  appenders: number,
  ms: number,
): Promise<{ cairn: Measurement; raw: Measurement; zeroed: Measurement; vfs: Measurement }> {
  const cairn = await CairnWriter.open(dir, recordBytes, appenders)
  const raw = new RawWriter(join(dir, 'raw.log'), recordBytes)
  const zeroed = new RawWriter(join(dir, 'zeroed.log'), recordBytes, true)
  const vfs = await VfsWriter.open(dir, recordBytes)
  try {
    await cairn.run(WARMUP_MS, true)
    const batch = (): number => (appenders === 1 ? 1 : cairn.batch())
    raw.run(batch(), WARMUP_MS, true)
    zeroed.run(batch(), WARMUP_MS, true)
    await vfs.run(batch(), WARMUP_MS, true)
    for (let turn = 0, done = 0; done < ms; turn++, done += SLICE_MS) {
      const slice = Math.min(SLICE_MS, ms - done)
      if (turn % 2 === 0) {
        await cairn.run(slice)
        raw.run(batch(), slice)
        zeroed.run(batch(), slice)
        await vfs.run(batch(), slice)
      } else {
        await vfs.run(batch(), slice)
        zeroed.run(batch(), slice)
        raw.run(batch(), slice)
        await cairn.run(slice)
      }
    }
    return { cairn: cairn.result(), raw: raw.result(), zeroed: zeroed.result(), vfs: vfs.result() }
  } finally {
    raw.close()
    zeroed.close()
    await vfs.close()
    await cairn.close()
  }
}

/**
 * LMDB puts. `durable`: each put is followed by `await db.flushed` (with lmdb-js's default
 * overlappingSync, `await db.put()` resolves when the commit is visible, before it is flushed).
 */
async function lmdbPut(
  dir: string,
  recordBytes: number,
  appenders: number,
  ms: number,
  durable: boolean,
): Promise<Measurement> {
  const db = openLmdb<Uint8Array, number>({ path: join(dir, 'lmdb'), encoding: 'binary' })
  try {
    const values = Array.from({ length: appenders }, () => random(recordBytes))
    let key = 0
    const op = async (appender: number): Promise<void> => {
      await db.put(key++, values[appender]!)
      if (durable) await db.flushed
    }
    await concurrentLoops(appenders, WARMUP_MS, op)
    const samples = new Samples()
    const { count, ms: elapsed } = await concurrentLoops(appenders, ms, op, samples)
    return measurement(count, Number.NaN, elapsed, samples)
  } finally {
    await db.close()
  }
}

interface SqliteStatement {
  run(...params: unknown[]): unknown
}
interface SqliteDatabase {
  pragma(source: string): unknown
  exec(source: string): unknown
  prepare(source: string): SqliteStatement
  close(): unknown
}
type SqliteConstructor = new (path: string) => SqliteDatabase

/** better-sqlite3 when it is installed (it is not a dependency: it compiles from source for minutes). */
async function loadSqlite(): Promise<SqliteConstructor | undefined> {
  const specifier = 'better-sqlite3'
  try {
    const mod = (await import(specifier)) as { default?: unknown }
    return typeof mod.default === 'function' ? (mod.default as SqliteConstructor) : undefined
  } catch {
    return undefined
  }
}

/** SQLite in WAL mode with synchronous=FULL: one autocommit INSERT (one durable commit) per record. */
function sqliteInsert(
  Database: SqliteConstructor,
  dir: string,
  recordBytes: number,
  ms: number,
): Measurement {
  const db = new Database(join(dir, 'log.sqlite'))
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.exec('CREATE TABLE log (lsn INTEGER PRIMARY KEY, data BLOB NOT NULL)')
    const insert = db.prepare('INSERT INTO log (data) VALUES (?)')
    const value = Buffer.from(random(recordBytes))
    for (const until = now() + WARMUP_MS; now() < until;) insert.run(value)
    const samples = new Samples()
    let count = 0
    const start = now()
    for (let t = start, until = start + ms; t < until; count++) {
      insert.run(value)
      const t1 = now()
      samples.push(t1 - t)
      t = t1
    }
    return measurement(count, Number.NaN, now() - start, samples)
  } finally {
    db.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Replay
// ---------------------------------------------------------------------------------------------

interface ReplayRep {
  readonly rawReadSeconds: number
  readonly rawReadBytes: number
  readonly openSeconds: number
  readonly replaySeconds: number
  readonly records: number
  readonly payloadBytes: number
  /** Vfs reads (calls and bytes) made by openWal alone, and by open + replay. */
  readonly readsAtOpen: { readonly reads: number; readonly bytesRead: number }
  readonly reads: number
  readonly bytesRead: number
}

interface ReplayResult {
  readonly records: number
  readonly payloadBytes: number
  readonly fileBytes: number
  readonly segments: number
  readonly writeSeconds: number
  /** Frames (group-commit batches) the log was written in. */
  readonly frames: number
  readonly reps: readonly ReplayRep[]
}

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...filesUnder(path))
    else if (entry.isFile()) out.push(path)
  }
  return out.sort()
}

/** Reads `files` sequentially with readSync into one 1 MiB buffer; the bytes read. */
function rawRead(files: readonly string[]): number {
  const buffer = new Uint8Array(MiB)
  let total = 0
  for (const path of files) {
    const fd = openSync(path, 'r')
    try {
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0;) total += n
    } finally {
      closeSync(fd)
    }
  }
  return total
}

async function replay(dir: string, plan: Plan, progress: (line: string) => void): Promise<ReplayResult> {
  const vfs = createNodeVfs({ root: dir })
  const count = Math.floor(plan.replayBytes / REPLAY_RECORD_BYTES)
  const pool = random(256 * REPLAY_RECORD_BYTES)
  // Written the way the append bench writes (64 concurrent appenders), so the WAL's own group
  // commit decides the frame sizes the replay has to read.
  const writeStart = now()
  let frames: number
  {
    const wal = await openWal({ vfs, dir: 'wal', sync: 'none', segmentBytes: SEGMENT_BYTES })
    try {
      let next = 0
      const appender = async (): Promise<void> => {
        for (let i = next++; i < count; i = next++) {
          const record = new Uint8Array(REPLAY_RECORD_BYTES)
          const from = (i % 256) * REPLAY_RECORD_BYTES
          record.set(pool.subarray(from, from + REPLAY_RECORD_BYTES))
          new DataView(record.buffer).setUint32(0, i, true) // the record's index, checked on replay
          const lsn = await wal.append(record)
          if (lsn !== i + 1) throw new Error(`replay: record ${i} got LSN ${lsn}`)
        }
      }
      await Promise.all(Array.from({ length: CONCURRENT }, appender))
      await wal.flush()
      frames = wal.stats().batches
    } finally {
      await wal.close()
    }
  }
  const writeSeconds = (now() - writeStart) / 1000
  const files = filesUnder(join(dir, 'wal'))
  const fileBytes = files.reduce((sum, f) => sum + statSync(f).size, 0)
  progress(
    `replay: wrote ${fmt(count)} records in ${fmt(frames)} frames, ${fmt(fileBytes / MiB)} MiB in ${files.length} files`,
  )

  const reps: ReplayRep[] = []
  for (let rep = 0; rep < plan.replayReps; rep++) {
    const r0 = now()
    const rawReadBytes = rawRead(files)
    const rawReadSeconds = (now() - r0) / 1000

    const counted = countingVfs(vfs)
    const t0 = now()
    const wal = await openWal({ vfs: counted.vfs, dir: 'wal', sync: 'always', segmentBytes: SEGMENT_BYTES })
    const t1 = now()
    const readsAtOpen = { reads: counted.counts.reads, bytesRead: counted.counts.bytesRead }
    let records = 0
    let payloadBytes = 0
    let t2: number
    try {
      for await (const { lsn, data } of wal.readLog({ from: 1 })) {
        if (lsn !== records + 1) throw new Error(`replay: LSN ${lsn} after ${records}`)
        if (data.length !== REPLAY_RECORD_BYTES)
          throw new Error(`replay: LSN ${lsn} has ${data.length} bytes`)
        const index = new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true)
        if (index !== records) throw new Error(`replay: LSN ${lsn} holds record ${index}`)
        records++
        payloadBytes += data.length
      }
      t2 = now()
    } finally {
      await wal.close()
    }
    if (records !== count) throw new Error(`replay: read ${records} records of ${count}`)
    reps.push({
      rawReadSeconds,
      rawReadBytes,
      openSeconds: (t1 - t0) / 1000,
      replaySeconds: (t2 - t0) / 1000,
      records,
      payloadBytes,
      readsAtOpen,
      reads: counted.counts.reads,
      bytesRead: counted.counts.bytesRead,
    })
    progress(
      `replay rep ${rep + 1}/${plan.replayReps}: raw read ${fmt(rawReadBytes / MB / rawReadSeconds)} MB/s, ` +
        `cairn ${fmt(payloadBytes / MB / ((t2 - t0) / 1000))} MB/s`,
    )
  }
  return {
    records: count,
    payloadBytes: count * REPLAY_RECORD_BYTES,
    fileBytes,
    segments: files.length,
    writeSeconds,
    frames,
    reps,
  }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

type Key =
  | 'raw1'
  | 'rawZero1'
  | 'rawZeroN'
  | 'raw64'
  | 'rawN'
  | 'vfs1'
  | 'vfsN'
  | 'cairn1'
  | 'cairn64'
  | 'lmdb1'
  | 'lmdb64'
  | 'lmdbCommit1'
  | 'sqlite1'

type Reps = Partial<Record<Key, Measurement[]>>

function push(reps: Reps, key: Key, m: Measurement): void {
  ;(reps[key] ??= []).push(m)
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const plan = options.full ? FULL : QUICK
  const progress = (line: string): void => {
    process.stderr.write(`  ${line}\n`)
  }
  const Sqlite = await loadSqlite()
  const bySize = new Map<number, Reps>(RECORD_SIZES.map((size) => [size, {}]))
  const ratios = new Map<number, { single: number[]; concurrent: number[] }>(
    RECORD_SIZES.map((size) => [size, { single: [], concurrent: [] }]),
  )
  const ms = plan.measureMs
  const inTemp = <T>(label: string, body: (dir: string) => Promise<T>): Promise<T> =>
    withTempDir(`${NAME}-${label}`, body)
  const inTempSync = <T>(label: string, body: (dir: string) => T): Promise<T> =>
    inTemp(label, (dir) => Promise.resolve(body(dir)))

  for (let rep = 0; rep < plan.reps; rep++) {
    for (const size of RECORD_SIZES) {
      const reps = bySize.get(size)!
      const ratio = ratios.get(size)!
      const tag = `rep ${rep + 1}/${plan.reps} ${size} B`

      const one = await inTemp('pair1', (dir) => interleaved(dir, size, 1, ms))
      push(reps, 'cairn1', one.cairn)
      push(reps, 'raw1', one.raw)
      push(reps, 'vfs1', one.vfs)
      push(reps, 'rawZero1', one.zeroed)
      ratio.single.push(one.cairn.recordsPerSec / one.raw.recordsPerSec)

      const many = await inTemp('pair64', (dir) => interleaved(dir, size, CONCURRENT, ms))
      push(reps, 'cairn64', many.cairn)
      push(reps, 'rawN', many.raw)
      push(reps, 'vfsN', many.vfs)
      push(reps, 'rawZeroN', many.zeroed)
      ratio.concurrent.push(many.cairn.recordsPerSec / many.raw.recordsPerSec)

      push(reps, 'raw64', await inTempSync('raw', (dir) => rawLoop(dir, size, CONCURRENT, ms)))
      const line =
        `${tag}: raw ${fmt(one.raw.recordsPerSec)}/s at 1/sync` +
        `; cairn 1: ${fmt(one.cairn.recordsPerSec)}/s (${fmtRatio(one.cairn.recordsPerSec / one.raw.recordsPerSec)})` +
        `; cairn 64: ${fmt(many.cairn.recordsPerSec)}/s at ${many.cairn.recordsPerSync.toFixed(1)}/sync` +
        ` vs raw ${fmt(many.raw.recordsPerSec)}/s at ${many.raw.recordsPerSync.toFixed(1)}/sync` +
        ` (${fmtRatio(many.cairn.recordsPerSec / many.raw.recordsPerSec)})`

      push(reps, 'lmdb1', await inTemp('lmdb', (dir) => lmdbPut(dir, size, 1, ms, true)))
      push(reps, 'lmdb64', await inTemp('lmdb', (dir) => lmdbPut(dir, size, CONCURRENT, ms, true)))
      if (size === 128)
        push(reps, 'lmdbCommit1', await inTemp('lmdb', (dir) => lmdbPut(dir, size, 1, ms, false)))
      if (Sqlite !== undefined)
        push(reps, 'sqlite1', await inTempSync('sqlite', (dir) => sqliteInsert(Sqlite, dir, size, ms)))
      progress(line)
    }
  }

  const replayResult = await inTemp('replay', (dir) => replay(dir, plan, progress))

  return report(options, plan, Sqlite !== undefined, bySize, ratios, replayResult)
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

interface Summary {
  readonly recordsPerSec: number
  readonly minRecordsPerSec: number
  readonly maxRecordsPerSec: number
  readonly p50Us: number
  readonly p99Us: number
  readonly syncsPerSec: number
  readonly recordsPerSync: number
}

function summarize(ms: readonly Measurement[] | undefined): Summary | undefined {
  if (ms === undefined || ms.length === 0) return undefined
  const rates = ms.map((m) => m.recordsPerSec)
  return {
    recordsPerSec: median(rates),
    minRecordsPerSec: Math.min(...rates),
    maxRecordsPerSec: Math.max(...rates),
    p50Us: median(ms.map((m) => m.p50Us)),
    p99Us: median(ms.map((m) => m.p99Us)),
    syncsPerSec: median(ms.map((m) => m.syncsPerSec)),
    recordsPerSync: median(ms.map((m) => m.recordsPerSync)),
  }
}

function ratioCell(values: readonly number[], peer: string): string {
  if (values.length === 0) return '-'
  const spread =
    values.length > 1 ? ` (${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)})` : ''
  return `${fmtRatio(median(values))}${spread} of ${peer}`
}

function report(
  options: BenchOptions,
  plan: Plan,
  sqliteInstalled: boolean,
  bySize: Map<number, Reps>,
  ratios: Map<number, { single: number[]; concurrent: number[] }>,
  replayResult: ReplayResult,
): BenchResult {
  const headers = [
    'workload',
    'record',
    'records/s',
    'p50 µs',
    'p99 µs',
    'fdatasync/s',
    'rec/sync',
    'ratio (range)',
    'target',
  ]
  const rows: string[][] = []
  const targets: { name: string; value: number; atLeast: number; pass: boolean }[] = []
  const row = (label: string, size: number, s: Summary | undefined, ratio = '-', target = '-'): void => {
    if (s === undefined) return
    rows.push([
      label,
      `${size} B`,
      fmt(s.recordsPerSec),
      fmt(s.p50Us),
      fmt(s.p99Us),
      fmt(s.syncsPerSec),
      Number.isFinite(s.recordsPerSync) ? s.recordsPerSync.toFixed(1) : '-',
      ratio,
      target,
    ])
  }
  const summaries: Record<string, Partial<Record<Key, Summary>>> = {}
  for (const size of RECORD_SIZES) {
    const reps = bySize.get(size)!
    const sum = (key: Key): Summary | undefined => summarize(reps[key])
    summaries[size] = Object.fromEntries((Object.keys(reps) as Key[]).map((key) => [key, sum(key)]))
    const { single, concurrent } = ratios.get(size)!
    // cairn's throughput over a peer's, per repetition (both ran interleaved in the same turns).
    const paired = (a: Key, b: Key): number[] =>
      (reps[a] ?? []).flatMap((m, k) => {
        const peer = reps[b]?.[k]
        return peer === undefined ? [] : [m.recordsPerSec / peer.recordsPerSec]
      })
    const cairnOf = (a: Key, b: Key): string => {
      const values = paired(a, b)
      return values.length === 0 ? '-' : `cairn ${ratioCell(values, 'this')}`
    }
    const batchOf = (key: Key): string => (sum(key)?.recordsPerSync ?? Number.NaN).toFixed(0)
    row('raw write+fdatasync, 1 record/sync', size, sum('raw1'))
    row('raw, pre-zeroed file, 1 record/sync (info)', size, sum('rawZero1'), cairnOf('cairn1', 'rawZero1'))
    row(
      `raw via cairn's NodeVfs (io '${DEFAULT_IO}'), 1 record/sync (info)`,
      size,
      sum('vfs1'),
      cairnOf('cairn1', 'vfs1'),
    )
    row(`raw, ${CONCURRENT} records/sync`, size, sum('raw64'))
    row(`raw, cairn's batch (~${batchOf('rawN')} records/sync)`, size, sum('rawN'))
    row(
      `raw, pre-zeroed file, cairn's batch (~${batchOf('rawZeroN')} records/sync) (info)`,
      size,
      sum('rawZeroN'),
      cairnOf('cairn64', 'rawZeroN'),
    )
    row(
      `raw via cairn's NodeVfs (io '${DEFAULT_IO}'), ~${batchOf('vfsN')} records/sync (info)`,
      size,
      sum('vfsN'),
      cairnOf('cairn64', 'vfsN'),
    )
    const cairn1 = sum('cairn1')
    if (cairn1 !== undefined) {
      const m = median(single)
      targets.push({
        name: `cairn 1 appender ${size} B`,
        value: m,
        atLeast: TARGET_SINGLE,
        pass: m >= TARGET_SINGLE,
      })
      row(
        "cairn sync:'always', 1 appender",
        size,
        cairn1,
        ratioCell(single, 'raw 1/sync'),
        verdict(m, TARGET_SINGLE),
      )
    }
    const cairn64 = sum('cairn64')
    if (cairn64 !== undefined) {
      const m = median(concurrent)
      targets.push({
        name: `cairn ${CONCURRENT} appenders ${size} B`,
        value: m,
        atLeast: TARGET_CONCURRENT,
        pass: m >= TARGET_CONCURRENT,
      })
      row(
        `cairn sync:'always', ${CONCURRENT} appenders`,
        size,
        cairn64,
        ratioCell(concurrent, 'raw, same batch'),
        verdict(m, TARGET_CONCURRENT),
      )
    }
    const lmdb1 = sum('lmdb1')
    const lmdb64 = sum('lmdb64')
    row('LMDB put + await flushed, 1 appender', size, lmdb1, cairnOf('cairn1', 'lmdb1'))
    row(`LMDB put + await flushed, ${CONCURRENT} concurrent`, size, lmdb64, cairnOf('cairn64', 'lmdb64'))
    row('LMDB await put only: committed, NOT yet durable (info)', size, sum('lmdbCommit1'))
    row('SQLite WAL synchronous=FULL, 1 row/commit', size, sum('sqlite1'))
  }

  const tables: Table[] = [
    {
      title: `Durable append (${plan.reps} repetitions × ${plan.measureMs / 1000} s each, medians)`,
      headers,
      rows,
    },
  ]

  const r = replayResult
  const replaySummary: Record<string, number> = {}
  {
    const rawMBps = median(r.reps.map((x) => x.rawReadBytes / MB / x.rawReadSeconds))
    const cairnMBps = median(r.reps.map((x) => x.payloadBytes / MB / x.replaySeconds))
    const cairnFileMBps = median(r.reps.map((x) => r.fileBytes / MB / x.replaySeconds))
    const ratio = median(
      r.reps.map((x) => x.payloadBytes / x.replaySeconds / (x.rawReadBytes / x.rawReadSeconds)),
    )
    const openMs = median(r.reps.map((x) => x.openSeconds * 1000))
    const replaySeconds = median(r.reps.map((x) => x.replaySeconds))
    const readAmplification = median(r.reps.map((x) => x.bytesRead / r.fileBytes))
    const readCalls = median(r.reps.map((x) => x.reads))
    targets.push({
      name: 'replay MB/s',
      value: cairnMBps,
      atLeast: TARGET_REPLAY_MBPS,
      pass: cairnMBps >= TARGET_REPLAY_MBPS,
    })
    Object.assign(replaySummary, {
      rawMBps,
      cairnMBps,
      cairnFileMBps,
      ratio,
      openMs,
      replaySeconds,
      readAmplification,
      readCalls,
    })
    tables.push({
      title: `Replay of ${fmt(r.payloadBytes / MiB)} MiB of ${REPLAY_RECORD_BYTES} B records (${fmt(r.records)} records in ${fmt(r.frames)} frames of ~${fmt(r.records / r.frames, 1)} records, ${r.segments} segment files, ${r.reps.length} repetitions, medians)`,
      headers: ['what', 'seconds', 'MB/s', 'vs raw read', 'target'],
      rows: [
        [
          `write: ${CONCURRENT} appenders, sync:'none', + flush (info)`,
          r.writeSeconds.toFixed(2),
          fmt(r.payloadBytes / MB / r.writeSeconds),
          '-',
          '-',
        ],
        [
          'raw sequential read of the segment files (readSync, 1 MiB buffer)',
          median(r.reps.map((x) => x.rawReadSeconds)).toFixed(3),
          fmt(rawMBps),
          '1.00×',
          '-',
        ],
        [
          `cairn openWal + readLog({ from: 1 }) (open ${openMs.toFixed(1)} ms; ${fmt(readCalls)} Vfs reads of ${readAmplification.toFixed(2)}× the file bytes)`,
          replaySeconds.toFixed(3),
          fmt(cairnMBps),
          fmtRatio(ratio),
          verdict(cairnMBps, TARGET_REPLAY_MBPS).replace(')', ' MB/s)'),
        ],
      ],
    })
  }

  const notes: string[] = []
  notes.push(
    'raw = a blocking loop of fs.writeSync + fs.fdatasyncSync on a fresh, growing file (the sync API is the fastest raw peer: no thread-pool hop); its latency is per sync, every other latency is per append/put.',
    `cairn's 1-appender ratio is against raw 1 record/sync; its 64-appender ratio is against raw at cairn's own records per fdatasync (wal.stats(): records / syncs). cairn, the raw loop, the pre-zeroed raw loop and the NodeVfs loop take turns in ${SLICE_MS} ms slices on open files, each summing ${plan.measureMs / 1000} s per repetition, so a drift of the disk hits them alike; LMDB runs after them in the same repetition. The CPU share of other processes is measured, but not their disk traffic: compare the raw rows with shared/design/BENCHMARKS.md to see whether the disk was busy. A ratio is the median of the per-repetition ratios; the range is min–max.`,
    `'raw via cairn's NodeVfs' is the same loop through createNodeVfs() (default io '${DEFAULT_IO}') with awaited VfsFile.write + fdatasync: the ceiling for any log built on the Vfs; "cairn X× of this" shows what the WAL's own logic costs on top.`,
    "'pre-zeroed' overwrites a file filled with zeros and synced beforehand, so no fdatasync has to commit a size change: the limit for a log that preallocates its segments.",
    "LMDB (lmdb-js, encoding 'binary', default options): with its default overlappingSync, `await db.put()` resolves when the commit is visible, before the flush; a durable put is `await db.put(); await db.flushed`. 64 concurrent puts share transactions (event-turn batching).",
    sqliteInstalled
      ? 'SQLite: better-sqlite3, journal_mode=WAL, synchronous=FULL, one autocommit INSERT per record (a synchronous API: 1 appender only).'
      : 'SQLite WAL synchronous=FULL: not installed (better-sqlite3 is not a dependency; it compiles from source for minutes).',
    'replay reads files the same run just wrote: both the raw read and cairn replay run from a warm page cache; MB/s counts record payload bytes (1 MB = 10^6 bytes) for cairn, file bytes for the raw read.',
  )
  const passed = targets.filter((t) => t.pass).length
  const summary =
    `cairn targets: ${passed}/${targets.length} PASS — ` +
    targets
      .map((t) => `${t.name}: ${t.pass ? 'PASS' : 'MISS'} (${t.value.toFixed(2)} vs ≥ ${t.atLeast})`)
      .join('; ')

  return {
    name: NAME,
    summary,
    tables,
    notes,
    raw: {
      plan,
      reproduce: reproduceCommand(NAME, options),
      sqliteInstalled,
      targets,
      summaries,
      ratios: Object.fromEntries(ratios),
      measurements: Object.fromEntries(bySize),
      replay: { ...replayResult, summary: replaySummary },
    },
  }
}
