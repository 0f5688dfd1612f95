/**
 * Files and directories as checkpoint entries, for `cairn snapshot` and `cairn restore`.
 *
 * An entry is a file's path relative to the working directory (`/`-separated). Its mode and
 * mtime, the tree's directories and its symlinks go in the checkpoint's `meta` (a `FileTree`),
 * so a restore gives back the same tree. A restore writes nothing outside its destination: entry
 * names are checked again, no path goes through a symlink, a symlink pointing out of the tree is
 * refused, and an existing file is not overwritten without `force`.
 */
import { chmod, lstat, mkdir, open, readdir, readlink, symlink, utimes } from 'node:fs/promises'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileEntry } from '../adapters/node/file-entry.js'
import type { EntryReader } from '../chunkstore/source.js'
import { CairnError, isCairnError } from '../core/errors.js'
import type { JsonValue } from '../snapshot/manifest.js'
import { parseEntryName } from '../snapshot/entry-name.js'

/** A file's facts kept beside its bytes. */
export interface FileFacts {
  readonly size: number
  readonly mode: number
  readonly mtimeMs: number
}

/** What `cairn snapshot` keeps in a checkpoint's meta. */
export interface FileTree {
  readonly format: 'cairn-files/1'
  readonly files: Readonly<Record<string, FileFacts>>
  readonly dirs: Readonly<Record<string, { readonly mode: number; readonly mtimeMs: number }>>
  readonly links: Readonly<Record<string, string>>
}

/** A checkpoint's FileTree, or undefined when it was not made by `cairn snapshot`. */
export function fileTreeOf(meta: JsonValue): FileTree | undefined {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return undefined
  if ((meta as { readonly format?: JsonValue }).format !== 'cairn-files/1') return undefined
  return meta as unknown as FileTree
}

/** Walks `paths` (relative to `base`): every file, directory and symlink under them. */
export async function scanTree(base: string, paths: readonly string[]): Promise<FileTree> {
  const files: Record<string, FileFacts> = {}
  const dirs: Record<string, { mode: number; mtimeMs: number }> = {}
  const links: Record<string, string> = {}
  const nameOf = (absolute: string) => {
    const rel = relative(base, absolute)
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new CairnError('BAD_OPTION', `${absolute} is not inside the working directory ${base}`, {
        op: 'cli.snapshot',
        path: absolute,
        hint: 'run cairn from a directory that contains the paths: entries are named relative to it',
      })
    }
    return parseEntryName(rel.split(sep).join('/'), 'cli.snapshot')
  }
  const stack = paths.map((path) => resolve(base, path))
  while (stack.length > 0) {
    const path = stack.pop() ?? ''
    const info = await lstat(path).catch((error: unknown) => {
      throw new CairnError('NOT_FOUND', `cannot read ${path}`, { op: 'cli.snapshot', path, cause: error })
    })
    const name = nameOf(path)
    if (info.isSymbolicLink()) links[name] = await readlink(path)
    else if (info.isDirectory()) {
      dirs[name] = { mode: info.mode & 0o7777, mtimeMs: info.mtimeMs }
      for (const child of await readdir(path)) stack.push(join(path, child))
    } else if (info.isFile())
      files[name] = { size: info.size, mode: info.mode & 0o7777, mtimeMs: info.mtimeMs }
    // Sockets, devices and FIFOs are not state: skipped.
  }
  return { format: 'cairn-files/1', files, dirs, links }
}

/** A file's bytes, read by the chunk store into its own buffers, counting them into `onBytes`. */
export function fileSource(path: string, onBytes: (n: number) => void): EntryReader {
  return fileEntry(path, { onBytes })
}

/** Where entry `name` goes under `dest`; refuses a name that would leave it. */
export function targetOf(dest: string, name: string): string {
  const checked = parseEntryName(name, 'cli.restore')
  const target = resolve(dest, ...checked.split('/'))
  if (!target.startsWith(dest + sep)) {
    throw new CairnError('INVALID_KEY', `entry ${JSON.stringify(name)} would be written outside ${dest}`, {
      op: 'cli.restore',
      path: name,
    })
  }
  return target
}

