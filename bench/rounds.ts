/**
 * Figures measured in rounds (bench/chunkstore): in each round every row runs once, in turn, so a
 * drift of this shared machine hits them alike. Figures are the medians of the rounds; a ratio to
 * restic is the median of the rounds' own ratios, with their range.
 *
 * cairn runs in a plain node process of its own on the compiled engine (dist/, built by `npm run
 * bench`), as an application embedding it would: no TypeScript loader in it or in its worker
 * threads. It opens the store and loads its worker threads first (`warm()`: an embedding
 * application's store is open long before its big writes and reads), then settles the disk and
 * starts the clock. restic and borg are timed as whole commands, process start included.
 *
 * Two measures use them: a first version's ingest (`putEntry` + `flush` into a store holding
 * nothing yet) and a restore (`writeEntryToFile` of an entry into a new file, as `cairn restore`).
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { settleDisk } from './commands.js'
import { median } from './lib.js'

/** How cairn is given the file: by its path, as a Readable stream, or on the calling thread alone. */
export type CairnWay = 'path' | 'stream' | 'one thread'

export const CAIRN_ROWS: Readonly<Record<CairnWay, string>> = {
  path: 'cairn',
  stream: 'cairn, from a Readable stream',
  'one thread': 'cairn, 1 thread (workers: 0)',
}

/** One timed run of a row in round `round` (0-based): its milliseconds. */
export type RoundRun = (round: number) => Promise<number>

/** Milliseconds per round, by row. */
export type RoundTimes = ReadonlyMap<string, readonly number[]>

/**
 * What the child does once its store is open and warm, with `dir`, `file` and `way` from its
 * arguments: the body of an async function whose `store` is open; it returns the milliseconds.
 */
const FIRST_VERSION = `
  const started = performance.now()
  await store.putEntry(way === 'stream' ? createReadStream(file, { highWaterMark: 1 << 20 }) : fileEntry(file))
  await store.flush()
  return performance.now() - started
`
const RESTORE = `
  const chunks = JSON.parse(readFileSync(way, 'utf8'))
  const started = performance.now()
  const out = await open(file, 'wx')
  try {
    await store.writeEntryToFile(chunks, out.fd)
  } finally {
    await out.close()
  }
  return performance.now() - started
`

function childCode(timed: string): string {
  const dist = (path: string) =>
    JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', 'dist', ...path.split('/'))).href)
  return `
    const { createFsBlobStore, createNodeVfs, fileEntry } = await import(${dist('index.js')})
    const { openChunkStore } = await import(${dist('chunkstore/chunk-store.js')})
    const { openLmdbChunkIndex } = await import(${dist('adapters/lmdb/lmdb-chunk-index.js')})
    const { createReadStream, readFileSync } = await import('node:fs')
    const { open } = await import('node:fs/promises')
    const { execFileSync } = await import('node:child_process')
    const { join } = await import('node:path')
    const [dir, file, way] = process.argv.slice(1)
    const blobs = await createFsBlobStore({ vfs: createNodeVfs({ root: dir, io: 'async' }), root: 'objects' })
    const index = openLmdbChunkIndex({ path: join(dir, 'index-cache') })
    const store = await openChunkStore({ blobs, index, ...(way === 'one thread' ? { workers: 0 } : {}) })
    await store.warm()
    execFileSync('sync')
    const ms = await (async () => { ${timed} })()
    await store.close()
    console.log(JSON.stringify({ ms }))
  `
}

function runChild(timed: string, args: readonly string[]): number {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', childCode(timed), ...args], {
    encoding: 'utf8',
  })
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { ms?: unknown }
  if (typeof result.ms !== 'number') throw new Error(`the bench's cairn child printed no time: ${out}`)
  return result.ms
}

/** A first version of `file` into the empty store at `storeDir`, in a child process: its milliseconds. */
export function cairnFirstVersion(storeDir: string, file: string, way: CairnWay): number {
  return runChild(FIRST_VERSION, [storeDir, file, way])
}

/**
 * A restore of the entry whose chunk list is in the JSON file `chunksFile`, from the store at
 * `storeDir` into the new file `out`, in a child process: its milliseconds.
 */
export function cairnRestoreChild(storeDir: string, chunksFile: string, out: string): number {
  return runChild(RESTORE, [storeDir, out, chunksFile])
}

/** Runs `rounds` rounds of `rows`, each row once a round in the map's order, the disk settled before each. */
export async function runRounds(
  rounds: number,
  rows: ReadonlyMap<string, RoundRun>,
  progress: (line: string) => void,
  label: string,
): Promise<RoundTimes> {
  const times = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    const line: string[] = []
    for (const [row, run] of rows) {
      await settleDisk()
      const taken = await run(round)
      const list = times.get(row) ?? []
      list.push(taken)
      times.set(row, list)
      line.push(`${row} ${String(Math.round(taken))} ms`)
    }
    progress(`${label}, round ${String(round + 1)}/${String(rounds)}: ${line.join(', ')}`)
  }
  return times
}

/** The median of `row`'s times, and the median and range of its per-round ratios of speed to `peer`'s. */
export function roundFigures(
  times: RoundTimes,
  row: string,
  peer: string,
): {
  readonly ms: number
  readonly ratio?: { readonly median: number; readonly min: number; readonly max: number }
} {
  const own = times.get(row) ?? []
  const theirs = times.get(peer)
  const ms = median(own)
  if (theirs === undefined || theirs.length !== own.length) return { ms }
  // Speed ratio per round: the peer's time over ours (the same bytes).
  const ratios = own.map((value, i) => (theirs[i] as number) / value)
  return { ms, ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) } }
}
