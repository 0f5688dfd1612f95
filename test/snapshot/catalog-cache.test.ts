/**
 * The checkpoint catalog cache: an info round-trips through its bytes; a damaged value or one
 * filed under another id reads as absent (the manifest is read instead), never as wrong facts;
 * a store on the real disk lists its checkpoints from it after a reopen, and the same with the
 * cache deleted.
 */
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { CheckpointId } from '../../src/core/ids.js'
import { decodeInfo, encodeInfo } from '../../src/snapshot/catalog-cache.js'
import type { CheckpointInfo } from '../../src/snapshot/snapshot.js'
import { openStore } from '../../src/store.js'
import { makeTempDir } from '../helpers.js'

const id = 'ab'.repeat(32) as CheckpointId
const info: CheckpointInfo = {
  id,
  lsn: 7,
  kind: 'delta',
  parent: 'cd'.repeat(32) as CheckpointId,
  createdAt: new Date('2026-11-22T10:00:00.123Z'),
  tags: ['best'],
  metrics: { loss: 0.25 },
  meta: { epoch: 3 },
  logicalBytes: 100,
  newBytes: 10,
  storedBytes: 5,
}

describe('catalog cache', () => {
  it('an info round-trips; a flipped bit or another id reads as absent', () => {
    const bytes = encodeInfo(info)
    expect(decodeInfo(bytes, id)).toEqual(info)
    for (const at of [0, 3, 4, 20, bytes.length - 1]) {
      const damaged = bytes.slice()
      damaged[at] = (damaged[at] ?? 0) ^ 0x04
      expect(decodeInfo(damaged, id), `byte ${String(at)}`).toBeUndefined()
    }
    expect(decodeInfo(bytes, 'ef'.repeat(32) as CheckpointId)).toBeUndefined()
    expect(decodeInfo(new Uint8Array(2), id)).toBeUndefined()
  })

  it('a store lists its checkpoints from the cache after a reopen, and the same without it', async () => {
    const { dir, cleanup } = await makeTempDir()
    try {
      const store = await openStore({ dir, workers: 0 })
      const made: string[] = []
      for (let i = 0; i < 3; i++) {
        const entries = { 'state.bin': new TextEncoder().encode(`state ${String(i)}`) }
        made.push((await store.checkpoint({ lsn: 0, entries, tags: [`t${String(i)}`] })).id)
      }
      const listed = await store.checkpoints()
      await store.close()
      const again = await openStore({ dir, workers: 0 })
      expect(await again.checkpoints()).toEqual(listed)
      await again.close()
      await rm(join(dir, 'catalog-cache'), { recursive: true })
      const rebuilt = await openStore({ dir, workers: 0 })
      expect((await rebuilt.checkpoints()).map((c) => c.id)).toEqual(made)
      expect(await rebuilt.checkpoints()).toEqual(listed)
      await rebuilt.close()
    } finally {
      await cleanup()
    }
  })

  it('a cached checkpoint whose manifest is damaged or gone does not count (found by review: retain dropped the good one)', async () => {
    const { dir, cleanup } = await makeTempDir()
    try {
      const store = await openStore({ dir, workers: 0 })
      const state = (text: string) => ({ 'state.bin': new TextEncoder().encode(text) })
      const a = await store.checkpoint({ lsn: 0, entries: state('a') })
      const b = await store.checkpoint({ lsn: 0, entries: state('b') })
      await store.close()
      // B's manifest damaged after its facts were cached: it is not a checkpoint any more.
      const path = join(dir, 'objects', 'manifests', b.id)
      const bytes = await readFile(path)
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1
      await writeFile(path, bytes)
      const damaged = await openStore({ dir, workers: 0 })
      expect((await damaged.checkpoints()).map((c) => c.id)).toEqual([a.id])
      const plan = await damaged.retain({ keepLast: 1 }, { dryRun: true })
      expect(plan.keep.map((e) => e.checkpoint.id)).toEqual([a.id])
      const recovery = await damaged.recover()
      expect(recovery.checkpoint?.id).toBe(a.id)
      await damaged.close()
      // A base removed by hand: a delta standing on it makes retain refuse, as before the cache.
      await rm(path)
      const store2 = await openStore({ dir, workers: 0, chain: { maxDeltaShare: 100 } })
      const base = await store2.checkpoint({ lsn: 0, entries: state('base') })
      const delta = await store2.checkpoint({
        lsn: 0,
        parent: 'latest',
        entries: { 'more.bin': new Uint8Array(3) },
      })
      expect(delta.kind).toBe('delta')
      await store2.close()
      await rm(join(dir, 'objects', 'manifests', base.id))
      const lost = await openStore({ dir, workers: 0 })
      await expect(lost.retain({ keepLast: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' })
      await lost.close()
    } finally {
      await cleanup()
    }
  })
})
