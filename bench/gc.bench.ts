/**
 * Retention + GC on a long history against `restic forget --prune` of the same history (where
 * restic is installed): the same states are checkpointed into cairn and backed up with restic,
 * then both keep the last 5 and collect the rest. Figures: seconds, bytes freed, bytes left.
 *
 * The history: a 32 MiB state (the versioned "database file" of bench/versioned-file.ts) and its
 * later versions, each a full checkpoint in cairn and a backup in restic.
 */
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { DEFAULT_REPACK_DEAD_SHARE, openStore } from '../src/store.js'
import type { BenchOptions, BenchResult } from './lib.js'
import { settleDisk } from './commands.js'
import { dirBytes, fmt, fmtRatio, median, now, withTempDir } from './lib.js'
import { versionedFile } from './versioned-file.js'

const NAME = 'gc'
const MB = 1e6
const KEEP = 5
/** The store's default repackDeadShare (src/store.ts), measured against off and a lower one. */
const DEFAULT_REPACK = DEFAULT_REPACK_DEAD_SHARE

/**
 * One retain + GC in a plain node process on the compiled engine (dist/): its time includes
 * opening the store, as restic's includes opening its repository, and its peak RSS counts
 * nothing else (no TypeScript loader in it or in its worker threads). Prints one JSON line.
 */
function childCode(): string {
  const dist = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'store.js')).href
  return `
    const { openStore } = await import(${JSON.stringify(dist)})
    const { readFileSync } = await import('node:fs')
    // VmHWM, not resourceUsage().maxRSS: Linux keeps that across execve (the parent's peak).
    const peak = () => Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024
    const [dir, keepLast, share] = process.argv.slice(1)
    const baseRss = process.memoryUsage().rss
    const started = performance.now()
    const store = await openStore({ dir, wal: { sync: 'none' } })
    const openMs = performance.now() - started
    const plan = await store.retain({ keepLast: Number(keepLast) })
    const report = await store.gc({ graceMs: 0, repackDeadShare: Number(share) })
    await store.close()
    const ms = performance.now() - started
    console.log(JSON.stringify({ ms, openMs, baseRss, kept: plan.keep.length, report, maxRss: peak() }))
  `
}

