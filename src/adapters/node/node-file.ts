/**
 * An open file of the node Vfs, on a raw file descriptor, in one of two I/O modes:
 *
 * - `sync` (the default): reads, writes, fdatasync and truncate are synchronous system calls.
 *   They block the event loop for their duration (an fdatasync is ~0.1 ms here, rarely 1 ms), and
 *   in exchange cost no thread-pool round trip: measured here, a write + fdatasync loop runs
 *   ~10,000/s with sync calls, ~6,000-7,000/s through callbacks or FileHandle promises. Group
 *   commit and replay are bound by exactly that cost.
 * - `async`: the same calls on libuv's thread pool, for processes that must never block their
 *   event loop (a server with tight latency budgets), at the price above.
 */
import fs from 'node:fs'
import { CairnError } from '../../core/errors.js'
import type { VfsFile } from '../../core/ports.js'
import { translateFsError } from './fs-errors.js'

export type NodeIoMode = 'sync' | 'async'

/** Runs `fn(callback)` as a promise. */
function call<T>(
  fn: (callback: (error: NodeJS.ErrnoException | null, value: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((error, value) => {
      if (error === null) resolve(value)
      else reject(error)
    })
  })
}

/** Runs `fn(callback)` as a promise of nothing. */
function callVoid(fn: (callback: (error: NodeJS.ErrnoException | null) => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    fn((error) => {
      if (error === null) resolve()
      else reject(error)
    })
  })
}

/**
 * Opens `fullPath` and returns its descriptor and size; without `sized`, no size (0): a handle
 * only read from never appends, and each fstat is one more trip through libuv's thread pool (a
 * restore's gets open a pack each).
 */
export async function openFd(
  fullPath: string,
  flags: number,
  io: NodeIoMode,
  sized = true,
): Promise<{ fd: number; size: number }> {
  if (io === 'sync') {
    const fd = fs.openSync(fullPath, flags, 0o600)
    if (!sized) return { fd, size: 0 }
    try {
      return { fd, size: fs.fstatSync(fd).size }
    } catch (error) {
      fs.closeSync(fd)
      throw error
    }
  }
  const fd = await call<number>((cb) => {
    fs.open(fullPath, flags, 0o600, cb)
  })
  if (!sized) return { fd, size: 0 }
  try {
    return {
      fd,
      size: (
        await call<fs.Stats>((cb) => {
          fs.fstat(fd, cb)
        })
      ).size,
    }
  } catch (error) {
    fs.closeSync(fd)
    throw error
  }
}

/** A file opened by the node Vfs. Tracks its end so `append` needs no stat. */
export class NodeFile implements VfsFile {
  readonly path: string
  readonly #fd: number
  readonly #io: NodeIoMode
  #end: number
  #closed = false

  constructor(fd: number, path: string, size: number, io: NodeIoMode) {
    this.#fd = fd
    this.path = path
    this.#end = size
    this.#io = io
  }

  async read(position: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    this.#assertOpen('vfs.read')
    // Not zero-filled first: the read overwrites it, and only what it filled is handed out (a
    // restore's 4 MiB reads spent ~5-10% of its time zeroing fresh pages). A buffer of its own,
    // so a reader may hand it to a worker thread whole.
    const buffer =
      into !== undefined && into.length >= length
        ? into.subarray(0, length)
        : new Uint8Array(Buffer.allocUnsafeSlow(length).buffer)
    let filled = 0
    try {
      while (filled < length) {
        const bytesRead = await this.#readOnce(buffer, filled, length - filled, position + filled)
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
        written += await this.#writeOnce(data, written, data.length - written, position + written)
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
    return this.#run('vfs.size', () =>
      this.#io === 'sync'
        ? fs.fstatSync(this.#fd).size
        : call<fs.Stats>((cb) => {
            fs.fstat(this.#fd, cb)
          }).then((stats) => stats.size),
    )
  }

  async truncate(size: number): Promise<void> {
    this.#assertOpen('vfs.truncate')
    await this.#run('vfs.truncate', async () => {
      if (this.#io === 'sync') fs.ftruncateSync(this.#fd, size)
      else
        await callVoid((cb) => {
          fs.ftruncate(this.#fd, size, cb)
        })
    })
    this.#end = size
  }

  async fdatasync(): Promise<void> {
    this.#assertOpen('vfs.fdatasync')
    await this.#run('vfs.fdatasync', async () => {
      if (this.#io === 'sync') fs.fdatasyncSync(this.#fd)
      else
        await callVoid((cb) => {
          fs.fdatasync(this.#fd, cb)
        })
    })
  }

  async fsync(): Promise<void> {
    this.#assertOpen('vfs.fsync')
    await this.#run('vfs.fsync', async () => {
      if (this.#io === 'sync') fs.fsyncSync(this.#fd)
      else
        await callVoid((cb) => {
          fs.fsync(this.#fd, cb)
        })
    })
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#run('vfs.close', async () => {
      if (this.#io === 'sync') fs.closeSync(this.#fd)
      else
        await callVoid((cb) => {
          fs.close(this.#fd, cb)
        })
    })
  }

  #readOnce(buffer: Uint8Array, offset: number, length: number, position: number): number | Promise<number> {
    if (this.#io === 'sync') return fs.readSync(this.#fd, buffer, offset, length, position)
    return call<number>((cb) => {
      fs.read(this.#fd, buffer, offset, length, position, cb)
    })
  }

  #writeOnce(data: Uint8Array, offset: number, length: number, position: number): number | Promise<number> {
    if (this.#io === 'sync') return fs.writeSync(this.#fd, data, offset, length, position)
    return call<number>((cb) => {
      fs.write(this.#fd, data, offset, length, position, cb)
    })
  }

  async #run<T>(op: string, body: () => T | Promise<T>): Promise<T> {
    try {
      return await body()
    } catch (error) {
      throw translateFsError(error, op, this.path)
    }
  }

  #assertOpen(op: string): void {
    if (this.#closed) throw new CairnError('CLOSED', 'the file handle is closed', { op, path: this.path })
  }
}
