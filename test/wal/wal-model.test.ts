/**
 * Model-based test of the log (fast-check commands) on the simulated disk. The model is a plain
 * array of the records the log must hold. Commands: concurrent appends, flush, truncate, a clean
 * reopen, a crash under each model then reopen, a failed fsync, and a full disk. After every
 * command the log must read back exactly as the model says, and after every crash:
 *   I1  every acknowledged record is present, byte-exact;
 *   I2  the log is a gap-free prefix of what was issued, in order;
 *   I3  no phantoms: every record read back was issued with that LSN;
 *   I11 after an fsync failure nothing of that batch was acknowledged, and the log stops;
 *   I12 ENOSPC fails cleanly with DISK_FULL and nothing acknowledged is lost.
 * Run longer with FC_NUM_RUNS=2000; replay a failure with FC_SEED, FC_PATH and FC_REPLAY.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { CRASH_MODELS } from '../../src/adapters/sim/crash.js'
import type { CrashModel } from '../../src/adapters/sim/crash.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { isCairnError } from '../../src/core/errors.js'
import { openWal } from '../../src/wal/index.js'
import type { LogRecord, SyncMode, Wal } from '../../src/wal/index.js'
import { collect, expectBytes, sameBytes } from '../helpers.js'

interface Model {
  /** What the log holds: acknowledged records, from the first LSN not truncated. */
  log: LogRecord[]
  /** How many records of `log` are durable (all of them under 'always'; up to the last flush otherwise). */
  durable: number
  /** Issued but not acknowledged (a failed fsync's batch): may survive only as a prefix. */
  pending: LogRecord[]
  /** Every record ever issued, by LSN (a later write may reuse the LSN of a failed one). */
  issued: Map<number, Uint8Array[]>
  failed: boolean
}

interface Real {
  disk: SimDisk
  wal: Wal
  sync: SyncMode
}

const SEGMENT_BYTES = 4096
const reopen = (r: Pick<Real, 'disk' | 'sync'>) =>
  openWal({ vfs: r.disk, segmentBytes: SEGMENT_BYTES, sync: r.sync, syncIntervalMs: 1 })

/** Records were acknowledged: under 'always' that means durable too. */
function acknowledge(m: Model, r: Real, records: LogRecord[]) {
  m.log.push(...records)
  if (r.sync === 'always') m.durable = m.log.length
}

function noteIssued(m: Model, lsn: number, data: Uint8Array) {
  const list = m.issued.get(lsn) ?? []
  list.push(data)
  m.issued.set(lsn, list)
}

/** Asserts two lists of records are equal: same LSNs, same bytes. */
function expectRecords(actual: readonly LogRecord[], expected: readonly LogRecord[]) {
  expect(actual.map((x) => x.lsn)).toEqual(expected.map((x) => x.lsn))
  actual.forEach((x, i) => {
    expectBytes(x.data, expected[i]?.data, `record ${String(x.lsn)}`)
  })
}

async function expectLogMatches(m: Model, r: Real) {
  expectRecords(await collect(r.wal.readLog()), m.log)
}

type Command = fc.AsyncCommand<Model, Real>

class AppendConcurrently implements Command {
  readonly groups: Uint8Array[][]
  constructor(groups: Uint8Array[][]) {
    this.groups = groups
  }
  check = () => true
  async run(m: Model, r: Real) {
    const results = await Promise.allSettled(this.groups.map((group) => r.wal.appendMany(group)))
    const acked: LogRecord[] = []
    results.forEach((result, g) => {
      const group = this.groups[g] ?? []
      if (result.status === 'fulfilled') {
        result.value.forEach((lsn, k) => {
          acked.push({ lsn, data: group[k]! })
          noteIssued(m, lsn, group[k]!)
        })
      } else {
        expect(isCairnError(result.reason)).toBe(true)
        if (isCairnError(result.reason, 'LOG_FAILED')) m.failed = true
      }
    })
    if (m.failed) {
      expect(results.every((x) => x.status === 'rejected' || acked.length > 0)).toBe(true)
      return
    }
    acked.sort((a, b) => a.lsn - b.lsn)
    acknowledge(m, r, acked)
    await expectLogMatches(m, r)
  }
  toString = () => `append(${this.groups.map((g) => g.length).join(',')})`
}