/** Refuses a path under `dest` that goes through a symlink (it could lead anywhere). */
export async function assertNoSymlinkOnPath(dest: string, target: string): Promise<void> {
  let at = dest
  for (const part of relative(dest, dirname(target))
    .split(sep)
    .filter((p) => p !== '')) {
    at = join(at, part)
    const info = await lstat(at).catch(() => undefined)
    if (info === undefined) return // not there yet: created by us, as a directory
    if (info.isSymbolicLink()) {
      throw new CairnError('INVALID_KEY', `${at} is a symlink: nothing is restored through one`, {
        op: 'cli.restore',
        path: at,
      })
    }
  }
}

/** Refuses a symlink whose target would point out of `dest`. */
export function checkLinkTarget(dest: string, linkPath: string, target: string): void {
  const resolved = resolve(dirname(linkPath), target)
  if (isAbsolute(target) || !(resolved === dest || resolved.startsWith(dest + sep))) {
    throw new CairnError('INVALID_KEY', `symlink ${linkPath} -> ${target} points out of ${dest}`, {
      op: 'cli.restore',
      path: linkPath,
      hint: 'a restore never creates a link that leads out of its destination',
    })
  }
}

/**
 * Sets a path's atime and mtime to `mtimeMs`, fraction included: given in seconds, not as a Date
 * (a Date drops the fraction of a millisecond: 12.6 ms came back as 12 ms, and a file's mtime
 * read back 1 ms early).
 */
async function setMtime(target: string, mtimeMs: number): Promise<void> {
  await utimes(target, mtimeMs / 1000, mtimeMs / 1000)
}

/**
 * Writes one file, exclusively unless `force`, then sets its mode and mtime. `content` writes the
 * open file itself (`Snapshot.writeToFile`: decoded and written on the worker threads) and has
 * ended every write when it settles; a failure names the file.
 */
export async function writeFile(
  target: string,
  content: (fd: number, onBytes: (n: number) => void) => Promise<unknown>,
  facts: FileFacts | undefined,
  force: boolean,
  onBytes: (n: number) => void,
): Promise<void> {
  await mkdir(dirname(target), { recursive: true })
  const file = await open(target, force ? 'w' : 'wx').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CairnError('ALREADY_EXISTS', `${target} exists`, {
        op: 'cli.restore',
        path: target,
        hint: 'restore into an empty directory, or pass --force to overwrite',
      })
    }
    throw error
  })
  try {
    await content(file.fd, onBytes)
  } catch (error) {
    // The chunk store names a descriptor and an offset; the user knows the file.
    if (isCairnError(error) && error.context.op === 'entry.write') {
      throw new CairnError(error.code, `${target}: ${error.detail}`, {
        op: 'cli.restore',
        path: target,
        cause: error,
        ...(error.context.retryable === undefined ? {} : { retryable: error.context.retryable }),
      })
    }
    throw error
  } finally {
    await file.close()
  }
  if (facts !== undefined) {
    await chmod(target, facts.mode)
    await setMtime(target, facts.mtimeMs)
  }
}

/** Creates a symlink (after checking where it points). */
export async function writeLink(
  dest: string,
  target: string,
  linkTarget: string,
  force: boolean,
): Promise<void> {
  checkLinkTarget(dest, target, linkTarget)
  await mkdir(dirname(target), { recursive: true })
  if (force) {
    const existing = await lstat(target).catch(() => undefined)
    if (existing?.isSymbolicLink() === true || existing?.isFile() === true) {
      const { unlink } = await import('node:fs/promises')
      await unlink(target)
    }
  }
  await symlink(linkTarget, target)
}

/** Directories' modes and mtimes, set last and deepest first (writing into one changes its mtime). */
export async function finishDirs(dest: string, tree: FileTree): Promise<void> {
  const names = Object.keys(tree.dirs).sort((a, b) => b.length - a.length)
  for (const name of names) {
    const facts = tree.dirs[name]
    if (facts === undefined) continue
    const target = targetOf(dest, name)
    await mkdir(target, { recursive: true })
    await chmod(target, facts.mode)
    await setMtime(target, facts.mtimeMs)
  }
}
