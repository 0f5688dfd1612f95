/**
 * Looking at a store: `ls` (its checkpoints), `show <id>` (one checkpoint and its entries),
 * `diff <a> <b>` (entries added, removed and changed), `stats` (logical against stored bytes,
 * the dedup ratio, chain lengths, the log's size).
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { CheckpointInfo } from '../../snapshot/snapshot.js'
import type { Snapshot } from '../../snapshot/snapshot.js'
import type { Context } from '../context.js'
import { EXIT, formatBytes, table } from '../context.js'
import { fileTreeOf } from '../files.js'
import { snapshotOf } from './files.js'

function row(info: CheckpointInfo): string[] {
  return [
    info.id.slice(0, 12),
    info.createdAt.toISOString().replace('.000Z', 'Z'),
    info.kind,
    String(info.lsn),
    formatBytes(info.logicalBytes),
    formatBytes(info.storedBytes),
    info.tags.join(','),
  ]
}

function jsonOf(info: CheckpointInfo): Record<string, unknown> {
  return {
    id: info.id,
    createdAt: info.createdAt.toISOString(),
    kind: info.kind,
    parent: info.parent ?? null,
    lsn: info.lsn,
    tags: info.tags,
    metrics: info.metrics,
    logicalBytes: info.logicalBytes,
    newBytes: info.newBytes,
    storedBytes: info.storedBytes,
  }
}

export async function lsCommand(ctx: Context): Promise<number> {
  const store = await ctx.open({ readOnly: true })
  try {
    const infos = await store.checkpoints()
    ctx.result({ checkpoints: infos.map(jsonOf) }, () =>
      infos.length === 0
        ? ['no checkpoints yet']
        : table(['id', 'created', 'kind', 'lsn', 'logical', 'stored', 'tags'], infos.map(row)),
    )
    return EXIT.ok
  } finally {
    await store.close()
  }
}

export async function showCommand(ctx: Context, idText: string): Promise<number> {
  const store = await ctx.open({ readOnly: true })
  try {
    const snapshot = await snapshotOf(store, idText)
    const tree = fileTreeOf(snapshot.info.meta)
    const entries = (await snapshot.entries()).map((name) => ({
      name,
      size: snapshot.size(name),
      ...(tree?.files[name] === undefined
        ? {}
        : { mode: tree.files[name].mode, mtime: new Date(tree.files[name].mtimeMs).toISOString() }),
    }))
    ctx.result({ ...jsonOf(snapshot.info), entries }, () => [
      ...table(['id', 'created', 'kind', 'lsn', 'logical', 'stored', 'tags'], [row(snapshot.info)]),
      '',
      ...table(
        ['entry', 'size', 'mode', 'mtime'],
        entries.map((e) => [
          e.name,
          formatBytes(e.size),
          'mode' in e ? e.mode.toString(8) : '',
          'mtime' in e ? e.mtime : '',
        ]),
      ),
    ])
    return EXIT.ok
  } finally {
    await store.close()
  }
}

/** True when the entry reads the same bytes in both (same pieces: same bytes; else compared). */
async function sameEntry(a: Snapshot, b: Snapshot, name: string): Promise<boolean> {
  if (a.size(name) !== b.size(name)) return false
  const pa = a.resolved().get(name)?.pieces
  const pb = b.resolved().get(name)?.pieces
  if (pa !== undefined && pb !== undefined && JSON.stringify(pa) === JSON.stringify(pb)) return true
  return Buffer.compare(await a.read(name), await b.read(name)) === 0
}

export async function diffCommand(ctx: Context, aText: string, bText: string): Promise<number> {
  const store = await ctx.open({ readOnly: true })
  try {
    const a = await snapshotOf(store, aText)
    const b = await snapshotOf(store, bText)
    const inA = new Set(await a.entries())
    const inB = new Set(await b.entries())
    const added = [...inB].filter((name) => !inA.has(name))
    const removed = [...inA].filter((name) => !inB.has(name))
    const changed: string[] = []
    for (const name of inA) if (inB.has(name) && !(await sameEntry(a, b, name))) changed.push(name)
    ctx.result({ from: a.info.id, to: b.info.id, added, removed, changed }, () =>
      added.length + removed.length + changed.length === 0
        ? ['no differences']
        : [...added.map((n) => `+ ${n}`), ...removed.map((n) => `- ${n}`), ...changed.map((n) => `M ${n}`)],
    )
    return added.length + removed.length + changed.length === 0 ? EXIT.ok : EXIT.found
  } finally {
    await store.close()
  }
}

async function dirBytes(path: string): Promise<number> {
  let total = 0
  const names = await readdir(path).catch(() => [])
  for (const name of names) {
    const child = join(path, name)
    const info = await stat(child).catch(() => undefined)
    if (info === undefined) continue
    total += info.isDirectory() ? await dirBytes(child) : info.size
  }
  return total
}

export async function statsCommand(ctx: Context): Promise<number> {
  const store = await ctx.open({ readOnly: true })
  try {
    const infos = await store.checkpoints()
    const byId = new Map(infos.map((info) => [info.id, info]))
    const depthOf = (info: CheckpointInfo): number => {
      let depth = 0
      for (let at = info.parent; at !== undefined; at = byId.get(at)?.parent) depth++
      return depth
    }
    // Each checkpoint's whole state (a delta's own logicalBytes count only what it changed).
    let logical = 0
    for (const info of infos) {
      const snapshot = await store.snapshot(info.id)
      for (const name of await snapshot.entries()) logical += snapshot.size(name)
    }
    const objects = await dirBytes(join(ctx.options.dir, 'objects'))
    const log = await dirBytes(join(ctx.options.dir, 'log'))
    const depths = infos.map(depthOf)
    const result = {
      checkpoints: infos.length,
      full: infos.filter((info) => info.kind === 'full').length,
      delta: infos.filter((info) => info.kind === 'delta').length,
      logicalBytes: logical,
      storedBytes: objects,
      dedupRatio: objects > 0 ? logical / objects : 0,
      longestChain: Math.max(0, ...depths),
      logBytes: log,
      newestLsn: infos.at(-1)?.lsn ?? 0,
    }
    ctx.result(result, () => [
      `${String(result.checkpoints)} checkpoints (${String(result.full)} full, ${String(result.delta)} delta), longest delta chain ${String(result.longestChain)}`,
      `${formatBytes(logical)} of state across them, ${formatBytes(objects)} stored: ${result.dedupRatio.toFixed(2)}x`,
      `log: ${formatBytes(log)} on disk; the newest checkpoint covers up to LSN ${String(result.newestLsn)}`,
    ])
    return EXIT.ok
  } finally {
    await store.close()
  }
}