class FailNextFsync implements Command {
  readonly groups: Uint8Array[][]
  constructor(groups: Uint8Array[][]) {
    this.groups = groups
  }
  check = (m: Readonly<Model>) => !m.failed
  async run(m: Model, r: Real) {
    // Committed segments only: a failed fsync of a segment still being created is a write
    // failure (nothing acknowledged depends on it), not a reason to stop the log.
    r.disk.injectFault({ kind: 'EIO', ops: ['fdatasync'], path: /^wal\/\d{20}\.seg$/ })
    let lsn = (m.log.at(-1)?.lsn ?? r.wal.firstLsn - 1) + 1
    if (r.sync === 'always') {
      const results = await Promise.allSettled(this.groups.map((group) => r.wal.appendMany(group)))
      // I11: the batch whose fsync failed is rejected (LOG_FAILED), and nothing after it is accepted.
      expect(results.every((x) => x.status === 'rejected' && isCairnError(x.reason, 'LOG_FAILED'))).toBe(true)
      for (const data of this.groups.flat()) {
        m.pending.push({ lsn, data })
        noteIssued(m, lsn, data)
        lsn += 1
      }
    } else {
      // Without 'always' the appends are acknowledged as written; the failing sync is the flush.
      // An append that rotates the segment syncs it first, so the fault may hit an append.
      for (const group of this.groups) {
        try {
          const lsns = await r.wal.appendMany(group)
          lsns.forEach((l, k) => {
            noteIssued(m, l, group[k]!)
          })
          m.log.push(...lsns.map((l, k) => ({ lsn: l, data: group[k]! })))
          lsn = (lsns.at(-1) ?? lsn - 1) + 1
        } catch (error) {
          expect(isCairnError(error, 'LOG_FAILED')).toBe(true)
          for (const data of group) {
            m.pending.push({ lsn, data })
            noteIssued(m, lsn, data)
            lsn += 1
          }
          break
        }
      }
      await expect(r.wal.flush()).rejects.toMatchObject({ code: 'LOG_FAILED' })
    }
    m.failed = true
  }
  toString = () => `failNextFsync(${this.groups.map((g) => g.length).join(',')})`
}

class DiskFull implements Command {
  readonly record: Uint8Array
  constructor(record: Uint8Array) {
    this.record = record
  }
  check = (m: Readonly<Model>) => !m.failed
  async run(m: Model, r: Real) {
    r.disk.setSpaceBudget(r.disk.usedBytes() + 10)
    try {
      const lsn = await r.wal.append(this.record)
      acknowledge(m, r, [{ lsn, data: this.record }])
      noteIssued(m, lsn, this.record)
    } catch (error) {
      // I12: a clean, coded failure; a rotation under a full disk may fail in a directory op.
      expect(isCairnError(error, 'DISK_FULL') || isCairnError(error, 'LOG_FAILED')).toBe(true)
      if (isCairnError(error, 'LOG_FAILED')) m.failed = true
    } finally {
      r.disk.setSpaceBudget(undefined)
    }
    if (!m.failed) await expectLogMatches(m, r)
  }
  toString = () => `diskFull(${this.record.length})`
}

class Flush implements Command {
  check = (m: Readonly<Model>) => !m.failed
  async run(m: Model, r: Real) {
    await r.wal.flush()
    expect(r.wal.durableLsn).toBe(m.log.at(-1)?.lsn ?? r.wal.firstLsn - 1)
    m.durable = m.log.length
  }
  toString = () => 'flush'
}

class Truncate implements Command {
  readonly fraction: number
  constructor(fraction: number) {
    this.fraction = fraction
  }
  check = (m: Readonly<Model>) => !m.failed && m.log.length > 0
  async run(m: Model, r: Real) {
    const target = m.log[Math.floor(this.fraction * (m.log.length - 1))]?.lsn ?? 1
    await r.wal.truncateBefore(target)
    expect(r.wal.firstLsn).toBeLessThanOrEqual(target)
    const kept = m.log.filter((x) => x.lsn >= r.wal.firstLsn)
    // The records cut were the oldest: durable ones first, and none is left durable when fewer
    // were than were cut (a count below zero would make a later crash expect unflushed records).
    m.durable = Math.max(0, m.durable - (m.log.length - kept.length))
    m.log = kept
    await expectLogMatches(m, r)
  }
  toString = () => `truncateBefore(${this.fraction.toFixed(2)})`
}

