/**
 * The chunk store against restic and borg, on the same versioned file, in the same run.
 *
 * A deterministic "database file" (bench/versioned-file.ts) is written version by version to
 * one path; after each write, cairn's chunk store, `restic backup` and `borg create` each store
 * it (all three read it from the page cache). Figures: ingest MB/s (the first version in rounds
 * of its own, bench/first-version.ts; the later ones in turn),
 * bytes stored (first version, all later ones together) against the ideal (bytes actually
 * changed, and those deflated), restore MB/s of the latest version, peak RSS against the entry
 * size (a child process per size), and node:zlib against fflate on the same pages.
 *
 * restic and borg run where installed (`apt-get install restic borgbackup`); their rows say
 * "not installed" otherwise. restic: repository v2, compression auto (zstd), no encryption off
 * switch exists so its AES+MAC cost is included; borg: `-e none`, lz4 (its default).
 */
import { execFileSync } from 'node:child_process'
import { createReadStream, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { deflateSync as fflateDeflate, inflateSync as fflateInflate } from 'fflate'
import { createFsBlobStore, createNodeVfs, fileEntry } from '../src/index.js'
import { openChunkStore } from '../src/chunkstore/chunk-store.js'
import type { ChunkRef, ChunkStore } from '../src/chunkstore/chunk-store.js'
import { openLmdbChunkIndex } from '../src/adapters/lmdb/lmdb-chunk-index.js'
import { computeChunkId } from '../src/chunkstore/chunk-id.js'
import { findCut, parseChunking } from '../src/chunkstore/chunker.js'
import { encodeChunk } from '../src/chunkstore/codec.js'
import { wasmCutter } from '../src/chunkstore/gear-wasm.js'
import type { BenchOptions, BenchResult, Table } from './lib.js'
import { commandWorks, runCommand, settleDisk } from './commands.js'
import { dirBytes, fmt, fmtRatio, now, withTempDir } from './lib.js'
import { CAIRN_ROWS, cairnFirstVersion, cairnRestoreChild, roundFigures, runRounds } from './rounds.js'
import type { CairnWay, RoundRun, RoundTimes } from './rounds.js'
import { versionedFile } from './versioned-file.js'
import type { VersionPlan } from './versioned-file.js'

const NAME = 'chunkstore'
const QUICK: VersionPlan = {
  baseBytes: 64 << 20,
  versions: 6,
  rewriteShare: 0.02,
  shiftSites: 20,
  appendBytes: 1 << 20,
}
const FULL: VersionPlan = {
  baseBytes: 256 << 20,
  versions: 20,
  rewriteShare: 0.02,
  shiftSites: 20,
  appendBytes: 1 << 20,
}
const MIB = 2 ** 20
// Multiplied, not shifted: `4096 << 20` is 0 in 32-bit JavaScript (the --full row once measured nothing).
const RSS_SIZES = { quick: [256 * MIB, 1024 * MIB], full: [256 * MIB, 4096 * MIB] }
const MB = 1e6

/** cairn reads the file by its path (fileEntry), as restic and borg do; the stream row feeds it a Readable. */
type Tool = 'cairn' | 'cairn, from a Readable stream' | 'restic' | 'borg'
const STREAM: Tool = 'cairn, from a Readable stream'

interface ToolRun {
  laterMs: number
  laterLogical: number
  storedAfterFirst: number
  storedAfterAll: number
}

function timed(body: () => void): number {
  const started = now()
  body()
  return now() - started
}

/** restic and borg, driven through their command lines with their caches inside `dir`. */
async function peer(tool: 'restic' | 'borg', dir: string) {
  const repo = join(dir, `${tool}-repo`)
  const env = {
    ...process.env,
    RESTIC_PASSWORD: 'bench',
    RESTIC_CACHE_DIR: join(dir, 'restic-cache'),
    BORG_BASE_DIR: join(dir, 'borg-base'),
    BORG_PASSPHRASE: '',
    BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
  }
  // Wall time of the whole command, process start included, measured in the command helper.
  const run = async (args: string[], cwd: string) => (await runCommand(tool, args, { cwd, env })).ms
  let version = 0
  if (tool === 'restic') await run(['init', '-r', repo, '--repository-version', '2'], dir)
  else await run(['init', '-e', 'none', repo], dir)
  return {
    repo,
    backup(srcDir: string): Promise<number> {
      version++
      if (tool === 'restic') return run(['backup', '-r', repo, '-q', '--host', 'bench', 'db.bin'], srcDir)
      return run(['create', '--compression', 'lz4', `${repo}::v${String(version)}`, 'db.bin'], srcDir)
    },
    restore(outDir: string): Promise<number> {
      mkdirSync(outDir, { recursive: true })
      if (tool === 'restic') return run(['restore', 'latest', '-r', repo, '-q', '--target', outDir], dir)
      return run(['extract', `${repo}::v${String(version)}`], outDir)
    },
  }
}

async function cairnStore(dir: string): Promise<ChunkStore> {
  const vfs = createNodeVfs({ root: dir, io: 'async' })
  const blobs = await createFsBlobStore({ vfs, root: 'objects' })
  const index = openLmdbChunkIndex({ path: join(dir, 'index-cache') })
  const store = await openChunkStore({ blobs, index })
  // An embedding app's store is open long before its big writes: its threads have loaded.
  await store.warm()
  return store
}

async function cairnIngest(
  store: ChunkStore,
  file: string,
  from: 'file' | 'stream' = 'file',
): Promise<{ ms: number; chunks: ChunkRef[] }> {
  const started = now()
  const put = await store.putEntry(
    from === 'file' ? fileEntry(file) : createReadStream(file, { highWaterMark: 1 << 20 }),
  )
  await store.flush()
  return { ms: now() - started, chunks: put.chunks }
}

function emptyRun(): ToolRun {
  return {
    laterMs: 0,
    laterLogical: 0,
    storedAfterFirst: 0,
    storedAfterAll: 0,
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const plan = options.full ? FULL : QUICK
  const progress = (line: string) => process.stderr.write(`  ${line}\n`)
  const peers: ('restic' | 'borg')[] = []
  if (await commandWorks('restic', ['version'])) peers.push('restic')
  if (await commandWorks('borg', ['--version'])) peers.push('borg')
  const runs = new Map<Tool, ToolRun>([
    ['cairn', emptyRun()],
    [STREAM, emptyRun()],
    ...peers.map((p): [Tool, ToolRun] => [p, emptyRun()]),
  ])
  let ideal = { first: 0, firstCompressed: 0, later: 0, laterCompressed: 0 }
  let firstRounds: RoundTimes | undefined
  let firstBytes = 0
  let restoreRounds: RoundTimes | undefined
  let restoreBytes = 0
  let codec: ReturnType<typeof codecFigures> | undefined
  let limits: ReturnType<typeof coreFigures> | undefined

  await withTempDir(NAME, async (dir) => {
    const srcDir = join(dir, 'src')
    mkdirSync(srcDir)
    const file = join(srcDir, 'db.bin')
    const cairnDir = join(dir, 'cairn')
    mkdirSync(cairnDir)
    const store = await cairnStore(cairnDir)
    const streamDir = join(dir, 'cairn-stream')
    mkdirSync(streamDir)
    const streamStore = await cairnStore(streamDir)
    const tools = await Promise.all(peers.map(async (tool) => ({ tool, driver: await peer(tool, dir) })))
    let latest: ChunkRef[] = []
    let latestBytes = 0
    let v = 0
    for (const version of versionedFile(plan)) {
      writeFileSync(file, version.bytes)
      const first = v === 0
      const cairn = runs.get('cairn') as ToolRun
      // Every tool starts with nothing dirty: the version just written, and the tool before's
      // repository, would otherwise be written back inside the next one's fsyncs.
      await settleDisk()
      const ingest = await cairnIngest(store, file)
      latest = ingest.chunks
      latestBytes = version.bytes.length
      if (first) {
        cairn.storedAfterFirst = dirBytes(join(cairnDir, 'objects'))
        ideal = { ...ideal, first: version.changedBytes, firstCompressed: version.changedCompressedBytes }
        codec = codecFigures(version.bytes.subarray(0, 32 << 20))
        limits = coreFigures(version.bytes.subarray(0, 32 << 20))
      } else {
        cairn.laterMs += ingest.ms
        cairn.laterLogical += version.bytes.length
        ideal.later += version.changedBytes
        ideal.laterCompressed += version.changedCompressedBytes
      }
      // The same version through a Readable, into a store of its own that holds the same chunks.
      await settleDisk()
      const streamed = await cairnIngest(streamStore, file, 'stream')
      const streamRun = runs.get(STREAM) as ToolRun
      if (!first) {
        streamRun.laterMs += streamed.ms
        streamRun.laterLogical += version.bytes.length
      }
      const line = [
        `v${String(v + 1)}/${String(plan.versions)} ${fmt(version.bytes.length / MB)} MB: cairn ${fmt(version.bytes.length / MB / (ingest.ms / 1000))} MB/s (from a stream ${fmt(version.bytes.length / MB / (streamed.ms / 1000))})`,
      ]
      for (const { tool, driver } of tools) {
        await settleDisk()
        const ms = await driver.backup(srcDir)
        const r = runs.get(tool) as ToolRun
        if (first) {
          r.storedAfterFirst = dirBytes(driver.repo)
        } else {
          r.laterMs += ms
          r.laterLogical += version.bytes.length
        }
        line.push(`${tool} ${fmt(version.bytes.length / MB / (ms / 1000))} MB/s`)
      }
      progress(line.join(', '))
      v++
    }
    const cairn = runs.get('cairn') as ToolRun
    cairn.storedAfterAll = dirBytes(join(cairnDir, 'objects'))
    await store.close()
    await streamStore.close()
    for (const { tool, driver } of tools) (runs.get(tool) as ToolRun).storedAfterAll = dirBytes(driver.repo)
    const rounds = options.full ? 5 : 3

    // The latest version restored, in rounds: cairn into a new file as `cairn restore` writes it
    // (decoded, checked and written by the worker threads), restic and borg into new directories.
    const chunksFile = join(dir, 'latest-chunks.json')
    writeFileSync(chunksFile, JSON.stringify(latest))
    const fresh = (path: string) => {
      rmSync(path, { recursive: true, force: true })
      return path
    }
    const restoreRows = new Map<string, RoundRun>([
      [
        'cairn',
        () =>
          Promise.resolve(cairnRestoreChild(cairnDir, chunksFile, fresh(join(dir, 'cairn-restored.bin')))),
      ],
      ...tools.map(({ tool, driver }): [string, RoundRun] => [
        tool,
        () => driver.restore(fresh(join(dir, `${tool}-restored`))),
      ]),
    ])
    restoreRounds = await runRounds(rounds, restoreRows, progress, 'restore')
    restoreBytes = latestBytes
    fresh(join(dir, 'cairn-restored.bin'))
    for (const { tool } of tools) fresh(join(dir, `${tool}-restored`))

    // The first version again, in rounds: every way into a fresh store or repository, in turn.
    const firstVersion = versionedFile(plan).next()
    if (firstVersion.done !== true) {
      writeFileSync(file, firstVersion.value.bytes)
      const firstRows = new Map<string, RoundRun>(
        (Object.keys(CAIRN_ROWS) as CairnWay[]).map((way): [string, RoundRun] => [
          CAIRN_ROWS[way],
          () => {
            const storeDir = fresh(join(dir, 'first-cairn'))
            mkdirSync(storeDir)
            return Promise.resolve(cairnFirstVersion(storeDir, file, way))
          },
        ]),
      )
      for (const tool of peers) {
        firstRows.set(tool, async () => {
          const roundDir = fresh(join(dir, `first-${tool}`))
          mkdirSync(roundDir)
          const driver = await peer(tool, roundDir)
          // Its new repository is on disk before the clock starts, as cairn's store is.
          await settleDisk()
          return driver.backup(srcDir)
        })
      }
      firstRounds = await runRounds(rounds, firstRows, progress, 'first version')
      firstBytes = firstVersion.value.bytes.length
    }
  })

  const rss = []
  for (const bytes of options.full ? RSS_SIZES.full : RSS_SIZES.quick) {
    rss.push(await withTempDir(`${NAME}-rss`, (dir) => Promise.resolve(measureRss(dir, bytes))))
    progress(`rss: ${fmt(bytes / MB)} MB entry`)
  }
  return report(
    plan,
    runs,
    ideal,
    firstRounds === undefined ? undefined : { rounds: firstRounds, bytes: firstBytes },
    restoreRounds === undefined ? undefined : { rounds: restoreRounds, bytes: restoreBytes },
    rss,
    codec,
    limits,
  )
}

function measureRss(dir: string, bytes: number): { bytes: number; maxRss: number; putMs: number } {
  const out = execFileSync(
    process.execPath,
    [...process.execArgv, join(import.meta.dirname, 'chunkstore-rss.ts'), dir, String(bytes)],
    {
      encoding: 'utf8',
    },
  )
  const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
    bytes: number
    maxRss: number
    putMs: number
  }
  if (result.bytes !== bytes || !(result.putMs > 0))
    throw new Error(`the RSS child stored ${String(result.bytes)} bytes, not ${String(bytes)}: ${out}`)
  return result
}

/** node:zlib against fflate, deflate level 1 and inflate, on 1 MiB pieces of `sample`. */
function codecFigures(sample: Uint8Array) {
  const pieces: Uint8Array[] = []
  for (let at = 0; at < sample.length; at += 1 << 20) pieces.push(sample.subarray(at, at + (1 << 20)))
  const rate = (ms: number) => sample.length / MB / (ms / 1000)
  let zOut: Uint8Array[] = []
  let fOut: Uint8Array[] = []
  const zDeflate = timed(() => (zOut = pieces.map((p) => deflateRawSync(p, { level: 1 }))))
  const fDeflate = timed(() => (fOut = pieces.map((p) => fflateDeflate(p, { level: 1 }))))
  const zInflate = timed(() => {
    for (const p of zOut) inflateRawSync(p)
  })
  const fInflate = timed(() => {
    for (const p of fOut) fflateInflate(p)
  })
  const size = (list: Uint8Array[]) => list.reduce((s, p) => s + p.length, 0)
  return {
    zlib: { deflate: rate(zDeflate), inflate: rate(zInflate), ratio: size(zOut) / sample.length },
    fflate: { deflate: rate(fDeflate), inflate: rate(fInflate), ratio: size(fOut) / sample.length },
  }
}

/**
 * What one core does here with each step of ingest and restore, on the first version: cutting
 * (the JavaScript loop and the WebAssembly one cairn uses), hashing. Best of three passes.
 */
function coreFigures(sample: Uint8Array) {
  const params = parseChunking({})
  const rate = (ms: number) => sample.length / MB / (ms / 1000)
  const best = (f: () => void) => Math.min(timed(f), timed(f), timed(f))
  const ends: number[] = []
  const js = best(() => {
    ends.length = 0
    for (let at = 0; at < sample.length;) ends.push((at = findCut(sample, at, sample.length, params)))
  })
  const cutter = wasmCutter()
  const wasm =
    cutter === null
      ? Number.NaN
      : best(() => {
          cutter.load(sample)
          for (let at = 0; at < sample.length;) at = cutter.findCut(at, sample.length, params)
        })
  const hash = best(() => {
    let start = 0
    for (const end of ends) {
      computeChunkId(sample.subarray(start, end))
      start = end
    }
  })
  // What a new chunk costs to store: the entropy check and deflate, chunk by chunk (deflate on
  // 1 MiB pieces, the codec table's, runs faster than on ~16 KiB chunks: each call has a cost).
  const encode = best(() => {
    let start = 0
    for (const end of ends) {
      encodeChunk(sample.subarray(start, end))
      start = end
    }
  })
  return { cutJs: rate(js), cutWasm: rate(wasm), hash: rate(hash), encode: rate(encode) }
}

function report(
  plan: VersionPlan,
  runs: Map<Tool, ToolRun>,
  ideal: { first: number; firstCompressed: number; later: number; laterCompressed: number },
  first: { rounds: RoundTimes; bytes: number } | undefined,
  restored: { rounds: RoundTimes; bytes: number } | undefined,
  rss: { bytes: number; maxRss: number; putMs: number }[],
  codec: ReturnType<typeof codecFigures> | undefined,
  limits: ReturnType<typeof coreFigures> | undefined,
): BenchResult {
  const mbps = (bytes: number, ms: number) => (ms > 0 ? bytes / MB / (ms / 1000) : NaN)
  const restic = runs.get('restic')
  const vs = (value: number, peerValue: number | undefined) =>
    peerValue === undefined || !Number.isFinite(peerValue) ? '-' : fmtRatio(value / peerValue)
  /** A row's MB/s in rounds (the median), and its speed against restic's round by round. */
  const roundMbps = (measure: { rounds: RoundTimes; bytes: number } | undefined, row: string) =>
    measure === undefined ? NaN : mbps(measure.bytes, roundFigures(measure.rounds, row, 'restic').ms)
  const roundVs = (measure: { rounds: RoundTimes; bytes: number } | undefined, row: string) => {
    const ratio = measure === undefined ? undefined : roundFigures(measure.rounds, row, 'restic').ratio
    if (ratio === undefined || row === 'restic')
      return row === 'restic' && ratio !== undefined ? '1.00×' : '-'
    return `${fmtRatio(ratio.median)} (${fmtRatio(ratio.min)}–${fmtRatio(ratio.max)})`
  }
  const firstMbps = (row: string) => roundMbps(first, row)
  const firstVs = (row: string) => roundVs(first, row)
  const ingestRows: string[][] = []
  const storedRows: string[][] = []
  const restoreRows: string[][] = []
  for (const [tool, r] of runs) {
    const later = mbps(r.laterLogical, r.laterMs)
    const rLater = restic === undefined ? undefined : mbps(restic.laterLogical, restic.laterMs)
    ingestRows.push([tool, fmt(firstMbps(tool)), fmt(later), firstVs(tool), vs(later, rLater)])
    // The stream row stores the same chunks and is not restored: ingest only.
    if (tool === STREAM) continue
    const laterStored = r.storedAfterAll - r.storedAfterFirst
    storedRows.push([
      tool,
      fmt(r.storedAfterFirst / MB, 1),
      fmt(laterStored / MB, 1),
      vs(r.storedAfterFirst, restic?.storedAfterFirst),
      vs(laterStored, restic === undefined ? undefined : restic.storedAfterAll - restic.storedAfterFirst),
      fmtRatio(laterStored / ideal.laterCompressed),
    ])
    restoreRows.push([tool, fmt(roundMbps(restored, tool)), roundVs(restored, tool)])
  }
  const oneThread = CAIRN_ROWS['one thread']
  if (first !== undefined)
    ingestRows.push([oneThread, fmt(firstMbps(oneThread)), '-', firstVs(oneThread), '-'])
  storedRows.push([
    'ideal (bytes changed)',
    fmt(ideal.first / MB, 1),
    fmt(ideal.later / MB, 1),
    '-',
    '-',
    '-',
  ])
  storedRows.push([
    'ideal, deflated',
    fmt(ideal.firstCompressed / MB, 1),
    fmt(ideal.laterCompressed / MB, 1),
    '-',
    '-',
    '1.00×',
  ])
  for (const peerName of ['restic', 'borg'] as const) {
    if (!runs.has(peerName)) ingestRows.push([peerName, 'not installed', '-', '-', '-'])
  }
  const tables: Table[] = [
    {
      title: `Ingest MB/s (${fmt(plan.baseBytes / MB)} MB file, ${String(plan.versions)} versions; targets vs restic: first ≥ 3×, later ≥ 5×)`,
      headers: ['tool', 'first version', 'later versions', 'first vs restic', 'later vs restic'],
      rows: ingestRows,
    },
    {
      title: 'Bytes stored, MB (targets vs restic: first ≤ 1.1×, later ≤ 0.15×)',
      headers: [
        'tool',
        'first version',
        'later versions',
        'first vs restic',
        'later vs restic',
        'later vs ideal deflated',
      ],
      rows: storedRows,
    },
    {
      title: 'Restore of the latest version, MB/s (target vs restic ≥ 2.5×)',
      headers: ['tool', 'MB/s', 'vs restic'],
      rows: restoreRows,
    },
    {
      title: 'Peak RSS storing and reading back one entry (child process; must not grow with the entry)',
      headers: ['entry MB', 'peak RSS MB', 'RSS / entry', 'ingest MB/s'],
      rows: rss.map((r) => [
        fmt(r.bytes / MB),
        fmt(r.maxRss / MB),
        fmtRatio(r.maxRss / r.bytes),
        fmt(mbps(r.bytes, r.putMs)),
      ]),
    },
  ]
  if (codec !== undefined) {
    tables.push({
      title: 'Codec: node:zlib against fflate, deflate level 1, 1 MiB pieces of the first version',
      headers: ['codec', 'deflate MB/s', 'inflate MB/s', 'stored / raw'],
      rows: [
        ['node:zlib', fmt(codec.zlib.deflate), fmt(codec.zlib.inflate), fmt(codec.zlib.ratio, 3)],
        ['fflate', fmt(codec.fflate.deflate), fmt(codec.fflate.inflate), fmt(codec.fflate.ratio, 3)],
      ],
    })
  }
  if (codec !== undefined && limits !== undefined) {
    const rFirst = restic === undefined ? undefined : firstMbps('restic')
    const rRestore = restic === undefined ? undefined : roundMbps(restored, 'restic')
    tables.push({
      title:
        'One core, each step alone (first version, best of 3), and the ceilings two cores set: a first version cannot ingest faster than its chunks encode on both, nor restore faster than inflate runs on both',
      headers: ['step', 'MB/s, one core', 'two cores at most', 'that ceiling vs restic'],
      rows: [
        ['FastCDC cut, JavaScript loop', fmt(limits.cutJs), '-', '-'],
        ['FastCDC cut, WebAssembly (used)', fmt(limits.cutWasm), '-', '-'],
        ['BLAKE3 of the chunks', fmt(limits.hash), '-', '-'],
        [
          'deflate level 1 (node:zlib), 1 MiB pieces',
          fmt(codec.zlib.deflate),
          fmt(2 * codec.zlib.deflate),
          vs(2 * codec.zlib.deflate, rFirst),
        ],
        [
          'encode each chunk (random-looking windows stored, the rest deflated at level 1): what a first version pays',
          fmt(limits.encode),
          fmt(2 * limits.encode),
          vs(2 * limits.encode, rFirst),
        ],
        [
          'inflate (node:zlib)',
          fmt(codec.zlib.inflate),
          fmt(2 * codec.zlib.inflate),
          vs(2 * codec.zlib.inflate, rRestore),
        ],
      ],
    })
  }
  const cairn = runs.get('cairn') as ToolRun
  return {
    name: NAME,
    summary:
      `cairn's chunk store on a versioned ${fmt(plan.baseBytes / MB)} MB file: first version ` +
      `${fmt(firstMbps('cairn'))} MB/s, later versions ${fmt(mbps(cairn.laterLogical, cairn.laterMs))} MB/s, ` +
      `restore ${fmt(roundMbps(restored, 'cairn'))} MB/s` +
      (restic === undefined ? ' (restic not installed: no ratios)' : ''),
    tables,
    notes: [
      'Every tool reads the same file from the page cache; before each timed run (every ingest, every restore) the disk is settled with sync(1), so no tool pays in its own fsyncs for the version just written or the repository the tool before it wrote. Times are wall clock for the whole command (restic and borg include their process start, ~0.1 s).',
      `First version and restore: ${String(first?.rounds.get('cairn')?.length ?? 0)} rounds each; in a round every row runs once, in turn (a first version into a store or repository of its own holding nothing yet, a restore of the latest version into a new file or directory). MB/s is the median over the rounds; "vs restic" the median of the rounds' own ratios, with their range. cairn runs in a plain node process on the compiled engine (dist/, built by npm run bench), its store opened and its worker threads loaded before the clock starts (store.warm(): an embedding application's store is open long before its big writes and reads); a first version's clock stops once flush() has made the chunks durable. Later versions: the versions after the first, one after another into the same store (in the bench's own process) and repository.`,
      'cairn restores as `cairn restore` writes a file: each chunk decoded, checked against its id and written at its place in a new file by the worker threads (`writeEntryToFile`); restic restores with `restic restore latest`, borg with `borg extract`.',
      "cairn reads the file by its path, as restic and borg do: `putEntry(fileEntry(path))` reads it straight into the chunk store's buffers. The stream row is the same versions given as `fs.createReadStream(path)` (1 MiB pieces, each copied out of the stream's own buffer), into a second store, right after; the 1-thread row is the first version with `workers: 0` (what the worker threads are worth).",
      'cairn: 16 KiB average FastCDC chunks (cut in WebAssembly), deflate level 1 around the windows that look random (stored as they are), 16 MiB packs, fsynced, LMDB index cache, worker threads loaded before the clock starts (store.warm()); restic 0.14: ~1.5 MiB chunks, zstd auto, AES-256 + Poly1305; borg 1.2: ~2 MiB chunks, lz4, no encryption.',
      'Stored bytes: the repository directory (packs, indexes, snapshots, for cairn packs and index objects; caches excluded). "ideal": bytes each version actually wrote (rewrites, inserts, the append).',
      "Peak RSS: maxRSS of a child process that streams a generated entry into the store and reads it back. What grows with the entry is its number of chunks (the child keeps its index in memory, and the entry's chunk list is returned): ~0.6 KB a 16 KiB chunk, no buffered bytes.",
    ],
    raw: {
      plan,
      runs: Object.fromEntries(runs),
      firstVersion:
        first === undefined ? undefined : { bytes: first.bytes, ms: Object.fromEntries(first.rounds) },
      restore:
        restored === undefined
          ? undefined
          : { bytes: restored.bytes, ms: Object.fromEntries(restored.rounds) },
      ideal,
      rss,
      codec,
      limits,
    },
  }
}
