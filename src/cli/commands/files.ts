/**
 * `cairn snapshot <path…>` and `cairn restore <id> <dest>`: directory trees in and out.
 *
 * A snapshot after the first is a delta on the newest checkpoint holding only the files whose
 * size, mtime or mode changed (the others are not even read) plus the names that are gone; its
 * chunks dedup against everything stored, and the store starts a full checkpoint when a chain
 * grows long. A restore gives the tree back byte-exact with modes and mtimes, into an empty or
 * new directory (`--force` to overwrite), never writing outside it.
 */
import { lstat, mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { CairnError } from '../../core/errors.js'
import type { CheckpointId } from '../../core/ids.js'
import { parseCheckpointId } from '../../core/ids.js'
import type { Context } from '../context.js'
import { formatBytes } from '../context.js'
import {
  assertNoSymlinkOnPath,
  fileSource,
  fileTreeOf,
  finishDirs,
  scanTree,
  targetOf,
  writeFile,
  writeLink,
} from '../files.js'
import type { FileFacts, FileTree } from '../files.js'
import type { EntrySource } from '../../chunkstore/source.js'
import type { JsonValue } from '../../snapshot/manifest.js'
import type { Snapshot } from '../../snapshot/snapshot.js'
import type { Store } from '../../store.js'

const same = (a: FileFacts | undefined, b: FileFacts) =>
  a !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode

export async function snapshotCommand(
  ctx: Context,
  paths: readonly string[],
  options: { readonly tags: readonly string[]; readonly full: boolean },
): Promise<number> {
  if (paths.length === 0)
    throw new CairnError('BAD_OPTION', 'name at least one file or directory', { op: 'cli.snapshot' })
  const base = process.cwd()
  const tree = await scanTree(base, paths)
  const store = await ctx.open()
  try {
    const newest = (await store.checkpoints()).at(-1)
    const previous = newest === undefined || options.full ? undefined : fileTreeOf(newest.meta)
    const changed = Object.entries(tree.files).filter(([name, facts]) => !same(previous?.files[name], facts))
    const deleted =
      previous === undefined
        ? []
        : Object.keys(previous.files).filter((name) => tree.files[name] === undefined)
    const total = changed.reduce((sum, [, facts]) => sum + facts.size, 0)
    const bar = ctx.progress('snapshot', total)
    const entries: Record<string, EntrySource> = {}
    for (const [name] of changed)
      entries[name] = fileSource(join(base, ...name.split('/')), (n) => {
        bar.update(n)
      })
    let info
    try {
      info = await store.checkpoint({
        lsn: Math.max(store.lastLsn, newest?.lsn ?? 0),
        entries,
        ...(previous === undefined || newest === undefined ? {} : { parent: newest.id, deleted }),
        tags: options.tags,
        meta: tree as unknown as JsonValue,
      })
    } finally {
      bar.stop()
    }
    const result = {
      id: info.id,
      kind: info.kind,
      files: Object.keys(tree.files).length,
      changed: changed.length,
      unchanged: Object.keys(tree.files).length - changed.length,
      deleted: deleted.length,
      logicalBytes: info.logicalBytes,
      newBytes: info.newBytes,
      storedBytes: info.storedBytes,
    }
    ctx.result(result, () => [
      `checkpoint ${info.id.slice(0, 12)} (${info.kind}): ${String(result.files)} files, ${String(result.changed)} read, ${String(result.unchanged)} unchanged, ${String(result.deleted)} deleted`,
      `  ${formatBytes(info.logicalBytes)} in it, ${formatBytes(info.newBytes)} new, ${formatBytes(info.storedBytes)} stored`,
    ])
    return 0
  } finally {
    await store.close()
  }
}

/** `latest`, a full id, or a unique prefix of one. */
export function resolveCheckpoint(ids: readonly CheckpointId[], text: string): CheckpointId | 'latest' {
  if (text === 'latest') return 'latest'
  if (text.length === 64) return parseCheckpointId(text, 'cli')
  const matches = ids.filter((id) => id.startsWith(text))
  if (matches.length === 1 && matches[0] !== undefined) return matches[0]
  throw new CairnError(
    matches.length === 0 ? 'NOT_FOUND' : 'BAD_OPTION',
    matches.length === 0
      ? `no checkpoint ${text}`
      : `${text} names ${String(matches.length)} checkpoints: give more of the id`,
    { op: 'cli' },
  )
}

/** The snapshot `text` names (an id, a unique prefix, or latest). */
export async function snapshotOf(store: Store, text: string): Promise<Snapshot> {
  return store.snapshot(
    resolveCheckpoint(
      (await store.checkpoints()).map((c) => c.id),
      text,
    ),
  )
}

export async function restoreCommand(
  ctx: Context,
  idText: string,
  destText: string,
  options: { readonly force: boolean },
): Promise<number> {
  const store = await ctx.open({ readOnly: true })
  try {
    const snapshot = await snapshotOf(store, idText)
    const tree: FileTree = fileTreeOf(snapshot.info.meta) ?? {
      format: 'cairn-files/1',
      files: {},
      dirs: {},
      links: {},
    }
    const dest = resolve(destText)
    await mkdir(dest, { recursive: true })
    const names = await snapshot.entries()
    // Every target is checked before anything is written: names, symlinks on the way, existing files.
    const targets = new Map<string, string>()
    for (const name of [...names, ...Object.keys(tree.links)]) {
      const target = targetOf(dest, name)
      await assertNoSymlinkOnPath(dest, target)
      if (!options.force && (await lstat(target).catch(() => undefined)) !== undefined) {
        throw new CairnError('ALREADY_EXISTS', `${target} exists: nothing was restored`, {
          op: 'cli.restore',
          path: target,
          hint: 'restore into an empty directory, or pass --force to overwrite',
        })
      }
      targets.set(name, target)
    }
    const total = names.reduce((sum, name) => sum + snapshot.size(name), 0)
    const bar = ctx.progress('restore', total)
    let bytes = 0
    try {
      for (const name of names) {
        const target = targets.get(name) ?? targetOf(dest, name)
        const content = (fd: number, onBytes: (n: number) => void) => snapshot.writeToFile(name, fd, onBytes)
        await writeFile(target, content, tree.files[name], options.force, (n) => {
          bytes += n
          bar.update(n)
        })
      }
    } finally {
      bar.stop()
    }
    for (const [name, linkTarget] of Object.entries(tree.links))
      await writeLink(dest, targets.get(name) ?? targetOf(dest, name), linkTarget, options.force)
    await finishDirs(dest, tree)
    const result = {
      id: snapshot.info.id,
      dest,
      files: names.length,
      links: Object.keys(tree.links).length,
      dirs: Object.keys(tree.dirs).length,
      bytes,
    }
    ctx.result(result, () => [
      `restored ${snapshot.info.id.slice(0, 12)} to ${dest}: ${String(result.files)} files, ${String(result.links)} links, ${formatBytes(bytes)}`,
    ])
    return 0
  } finally {
    await store.close()
  }
}
