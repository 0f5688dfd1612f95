/**
 * Retention + GC on a long history against `restic forget --prune` of the same history (where
 * restic is installed): the same states are checkpointed into cairn and backed up with restic,
 * then both keep the last 5 and collect the rest. Figures: seconds, bytes freed, bytes left.
 *
 * The history: a 32 MiB state (the versioned "database file" of bench/versioned-file.ts) and its
 * later versions, each a full checkpoint in cairn and a backup in restic.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openStore } from '../src/store.js'
import type { BenchOptions, BenchResult } from './lib.js'
import { dirBytes, fmt, fmtRatio, now, withTempDir } from './lib.js'
import { versionedFile } from './versioned-file.js'

const NAME = 'gc'
const MB = 1e6
const KEEP = 5

function resticInstalled(): boolean {
  try {
    execFileSync('restic', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export async function run(options: BenchOptions): Promise<BenchResult> {
  const versions = options.full ? 40 : 15
  const plan = { baseBytes: 32 << 20, versions, rewriteShare: 0.05, shiftSites: 10, appendBytes: 1 << 20 }
  const progress = (line: string) => process.stderr.write(`  ${line}\n`)
  const withRestic = resticInstalled()
  return withTempDir(NAME, async (dir) => {
    const storeDir = join(dir, 'cairn')
    const srcDir = join(dir, 'src')
    mkdirSync(srcDir)
    const repo = join(dir, 'restic-repo')
    const env = { ...process.env, RESTIC_PASSWORD: 'bench', RESTIC_CACHE_DIR: join(dir, 'restic-cache') }
    const restic = (args: string[]) =>
      execFileSync('restic', ['-r', repo, '-q', ...args], { cwd: srcDir, env, stdio: 'ignore' })
    if (withRestic) restic(['init', '--repository-version', '2'])

    const store = await openStore({ dir: storeDir, wal: { sync: 'none' } })
    for (const version of versionedFile(plan)) {
      await store.checkpoint({ lsn: 0, entries: { 'db.bin': version.bytes } })
      if (withRestic) {
        writeFileSync(join(srcDir, 'db.bin'), version.bytes)
        restic(['backup', '--host', 'bench', 'db.bin'])
      }
    }
    progress(`${String(versions)} versions stored`)

    const objects = join(storeDir, 'objects')
    const cairnBefore = dirBytes(objects)
    let started = now()
    await store.retain({ keepLast: KEEP })
    const report = await store.gc({ graceMs: 0 })
    const cairnMs = now() - started
    const cairnAfter = dirBytes(objects)
    const rss = process.resourceUsage().maxRSS * 1024
    await store.close()
    progress(`cairn: ${fmt(cairnMs)} ms, ${fmt((cairnBefore - cairnAfter) / MB, 1)} MB freed`)

    let resticMs = Number.NaN
    let resticBefore = Number.NaN
    let resticAfter = Number.NaN
    if (withRestic) {
      resticBefore = dirBytes(repo)
      started = now()
      restic(['forget', '--keep-last', String(KEEP), '--prune'])
      resticMs = now() - started
      resticAfter = dirBytes(repo)
      progress(`restic: ${fmt(resticMs)} ms, ${fmt((resticBefore - resticAfter) / MB, 1)} MB freed`)
    }

    const rows = [
      [
        'cairn retain + gc',
        fmt(cairnMs / 1000, 2),
        fmt((cairnBefore - cairnAfter) / MB, 1),
        fmt(cairnAfter / MB, 1),
        withRestic ? fmtRatio(cairnMs / resticMs) : '-',
      ],
      withRestic
        ? [
            'restic forget --prune',
            fmt(resticMs / 1000, 2),
            fmt((resticBefore - resticAfter) / MB, 1),
            fmt(resticAfter / MB, 1),
            '1.00×',
          ]
        : ['restic', 'not installed', '-', '-', '-'],
    ]
    return {
      name: NAME,
      summary:
        `Keep the last ${String(KEEP)} of ${String(versions)} versions of a 32 MiB file and collect the rest: cairn ${fmt(cairnMs / 1000, 2)} s` +
        (withRestic
          ? ` (${fmtRatio(cairnMs / resticMs)} restic's time; target ≤ 0.5×)`
          : ' (restic not installed)'),
      tables: [
        {
          title: `Retention + GC: keep the last ${String(KEEP)} of ${String(versions)} versions`,
          headers: ['tool', 'seconds', 'MB freed', 'MB left', 'time vs restic'],
          rows,
        },
      ],
      notes: [
        `cairn: ${String(report.packsDeleted)} packs and ${String(report.manifestsDeleted)} manifests deleted, ${fmt(report.chunksLive)} chunks live; packs still holding a live chunk are kept whole (no repacking yet), so fewer bytes are freed than a repacking collector would.`,
        `cairn process peak RSS during the bench: ${fmt(rss / MB)} MB (the whole bench, history included).`,
        'restic: repository v2, compression auto; forget --prune repacks partly used packs (its default max-unused 5%).',
      ],
      raw: { versions, cairnMs, cairnBefore, cairnAfter, resticMs, resticBefore, resticAfter, report, rss },
    }
  })
}
