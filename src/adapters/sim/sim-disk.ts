/**
 * The simulated disk: a {@link Vfs} that knows what is durable and what is only in the page
 * cache, so crash tests run the very code paths production runs (SQLite's VFS idea).
 *
 * - Every call gets a global I/O index and a line in the trace, printed when a test fails.
 * - `haltAtIo(k)` stops the disk as op `k` starts (op `k` does not happen): every later call
 *   throws, as in a process whose machine lost power. `crash(model)` then gives the disk as it
 *   would be found at the next boot, and may be called several times with different models.
 * - Faults (`injectFault`), a space budget (`setSpaceBudget`, ENOSPC with short writes) and bit
 *   rot (`rot`) are deterministic: one seed drives all randomness.
 */
import { createHash } from 'node:crypto'
import { CairnError } from '../../core/errors.js'
import type { CairnErrorCode } from '../../core/errors.js'
import { parseKey, parentOf, baseName } from '../../core/paths.js'
import type { OpenMode, Vfs, VfsFile, VfsProperties, VfsStat } from '../../core/ports.js'
import { sectorBytesDefault } from '../../core/limits.js'
import { computeCrashImage } from './crash.js'
import type { CrashModel } from './crash.js'
import { takeFault } from './faults.js'
import type { ArmedFault, FaultKind, FaultRule, SimOp } from './faults.js'
import { newDirNode, newFileNode, syncDir, syncFile } from './nodes.js'
import type { DirNode, FileNode, SimNode } from './nodes.js'
import { createRng } from './rng.js'
import type { Rng } from './rng.js'
import { SimFile } from './sim-file.js'

export interface SimDiskOptions {
  /** Drives every random choice (crash fates, garbage, short-write lengths). Default 1. */
  readonly seed?: number
  /** The unit a torn write keeps or loses. Default 512. */
  readonly sectorBytes?: number
  /** When false, a torn write may also cut inside a sector. Default true. */
  readonly atomicSectors?: boolean
  /** Total bytes the files may hold; a write past it is a short write and `DISK_FULL`. */
  readonly spaceBytesMax?: number
  /** How many trace lines are kept (the newest). Default 2,000. */
  readonly traceMax?: number
}

/** One line of the trace. */
export interface TraceLine {
  readonly io: number
  readonly op: SimOp
  readonly path: string
  readonly detail?: string
  fault?: FaultKind
  error?: CairnErrorCode
}

const ROOT_ID = 1

/** A simulated disk. It is also the {@link Vfs} over that disk. */
export class SimDisk implements Vfs {
  readonly properties: VfsProperties = { name: 'sim' }
  readonly sectorBytes: number
  readonly atomicSectors: boolean
  readonly rng: Rng
  readonly #nodes: Map<number, SimNode>
  readonly #traceMax: number
  readonly #trace: TraceLine[] = []
  #faults: ArmedFault[] = []
  #spaceBytesMax: number | undefined
  #nextId: number
  #ioCount = 0
  #haltAt: number | undefined
  #halted = false
  readonly #openNodes = new Map<number, number>()

  constructor(options: SimDiskOptions = {}, nodes?: Map<number, SimNode>) {
    this.sectorBytes = options.sectorBytes ?? sectorBytesDefault
    this.atomicSectors = options.atomicSectors ?? true
    this.rng = createRng(options.seed ?? 1)
    this.#spaceBytesMax = options.spaceBytesMax
    this.#traceMax = options.traceMax ?? 2000
    this.#nodes = nodes ?? new Map<number, SimNode>([[ROOT_ID, newDirNode(ROOT_ID, 0)]])
    this.#nextId = Math.max(...this.#nodes.keys()) + 1
  }

  // --- test controls (not I/O, not counted) ----------------------------------------------------

  /** How many I/O calls have started. The next call gets index `ioCount + 1`. */
  get ioCount(): number {
    return this.#ioCount
  }