interface GcChild {
  readonly ms: number
  readonly openMs: number
  readonly baseRss: number
  readonly maxRss: number
  readonly report: {
    readonly packsDeleted: number
    readonly packsRepacked: number
    readonly manifestsDeleted: number
    readonly chunksLive: number
    readonly chunksDeleted: number
  }
}

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

    await store.close()
    // Each variant collects its own copy of the same store, in a process of its own.
    const variants: { label: string; share: number }[] = [
      { label: 'cairn retain + gc (repack off)', share: 1 },
      {
        label: `cairn retain + gc (default, repack >= ${String(DEFAULT_REPACK * 100)}% dead)`,
        share: DEFAULT_REPACK,
      },
      { label: 'cairn retain + gc (repack >= 20% dead)', share: 0.2 },
    ]
    const cairnBefore = dirBytes(join(storeDir, 'objects'))
    const resticBefore = withRestic ? dirBytes(repo) : Number.NaN
    // Rounds: every variant and restic once a round, taking turns, each on a fresh copy, so a
    // drift of this shared machine hits them alike; figures are medians, ratios per round.
    const rounds = options.full ? 5 : 3
    const runs = variants.map(() => [] as (GcChild & { after: number })[])
    const resticRuns: { ms: number; after: number }[] = []
    for (let round = 0; round < rounds; round++) {
      for (const [i, { label, share }] of variants.entries()) {
        const copy = join(dir, `cairn-${String(i)}`)
        rmSync(copy, { recursive: true, force: true })
        cpSync(storeDir, copy, { recursive: true })
        await settleDisk()
        const out = execFileSync(
          process.execPath,
          ['--input-type=module', '-e', childCode(), copy, String(KEEP), String(share)],
          { encoding: 'utf8' },
        )
        const result = JSON.parse(out.trim().split('\n').pop() ?? '{}') as GcChild
        const after = dirBytes(join(copy, 'objects'))
        runs[i]?.push({ ...result, after })
        progress(
          `round ${String(round + 1)}: ${label}: ${fmt(result.ms)} ms, ${fmt((cairnBefore - after) / MB, 1)} MB freed`,
        )
      }
      if (withRestic) {
        // Its local cache is copied too, as the backups left it: a cache a prune of another copy
        // had updated would make restic fetch its index again.
        const copy = join(dir, 'restic-copy')
        const cache = join(dir, 'restic-cache-copy')
        for (const [from, to] of [
          [repo, copy],
          [env.RESTIC_CACHE_DIR, cache],
        ] as const) {
          rmSync(to, { recursive: true, force: true })
          cpSync(from, to, { recursive: true })
        }
        await settleDisk()
        const started = now()
        execFileSync('restic', ['-r', copy, '-q', 'forget', '--keep-last', String(KEEP), '--prune'], {
          cwd: srcDir,
          env: { ...env, RESTIC_CACHE_DIR: cache },
          stdio: 'ignore',
        })
        const ms = now() - started
        const after = dirBytes(copy)
        resticRuns.push({ ms, after })
        progress(
          `round ${String(round + 1)}: restic: ${fmt(ms)} ms, ${fmt((resticBefore - after) / MB, 1)} MB freed`,
        )
      }
    }
    const resticMs = median(resticRuns.map((r) => r.ms))
    const resticAfter = median(resticRuns.map((r) => r.after))
    const results = variants.map(({ label, share }, i) => {
      const mine = runs[i] ?? []
      const ratios = withRestic ? mine.map((r, round) => r.ms / (resticRuns[round]?.ms ?? Number.NaN)) : []
      return {
        label,
        share,
        ms: median(mine.map((r) => r.ms)),
        openMs: median(mine.map((r) => r.openMs)),
        baseRss: median(mine.map((r) => r.baseRss)),
        maxRss: Math.max(...mine.map((r) => r.maxRss)),
        after: median(mine.map((r) => r.after)),
        report: (mine[0] as GcChild).report,
        ratio: median(ratios),
        ratioRange:
          ratios.length === 0 ? '' : ` (${fmtRatio(Math.min(...ratios))}–${fmtRatio(Math.max(...ratios))})`,
        runsMs: mine.map((r) => r.ms),
      }
    })

    const main = results[1]
    if (main === undefined) throw new Error('no default variant')
    const rows = [
      ...results.map((r) => [
        r.label,
        fmt(r.ms / 1000, 2),
        fmt(r.openMs / 1000, 2),
        fmt((cairnBefore - r.after) / MB, 1),
        fmt(r.after / MB, 1),
        `${fmt(r.maxRss / MB)} (${fmt(r.baseRss / MB)} before open)`,
        withRestic ? `${fmtRatio(r.ratio)}${r.ratioRange}` : '-',
      ]),
      withRestic
        ? [
            'restic forget --prune',
            fmt(resticMs / 1000, 2),
            '-',
            fmt((resticBefore - resticAfter) / MB, 1),
            fmt(resticAfter / MB, 1),
            '-',
            '1.00×',
          ]
        : ['restic', 'not installed', '-', '-', '-', '-', '-'],
    ]
    return {
      name: NAME,
      summary:
        `Keep the last ${String(KEEP)} of ${String(versions)} versions of a 32 MiB file and collect the rest: cairn ${fmt(main.ms / 1000, 2)} s, ${fmt((cairnBefore - main.after) / MB, 1)} MB freed` +
        (withRestic
          ? ` (${fmtRatio(main.ratio)} restic's time, median of ${String(rounds)} rounds, target ≤ 0.5×; restic freed ${fmt((resticBefore - resticAfter) / MB, 1)} MB)`
          : ' (restic not installed)'),
      tables: [
        {
          title: `Retention + GC: keep the last ${String(KEEP)} of ${String(versions)} versions (${fmt(cairnBefore / MB, 1)} MB stored before)`,
          headers: [
            'tool',
            'seconds',
            'of which open',
            'MB freed',
            'MB left',
            'peak RSS MB',
            'time vs restic (range)',
          ],
          rows,
        },
      ],
      notes: [
        ...results.map(
          (r) =>
            `${r.label}: ${String(r.report.packsDeleted)} packs deleted, ${String(r.report.packsRepacked)} repacked, ${String(r.report.manifestsDeleted)} manifests deleted, ${fmt(r.report.chunksLive)} chunks live, ${fmt(r.report.chunksDeleted)} deleted.`,
        ),
        "cairn times include opening the store and closing it, in a plain node process of its own running the compiled engine (dist/, built by npm run bench), as restic's include opening its repository; peak RSS is that process's, beside its RSS before the store opened (Node and the engine loaded).",
        'restic: repository v2, compression auto; forget --prune repacks partly used packs (its default max-unused 5%).',
        "Before each timed run (each cairn variant, then restic) the disk is settled with sync(1): a store copied just before would otherwise have its writeback land in the run's own fsyncs.",
        `${String(rounds)} rounds: in each, every cairn variant and restic run once, in turn, each on a fresh copy of its store or repository; seconds and MB are medians over the rounds, a ratio is the median of the rounds' own ratios (cairn's time in a round over restic's in the same round), with their range; peak RSS is the highest.`,
      ],
      raw: { versions, rounds, cairnBefore, results, resticMs, resticRuns, resticBefore, resticAfter },
    }
  })
}
