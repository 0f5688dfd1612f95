/**
 * The `cairn` command line as a new user meets it (run in-process through `main`): a tree
 * snapshotted, changed, snapshotted again (a delta that reads only what changed), restored
 * byte-exact with modes, mtimes and symlinks, before and after retain + gc; verify naming the
 * checkpoints a flipped byte affects; a restore that never writes outside its destination and
 * never overwrites without --force; --json that parses; exit codes; a progress bar on a terminal
 * only.
 */
import {
  chmod,
  lstat,
  mkdir,
  readFile,
  readdir,
  readlink,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { main } from '../src/cli/main.js'
import { makeTempDir } from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup()
})

/** A stream standing in for stdout/stderr. */
function capture(isTTY = false): NodeJS.WriteStream & { text: () => string } {
  let text = ''
  const stream = {
    isTTY,
    columns: 100,
    write(chunk: string | Uint8Array) {
      text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString()
      return true
    },
    text: () => text,
  }
  return stream as unknown as NodeJS.WriteStream & { text: () => string }
}

/** Runs `cairn args...` in `cwd`; returns the exit code and what it printed. */
async function cairn(cwd: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = capture()
  const err = capture()
  const before = process.cwd()
  process.chdir(cwd)
  try {
    const code = await main(['--dir', join(cwd, '.cairn'), ...args], { out, err })
    return { code, out: out.text(), err: err.text() }
  } finally {
    process.chdir(before)
  }
}

async function tempDir(): Promise<string> {
  const { dir, cleanup } = await makeTempDir()
  cleanups.push(cleanup)
  return dir
}

/** Every file, dir and link under `root`, with bytes, mode and mtime (and a link's target). */
async function describeTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const walk = async (dir: string, prefix: string) => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name)
      const info = await lstat(path)
      const key = `${prefix}${name}`
      if (info.isSymbolicLink()) out[key] = `link -> ${await readlink(path)}`
      else if (info.isDirectory()) {
        out[key] = `dir ${(info.mode & 0o7777).toString(8)} ${String(Math.round(info.mtimeMs))}`
        await walk(path, `${key}/`)
      } else {
        const bytes = await readFile(path)
        out[key] =
          `file ${(info.mode & 0o7777).toString(8)} ${String(Math.round(info.mtimeMs))} ${bytes.toString('base64')}`
      }
    }
  }
  await walk(root, '')
  return out
}

async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'tree', 'nested', 'deeper'), { recursive: true })
  await writeFile(join(root, 'tree', 'a.txt'), 'alpha\n')
  await writeFile(join(root, 'tree', 'nested', 'b.bin'), Buffer.alloc(200_000, 7))
  await writeFile(join(root, 'tree', 'nested', 'deeper', 'empty'), '')
  await chmod(join(root, 'tree', 'a.txt'), 0o640)
  await symlink('nested/b.bin', join(root, 'tree', 'link'))
  const old = new Date('2020-01-02T03:04:05Z')
  await utimes(join(root, 'tree', 'nested', 'b.bin'), old, old)
}