class CrashAndReopen implements Command {
  readonly model: CrashModel | 'cleanReopen'
  readonly seed: number
  constructor(model: CrashModel | 'cleanReopen', seed: number) {
    this.model = model
    this.seed = seed
  }
  check = () => true
  async run(m: Model, r: Real) {
    if (this.model === 'cleanReopen') {
      await r.wal.close()
      if (!m.failed) m.durable = m.log.length
    } else {
      r.disk = r.disk.crash(this.model, createRng(this.seed))
    }
    r.wal = await reopen(r)
    const read = await collect(r.wal.readLog())
    const first = m.log[0]?.lsn ?? read[0]?.lsn ?? r.wal.firstLsn
    // I2: gap-free and in order.
    read.forEach((x, i) => {
      expect(x.lsn).toBe((read[0]?.lsn ?? 0) + i)
    })
    // I1: everything acknowledged is there, byte-exact.
    expectRecords(read.slice(0, m.durable), m.log.slice(0, m.durable))
    // I2/I3: anything more is a prefix of what was written but not durable, never a phantom.
    const extra = read.slice(m.durable)
    expectRecords(extra, [...m.log.slice(m.durable), ...m.pending].slice(0, extra.length))
    for (const x of read) expect((m.issued.get(x.lsn) ?? []).some((d) => sameBytes(d, x.data))).toBe(true)
    expect(read[0]?.lsn ?? first).toBe(first)
    m.log = read
    m.durable = read.length
    m.pending = []
    m.failed = false
  }
  toString = () => `${this.model}(${String(this.seed)})`
}

const recordArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  // Large records (rotation) as a length and a fill byte: they shrink as one integer, not 6,000.
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1000, max: 6000 }), fc.nat(255))
      .map(([length, fill]) => new Uint8Array(length).fill(fill)),
  },
)
const groupsArb = fc.array(fc.array(recordArb, { minLength: 1, maxLength: 4 }), {
  minLength: 1,
  maxLength: 6,
})

const commands = [
  groupsArb.map((groups) => new AppendConcurrently(groups)),
  fc.constant(new Flush()),
  fc.double({ min: 0, max: 1, noNaN: true }).map((f) => new Truncate(f)),
  fc
    .tuple(fc.constantFrom<CrashModel | 'cleanReopen'>(...CRASH_MODELS, 'cleanReopen'), fc.nat())
    .map(([model, seed]) => new CrashAndReopen(model, seed)),
  groupsArb.map((groups) => new FailNextFsync(groups)),
  fc.uint8Array({ minLength: 1, maxLength: 500 }).map((rec) => new DiskFull(rec)),
]

/** Replays a failure as fast-check printed it: FC_SEED, FC_PATH and FC_REPLAY (its replayPath). */
const replay =
  process.env.FC_SEED === undefined
    ? {}
    : { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH ?? '', verbose: 2 as const }
const replayPath = process.env.FC_REPLAY === undefined ? {} : { replayPath: process.env.FC_REPLAY }

describe.each(['always', 'batch', 'none'] as const)(
  'wal: model-based, with crashes, sync %s (I1, I2, I3, I11, I12)',
  (sync) => {
    it('the log always reads back as the model says', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.commands(commands, { maxCommands: 30, ...replayPath }),
          fc.nat(),
          async (cmds, seed) => {
            const disk = new SimDisk({ seed })
            const real: Real = { disk, sync, wal: await reopen({ disk, sync }) }
            const model: Model = { log: [], durable: 0, pending: [], issued: new Map(), failed: false }
            await fc.asyncModelRun(() => ({ model, real }), cmds)
          },
        ),
        // A shrink that runs away is reported as a failure rather than hanging the suite.
        {
          numRuns: Number(process.env.FC_NUM_RUNS ?? 150),
          ...replay,
          interruptAfterTimeLimit: 120_000,
          markInterruptAsFailure: true,
        },
      )
    })
  },
)

describe('wal: model-based, fixed cases found by the property', () => {
  it('a truncate before any flush, then a crash, expects nothing durable (sync none)', async () => {
    // Found by the property above (seed 2122408306): the model counted -1 durable records after the
    // truncate, so the crash check demanded unflushed records back. Records of 1,000 bytes span
    // several 4 KiB segments (the truncate deletes one); with 1-byte records this passed unfixed.
    const disk = new SimDisk({ seed: 0 })
    const real: Real = { disk, sync: 'none', wal: await reopen({ disk, sync: 'none' }) }
    const model: Model = { log: [], durable: 0, pending: [], issued: new Map(), failed: false }
    const record = (n: number) => new Uint8Array(1000).fill(n)
    await fc.asyncModelRun(
      () => ({ model, real }),
      [
        new AppendConcurrently([[record(1)], [record(2)], [record(3)], [record(4), record(5)]]),
        new Truncate(0.25),
        new CrashAndReopen('clearCache', 0), // every unflushed write is lost
      ],
    )
    expect(model.durable).toBe(model.log.length)
  })
})
