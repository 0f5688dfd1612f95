/**
 * `init` (a new store, readable by its owner only), `log append|tail` (the write-ahead log from
 * a shell), and `bench` / `demo` (the repository's benchmark runner and demo, where the sources
 * are at hand).
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CairnError } from '../../core/errors.js'
import { openStore } from '../../store.js'
import type { Context } from '../context.js'
import { EXIT } from '../context.js'

export async function initCommand(ctx: Context): Promise<number> {
  const dir = ctx.options.dir
  const entries = await readdir(dir).catch(() => undefined)
  if (entries !== undefined && entries.length > 0 && !entries.includes('objects')) {
    throw new CairnError('ALREADY_EXISTS', `${dir} exists and is not an empty directory or a store`, {
      op: 'cli.init',
      path: dir,
    })
  }
  const existed = entries?.includes('objects') === true
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
  const store = await openStore({ dir })
  await store.close()
  ctx.result({ dir, created: !existed }, () => [
    existed ? `${dir} is a store already` : `a new store in ${dir}`,
  ])
  return EXIT.ok
}

export async function logAppendCommand(ctx: Context, texts: readonly string[]): Promise<number> {
  let records = texts.map((text) => new TextEncoder().encode(text))
  if (texts.length === 1 && texts[0] === '-') {
    // One record per line of standard input.
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
    records = Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => new TextEncoder().encode(line))
  }
  if (records.length === 0)
    throw new CairnError('BAD_OPTION', 'give records to append (or - for lines of stdin)', { op: 'cli.log' })
  const store = await ctx.open()
  try {
    const lsns = await store.appendMany(records)
    ctx.result({ lsns }, () => [
      `appended LSN ${String(lsns[0])}${lsns.length > 1 ? `..${String(lsns.at(-1))}` : ''}`,
    ])
    return EXIT.ok
  } finally {
    await store.close()
  }
}

export async function logTailCommand(
  ctx: Context,
  options: { readonly count: number; readonly from?: number },
): Promise<number> {
  const store = await ctx.open({ readOnly: true })
  try {
    const records: { lsn: number; text: string }[] = []
    const decoder = new TextDecoder('utf-8')
    for await (const record of store.readLog(options.from === undefined ? {} : { from: options.from })) {
      records.push({ lsn: record.lsn, text: decoder.decode(record.data) })
      if (options.from === undefined && records.length > options.count) records.shift()
      if (options.from !== undefined && records.length >= options.count) break
    }
    ctx.result({ records }, () =>
      records.length === 0
        ? ['the log holds no record after the newest checkpoint']
        : records.map((r) => `${String(r.lsn)}\t${r.text}`),
    )
    return EXIT.ok
  } finally {
    await store.close()
  }
}

/** The repository root, when cairn runs from its sources (bench/ and examples/ are there). */
function repositoryRoot(): string | undefined {
  let at = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(at, 'bench', 'index.ts')) && existsSync(join(at, 'package.json'))) return at
    at = dirname(at)
  }
  return undefined
}

/** Runs an npm script of the repository (`bench`, `demo`) with the arguments given. */
export function npmScript(script: 'bench' | 'demo', args: readonly string[]): number {
  const root = repositoryRoot()
  if (root === undefined) {
    throw new CairnError('NOT_SUPPORTED', `cairn ${script} runs from a clone of the repository`, {
      op: `cli.${script}`,
      hint: 'git clone the repository, npm ci, then npx cairn ' + script,
    })
  }
  const run = spawnSync('npm', ['run', '--silent', script, ...(args.length > 0 ? ['--', ...args] : [])], {
    cwd: root,
    stdio: 'inherit',
  })
  return run.status ?? EXIT.failed
}
