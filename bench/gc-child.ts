/**
 * One retain + GC in a process of its own, so its time includes opening the store (as restic's
 * includes opening its repository) and its peak RSS counts nothing else:
 * `tsx bench/gc-child.ts <dir> <keepLast> <repackDeadShare>` prints one JSON line.
 *
 * It runs the compiled engine (`dist/`, built by `npm run bench`), as an application would: from
 * the sources, every worker thread would load the TypeScript compiler too and be counted.
 */
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'

type StoreModule = typeof import('../src/store.js')

async function main(dir: string, keepLast: number, repackDeadShare: number): Promise<void> {
  const dist = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'store.js')).href
  const { openStore } = (await import(dist)) as StoreModule
  const baseRss = process.memoryUsage().rss
  const started = performance.now()
  const store = await openStore({ dir, wal: { sync: 'none' } })
  const openMs = performance.now() - started
  const plan = await store.retain({ keepLast })
  const report = await store.gc({ graceMs: 0, repackDeadShare })
  await store.close()
  const ms = performance.now() - started
  console.log(
    JSON.stringify({
      ms,
      openMs,
      baseRss,
      kept: plan.keep.length,
      report,
      maxRss: process.resourceUsage().maxRSS * 1024,
    }),
  )
}

await main(process.argv[2] ?? '.', Number(process.argv[3] ?? 5), Number(process.argv[4] ?? 1))
