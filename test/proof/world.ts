/**
 * The whole-system proof's world: a Store on the simulated disk, driven by operations, beside an
 * oracle that lives outside the system under test (shared/design/TESTING.md). The oracle records
 * what was acknowledged (a promise resolved) and what is only pending (issued, its promise cut
 * short by a crash or a fault); after every crash and recovery `check()` holds the store to the
 * invariants I1-I15 against it and counts what it checked.
 *
 * Operations: append a batch, a full or a delta checkpoint (entries put, deleted and patched),
 * retention + GC, advancing the virtual clock, a disk budget (ENOSPC) and freeing it, failing the
 * next fsync, flipping a bit in a pack (bit rot) or in a sealed log segment (mid-log damage).
 * Crashes are applied from outside (`crash()`), under any crash model.
 */
import { expect } from 'vitest'
import type { CrashModel } from '../../src/adapters/sim/crash.js'
import type { Rng } from '../../src/adapters/sim/rng.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { isCairnError } from '../../src/core/errors.js'
import type { CairnErrorCode } from '../../src/core/errors.js'
import type { Store } from '../../src/store.js'
import { openSimStore, sameBytes } from '../helpers.js'
import type { ProofCounters } from './report.js'

export const NAMES = ['a.bin', 'b.bin', 'dir/c.bin'] as const

export type Op =
  | { readonly kind: 'append'; readonly sizes: readonly number[] }
  | { readonly kind: 'full'; readonly entries: Readonly<Record<string, number>> }
  | {
      readonly kind: 'delta'
      readonly put: Readonly<Record<string, number>>
      readonly del: readonly string[]
      readonly patch: readonly { readonly name: string; readonly at: number; readonly length: number }[]
    }
  | { readonly kind: 'retain'; readonly keepLast: number; readonly gc: boolean }
  | { readonly kind: 'tick'; readonly hours: number }
  /** A tombstone written by hand (another tool, an older version) for the base of the newest delta. */
  | { readonly kind: 'expireBase' }
  | { readonly kind: 'diskFull'; readonly spareBytes: number }
  | { readonly kind: 'diskFree' }
  | { readonly kind: 'failSync' }
  | { readonly kind: 'rotPack'; readonly pick: number; readonly at: number }
  | { readonly kind: 'rotLog'; readonly pick: number; readonly at: number }

/** A checkpoint the oracle knows: its LSN and every entry's bytes. */
interface KnownCheckpoint {
  readonly lsn: number
  readonly entries: ReadonlyMap<string, Uint8Array>
}

const GRACE_MS = 3_600_000

export class World {
  disk: SimDisk
  store: Store | undefined
  readonly counters: ProofCounters
  /** The virtual clock (ms): checkpoint times, tombstones, GC's grace period. */
  now = Date.UTC(2026, 10, 22)
  readonly #rng: Rng
  #seq = 0

  // --- the oracle ---
  /** Records at their LSNs, acknowledged or seen recovered (definitive). */
  #log = new Map<number, Uint8Array>()
  /** Records issued whose outcome is unknown, in issue order. */
  #pending: Uint8Array[] = []
  /** Acknowledged checkpoints not dropped by an acknowledged retention. */
  readonly #kept = new Map<string, KnownCheckpoint>()
  /** The newest acknowledged checkpoint. */
  #latest: string | undefined
  /** A checkpoint issued, not acknowledged: it may be durable. */
  #maybe: KnownCheckpoint | undefined
  /** Checkpoints a retention cut short may have dropped. */
  #maybeDropped = new Set<string>()
  /** Packs with a flipped bit: reads may fail with CORRUPT_OBJECT (never return wrong bytes). */
  readonly #rotted = new Set<string>()
  /** The LSN the newest acknowledged (or recovered) checkpoint covers. */
  #checkpointLsn = 0
  /** A fault is armed or the disk is full: an op may fail with a typed error. */
  #faulty = false
  /** An op failed: the store may have fail-stopped; it is reopened before going on. */
  #broken = false
  /** Mid-log damage was injected: the next open or read must report CORRUPT_LOG. */
  #logDamage: string | undefined