  /** True once the disk has halted (power lost); every call then throws `IO`. */
  /** Files open now (each open counts until its close): 0 once everything is closed. */
  get openHandles(): number {
    let count = 0
    for (const n of this.#openNodes.values()) count += n
    return count
  }

  get halted(): boolean {
    return this.#halted
  }

  /** The newest trace lines, oldest first. */
  get trace(): readonly TraceLine[] {
    return this.#trace
  }

  /** The trace as text, one call per line, for failure messages. */
  formatTrace(last = 60): string {
    return this.#trace
      .slice(-last)
      .map((t) => {
        const extra = [t.detail, t.fault && `fault=${t.fault}`, t.error && `error=${t.error}`].filter(Boolean)
        return `#${t.io} ${t.op} ${t.path}${extra.length > 0 ? ` ${extra.join(' ')}` : ''}`
      })
      .join('\n')
  }

  /** Power is lost as I/O call `io` starts: that call and all after it throw. */
  haltAtIo(io: number): void {
    this.#haltAt = io
  }

  /** Power is lost now. */
  halt(): void {
    this.#halted = true
  }

  /** Adds a fault rule (see faults.ts). */
  injectFault(rule: FaultRule): void {
    this.#faults.push({ rule, remaining: rule.times ?? 1 })
  }

  clearFaults(): void {
    this.#faults = []
  }

  /** Limits the bytes all files may hold together; `undefined` lifts the limit. */
  setSpaceBudget(bytes: number | undefined): void {
    this.#spaceBytesMax = bytes
  }

  /** Bytes held by the files that still have a name or an open handle. */
  usedBytes(): number {
    let total = 0
    for (const node of this.#liveFiles()) total += node.current.size
    return total
  }

  /** Flips a bit of a file, in the page cache and on the medium (bit rot). */
  rot(path: string, offset: number, bit = 0): void {
    const node = this.#lookupFile(path, 'sim.rot')
    node.current.flipBit(offset, bit)
    node.durable.flipBit(offset, bit)
  }

  /** A file's bytes as a reader sees them now, or undefined when absent. Not counted as I/O. */
  peek(path: string): Uint8Array | undefined {
    const id = this.#resolve(path)
    const node = id === undefined ? undefined : this.#nodes.get(id)
    return node?.kind === 'file' ? node.current.snapshot() : undefined
  }

  /**
   * The disk as it would be found after power loss under `model`. This disk halts (if it had
   * not) and stays as it was, so several crash states can be drawn from one halt.
   */
  crash(model: CrashModel, rng: Rng = this.rng.fork()): SimDisk {
    this.#halted = true
    const nodes = computeCrashImage(this.#nodes, ROOT_ID, model, rng, this)
    return new SimDisk(
      {
        seed: rng.int(0x7fff_ffff),
        sectorBytes: this.sectorBytes,
        atomicSectors: this.atomicSectors,
        traceMax: this.#traceMax,
        ...(this.#spaceBytesMax === undefined ? {} : { spaceBytesMax: this.#spaceBytesMax }),
      },
      nodes,
    )
  }

  /** A hash of the whole tree as readers see it: equal for equal crash states. */
  fingerprint(): string {
    const hash = createHash('sha256')
    const walk = (id: number, path: string): void => {
      const node = this.#nodes.get(id)
      if (node === undefined) return
      if (node.kind === 'file') {
        hash.update(`F${path}\0${String(node.current.size)}\0`).update(node.current.snapshot())
        return
      }
      hash.update(`D${path}\0`)
      for (const name of [...node.current.keys()].sort())
        walk(node.current.get(name) ?? -1, `${path}/${name}`)
    }
    walk(ROOT_ID, '')
    return hash.digest('hex')
  }

  // --- the Vfs ---------------------------------------------------------------------------------

  async open(path: string, mode: OpenMode): Promise<VfsFile> {
    const fault = this.begin('open', path, mode)
    this.#failOn(fault, 'open', path)
    const { dir, name } = this.#parentDir(path, 'vfs.open')
    const existing = dir.current.get(name)
    let node: SimNode | undefined = existing === undefined ? undefined : this.#nodes.get(existing)
    if (node?.kind === 'directory') throw this.#error('IO', 'is a directory', 'vfs.open', path)
    if (node === undefined) {
      if (mode === 'read' || mode === 'readWrite')
        throw this.#error('NOT_FOUND', 'no such file', 'vfs.open', path)
      node = newFileNode(this.#nextId++, this.#ioCount)
      this.#nodes.set(node.id, node)
      dir.current.set(name, node.id)
      dir.pending.push({ kind: 'set', name, node: node.id })
    } else if (mode === 'createExclusive') {
      throw this.#error('ALREADY_EXISTS', 'file exists', 'vfs.open', path)
    }
    this.#openNodes.set(node.id, (this.#openNodes.get(node.id) ?? 0) + 1)
    await this.settle()
    return new SimFile(this, node, path, mode !== 'read')
  }

  async rename(source: string, target: string): Promise<void> {
    this.#failOn(this.begin('rename', source, `-> ${target}`), 'rename', source)
    const from = this.#parentDir(source, 'vfs.rename')
    const to = this.#parentDir(target, 'vfs.rename')
    const id = from.dir.current.get(from.name)
    if (id === undefined) throw this.#error('NOT_FOUND', 'no such file', 'vfs.rename', source)
    if (this.#nodes.get(id)?.kind !== 'file')
      throw this.#error('NOT_SUPPORTED', 'renames files only', 'vfs.rename', source)
    const replaced = to.dir.current.get(to.name)
    if (replaced !== undefined && this.#nodes.get(replaced)?.kind === 'directory') {
      throw this.#error('IO', 'target is a directory', 'vfs.rename', target)
    }
    if (from.dir === to.dir) {
      from.dir.current.delete(from.name)
      from.dir.current.set(to.name, id)
      from.dir.pending.push({ kind: 'rename', source: from.name, target: to.name, node: id })
    } else {
      from.dir.current.delete(from.name)
      from.dir.pending.push({ kind: 'delete', name: from.name })
      to.dir.current.set(to.name, id)
      to.dir.pending.push({ kind: 'set', name: to.name, node: id })
    }
    await this.settle()
  }

  async link(existing: string, target: string): Promise<void> {
    this.#failOn(this.begin('link', existing, `-> ${target}`), 'link', existing)
    const node = this.#lookupFile(existing, 'vfs.link')
    const to = this.#parentDir(target, 'vfs.link')
    if (to.dir.current.has(to.name)) throw this.#error('ALREADY_EXISTS', 'target exists', 'vfs.link', target)
    to.dir.current.set(to.name, node.id)
    to.dir.pending.push({ kind: 'set', name: to.name, node: node.id })
    await this.settle()
  }

  async unlink(path: string): Promise<void> {
    this.#failOn(this.begin('unlink', path), 'unlink', path)
    this.#lookupFile(path, 'vfs.unlink')
    const { dir, name } = this.#parentDir(path, 'vfs.unlink')
    dir.current.delete(name)
    dir.pending.push({ kind: 'delete', name })
    await this.settle()
  }

  async readdir(path: string): Promise<string[]> {
    this.#failOn(this.begin('readdir', path), 'readdir', path)
    const dir = this.#lookupDir(path, 'vfs.readdir')
    await this.settle()
    return [...dir.current.keys()]
  }

  async mkdir(path: string, options: { readonly recursive?: boolean } = {}): Promise<void> {
    this.#failOn(this.begin('mkdir', path), 'mkdir', path)
    parseKey(path, 'vfs.mkdir')
    const parts = path.split('/')
    let dir = this.#root()
    for (const [index, name] of parts.entries()) {
      const last = index === parts.length - 1
      const id = dir.current.get(name)
      const child = id === undefined ? undefined : this.#nodes.get(id)
      if (child?.kind === 'file') throw this.#error('IO', 'a file is in the way', 'vfs.mkdir', path)
      if (child !== undefined && last && options.recursive !== true) {
        throw this.#error('ALREADY_EXISTS', 'directory exists', 'vfs.mkdir', path)
      }
      if (child === undefined && !last && options.recursive !== true) {
        throw this.#error('NOT_FOUND', 'no such parent directory', 'vfs.mkdir', path)
      }
      if (child !== undefined) {
        dir = child
        continue
      }
      const created = newDirNode(this.#nextId++, this.#ioCount)
      this.#nodes.set(created.id, created)
      dir.current.set(name, created.id)
      dir.pending.push({ kind: 'set', name, node: created.id })
      dir = created
    }
    await this.settle()
  }

  async rmdir(path: string): Promise<void> {
    this.#failOn(this.begin('rmdir', path), 'rmdir', path)
    const target = this.#lookupDir(path, 'vfs.rmdir')
    if (target.current.size > 0) throw this.#error('IO', 'directory not empty', 'vfs.rmdir', path)
    const { dir, name } = this.#parentDir(path, 'vfs.rmdir')
    dir.current.delete(name)
    dir.pending.push({ kind: 'delete', name })
    await this.settle()
  }

  async fsyncDir(path: string): Promise<void> {
    const fault = this.begin('fsyncDir', path)
    const dir = this.#lookupDir(path, 'vfs.fsyncDir')
    if (fault === 'EIO') {
      dir.pending = []
      throw this.#error('IO', 'injected EIO on fsync of a directory', 'vfs.fsyncDir', path)
    }
    syncDir(dir)
    await this.settle()
  }

  async stat(path: string): Promise<VfsStat> {
    this.#failOn(this.begin('stat', path), 'stat', path)
    const id = this.#resolve(path)
    const node = id === undefined ? undefined : this.#nodes.get(id)
    if (node === undefined) throw this.#error('NOT_FOUND', 'no such path', 'vfs.stat', path)
    await this.settle()
    return node.kind === 'file'
      ? { kind: 'file', size: node.current.size, mtimeMs: node.mtimeMs }
      : { kind: 'directory', size: 0, mtimeMs: node.mtimeMs }
  }

  // --- used by SimFile -------------------------------------------------------------------------

  /** Starts I/O call: counts it, halts if asked, traces it, and returns the fault it draws. */
  begin(op: SimOp, path: string, detail?: string): FaultKind | undefined {
    if (this.#halted) throw this.#error('IO', 'the simulated disk has lost power', `vfs.${op}`, path)
    const io = ++this.#ioCount
    if (this.#haltAt === io) {
      this.#halted = true
      this.#trace.push({ io, op, path, detail: 'power lost as this call started', error: 'IO' })
      throw this.#error('IO', `the simulated disk lost power at I/O #${String(io)}`, `vfs.${op}`, path)
    }
    const fault = takeFault(this.#faults, op, path, io)
    const line: TraceLine = { io, op, path, ...(detail === undefined ? {} : { detail }) }
    if (fault !== undefined) line.fault = fault
    this.#trace.push(line)
    if (this.#trace.length > this.#traceMax * 2) this.#trace.splice(0, this.#trace.length - this.#traceMax)
    return fault
  }

  /**
   * Ends an I/O call. Every call resolves as a microtask, which would let a runaway async loop
   * over the disk starve timers (and a test's timeout) forever; every 256th call yields to the
   * event loop instead, so such a bug fails as a timeout rather than hanging.
   */
  async settle(): Promise<void> {
    if (this.#ioCount % 256 === 0) await new Promise((resolve) => setImmediate(resolve))
    else await Promise.resolve()
  }

  /** Bytes a file may still grow by under the space budget. */
  spaceLeft(): number {
    return this.#spaceBytesMax === undefined
      ? Number.POSITIVE_INFINITY
      : Math.max(0, this.#spaceBytesMax - this.usedBytes())
  }

  syncFileNode(node: FileNode, op: 'fsync' | 'fdatasync', path: string, fault: FaultKind | undefined): void {
    if (fault === 'EIO') {
      // Linux: the failed writeback marks the pages clean. They stay readable until evicted but
      // never reach the disk, and the next fsync reports success (PostgreSQL's fsyncgate).
      node.pending = []
      throw this.#error('IO', `injected EIO on ${op}`, `vfs.${op}`, path)
    }
    syncFile(node)
  }

  released(node: FileNode): void {
    const count = (this.#openNodes.get(node.id) ?? 1) - 1
    if (count <= 0) this.#openNodes.delete(node.id)
    else this.#openNodes.set(node.id, count)
  }

  error(code: CairnErrorCode, message: string, op: string, path: string, bytesWritten?: number): CairnError {
    return this.#error(code, message, op, path, bytesWritten)
  }

  // --- internals -------------------------------------------------------------------------------

  #error(code: CairnErrorCode, message: string, op: string, path: string, bytesWritten?: number): CairnError {
    // Only the line of the call that is failing gets the mark; calls after a halt have no line.
    const last = this.#trace.at(-1)
    if (last?.io === this.#ioCount && last.error === undefined) last.error = code
    return new CairnError(code, message, {
      op,
      path,
      ...(bytesWritten === undefined ? {} : { bytesWritten }),
      ...(code === 'DISK_FULL' ? { retryable: true } : {}),
    })
  }

  #failOn(fault: FaultKind | undefined, op: SimOp, path: string): void {
    if (fault === 'EIO') throw this.#error('IO', `injected EIO on ${op}`, `vfs.${op}`, path)
  }

  #root(): DirNode {
    const root = this.#nodes.get(ROOT_ID)
    if (root?.kind !== 'directory') throw new Error('the simulated disk has no root')
    return root
  }

  #resolve(path: string): number | undefined {
    if (path === '') return ROOT_ID
    parseKey(path, 'vfs.resolve')
    let id: number | undefined = ROOT_ID
    for (const name of path.split('/')) {
      const node: SimNode | undefined = id === undefined ? undefined : this.#nodes.get(id)
      if (node?.kind !== 'directory') return undefined
      id = node.current.get(name)
    }
    return id
  }

  #parentDir(path: string, op: string): { dir: DirNode; name: string } {
    parseKey(path, op)
    return { dir: this.#lookupDir(parentOf(path), op), name: baseName(path) }
  }

  #lookupDir(path: string, op: string): DirNode {
    const id = this.#resolve(path)
    const node = id === undefined ? undefined : this.#nodes.get(id)
    if (node === undefined) throw this.#error('NOT_FOUND', 'no such directory', op, path)
    if (node.kind !== 'directory') throw this.#error('NOT_FOUND', 'not a directory', op, path)
    return node
  }

  #lookupFile(path: string, op: string): FileNode {
    const id = this.#resolve(path)
    const node = id === undefined ? undefined : this.#nodes.get(id)
    if (node === undefined) throw this.#error('NOT_FOUND', 'no such file', op, path)
    if (node.kind !== 'file') throw this.#error('IO', 'is a directory', op, path)
    return node
  }

  *#liveFiles(): Generator<FileNode> {
    const named = new Set<number>(this.#openNodes.keys())
    for (const node of this.#nodes.values()) {
      if (node.kind === 'directory') for (const id of node.current.values()) named.add(id)
    }
    for (const id of named) {
      const node = this.#nodes.get(id)
      if (node?.kind === 'file') yield node
    }
  }
}
