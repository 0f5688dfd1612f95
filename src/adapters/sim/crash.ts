/**
 * What a disk looks like after power loss. Durable state always survives; each pending
 * operation survives according to the crash model:
 *
 * | model           | pending file writes                                        | pending directory ops      |
 * | --------------- | ---------------------------------------------------------- | -------------------------- |
 * | `processCrash`  | the page cache as it is (SIGKILL: the kernel lives on)     | as they are                |
 * | `clearCache`    | none kept                                                  | none kept                  |
 * | `prefixPerFile` | a prefix per file, the op after it possibly torn           | a prefix per directory     |
 * | `weak`          | each independently kept, dropped, torn, zeroed or garbage  | each independently kept    |
 *
 * Torn means a random subset of the write's sectors landed (and, when sectors are not atomic,
 * the last landed piece may be cut inside its sector). A zeroed or garbage write still extends
 * the file's size if it wrote past the end: the size reached the disk, the data did not.
 * Survivors are applied in issue order. A rename inside one directory is one op: all or nothing.
 */
import type { Rng } from './rng.js'
import { applyDirOp, applyFileOp, newDirNode, newFileNode } from './nodes.js'
import type { DirNode, DirOp, FileNode, FileOp, SimNode } from './nodes.js'
import type { ByteImage } from './byte-image.js'
import { assertNever } from '../../core/assert.js'

export const CRASH_MODELS = ['processCrash', 'clearCache', 'prefixPerFile', 'weak'] as const
export type CrashModel = (typeof CRASH_MODELS)[number]

export interface CrashGeometry {
  readonly sectorBytes: number
  readonly atomicSectors: boolean
}

type WriteFate = 'keep' | 'drop' | 'torn' | 'zeros' | 'garbage'

/** The nodes reachable from the root after a crash, each with current = durable = what survived. */
export function computeCrashImage(
  nodes: ReadonlyMap<number, SimNode>,
  rootId: number,
  model: CrashModel,
  rng: Rng,
  geometry: CrashGeometry,
): Map<number, SimNode> {
  const survivors = new Map<number, SimNode>()
  const queue = [rootId]
  // Breadth-first from the root through the post-crash entries: unreachable inodes are gone.
  while (queue.length > 0) {
    const id = queue.shift()
    if (id === undefined || survivors.has(id)) continue
    const node = nodes.get(id)
    if (node === undefined) continue
    if (model === 'processCrash') {
      // The process died, the kernel did not: the page cache is the disk, including writes whose
      // fsync failed (they stay readable until evicted).
      survivors.set(
        id,
        node.kind === 'directory'
          ? newDirNode(id, node.mtimeMs, node.current)
          : newFileNode(id, node.mtimeMs, node.current.snapshot()),
      )
      if (node.kind === 'directory') for (const child of node.current.values()) queue.push(child)
    } else if (node.kind === 'directory') {
      const entries = crashDirectory(node, model, rng)
      survivors.set(id, newDirNode(id, node.mtimeMs, entries))
      for (const child of entries.values()) queue.push(child)
    } else {
      survivors.set(id, newFileNode(id, node.mtimeMs, crashFile(node, model, rng, geometry)))
    }
  }
  return survivors
}

function crashDirectory(node: DirNode, model: CrashModel, rng: Rng): Map<string, number> {
  const entries = new Map(node.durable)
  const kept = selectDirOps(node.pending, model, rng)
  for (const op of kept) applyDirOp(entries, op)
  return entries
}

function selectDirOps(pending: readonly DirOp[], model: CrashModel, rng: Rng): readonly DirOp[] {
  switch (model) {
    case 'processCrash':
      return pending
    case 'clearCache':
      return []
    case 'prefixPerFile':
      return pending.slice(0, rng.int(pending.length + 1))
    case 'weak':
      return pending.filter(() => rng.chance(0.5))
    default:
      return assertNever(model, 'unknown crash model')
  }
}

function crashFile(node: FileNode, model: CrashModel, rng: Rng, geometry: CrashGeometry): Uint8Array {
  const image = node.durable.clone()
  const fates = selectWriteFates(node.pending, model, rng)
  node.pending.forEach((op, index) => {
    applyWithFate(image, op, fates[index] ?? 'drop', rng, geometry)
  })
  return image.snapshot()
}

function selectWriteFates(pending: readonly FileOp[], model: CrashModel, rng: Rng): WriteFate[] {
  switch (model) {
    case 'processCrash':
      return pending.map(() => 'keep')
    case 'clearCache':
      return pending.map(() => 'drop')
    case 'prefixPerFile': {
      const kept = rng.int(pending.length + 1)
      return pending.map((_, i) => (i < kept ? 'keep' : i === kept && rng.chance(0.5) ? 'torn' : 'drop'))
    }
    case 'weak':
      return pending.map(() => {
        const roll = rng.next()
        return roll < 0.4
          ? 'keep'
          : roll < 0.7
            ? 'drop'
            : roll < 0.85
              ? 'torn'
              : roll < 0.93
                ? 'zeros'
                : 'garbage'
      })
    default:
      return assertNever(model, 'unknown crash model')
  }
}

function applyWithFate(
  image: ByteImage,
  op: FileOp,
  fate: WriteFate,
  rng: Rng,
  geometry: CrashGeometry,
): void {
  if (fate === 'drop') return
  if (op.kind === 'truncate' || fate === 'keep') {
    applyFileOp(image, op)
    return
  }
  switch (fate) {
    case 'zeros':
      image.write(op.offset, new Uint8Array(op.data.length))
      return
    case 'garbage':
      image.write(op.offset, rng.bytes(op.data.length))
      return
    case 'torn':
      applyTorn(image, op.offset, op.data, rng, geometry)
      return
    default:
      assertNever(fate, 'unknown write fate')
  }
}

/** Keeps a random subset of the sectors a write touched; the rest of the disk is unchanged. */
function applyTorn(
  image: ByteImage,
  offset: number,
  data: Uint8Array,
  rng: Rng,
  geometry: CrashGeometry,
): void {
  const { sectorBytes } = geometry
  let start = offset
  const end = offset + data.length
  while (start < end) {
    const sectorEnd = Math.min(end, (Math.floor(start / sectorBytes) + 1) * sectorBytes)
    if (rng.chance(0.5)) {
      let pieceEnd = sectorEnd
      if (!geometry.atomicSectors && rng.chance(0.5)) pieceEnd = start + 1 + rng.int(sectorEnd - start)
      image.write(start, data.subarray(start - offset, pieceEnd - offset))
    }
    start = sectorEnd
  }
}
