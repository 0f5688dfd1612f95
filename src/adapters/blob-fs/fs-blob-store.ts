/**
 * A {@link BlobStore} over any {@link Vfs}: each object is one file under a root directory,
 * its key the path below that root.
 *
 * A put is atomic and durable when it resolves (Litestream's file replica order):
 *  1. write a temp file beside the target and fdatasync it;
 *  2. `ifAbsent`: hard-link it to the target (atomic create-if-absent, even across processes),
 *     then unlink the temp name; otherwise rename it over the target;
 *  3. fsync the directory, so the new name survives power loss.
 * A directory created on the way is fsynced into its parent before anything is put in it.
 * A crash can leave a temp file behind, never a partial object; `removeTempFiles` sweeps them.
 */
import { randomBytes } from 'node:crypto'
import { ahead } from '../../core/ahead.js'
import { CairnError, isCairnError } from '../../core/errors.js'
import { objectBytesMax } from '../../core/limits.js'
import { joinPath, parentOf, parseKey } from '../../core/paths.js'
import type { BlobInfo, BlobStore, BlobStoreProperties, ByteRange, Vfs, VfsFile } from '../../core/ports.js'

/** Unlinks in flight at once in a `delete` (the thread pool has four threads by default). */
const DELETE_WIDTH = 8
/** Entries a listing stats at once. */
const LIST_WIDTH = 16

export interface FsBlobStoreOptions {
  readonly vfs: Vfs
  /** The directory of the Vfs that holds the objects; created if missing. `''` is the Vfs root. */
  readonly root?: string
}

const TEMP_PREFIX = '.tmp-'

/** Opens (creating its root if needed) a BlobStore over `options.vfs`. */
export async function createFsBlobStore(options: FsBlobStoreOptions): Promise<FsBlobStore> {
  const root = options.root ?? ''
  if (root !== '') {
    parseKey(root, 'blob.open')
    await options.vfs.mkdir(root, { recursive: true })
    await options.vfs.fsyncDir(parentOf(root))
  }
  return new FsBlobStore(options.vfs, root)
}

/** Objects as files under a Vfs directory. */
export class FsBlobStore implements BlobStore {
  readonly properties: BlobStoreProperties = {
    name: 'fs',
    conditionalCreate: true,
    listAfterPut: true,
    concurrencyMax: 16,
  }
  readonly #vfs: Vfs
  readonly #root: string
  readonly #knownDirs = new Set<string>()
  readonly #tempTag = randomBytes(6).toString('hex')
  #tempCount = 0

  constructor(vfs: Vfs, root: string) {
    this.#vfs = vfs
    this.#root = root
    this.#knownDirs.add(root)
  }

  async put(key: string, data: Uint8Array, options: { readonly ifAbsent?: boolean } = {}): Promise<void> {
    const path = this.#pathOf(key, 'blob.put')
    if (data.length > objectBytesMax) {
      throw new CairnError('LIMIT_EXCEEDED', `an object may hold at most ${String(objectBytesMax)} bytes`, {
        op: 'blob.put',
        path: key,
      })
    }
    const dir = parentOf(path)
    await this.#ensureDir(dir)
    const temp = joinPath(dir, `${TEMP_PREFIX}${this.#tempTag}-${String(this.#tempCount++)}`)
    let tempExists = false
    try {
      const file = await this.#vfs.open(temp, 'createExclusive')
      tempExists = true
      try {
        await file.write(data, 0)
        await file.fdatasync()
      } finally {
        await file.close()
      }
      if (options.ifAbsent === true) {
        await this.#vfs.link(temp, path)
        await this.#vfs.unlink(temp)
      } else {
        await this.#vfs.rename(temp, path)
      }
      tempExists = false
      await this.#vfs.fsyncDir(dir)
    } catch (error) {
      if (tempExists) await this.#discardTemp(temp)
      if (isCairnError(error, 'ALREADY_EXISTS')) {
        // The caller takes an existing object as durable: a writer killed between its link and
        // its directory sync may have left the name in the page cache only.
        await this.#vfs.fsyncDir(dir)
        throw new CairnError('ALREADY_EXISTS', 'the object exists', {
          op: 'blob.put',
          path: key,
          cause: error,
        })
      }
      throw error
    }
  }