  constructor(seed: number, counters: ProofCounters) {
    this.disk = new SimDisk({ seed })
    this.#rng = createRng(seed)
    this.counters = counters
  }

  async open(): Promise<void> {
    this.store = await openSimStore(this.disk, {
      chunking: { minSize: 256, avgSize: 1024, maxSize: 4096 },
      packBytes: 64 * 1024,
      wal: { sync: 'always', segmentBytes: 4096 },
      chain: { maxChainLength: 3 },
      clock: () => this.now,
    })
  }

  /** Runs one op; a failure caused by a halt, a fault or a crash leaves its effects pending. */
  async run(op: Op): Promise<void> {
    if (this.#broken) await this.#restart()
    this.counters.ops[op.kind] = (this.counters.ops[op.kind] ?? 0) + 1
    const store = this.#store()
    try {
      await this.#apply(store, op)
    } catch (error) {
      if (this.disk.halted) throw error // the crash loop takes over
      if (!isCairnError(error) || !(this.#faulty || this.#rotted.size > 0 || this.#logDamage !== undefined)) {
        throw error // an untyped error, or one nothing explains: a bug
      }
      this.counters.typedFailures[error.code] = (this.counters.typedFailures[error.code] ?? 0) + 1
      this.#broken = true
    }
  }

  async #apply(store: Store, op: Op): Promise<void> {
    switch (op.kind) {
      case 'append': {
        const batch = op.sizes.map((size) => this.#payload(size))
        this.#pending.push(...batch)
        const lsns =
          batch.length === 1
            ? [await store.append(batch[0] ?? new Uint8Array())]
            : await store.appendMany(batch)
        lsns.forEach((lsn, i) => this.#log.set(lsn, batch[i] ?? new Uint8Array()))
        this.#pending = []
        this.counters.recordsAcknowledged += batch.length
        return
      }
      case 'full': {
        const entries = new Map(
          Object.entries(op.entries).map(([name, size]) => [name, this.#rng.bytes(size)]),
        )
        await this.#checkpoint({ lsn: this.#lastLsn(), entries }, () =>
          store.checkpoint({ lsn: this.#lastLsn(), entries: Object.fromEntries(entries) }),
        )
        return
      }
      case 'delta': {
        const base = this.#latest === undefined ? undefined : this.#kept.get(this.#latest)
        if (base === undefined) return
        const entries = new Map(base.entries)
        const put: Record<string, Uint8Array> = {}
        for (const [name, size] of Object.entries(op.put))
          entries.set(name, (put[name] = this.#rng.bytes(size)))
        const deleted = op.del.filter((name) => !(name in put) && entries.delete(name))
        const patches: Record<string, { offset: number; data: Uint8Array }[]> = {}
        for (const { name, at, length } of op.patch) {
          const old = entries.get(name)
          if (old === undefined || name in put) continue
          const writes = (patches[name] ??= [])
          const offset = Math.max(
            at % (old.length + 1),
            writes.reduce((end, w) => Math.max(end, w.offset + w.data.length), 0),
          )
          const data = this.#rng.bytes(length)
          writes.push({ offset, data })
          const next = new Uint8Array(Math.max(old.length, offset + length))
          next.set(old)
          next.set(data, offset)
          entries.set(name, next)
        }
        const lsn = this.#lastLsn()
        await this.#checkpoint({ lsn, entries }, () =>
          store.checkpoint({ lsn, parent: 'latest', entries: put, deleted, patches }),
        )
        return
      }
      case 'retain': {
        const plan = await store.retain({ keepLast: op.keepLast }, { dryRun: true })
        const dropped = plan.drop.map((entry) => entry.checkpoint.id as string)
        for (const id of dropped) this.#maybeDropped.add(id)
        await store.applyRetention(plan)
        for (const id of dropped) this.#kept.delete(id)
        this.#maybeDropped.clear()
        if (op.gc) {
          await store.gc({ graceMs: GRACE_MS })
          this.counters.gcRuns++
          await this.#checkNoTempFiles()
        }
        return
      }
      case 'tick':
        this.now += op.hours * 3_600_000
        return
      case 'expireBase': {
        // The base leaves checkpoints(), but the delta on it must still restore: GC keeps every
        // link of a kept checkpoint's chain, expired or not.
        const newest = (await store.checkpoints()).at(-1)
        const base = newest?.parent
        if (base === undefined || !this.#kept.has(base)) return
        this.#maybeDropped.add(base)
        await this.disk.mkdir('objects/tombstones', { recursive: true })
        await this.disk.fsyncDir('objects')
        const file = await this.disk.open(`objects/tombstones/${base}`, 'createExclusive')
        await file.write(new TextEncoder().encode(JSON.stringify({ at: 0, reasons: ['by hand'] })), 0)
        await file.fsync()
        await file.close()
        await this.disk.fsyncDir('objects/tombstones')
        this.#kept.delete(base)
        this.#maybeDropped.delete(base)
        return
      }
      case 'diskFull':
        this.disk.setSpaceBudget(this.disk.usedBytes() + op.spareBytes)
        this.#faulty = true
        this.#count('ENOSPC budget')
        return
      case 'diskFree':
        this.disk.setSpaceBudget(undefined)
        return
      case 'failSync':
        this.disk.injectFault({ kind: 'EIO', ops: ['fsync', 'fdatasync'] })
        this.#faulty = true
        this.#count('EIO on the next fsync')
        return
      case 'rotPack': {
        const packs = await this.#files('objects/packs')
        const path = packs[op.pick % Math.max(1, packs.length)]
        const size = path === undefined ? 0 : (this.disk.peek(path)?.length ?? 0)
        if (path === undefined || size === 0) return
        this.disk.rot(path, op.at % size, op.at % 8)
        this.#rotted.add(path)
        this.#count('bit rot in a pack')
        return
      }
      case 'rotLog': {
        // A sealed segment (not the newest): any damage there is corruption, never a torn tail.
        if (this.#logDamage !== undefined) return // one damaged segment per recovery: each is accounted for
        const segments = (await this.#files('log')).filter((p) => p.endsWith('.seg')).sort()
        const sealed = segments.slice(0, -1)
        const path = sealed[op.pick % Math.max(1, sealed.length)]
        const size = path === undefined ? 0 : (this.disk.peek(path)?.length ?? 0)
        if (path === undefined || size <= 64) return
        this.disk.rot(path, 64 + (op.at % (size - 64)), op.at % 8)
        this.#logDamage = path
        this.counters.midLogInjected++
        this.#count('mid-log bit flip')
        return
      }
    }
  }

  async #checkpoint(known: KnownCheckpoint, commit: () => Promise<{ id: string }>): Promise<void> {
    this.#maybe = known
    const info = await commit()
    this.#kept.set(info.id, known)
    this.#latest = info.id
    this.#checkpointLsn = known.lsn
    this.#maybe = undefined
    this.counters.checkpointsAcknowledged++
  }

  /** A copy of the world (oracle included) on the same disk, to crash it under another model. */
  fork(): World {
    const copy = new World(0, this.counters)
    copy.disk = this.disk
    copy.now = this.now
    copy.#seq = this.#seq
    copy.#log = new Map(this.#log)
    copy.#pending = [...this.#pending]
    for (const [id, known] of this.#kept) copy.#kept.set(id, known)
    copy.#latest = this.#latest
    copy.#maybe = this.#maybe
    copy.#maybeDropped = new Set(this.#maybeDropped)
    for (const path of this.#rotted) copy.#rotted.add(path)
    copy.#checkpointLsn = this.#checkpointLsn
    copy.#logDamage = this.#logDamage
    return copy
  }

  /**
   * A crash under `model` (the disk halted or not), then open + recover + every check. A
   * `secondCrashAt` crashes again at that I/O of the recovery itself, then recovers once more.
   */
  async crash(model: CrashModel, rng: Rng, secondCrashAt?: number): Promise<void> {
    await this.recoverFrom(this.disk.crash(model, rng), model, rng, secondCrashAt)
  }

  /** As `crash`, from a disk already crashed (the caller deduplicates crash states by image). */
  async recoverFrom(booted: SimDisk, model: CrashModel, rng: Rng, secondCrashAt?: number): Promise<void> {
    this.disk = booted
    this.store = undefined
    this.disk.setSpaceBudget(undefined)
    this.disk.clearFaults()
    this.#faulty = false
    this.#broken = false
    if (secondCrashAt !== undefined) {
      booted.haltAtIo(booted.ioCount + secondCrashAt)
      try {
        await this.#recoverAndCheck()
        return // the recovery finished before the halt: checked already
      } catch (error) {
        if (!booted.halted) throw error
        // #recoverAndCheck opened a store (TypeScript cannot see it): close what is left of it.
        await (this.store as Store | undefined)?.close().catch(() => undefined)
        this.store = undefined
        this.counters.secondCrashes++
      }
      this.disk = booted.crash(model, rng)
    }
    await this.#recoverAndCheck()
  }

  /** Opens, recovers and checks every invariant; then once more (recovery is idempotent). */
  async #recoverAndCheck(): Promise<void> {
    if (this.#logDamage !== undefined) {
      await this.#expectLogDamage()
      return
    }
    await this.open()
    const first = await this.#recoverChecked()
    await this.#store().close()
    this.#expectNoHandles()
    await this.open()
    const again = await this.#recoverChecked()
    expect(again, 'I14: recovery is idempotent').toEqual(first)
    this.counters.recoveriesChecked++
  }

  /** I1-I3, I6-I8, I10, I13 after a recovery; updates the oracle to what was recovered. */
  async #recoverChecked(): Promise<{ checkpoint: string | undefined; records: string[] }> {
    const store = this.#store()
    // Bit rot in a pack GC has since removed is gone with it.
    for (const path of this.#rotted) if (this.disk.peek(path) === undefined) this.#rotted.delete(path)
    const rotted = this.#rotted.size > 0
    if (store.logRecovery?.tornTail !== undefined) this.counters.tornTailsCut++
    const recovery = await store.recover()
    if (!rotted) expect(recovery.warnings, 'recovery warnings').toEqual([])
    const id = recovery.checkpoint?.id
    // I6: the newest acknowledged checkpoint, or a newer one whose commit was cut short.
    if (id !== this.#latest) {
      expect(id, 'I6: the newest acknowledged checkpoint is recovered').toBeDefined()
      expect(this.#maybe, `I6: checkpoint ${String(id)} was never issued (a phantom)`).toBeDefined()
      expect(recovery.checkpoint?.lsn).toBe(this.#maybe?.lsn)
      if (this.#maybe !== undefined && id !== undefined) this.#kept.set(id, this.#maybe)
      this.#latest = id
    }
    this.#maybe = undefined
    const c = recovery.checkpoint?.lsn ?? 0
    this.#checkpointLsn = c
    // I1-I3: the log after the checkpoint, gap-free, every acknowledged record byte-exact, every
    // other one issued (pending), in issue order.
    const recovered = new Map<number, Uint8Array>()
    let expected = c + 1
    let pendingAt = 0
    for await (const { lsn, data } of this.#truncationChecked(recovery.records)) {
      expect(lsn, 'I2: the recovered log has no gap').toBe(expected)
      expected++
      const acked = this.#log.get(lsn)
      if (acked !== undefined) {
        expect(sameBytes(data, acked), `I1: record ${String(lsn)} byte-exact`).toBe(true)
      } else {
        const at = this.#pending.findIndex((p, i) => i >= pendingAt && sameBytes(p, data))
        if (at < 0) this.counters.phantoms++
        expect(at, `I3: record ${String(lsn)} was issued (no phantom)`).toBeGreaterThanOrEqual(0)
        pendingAt = at + 1
      }
      recovered.set(lsn, data)
    }
    for (const [lsn] of this.#log) {
      if (lsn <= c) continue
      if (!recovered.has(lsn)) this.counters.ackedLost++
      expect(recovered.has(lsn), `I1/I8: acknowledged record ${String(lsn)} is present`).toBe(true)
    }
    this.counters.recordsChecked += recovered.size
    this.#log = recovered
    this.#pending = []
    // Retention cut short: what it dropped is gone from checkpoints(), what it did not stays.
    const listed = new Set((await store.checkpoints()).map((info) => info.id as string))
    for (const known of this.#kept.keys()) {
      if (listed.has(known)) continue
      expect(this.#maybeDropped.has(known), `I7: retained checkpoint ${known.slice(0, 8)} is listed`).toBe(
        true,
      )
      this.#kept.delete(known)
    }
    for (const listedId of listed) {
      if (!this.#kept.has(listedId)) this.counters.phantoms++
      expect(this.#kept.has(listedId), `no phantom checkpoint ${listedId.slice(0, 8)}`).toBe(true)
    }
    this.#maybeDropped.clear()
    // I7, I9, I13: every retained checkpoint restores byte-exact (or, after bit rot, fails with
    // CORRUPT_OBJECT: never wrong bytes).
    const unreadable = new Set<string>()
    for (const [known, state] of this.#kept) {
      const ok = await this.#restores(store, known, state)
      if (!ok) unreadable.add(known)
    }
    // I10, I13: verify finds nothing, or after bit rot names every checkpoint that cannot be read.
    const report = await store.verify({ readData: true })
    if (!rotted) {
      expect(report.problems, 'I10: verify finds no problem').toEqual([])
    } else {
      expect(report.problems.length, 'I13: verify reports the bit rot').toBeGreaterThan(0)
      const named = new Set(report.problems.flatMap((p) => p.checkpoints as readonly string[]))
      for (const known of unreadable)
        expect(named.has(known), `I13: verify names checkpoint ${known.slice(0, 8)}`).toBe(true)
      this.counters.rotDetected++
    }
    return {
      checkpoint: id,
      records: [...recovered].map(([lsn, data]) => `${String(lsn)}:${Buffer.from(data).toString('hex')}`),
    }
  }

  /** I8: the log after the recovered checkpoint is all there (not truncated behind a checkpoint that is not durable). */
  async *#truncationChecked<T>(records: AsyncIterable<T>): AsyncGenerator<T> {
    try {
      yield* records
    } catch (error) {
      if (isCairnError(error, 'NOT_FOUND')) {
        this.counters.ackedLost++
        expect.fail(`I8: the log was truncated past the recovered checkpoint: ${error.message}`)
      }
      throw error
    }
  }

  /** True when the checkpoint reads back byte-exact; false when it fails with CORRUPT_OBJECT after bit rot. */
  async #restores(store: Store, id: string, state: KnownCheckpoint): Promise<boolean> {
    try {
      const snapshot = await store.snapshot(id as never)
      expect(await snapshot.entries(), `I7: ${id.slice(0, 8)} entries`).toEqual(
        [...state.entries.keys()].sort(),
      )
      for (const [name, bytes] of state.entries) {
        const read = await snapshot.read(name)
        if (!sameBytes(read, bytes)) {
          this.counters.wrongBytes++
          expect.fail(`I7/I13: checkpoint ${id.slice(0, 8)} entry ${name} returned wrong bytes`)
        }
      }
      this.counters.checkpointsRestored++
      return true
    } catch (error) {
      if (this.#rotted.size > 0 && isCairnError(error) && RotCodes.has(error.code)) return false
      if (isCairnError(error, 'MISSING_CHUNK') || isCairnError(error, 'NOT_FOUND'))
        this.counters.reachableChunksDeleted++
      throw error
    }
  }

  /** I5: damage in a sealed segment fails the open or the replay with CORRUPT_LOG naming it. */
  async #expectLogDamage(): Promise<void> {
    let failed: unknown
    let c = 0
    try {
      await this.open()
      const recovery = await this.#store().recover()
      c = recovery.checkpoint?.lsn ?? 0
      let records = 0
      for await (const record of recovery.records) records += record.lsn > 0 ? 1 : 0
      this.counters.recordsChecked += records
    } catch (error) {
      failed = error
    }
    await this.store?.close().catch(() => undefined)
    this.store = undefined
    const path = this.#logDamage ?? ''
    if (failed === undefined) {
      // Nothing reported: only right when the damaged segment holds no record after the
      // recovered checkpoint (truncated, or sealed since and not yet truncated): nothing needs it.
      if (this.disk.peek(path) !== undefined) {
        const segments = (await this.#files('log')).filter((p) => p.endsWith('.seg')).sort()
        const next = segments[segments.indexOf(path) + 1]
        const nextBase = next === undefined ? Infinity : Number(next.split('/').at(-1)?.slice(0, 20))
        expect(
          nextBase - 1 <= c,
          `I5: damage in ${path}, which holds records after LSN ${String(c)}, went unreported`,
        ).toBe(true)
      }
      this.counters.midLogBehindCheckpoint++
    } else {
      expect(
        isCairnError(failed, 'CORRUPT_LOG'),
        `I5: CORRUPT_LOG, got ${failed instanceof Error ? failed.message : 'a non-Error'}`,
      ).toBe(true)
      this.counters.midLogDetected++
    }
    this.#logDamage = undefined
    throw new WorldEnded()
  }

  #expectNoHandles(): void {
    expect(this.disk.openHandles, 'I15: no file handle left open after close').toBe(0)
  }

  async #checkNoTempFiles(): Promise<void> {
    const temps = (await this.#files('objects')).filter((path) => path.split('/').at(-1)?.startsWith('.tmp-'))
    expect(temps, 'I15: no temp file left after GC').toEqual([])
  }

  /** Closes the store and opens it again (after a failed op: it may have fail-stopped). */
  async #restart(): Promise<void> {
    this.disk.setSpaceBudget(undefined)
    this.disk.clearFaults()
    this.#faulty = false
    await this.#store()
      .close()
      .catch(() => undefined)
    // A store that failed may not close cleanly: what is durable is what counts.
    await this.crash('processCrash', this.#rng.fork())
    this.counters.restartsAfterFailure++
  }

  async close(): Promise<void> {
    await this.store?.close()
    this.store = undefined
    this.#expectNoHandles()
  }

  #store(): Store {
    if (this.store === undefined) throw new Error('the world has no open store')
    return this.store
  }

  #lastLsn(): number {
    return Math.max(this.#checkpointLsn, ...this.#log.keys())
  }

  #payload(size: number): Uint8Array {
    const head = new TextEncoder().encode(`r${String(++this.#seq)}:`)
    const out = new Uint8Array(head.length + size)
    out.set(head)
    out.set(this.#rng.bytes(size), head.length)
    return out
  }

  #count(fault: string): void {
    this.counters.faults[fault] = (this.counters.faults[fault] ?? 0) + 1
  }

  async #files(dir: string): Promise<string[]> {
    const out: string[] = []
    const walk = async (path: string): Promise<void> => {
      let names: string[]
      try {
        names = await this.disk.readdir(path)
      } catch {
        return
      }
      for (const name of names) {
        const child = `${path}/${name}`
        if ((await this.disk.stat(child)).kind === 'directory') await walk(child)
        else out.push(child)
      }
    }
    await walk(dir)
    return out.sort()
  }
}

/** Codes a read may fail with after bit rot in a pack. */
const RotCodes: ReadonlySet<CairnErrorCode> = new Set(['CORRUPT_OBJECT', 'MISSING_CHUNK'])

/** The world cannot go on (its log is damaged, as intended): the run ends there, checked. */
export class WorldEnded extends Error {}
