/**
 * A first version's ingest, in rounds (bench/chunkstore): in each round every way of storing the
 * file runs once, in turn, into a store or repository of its own that holds nothing yet, so a
 * drift of this shared machine hits them alike. Figures are the medians of the rounds; a ratio to
 * restic is the median of the rounds' own ratios, with their range.
 *
 * cairn runs in a plain node process of its own on the compiled engine (dist/, built by `npm run
 * bench`), as an application embedding it would: no TypeScript loader in it or in its worker
 * threads. It opens the store and loads its worker threads first (`warm()`: an embedding
 * application's store is open long before its big writes), then settles the disk and times
 * `putEntry` + `flush`. restic and borg are timed as whole commands, process start included.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { settleDisk } from './commands.js'
import { median } from './lib.js'

/** How cairn is given the file: by its path, as a Readable stream, or on the calling thread alone. */
export type CairnWay = 'path' | 'stream' | 'one thread'

/** What a peer offers a round: a fresh repository, and one timed backup of the file into it. */
export interface PeerRound {
  backupMs(roundDir: string): Promise<number>
}

export interface FirstVersionRounds {
  /** Milliseconds per round, by the row's name (cairn's ways, then the peers). */
  readonly ms: ReadonlyMap<string, readonly number[]>
}

function childCode(): string {
  const dist = (path: string) =>
    JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', 'dist', ...path.split('/'))).href)
  return `
    const { createFsBlobStore, createNodeVfs, fileEntry } = await import(${dist('index.js')})
    const { openChunkStore } = await import(${dist('chunkstore/chunk-store.js')})
    const { openLmdbChunkIndex } = await import(${dist('adapters/lmdb/lmdb-chunk-index.js')})
    const { createReadStream } = await import('node:fs')
    const { execFileSync } = await import('node:child_process')
    const { join } = await import('node:path')
    const [dir, file, way] = process.argv.slice(1)
    const blobs = await createFsBlobStore({ vfs: createNodeVfs({ root: dir, io: 'async' }), root: 'objects' })
    const index = openLmdbChunkIndex({ path: join(dir, 'index-cache') })
    const store = await openChunkStore({ blobs, index, ...(way === 'one thread' ? { workers: 0 } : {}) })
    await store.warm()
    execFileSync('sync')
    const started = performance.now()
    await store.putEntry(way === 'stream' ? createReadStream(file, { highWaterMark: 1 << 20 }) : fileEntry(file))
    await store.flush()
    const ms = performance.now() - started
    await store.close()
    console.log(JSON.stringify({ ms }))
  `
}

/** One cairn first version in a child process: its milliseconds. */
function cairnFirstVersion(dir: string, file: string, way: CairnWay): number {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', childCode(), dir, file, way], {
    encoding: 'utf8',
  })
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { ms?: unknown }
  if (typeof result.ms !== 'number') throw new Error(`the first-version child printed no time: ${out}`)
  return result.ms
}

export const CAIRN_ROWS: Readonly<Record<CairnWay, string>> = {
  path: 'cairn',
  stream: 'cairn, from a Readable stream',
  'one thread': 'cairn, 1 thread (workers: 0)',
}

/** Runs `rounds` rounds over `file` in `dir`; `progress` hears each round's times. */
export async function firstVersionRounds(
  dir: string,
  file: string,
  rounds: number,
  peers: ReadonlyMap<string, PeerRound>,
  progress: (line: string) => void,
): Promise<FirstVersionRounds> {
  const ms = new Map<string, number[]>()
  const record = (row: string, value: number) => {
    const list = ms.get(row) ?? []
    list.push(value)
    ms.set(row, list)
  }
  for (let round = 0; round < rounds; round++) {
    const line: string[] = []
    for (const way of Object.keys(CAIRN_ROWS) as CairnWay[]) {
      const storeDir = join(dir, 'first-cairn')
      rmSync(storeDir, { recursive: true, force: true })
      mkdirSync(storeDir)
      const taken = cairnFirstVersion(storeDir, file, way)
      record(CAIRN_ROWS[way], taken)
      line.push(`${CAIRN_ROWS[way]} ${String(Math.round(taken))} ms`)
    }
    for (const [name, peer] of peers) {
      const roundDir = join(dir, `first-${name}`)
      rmSync(roundDir, { recursive: true, force: true })
      mkdirSync(roundDir)
      await settleDisk()
      const taken = await peer.backupMs(roundDir)
      record(name, taken)
      line.push(`${name} ${String(Math.round(taken))} ms`)
    }
    progress(`first version, round ${String(round + 1)}/${String(rounds)}: ${line.join(', ')}`)
  }
  return { ms }
}

/** The median of `row`'s times, and the median and range of its per-round ratios of speed to `peer`'s. */
export function firstVersionFigures(
  rounds: FirstVersionRounds,
  row: string,
  peer: string,
): {
  readonly ms: number
  readonly ratio?: { readonly median: number; readonly min: number; readonly max: number }
} {
  const own = rounds.ms.get(row) ?? []
  const theirs = rounds.ms.get(peer)
  const ms = median(own)
  if (theirs === undefined || theirs.length !== own.length) return { ms }
  // Speed ratio per round: the peer's time over ours (the same bytes).
  const ratios = own.map((value, i) => (theirs[i] as number) / value)
  return { ms, ratio: { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) } }
}