  localPath(key: string): string | undefined {
    return this.#vfs.localPath?.(this.#pathOf(key, 'blob.localPath'))
  }

  async get(key: string, range?: ByteRange, into?: Uint8Array): Promise<Uint8Array> {
    const path = this.#pathOf(key, 'blob.get')
    const file = await this.#openForRead(path, key)
    try {
      const offset = range?.offset ?? 0
      const outside = (length: number, size: number) =>
        new CairnError(
          'OUT_OF_RANGE',
          `range ${String(offset)}+${String(length)} is outside the object of ${String(size)} bytes`,
          { op: 'blob.get', path: key, offset },
        )
      // A sound, non-empty range is read without asking the size first (one trip less through
      // libuv's thread pool for each of a restore's gets): a short read finds a range past the end.
      const ranged =
        range !== undefined &&
        Number.isSafeInteger(offset) &&
        Number.isSafeInteger(range.length) &&
        offset >= 0 &&
        range.length > 0
      const size = ranged ? undefined : await file.size()
      const length = range?.length ?? size ?? 0
      if (
        size !== undefined &&
        (!Number.isSafeInteger(offset) ||
          !Number.isSafeInteger(length) ||
          offset < 0 ||
          length < 0 ||
          offset + length > size)
      )
        throw outside(length, size)
      const data = await file.read(offset, length, into)
      if (ranged && data.length !== length) throw outside(length, await file.size())
      if (data.length !== length) {
        throw new CairnError(
          'OUT_OF_RANGE',
          `the object ended after ${String(data.length)} of ${String(length)} bytes`,
          {
            op: 'blob.get',
            path: key,
            offset: offset + data.length,
          },
        )
      }
      return data
    } finally {
      await file.close()
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const path = this.#pathOf(key, 'blob.head')
    try {
      const info = await this.#vfs.stat(path)
      return info.kind === 'file' ? { key, size: info.size } : undefined
    } catch (error) {
      if (isCairnError(error, 'NOT_FOUND')) return undefined
      throw error
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    if (prefix.startsWith('/') || prefix.split('/').some((s) => s === '.' || s === '..')) {
      throw new CairnError('INVALID_KEY', `bad list prefix ${JSON.stringify(prefix)}`, {
        op: 'blob.list',
        path: prefix,
      })
    }
    const base = parentOf(prefix)
    // An explicit stack instead of recursion: a deep tree cannot overflow it.
    const stack = [base]
    while (stack.length > 0) {
      const dirKey = stack.pop() ?? ''
      let names: string[]
      try {
        names = await this.#vfs.readdir(joinPath(this.#root, dirKey))
      } catch (error) {
        if (isCairnError(error, 'NOT_FOUND')) continue
        throw error
      }
      const keys = names
        .filter((name) => !name.startsWith(TEMP_PREFIX))
        .map((name) => joinPath(dirKey, name))
        .filter((key) => key.startsWith(prefix) || prefix.startsWith(`${key}/`))
      // A few stats at once, in name order: one after another, each a round trip through the
      // thread pool, they were most of a listing's time (GC lists packs and index objects).
      for await (const [key, stat] of ahead(keys, LIST_WIDTH, (k) =>
        this.#vfs.stat(joinPath(this.#root, k)),
      )) {
        if (stat.status === 'rejected') {
          // Removed since the directory was read: not there any more. But a name still in its
          // directory that cannot be stat'ed (a symlink to an unmounted volume) is an error: GC
          // acts on a listing, and must not take a pack it cannot see for one that is gone.
          if (isCairnError(stat.reason, 'NOT_FOUND') && !(await this.#listed(key))) continue
          throw stat.reason
        }
        if (stat.value.kind === 'directory') stack.push(key)
        else if (key.startsWith(prefix)) yield { key, size: stat.value.size }
      }
    }
  }

  /** Whether `key`'s name is (still) in its directory. */
  async #listed(key: string): Promise<boolean> {
    const slash = key.lastIndexOf('/')
    try {
      const names = await this.#vfs.readdir(joinPath(this.#root, key.slice(0, Math.max(0, slash))))
      return names.includes(key.slice(slash + 1))
    } catch (error) {
      if (isCairnError(error, 'NOT_FOUND')) return false
      throw error
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    const paths = keys.map((key) => this.#pathOf(key, 'blob.delete'))
    const dirs = new Set<string>()
    // A few unlinks at a time, then every directory touched synced at once (GC deletes dozens of
    // packs, each in a directory of its own: one round trip after another was most of its time).
    for await (const [path, outcome] of ahead(paths, DELETE_WIDTH, (p) => this.#vfs.unlink(p))) {
      // A key already gone is synced too: a delete killed between its unlink and its directory
      // sync leaves the removal in the page cache only, and a power loss would bring it back.
      if (outcome.status === 'fulfilled' || isCairnError(outcome.reason, 'NOT_FOUND'))
        dirs.add(parentOf(path))
      else throw outcome.reason
    }
    const synced = await Promise.allSettled([...dirs].map((dir) => this.#vfs.fsyncDir(dir)))
    for (const result of synced)
      if (result.status === 'rejected' && !isCairnError(result.reason, 'NOT_FOUND')) throw result.reason
  }

  /**
   * Removes temp files that a crashed put left behind and returns how many. Call it only while
   * no put is running against this root (the store's writer lock guarantees that).
   */
  async removeTempFiles(): Promise<number> {
    let removed = 0
    const stack = [this.#root]
    while (stack.length > 0) {
      const dir = stack.pop() ?? ''
      const names = await this.#vfs.readdir(dir)
      const temps = names.filter((name) => name.startsWith(TEMP_PREFIX)).map((name) => joinPath(dir, name))
      for (const path of temps) await this.#vfs.unlink(path)
      removed += temps.length
      if (temps.length > 0) await this.#vfs.fsyncDir(dir)
      // The rest stat'ed a few at a time, for the directories among them (GC starts here: one
      // stat after another over every object was ~20 ms of a GC on 40 checkpoints).
      const others = names.filter((name) => !name.startsWith(TEMP_PREFIX)).map((name) => joinPath(dir, name))
      for await (const [path, stat] of ahead(others, LIST_WIDTH, (p) => this.#vfs.stat(p))) {
        if (stat.status === 'rejected') throw stat.reason
        if (stat.value.kind === 'directory') stack.push(path)
      }
    }
    return removed
  }

  #pathOf(key: string, op: string): string {
    parseKey(key, op)
    if (key.split('/').some((segment) => segment.startsWith(TEMP_PREFIX))) {
      throw new CairnError('INVALID_KEY', `keys may not have a segment starting with ${TEMP_PREFIX}`, {
        op,
        path: key,
      })
    }
    return joinPath(this.#root, key)
  }

  async #openForRead(path: string, key: string): Promise<VfsFile> {
    try {
      return await this.#vfs.open(path, 'read')
    } catch (error) {
      if (isCairnError(error, 'NOT_FOUND')) {
        throw new CairnError('NOT_FOUND', 'no such object', { op: 'blob.get', path: key, cause: error })
      }
      throw error
    }
  }

  /** Creates `dir` and its missing parents, fsyncing each new entry into its parent. */
  async #ensureDir(dir: string): Promise<void> {
    if (this.#knownDirs.has(dir)) return
    const missing: string[] = []
    for (let at = dir; !this.#knownDirs.has(at); at = parentOf(at)) missing.unshift(at)
    for (const path of missing) {
      try {
        await this.#vfs.mkdir(path)
      } catch (error) {
        if (!isCairnError(error, 'ALREADY_EXISTS')) throw error
      }
      // Fsync the parent even when the directory already existed: another put may have created
      // it and not yet reached its own fsync, and our object must not depend on that.
      await this.#vfs.fsyncDir(parentOf(path))
      this.#knownDirs.add(path)
    }
  }

  async #discardTemp(temp: string): Promise<void> {
    try {
      await this.#vfs.unlink(temp)
    } catch {
      // Ignoring is safe: a leftover temp file is never read as an object (list skips the
      // prefix) and removeTempFiles sweeps it. The caller sees the error that made the put fail.
    }
  }
}
