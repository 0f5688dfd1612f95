/**
 * Checkpoints: what a delta of a 1% sparse update costs against a full checkpoint of the same
 * state and against the bytes that changed (the limit); restore of the newest point of a long
 * delta chain against restore of a full snapshot of the same state; and open + recover time
 * against reading the same log bytes raw.
 *
 * The state is one 64 MiB entry of 4 KiB rows (random bytes: compression plays no part); an update
 * rewrites 1% of the rows at random places, as a sparse embedding table or a database's pages.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createRng } from '../src/adapters/sim/rng.js'
import { openStore } from '../src/store.js'
import type { BenchOptions, BenchResult } from './lib.js'
import { dirBytes, fmt, fmtRatio, now, withTempDir } from './lib.js'

const NAME = 'snapshot'
const ROW = 4096
const MB = 1e6

export async function run(options: BenchOptions): Promise<BenchResult> {
  const entryBytes = 64 * 1024 * 1024
  const chainLength = options.full ? 100 : 20
  const logRecords = options.full ? 1_000_000 : 200_000
  const progress = (line: string) => process.stderr.write(`  ${line}\n`)
  return withTempDir(NAME, async (dir) => {
    const rng = createRng(11)
    const state = rng.bytes(entryBytes)
    const objects = join(dir, 'objects')
    const store = await openStore({
      dir,
      wal: { sync: 'none' },
      chain: { maxChainLength: 1000, maxDeltaShare: 1000 },
    })

    // A full checkpoint of the state.
    let started = now()
    const first = await store.checkpoint({ lsn: 0, entries: { 'rows.bin': state } })
    const fullMs = now() - started
    const afterFull = dirBytes(objects)
    progress(`full checkpoint of ${fmt(entryBytes / MB)} MB: ${fmt(fullMs)} ms`)

    // A 1% sparse update as a delta, then the same state as a full checkpoint.
    const rows = entryBytes / ROW
    const update = (): { offset: number; data: Uint8Array }[] => {
      const chosen = new Set<number>()
      while (chosen.size < Math.ceil(rows / 100)) chosen.add(rng.int(rows))
      return [...chosen].map((row) => {
        const data = rng.bytes(ROW)
        state.set(data, row * ROW)
        return { offset: row * ROW, data }
      })
    }
    const patches = update()
    const changed = patches.length * ROW
    started = now()
    const delta = await store.checkpoint({ lsn: 0, parent: first.id, patches: { 'rows.bin': patches } })
    const deltaMs = now() - started
    const deltaWritten = dirBytes(objects) - afterFull
    started = now()
    await store.checkpoint({ lsn: 0, entries: { 'rows.bin': state } })
    const sameFullMs = now() - started
    progress(
      `delta: ${fmt(deltaMs)} ms, ${fmt(deltaWritten / 1024)} KiB written for ${fmt(changed / 1024)} KiB changed`,
    )

    // A long chain, then restore its newest point against a full snapshot of the same state.
    let parent = delta.id
    for (let i = 1; i < chainLength; i++) {
      parent = (await store.checkpoint({ lsn: 0, parent, patches: { 'rows.bin': update() } })).id
    }
    const full = await store.checkpoint({ lsn: 0, entries: { 'rows.bin': state } })
    const restore = async (id: typeof parent) => {
      const t = now()
      let n = 0
      for await (const piece of (await store.snapshot(id)).stream('rows.bin')) n += piece.length
      if (n !== entryBytes) throw new Error(`restored ${String(n)} bytes`)
      return now() - t
    }
    const chainMs = Math.min(await restore(parent), await restore(parent))
    const fullRestoreMs = Math.min(await restore(full.id), await restore(full.id))
    progress(`restore: chain of ${String(chainLength)} ${fmt(chainMs)} ms, full ${fmt(fullRestoreMs)} ms`)

    // Open + recover against the log's length.
    const record = rng.bytes(128)
    for (let i = 0; i < logRecords; i += 1000) {
      await store.appendMany(Array.from({ length: 1000 }, () => record))
    }
    await store.close()
    const logDir = join(dir, 'log')
    const logBytes = dirBytes(logDir)
    started = now()
    for (const name of readdirSync(logDir)) readFileSync(join(logDir, name))
    const rawReadMs = now() - started
    started = now()
    const reopened = await openStore({ dir })
    const { records } = await reopened.recover()
    let replayed = 0
    for await (const record of records) replayed += record.lsn > 0 ? 1 : 0
    const recoverMs = now() - started
    await reopened.close()
    if (replayed !== logRecords)
      throw new Error(`replayed ${String(replayed)} of ${String(logRecords)} records`)
    progress(`recover: ${fmt(recoverMs)} ms for ${fmt(logRecords)} records (${fmt(logBytes / MB)} MB)`)

    return {
      name: NAME,
      summary:
        `A 1% sparse update of a 64 MiB entry as a delta: ${fmtRatio(deltaWritten / changed)} the changed bytes written, ` +
        `${fmtRatio(deltaMs / sameFullMs)} the time of a full checkpoint of the same state; ` +
        `restore of a ${String(chainLength)}-delta chain ${fmtRatio(chainMs / fullRestoreMs)} a full snapshot's`,
      tables: [
        {
          title: 'Delta checkpoint of a 1% sparse update (4 KiB rows of a 64 MiB entry)',
          headers: ['', 'value', 'compared with, same run'],
          rows: [
            [
              'bytes written',
              `${fmt(deltaWritten / 1024)} KiB`,
              `${fmtRatio(deltaWritten / changed)} the ${fmt(changed / 1024)} KiB changed (target ≤ 1.5× + fixed overhead)`,
            ],
            [
              'time',
              `${fmt(deltaMs)} ms`,
              `${fmtRatio(deltaMs / sameFullMs)} a full checkpoint of the same state (${fmt(sameFullMs)} ms; the first full one took ${fmt(fullMs)} ms)`,
            ],
          ],
        },
        {
          title: 'Restore (stream the 64 MiB entry)',
          headers: ['', 'ms', 'MB/s', 'vs full snapshot'],
          rows: [
            [
              `newest of a ${String(chainLength)}-delta chain`,
              fmt(chainMs),
              fmt(entryBytes / MB / (chainMs / 1000)),
              fmtRatio(chainMs / fullRestoreMs),
            ],
            [
              'full snapshot, same state',
              fmt(fullRestoreMs),
              fmt(entryBytes / MB / (fullRestoreMs / 1000)),
              '1.00×',
            ],
          ],
        },
        {
          title: 'Open + recover + replay the log',
          headers: ['records', 'log MB', 'ms', 'vs raw read of the log files'],
          rows: [[fmt(logRecords), fmt(logBytes / MB, 1), fmt(recoverMs), fmtRatio(recoverMs / rawReadMs)]],
        },
      ],
      notes: [
        'Bytes written: growth of the objects directory (packs, index objects, the manifest).',
        'Random rows: nothing compresses, so bytes written compare with bytes changed directly.',
        'The chain is kept (maxChainLength raised) to measure its cost; the default policy makes the 17th delta a full snapshot.',
      ],
      raw: {
        entryBytes,
        changed,
        deltaWritten,
        deltaMs,
        fullMs,
        sameFullMs,
        chainLength,
        chainMs,
        fullRestoreMs,
        logRecords,
        logBytes,
        recoverMs,
        rawReadMs,
      },
    }
  })
}
