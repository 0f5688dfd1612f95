/**
 * An open file of the simulated disk. Writes go to the page cache (what reads see) and to the
 * file's pending list; a sync makes them durable. See sim-disk.ts for the disk-wide rules.
 */
import type { VfsFile } from '../../core/ports.js'
import type { FileNode } from './nodes.js'
import type { SimDisk } from './sim-disk.js'

export class SimFile implements VfsFile {
  readonly path: string
  readonly #disk: SimDisk
  readonly #node: FileNode
  readonly #writable: boolean
  #closed = false

  constructor(disk: SimDisk, node: FileNode, path: string, writable: boolean) {
    this.#disk = disk
    this.#node = node
    this.path = path
    this.#writable = writable
  }

  async read(position: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    const fault = this.#begin('read', `@${String(position)}+${String(length)}`)
    if (fault === 'EIO') throw this.#disk.error('IO', 'injected EIO on read', 'vfs.read', this.path)
    const data = this.#node.current.read(position, length)
    if (fault === 'bitflip' && data.length > 0) {
      const at = this.#disk.rng.int(data.length)
      data[at] = (data[at] ?? 0) ^ (1 << this.#disk.rng.int(8))
    }
    await this.#disk.settle()
    if (into === undefined || into.length < length) return data
    // As a real file does: the bytes land in the caller's buffer.
    into.set(data)
    return into.subarray(0, data.length)
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    const fault = this.#begin('write', `@${String(position)}+${String(data.length)}`)
    this.#assertWritable('vfs.write')
    if (fault === 'EIO') throw this.#disk.error('IO', 'injected EIO on write', 'vfs.write', this.path)
    const growth = Math.max(0, position + data.length - this.#node.current.size)
    const spaceLeft = this.#disk.spaceLeft()
    if (growth > spaceLeft || fault === 'ENOSPC') {
      const fits = Math.min(data.length, Math.max(0, this.#node.current.size - position) + spaceLeft)
      const landed = fault === 'ENOSPC' ? this.#disk.rng.int(fits + 1) : fits
      this.#apply(data.subarray(0, landed), position)
      throw this.#disk.error(
        'DISK_FULL',
        'no space left on the simulated disk',
        'vfs.write',
        this.path,
        landed,
      )
    }
    if (fault === 'shortWrite') {
      const landed = this.#disk.rng.int(data.length)
      this.#apply(data.subarray(0, landed), position)
      throw this.#disk.error('IO', 'injected short write', 'vfs.write', this.path, landed)
    }
    const target =
      fault === 'misdirect' ? position + this.#disk.sectorBytes * (1 + this.#disk.rng.int(4)) : position
    this.#apply(data, target)
    await this.#disk.settle()
  }

  async append(data: Uint8Array): Promise<number> {
    const position = this.#node.current.size
    await this.write(data, position)
    return position
  }

  async size(): Promise<number> {
    const fault = this.#begin('size')
    if (fault === 'EIO') throw this.#disk.error('IO', 'injected EIO on size', 'vfs.size', this.path)
    await this.#disk.settle()
    return this.#node.current.size
  }

  async truncate(size: number): Promise<void> {
    const fault = this.#begin('truncate', String(size))
    this.#assertWritable('vfs.truncate')
    if (fault === 'EIO') throw this.#disk.error('IO', 'injected EIO on truncate', 'vfs.truncate', this.path)
    if (size - this.#node.current.size > this.#disk.spaceLeft()) {
      throw this.#disk.error('DISK_FULL', 'no space left on the simulated disk', 'vfs.truncate', this.path)
    }
    this.#node.current.truncate(size)
    this.#node.pending.push({ kind: 'truncate', size })
    this.#node.mtimeMs = this.#disk.ioCount
    await this.#disk.settle()
  }

  async fdatasync(): Promise<void> {
    const fault = this.#begin('fdatasync')
    this.#disk.syncFileNode(this.#node, 'fdatasync', this.path, fault)
    await this.#disk.settle()
  }

  async fsync(): Promise<void> {
    const fault = this.#begin('fsync')
    this.#disk.syncFileNode(this.#node, 'fsync', this.path, fault)
    await this.#disk.settle()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#disk.released(this.#node)
    // After power loss there is nothing left to close; throwing here would only hide the error
    // that made the caller close. Otherwise a close counts as an I/O index (a crash point).
    if (!this.#disk.halted) this.#disk.begin('close', this.path)
    await this.#disk.settle()
  }

  #begin(op: 'read' | 'write' | 'size' | 'truncate' | 'fdatasync' | 'fsync', detail?: string) {
    if (this.#closed) throw this.#disk.error('CLOSED', 'the file handle is closed', `vfs.${op}`, this.path)
    return this.#disk.begin(op, this.path, detail)
  }

  #assertWritable(op: string): void {
    if (!this.#writable) throw this.#disk.error('IO', 'the file is open for reading only', op, this.path)
  }

  #apply(data: Uint8Array, position: number): void {
    if (data.length === 0) return
    const copy = data.slice()
    this.#node.current.write(position, copy)
    this.#node.pending.push({ kind: 'write', offset: position, data: copy })
    this.#node.mtimeMs = this.#disk.ioCount
  }
}
