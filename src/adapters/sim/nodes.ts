/**
 * The simulated disk's inodes. Each file and directory has two states:
 * - the *current* state, what reads see (the page cache);
 * - the *durable* state, what survives a power loss for certain, plus the list of *pending*
 *   operations issued since the last sync, any subset of which a crash may or may not keep.
 * A sync applies the pending operations to the durable state, in order, and clears them.
 */
import { ByteImage } from './byte-image.js'

/** An operation on a file's data that is not yet durable. */
export type FileOp =
  | { readonly kind: 'write'; readonly offset: number; readonly data: Uint8Array }
  | { readonly kind: 'truncate'; readonly size: number }

/** An operation on a directory's entries that is not yet durable. A rename in one directory is one op. */
export type DirOp =
  | { readonly kind: 'set'; readonly name: string; readonly node: number }
  | { readonly kind: 'delete'; readonly name: string }
  | { readonly kind: 'rename'; readonly source: string; readonly target: string; readonly node: number }

export interface FileNode {
  readonly kind: 'file'
  readonly id: number
  readonly current: ByteImage
  readonly durable: ByteImage
  pending: FileOp[]
  mtimeMs: number
}

export interface DirNode {
  readonly kind: 'directory'
  readonly id: number
  readonly current: Map<string, number>
  readonly durable: Map<string, number>
  pending: DirOp[]
  mtimeMs: number
}

export type SimNode = FileNode | DirNode

/** Applies a file op to an image. */
export function applyFileOp(image: ByteImage, op: FileOp): void {
  if (op.kind === 'write') image.write(op.offset, op.data)
  else image.truncate(op.size)
}

/** Applies a directory op to a name -> node map. */
export function applyDirOp(entries: Map<string, number>, op: DirOp): void {
  switch (op.kind) {
    case 'set':
      entries.set(op.name, op.node)
      break
    case 'delete':
      entries.delete(op.name)
      break
    case 'rename':
      entries.delete(op.source)
      entries.set(op.target, op.node)
      break
  }
}

/** Makes every pending op of a file durable, in order (what fdatasync does). */
export function syncFile(node: FileNode): void {
  for (const op of node.pending) applyFileOp(node.durable, op)
  node.pending = []
}

/** Makes every pending entry op of a directory durable, in order (what fsync of a directory does). */
export function syncDir(node: DirNode): void {
  for (const op of node.pending) applyDirOp(node.durable, op)
  node.pending = []
}

export function newFileNode(id: number, mtimeMs: number, content?: Uint8Array): FileNode {
  return {
    kind: 'file',
    id,
    current: new ByteImage(content),
    durable: new ByteImage(content),
    pending: [],
    mtimeMs,
  }
}

export function newDirNode(id: number, mtimeMs: number, entries?: Map<string, number>): DirNode {
  return {
    kind: 'directory',
    id,
    current: new Map(entries),
    durable: new Map(entries),
    pending: [],
    mtimeMs,
  }
}
