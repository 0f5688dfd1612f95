/**
 * The real {@link Vfs}: node:fs under one root directory. Directory operations are asynchronous;
 * file data operations follow the `io` option (node-file.ts). OS errors are translated at this
 * boundary (fs-errors.ts).
 */
import { constants as fsConstants } from 'node:fs'
import { link, mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { translateFsError } from './fs-errors.js'
import { NodeFile, openFd } from './node-file.js'
import type { NodeIoMode } from './node-file.js'
import { parseKey } from '../../core/paths.js'
import type { OpenMode, Vfs, VfsFile, VfsProperties, VfsStat } from '../../core/ports.js'

export interface NodeVfsOptions {
  /** The directory every path is relative to. */
  readonly root: string
  /**
   * `'sync'` (default): file reads, writes and syncs are synchronous system calls, which block
   * the event loop ~0.1 ms per fdatasync and are ~1.5x faster; `'async'`: on the thread pool.
   * See node-file.ts for the figures.
   */
  readonly io?: NodeIoMode
}

const OPEN_FLAGS: Record<OpenMode, number> = {
  read: fsConstants.O_RDONLY,
  readWrite: fsConstants.O_RDWR,
  create: fsConstants.O_RDWR | fsConstants.O_CREAT,
  createExclusive: fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL,
}

/** Creates a Vfs over node:fs rooted at `options.root`. */
export function createNodeVfs(options: NodeVfsOptions): NodeVfs {
  return new NodeVfs(options.root, options.io ?? 'sync')
}

/** node:fs rooted at one directory. */
export class NodeVfs implements Vfs {
  readonly properties: VfsProperties = { name: 'node' }
  readonly root: string
  readonly io: NodeIoMode

  constructor(root: string, io: NodeIoMode = 'sync') {
    this.root = root
    this.io = io
  }

  /** The absolute OS path of a Vfs path. */
  resolve(path: string, op: string): string {
    return path === '' ? this.root : join(this.root, parseKey(path, op))
  }

  localPath(path: string): string {
    return this.resolve(path, 'vfs.localPath')
  }

  async open(path: string, mode: OpenMode): Promise<VfsFile> {
    const full = this.resolve(path, 'vfs.open')
    try {
      const { fd, size } = await openFd(full, OPEN_FLAGS[mode], this.io, mode !== 'read')
      return new NodeFile(fd, path, size, this.io)
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
