/**
 * The single-writer lock of a store directory: a `LOCK` file created exclusively, holding the
 * writer's pid, host and start time, and fsynced with its directory. A second writer (another
 * process, or a second open in this one) finds it and gets `LOCKED`. A lock left by a process
 * that is gone (same host, pid no longer alive) is stale: it is taken over, by removing it and
 * creating ours exclusively again, so two processes taking it over at once cannot both win.
 *
 * Within one process, a lock is live while the open that took it is: each lock carries a token,
 * registered under the store it locks (its directory for node:fs, the Vfs object otherwise). A
 * lock with this process's pid but no live token is stale: on a simulated disk, that is a store
 * that "crashed" and whose disk came back as a new Vfs.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { realpathSync } from 'node:fs'
import { CairnError, isCairnError } from '../../core/errors.js'
import type { Vfs } from '../../core/ports.js'
import { NodeVfs } from './node-vfs.js'

const LOCK = 'LOCK'
/** An unreadable lock file (or takeover gate) older than this is taken as left by a crash. */
const UNREADABLE_STALE_MS = 10_000

interface LockRecord {
  readonly pid: number
  readonly host: string
  readonly since: number
  readonly token: string
}

/** Tokens of the locks this process holds, by store: a directory, or a Vfs object. */
const heldByDir = new Map<string, Set<string>>()
const heldByVfs = new WeakMap<Vfs, Set<string>>()

function held(vfs: Vfs): Set<string> {
  if (vfs instanceof NodeVfs) {
    // The real path: the same directory reached through a symlink is the same store.
    let dir = resolve(vfs.root)
    try {
      dir = realpathSync(dir)
    } catch {
      // not created yet: its resolved path names it
    }
    let tokens = heldByDir.get(dir)
    if (tokens === undefined) heldByDir.set(dir, (tokens = new Set()))
    return tokens
  }
  let tokens = heldByVfs.get(vfs)
  if (tokens === undefined) heldByVfs.set(vfs, (tokens = new Set()))
  return tokens
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but is not ours to signal; ESRCH: it is gone.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function readLock(vfs: Vfs): Promise<LockRecord | undefined> {
  try {
    const file = await vfs.open(LOCK, 'read')
    try {
      const bytes = await file.read(0, Math.min(4096, await file.size()))
      const parsed = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LockRecord>
      if (
        typeof parsed.pid === 'number' &&
        typeof parsed.host === 'string' &&
        typeof parsed.since === 'number'
      )
        return parsed as LockRecord
      return undefined
    } finally {
      await file.close()
    }
  } catch (error) {
    if (isCairnError(error, 'NOT_FOUND')) return undefined
    if (error instanceof SyntaxError) return undefined // a torn lock file: no live writer wrote it whole
    throw error
  }
}

/** Takes the lock of the store whose root `vfs` is; resolves with its release. */
export async function takeStoreLock(vfs: Vfs): Promise<() => Promise<void>> {
  const mine: LockRecord = {
    pid: process.pid,
    host: hostname(),
    since: Date.now(),
    token: randomBytes(8).toString('hex'),
  }
  const tokens = held(vfs)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await vfs.open(LOCK, 'createExclusive')
      try {
        await file.write(new TextEncoder().encode(JSON.stringify(mine)), 0)
        await file.fsync()
      } finally {
        await file.close()
      }
      await vfs.fsyncDir('')
      tokens.add(mine.token)
      let released = false
      return async () => {
        if (released) return
        released = true
        tokens.delete(mine.token)
        // Only our own lock: if it was taken over (we were thought dead), it is not ours to remove.
        if ((await readLock(vfs))?.token !== mine.token) return
        await vfs.unlink(LOCK)
        await vfs.fsyncDir('')
      }
    } catch (error) {
      if (!isCairnError(error, 'ALREADY_EXISTS')) throw error
    }
    const holder = await readLock(vfs)
    const stale = await isStale(vfs, holder, mine, tokens)
    if (!stale || attempt > 0) {
      throw new CairnError(
        'LOCKED',
        holder === undefined
          ? 'the store is locked by another writer'
          : `the store is locked by pid ${String(holder.pid)} on ${holder.host} since ${new Date(holder.since).toISOString()}`,
        { op: 'store.open', path: LOCK, hint: 'open it with readOnly: true to read beside the writer' },
      )
    }
    await removeStale(vfs, holder)
  }
  throw new CairnError('LOCKED', 'the store is locked by another writer', { op: 'store.open', path: LOCK })
}

/** True when the lock `holder` (undefined: unreadable) was left by a writer that is gone. */
async function isStale(
  vfs: Vfs,
  holder: LockRecord | undefined,
  mine: LockRecord,
  tokens: Set<string>,
): Promise<boolean> {
  if (holder === undefined) {
    // A writer that crashed before writing it whole, or one still writing it: told apart by age.
    const mtime = await vfs.stat(LOCK).then(
      (stat) => stat.mtimeMs,
      () => Date.now(),
    )
    return Date.now() - mtime > UNREADABLE_STALE_MS
  }
  if (holder.host !== mine.host) return false
  return holder.pid === process.pid ? !tokens.has(holder.token) : !alive(holder.pid)
}

/**
 * Removes a stale lock, one taker at a time: takers serialise on `LOCK.takeover` (created
 * exclusively), and the lock is removed only if it is still the stale one that was read, so two
 * processes taking over at once cannot remove each other's fresh lock.
 */
async function removeStale(vfs: Vfs, stale: LockRecord | undefined, retry = true): Promise<void> {
  const gate = `${LOCK}.takeover`
  try {
    await (await vfs.open(gate, 'createExclusive')).close()
  } catch (error) {
    if (!isCairnError(error, 'ALREADY_EXISTS')) throw error
    // Another taker is at it, or one crashed mid-takeover: an old gate is removed and the
    // takeover tried again (once), so a crash inside a takeover does not fail the next open.
    const age =
      Date.now() -
      (await vfs.stat(gate).then(
        (stat) => stat.mtimeMs,
        () => Date.now(),
      ))
    if (age > UNREADABLE_STALE_MS) {
      await vfs.unlink(gate).catch(() => undefined)
      if (retry) await removeStale(vfs, stale, false)
    }
    return
  }
  try {
    const current = await readLock(vfs)
    if (current?.token === stale?.token) {
      await vfs.unlink(LOCK).catch((error: unknown) => {
        if (!isCairnError(error, 'NOT_FOUND')) throw error
      })
    }
  } finally {
    await vfs.unlink(gate).catch(() => undefined)
  }
}