describe('cairn CLI', () => {
  it('snapshot, change, snapshot (a delta), restore byte-exact with modes, mtimes and links, retain + gc, restore again', async () => {
    const root = await tempDir()
    await makeTree(root)
    expect((await cairn(root, 'init')).code).toBe(0)
    expect((await stat(join(root, '.cairn'))).mode & 0o777).toBe(0o700)
    const first = JSON.parse((await cairn(root, 'snapshot', 'tree', '--json')).out) as {
      id: string
      kind: string
    }
    expect(first.kind).toBe('full')
    const before = await describeTree(join(root, 'tree'))

    await writeFile(join(root, 'tree', 'a.txt'), 'alpha, changed\n')
    await writeFile(join(root, 'tree', 'new.txt'), 'new\n')
    const second = JSON.parse((await cairn(root, 'snapshot', 'tree', '--json', '--tag', 'two')).out) as {
      id: string
      kind: string
      changed: number
      unchanged: number
    }
    expect([second.kind, second.changed, second.unchanged]).toEqual(['delta', 2, 2])
    const after = await describeTree(join(root, 'tree'))

    expect((await cairn(root, 'restore', second.id.slice(0, 10), 'out2')).code).toBe(0)
    expect(await describeTree(join(root, 'out2', 'tree'))).toEqual(after)
    expect((await cairn(root, 'restore', first.id, 'out1')).code).toBe(0)
    expect(await describeTree(join(root, 'out1', 'tree'))).toEqual(before)

    const diff = await cairn(root, 'diff', first.id, second.id, '--json')
    expect(diff.code).toBe(1)
    expect(JSON.parse(diff.out)).toMatchObject({
      added: ['tree/new.txt'],
      removed: [],
      changed: ['tree/a.txt'],
    })

    const ls = JSON.parse((await cairn(root, 'ls', '--json')).out) as { checkpoints: { id: string }[] }
    expect(ls.checkpoints.map((c) => c.id)).toEqual([first.id, second.id])
    // keepLast 1 keeps the delta and, as its base, the full one: nothing dropped.
    const plan = JSON.parse((await cairn(root, 'retain', '--keep-last', '1', '--json')).out) as {
      keep: { reasons: string[] }[]
      drop: unknown[]
    }
    expect(plan.keep.map((e) => e.reasons[0])).toEqual(['newest', `base of ${second.id.slice(0, 8)}`])
    expect(plan.drop).toEqual([])
    // A full snapshot, then keep only it: the older two go.
    await cairn(root, 'snapshot', 'tree', '--full')
    const dropped = JSON.parse((await cairn(root, 'retain', '--keep-last', '1', '--json')).out) as {
      drop: unknown[]
    }
    expect(dropped.drop).toHaveLength(2)
    const gc = JSON.parse((await cairn(root, 'gc', '--grace', '0h', '--json')).out) as {
      manifestsDeleted: number
    }
    expect(gc.manifestsDeleted).toBe(2)
    expect((await cairn(root, 'restore', 'latest', 'out3')).code).toBe(0)
    expect(await describeTree(join(root, 'out3', 'tree'))).toEqual(after)
    expect((await cairn(root, 'verify', '--read-data')).code).toBe(0)
    const stats = JSON.parse((await cairn(root, 'stats', '--json')).out) as {
      checkpoints: number
      dedupRatio: number
    }
    expect(stats.checkpoints).toBe(1)
  })

  it('verify --read-data finds a flipped byte and names the checkpoints it affects (exit 1)', async () => {
    const root = await tempDir()
    await makeTree(root)
    await cairn(root, 'init')
    const { id } = JSON.parse((await cairn(root, 'snapshot', 'tree', '--json')).out) as { id: string }
    const packs = join(root, '.cairn', 'objects', 'packs')
    let biggest = ''
    let size = 0
    for (const dir of await readdir(packs))
      for (const name of await readdir(join(packs, dir))) {
        const path = join(packs, dir, name)
        const bytes = (await stat(path)).size
        if (bytes > size) [biggest, size] = [path, bytes]
      }
    const bytes = await readFile(biggest)
    bytes[10] = (bytes[10] ?? 0) ^ 0x10
    await writeFile(biggest, bytes)
    const verify = await cairn(root, 'verify', '--read-data', '--json')
    expect(verify.code).toBe(1)
    const report = JSON.parse(verify.out) as { problems: { code: string; checkpoints: string[] }[] }
    expect(report.problems[0]?.code).toBe('CORRUPT_OBJECT')
    expect(report.problems[0]?.checkpoints).toEqual([id])
    const restore = await cairn(root, 'restore', 'latest', 'out')
    expect(restore.code).toBe(5)
    expect(restore.err).toMatch(/^cairn: CORRUPT_OBJECT: /)
  })

  it('restore never writes outside its destination, nor overwrites without --force', async () => {
    const root = await tempDir()
    await mkdir(join(root, 'tree'))
    await writeFile(join(root, 'tree', 'a.txt'), 'a')
    await symlink('../../../etc/passwd', join(root, 'tree', 'escape'))
    await cairn(root, 'init')
    await cairn(root, 'snapshot', 'tree')
    const hostile = await cairn(root, 'restore', 'latest', 'out')
    expect(hostile.code).toBe(2)
    expect(hostile.err).toContain('INVALID_KEY')
    expect(await lstat(join(root, 'out', 'tree', 'escape')).catch(() => undefined)).toBeUndefined()

    const safe = await tempDir()
    await mkdir(join(safe, 'tree'))
    await writeFile(join(safe, 'tree', 'a.txt'), 'from the store')
    await cairn(safe, 'init')
    await cairn(safe, 'snapshot', 'tree')
    await mkdir(join(safe, 'out', 'tree'), { recursive: true })
    await writeFile(join(safe, 'out', 'tree', 'a.txt'), 'mine')
    const refused = await cairn(safe, 'restore', 'latest', 'out')
    expect(refused.code).toBe(6)
    expect(refused.err).toContain('ALREADY_EXISTS')
    expect(await readFile(join(safe, 'out', 'tree', 'a.txt'), 'utf8')).toBe('mine')
    expect((await cairn(safe, 'restore', 'latest', 'out', '--force')).code).toBe(0)
    expect(await readFile(join(safe, 'out', 'tree', 'a.txt'), 'utf8')).toBe('from the store')
    // A destination reached through a symlink is refused: it could lead anywhere.
    await mkdir(join(safe, 'elsewhere'))
    await mkdir(join(safe, 'via'))
    await symlink(join(safe, 'elsewhere'), join(safe, 'via', 'tree'))
    const through = await cairn(safe, 'restore', 'latest', 'via')
    expect(through.code).toBe(2)
    expect(await readdir(join(safe, 'elsewhere'))).toEqual([])
  })

  it('exit codes, errors on one line, --help, the log from a shell, and progress on a terminal only', async () => {
    const root = await tempDir()
    expect((await cairn(root, 'nope')).code).toBe(2)
    const missing = await cairn(root, 'ls')
    expect(missing.code).toBe(3)
    expect(missing.err.split('\n')[0]).toMatch(/^cairn: NOT_FOUND: no store at /)
    const asJson = await cairn(root, 'ls', '--json')
    expect(asJson.code).toBe(3)
    expect(JSON.parse(asJson.err)).toMatchObject({ error: { code: 'NOT_FOUND' } })
    expect((await cairn(root, 'ls', '--bogus')).code).toBe(2)
    const help = await cairn(root, '--help')
    expect(help.out).toContain('restore <id> <dest>')
    expect((await cairn(root, 'retain', '--help')).out).toContain('--keep-daily')
    await cairn(root, 'init')
    expect((await cairn(root, 'log', 'append', 'one', 'two')).code).toBe(0)
    const tail = JSON.parse((await cairn(root, 'log', 'tail', '--json')).out) as {
      records: { lsn: number; text: string }[]
    }
    expect(tail.records).toEqual([
      { lsn: 1, text: 'one' },
      { lsn: 2, text: 'two' },
    ])
    expect((await cairn(root, 'retain', '--keep-best', 'loss')).code).toBe(2)

    await mkdir(join(root, 'tree'))
    await writeFile(join(root, 'tree', 'big'), Buffer.alloc(3 << 20, 1))
    const tty = capture(true)
    const before = process.cwd()
    process.chdir(root)
    try {
      expect(
        await main(['--dir', join(root, '.cairn'), 'snapshot', 'tree'], { out: tty, err: capture() }),
      ).toBe(0)
    } finally {
      process.chdir(before)
    }
    expect(tty.text()).toContain('100%')
    const piped = await cairn(root, 'snapshot', 'tree', '--full')
    expect(piped.out).not.toContain('%')
  })
})
