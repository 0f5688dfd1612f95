/**
 * The store's manifest cache is bounded by the chunk references it holds: the least recently used
 * manifests go first, a read makes one recent again, and the newest always stays, even alone over
 * the limit.
 */
import { describe, expect, it } from 'vitest'
import type { CheckpointId, ChunkId } from '../../src/core/ids.js'
import type { StoredManifest } from '../../src/snapshot/catalog.js'
import { ManifestCache } from '../../src/snapshot/manifest-cache.js'

const hex = (n: number) => n.toString(16).padStart(64, '0')

/** A full manifest naming `refs` chunks (weight refs + 1). */
function stored(n: number, refs: number): StoredManifest {
  return {
    id: hex(n) as CheckpointId,
    manifest: {
      kind: 'full',
      lsn: n,
      createdAt: n,
      tags: [],
      metrics: {},
      meta: null,
      logicalBytes: refs,
      newBytes: 0,
      storedBytes: 0,
      entries: [
        {
          name: 'e',
          length: refs,
          chunks: Array.from({ length: refs }, (_, i) => ({ id: hex(i) as ChunkId, length: 1 })),
        },
      ],
    },
  }
}

describe('ManifestCache', () => {
  it('evicts the least recently used once the chunk references pass the limit', () => {
    const cache = new ManifestCache(30)
    const [a, b, c] = [stored(1, 9), stored(2, 9), stored(3, 9)] // weight 10 each
    cache.set(a.id, a)
    cache.set(b.id, b)
    cache.set(c.id, c)
    expect(cache.size).toBe(3)
    expect(cache.get(a.id)).toBe(a) // a is now the most recent
    const d = stored(4, 9)
    cache.set(d.id, d) // 40 > 30: b, the least recently used, goes
    expect(cache.get(b.id)).toBeUndefined()
    expect([cache.get(a.id), cache.get(c.id), cache.get(d.id)]).toEqual([a, c, d])
    cache.delete(a.id)
    expect(cache.get(a.id)).toBeUndefined()
    expect(cache.size).toBe(2)
  })

  it('keeps the newest alone when it is over the limit by itself; setting again does not double count', () => {
    const cache = new ManifestCache(30)
    const small = stored(1, 5)
    cache.set(small.id, small)
    cache.set(small.id, small)
    expect(cache.size).toBe(1)
    const big = stored(2, 100)
    cache.set(big.id, big)
    expect(cache.get(big.id)).toBe(big)
    expect(cache.get(small.id)).toBeUndefined()
    const next = stored(3, 5)
    cache.set(next.id, next) // the big one goes now
    expect(cache.get(big.id)).toBeUndefined()
    expect(cache.get(next.id)).toBe(next)
  })
})
