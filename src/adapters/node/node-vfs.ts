/**
 * The real {@link Vfs}: node:fs under one root directory. OS errors are translated at this
 * boundary: ENOENT/ENOTDIR -> NOT_FOUND, EEXIST -> ALREADY_EXISTS, ENOSPC/EDQUOT -> DISK_FULL
 * (retryable), everything else -> IO; the original error is always the `cause`.
 */
import { constants as fsConstants } from 'node:fs'
import { link, mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { CairnError } from '../../core/errors.js'
import type { CairnErrorCode } from '../../core/errors.js'
import { parseKey } from '../../core/paths.js'
import type { OpenMode, Vfs, VfsFile, VfsProperties, VfsStat } from '../../core/ports.js'

export interface NodeVfsOptions {
  /** The directory every path is relative to. It must exist. */
  readonly root: string
}

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: fsConstants.O_RDONLY,
  readWrite: fsConstants.O_RDWR,
  create: fsConstants.O_RDWR | fsConstants.O_CREAT,
  createExclusive: fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL,
}

/** Creates a Vfs over node:fs rooted at `options.root`. */
export function createNodeVfs(options: NodeVfsOptions): NodeVfs {
  return new NodeVfs(options.root)
}

/** Translates an OS error into a CairnError naming the operation and path. */
export function translateFsError(
  error: unknown,
  op: string,
  path: string,
  bytesWritten?: number,
): CairnError {
  if (error instanceof CairnError) return error
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const mapped: CairnErrorCode =
    code === 'ENOENT' || code === 'ENOTDIR'
      ? 'NOT_FOUND'
      : code === 'EEXIST'
        ? 'ALREADY_EXISTS'
        : code === 'ENOSPC' || code === 'EDQUOT'
          ? 'DISK_FULL'
          : 'IO'
  const message = error instanceof Error ? error.message : String(error)
  return new CairnError(mapped, message, {
    op,
    path,
    cause: error,
    ...(bytesWritten === undefined ? {} : { bytesWritten }),
    ...(mapped === 'DISK_FULL' ? { retryable: true, hint: 'free some space and retry' } : {}),
    ...(code === 'EACCES' || code === 'EPERM'
      ? { hint: 'check the permissions of the store directory' }
      : {}),
  })
}

/** node:fs rooted at one directory. */
export class NodeVfs implements Vfs {
  readonly properties: VfsProperties = { name: 'node' }
  readonly root: string

  constructor(root: string) {
    this.root = root
  }

  /** The absolute OS path of a Vfs path. */
  resolve(path: string, op: string): string {
    return path === '' ? this.root : join(this.root, parseKey(path, op))
  }

  async open(path: string, mode: OpenMode): Promise<VfsFile> {
    const full = this.resolve(path, 'vfs.open')
    try {
      const handle = await open(full, OPEN_FLAGS[mode], 0o600)
      try {
        const { size } = await handle.stat()
        return new NodeFile(handle, path, size)
      } catch (error) {
        await handle.close()
        throw error
      }
    } catch (error) {
      throw translateFsError(error, 'vfs.open', path)
    }
  }

  async rename(source: string, target: string): Promise<void> {
    await this.#run('vfs.rename', source, () =>
      rename(this.resolve(source, 'vfs.rename'), this.resolve(target, 'vfs.rename')),
    )
  }

  async link(existing: string, target: string): Promise<void> {
    await this.#run('vfs.link', target, () =>
      link(this.resolve(existing, 'vfs.link'), this.resolve(target, 'vfs.link')),
    )
  }

  async unlink(path: string): Promise<void> {
    await this.#run('vfs.unlink', path, () => unlink(this.resolve(path, 'vfs.unlink')))
  }

  async readdir(path: string): Promise<string[]> {
    return this.#run('vfs.readdir', path, () => readdir(this.resolve(path, 'vfs.readdir')))
  }

  async mkdir(path: string, options: { readonly recursive?: boolean } = {}): Promise<void> {
    const full = this.resolve(path, 'vfs.mkdir')
    await this.#run('vfs.mkdir', path, () =>
      mkdir(full, { recursive: options.recursive === true, mode: 0o700 }),
    )
  }

  async rmdir(path: string): Promise<void> {
    await this.#run('vfs.rmdir', path, () => rmdir(this.resolve(path, 'vfs.rmdir')))
  }

  async fsyncDir(path: string): Promise<void> {
    const full = this.resolve(path, 'vfs.fsyncDir')
    await this.#run('vfs.fsyncDir', path, async () => {
      const handle = await open(full, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY)
      try {
        await handle.sync()
      } finally {
        await handle.close()
      }
    })
  }

  async stat(path: string): Promise<VfsStat> {
    const info = await this.#run('vfs.stat', path, () => stat(this.resolve(path, 'vfs.stat')))
    return { kind: info.isDirectory() ? 'directory' : 'file', size: info.size, mtimeMs: info.mtimeMs }
  }

  async #run<T>(op: string, path: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body()
    } catch (error) {
      throw translateFsError(error, op, path)
    }
  }
}

/** A file opened by {@link NodeVfs}. Tracks its end so `append` needs no stat. */
class NodeFile implements VfsFile {
  readonly path: string
  readonly #handle: FileHandle
  #end: number
  #closed = false

  constructor(handle: FileHandle, path: string, size: number) {
    this.#handle = handle
    this.path = path
    this.#end = size
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    this.#assertOpen('vfs.read')
    const buffer = new Uint8Array(length)
    let filled = 0
    try {
      while (filled < length) {
        const { bytesRead } = await this.#handle.read(buffer, filled, length - filled, position + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
    } catch (error) {
      throw translateFsError(error, 'vfs.read', this.path)
    }
    return filled === length ? buffer : buffer.subarray(0, filled)
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.#assertOpen('vfs.write')
    let written = 0
    try {
      // A write may land only in part (a full disk, a signal): keep going until all of it has.
      while (written < data.length) {
        const { bytesWritten } = await this.#handle.write(
          data,
          written,
          data.length - written,
          position + written,
        )
        written += bytesWritten
      }
    } catch (error) {
      this.#end = Math.max(this.#end, position + written)
      throw translateFsError(error, 'vfs.write', this.path, written)
    }
    this.#end = Math.max(this.#end, position + data.length)
  }

  async append(data: Uint8Array): Promise<number> {
    const position = this.#end
    await this.write(data, position)
    return position
  }

  async size(): Promise<number> {
    this.#assertOpen('vfs.size')
    try {
      return (await this.#handle.stat()).size
    } catch (error) {
      throw translateFsError(error, 'vfs.size', this.path)
    }
  }

  async truncate(size: number): Promise<void> {
    this.#assertOpen('vfs.truncate')
    try {
      await this.#handle.truncate(size)
      this.#end = size
    } catch (error) {
      throw translateFsError(error, 'vfs.truncate', this.path)
    }
  }

  async fdatasync(): Promise<void> {
    this.#assertOpen('vfs.fdatasync')
    try {
      await this.#handle.datasync()
    } catch (error) {
      throw translateFsError(error, 'vfs.fdatasync', this.path)
    }
  }

  async fsync(): Promise<void> {
    this.#assertOpen('vfs.fsync')
    try {
      await this.#handle.sync()
    } catch (error) {
      throw translateFsError(error, 'vfs.fsync', this.path)
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.#handle.close()
    } catch (error) {
      throw translateFsError(error, 'vfs.close', this.path)
    }
  }

  #assertOpen(op: string): void {
    if (this.#closed) throw new CairnError('CLOSED', 'the file handle is closed', { op, path: this.path })
  }
}
