/**
 * The BlobStore conformance suite (restic's backend test suite, abstract-level's test suite):
 * every BlobStore adapter runs it with one call. Behaviour an adapter may lack is gated on its
 * `properties`, never on an ad-hoc skip.
 */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import type { BlobStore } from '../../src/core/ports.js'
import { collect, expectCairnError, text } from '../helpers.js'

export interface BlobStoreFixture {
  readonly store: BlobStore
  cleanup(): Promise<void>
}

export interface BlobStoreTraits {
  /** The store reads a ranged get into the buffer it is given (BlobStore `get`'s `into`). */
  readonly readsInto?: boolean
  /** The store's objects are files of this machine, named by `localPath`. */
  readonly localFiles?: boolean
}

export function describeBlobStoreContract(
  name: string,
  makeFixture: () => Promise<BlobStoreFixture>,
  traits: BlobStoreTraits = {},
): void {
  describe(`BlobStore contract: ${name}`, () => {
    const withStore = (body: (store: BlobStore) => Promise<void>) => async () => {
      const fixture = await makeFixture()
      try {
        await body(fixture.store)
      } finally {
        await fixture.cleanup()
      }
    }
    const keysOf = async (store: BlobStore, prefix: string) =>
      (await collect(store.list(prefix))).map((info) => info.key).sort()

    it(
      'put then get returns the same bytes, whole or by range',
      withStore(async (store) => {
        const data = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff)
        await store.put('packs/aa/object-1', data)
        expect(await store.get('packs/aa/object-1')).toEqual(data)
        expect(await store.get('packs/aa/object-1', { offset: 500, length: 1000 })).toEqual(
          data.slice(500, 1500),
        )
        expect(await store.get('packs/aa/object-1', { offset: 100_000, length: 0 })).toEqual(
          new Uint8Array(0),
        )
        await store.put('empty', new Uint8Array(0))
        expect(await store.get('empty')).toEqual(new Uint8Array(0))
      }),
    )

    it(
      `a ranged get given a buffer returns the range${traits.readsInto === true ? ' in that buffer' : ''}, never writing past it or into one too small`,
      withStore(async (store) => {
        const data = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff)
        await store.put('packs/bb/object-2', data)
        const into = new Uint8Array(3000).fill(0xee).subarray(500)
        const got = await store.get('packs/bb/object-2', { offset: 700, length: 1000 }, into)
        expect(got).toEqual(data.slice(700, 1700))
        if (traits.readsInto === true || got.buffer === into.buffer) {
          expect(got.buffer).toBe(into.buffer)
          expect(got.byteOffset).toBe(into.byteOffset)
        }
        expect(new Uint8Array(into.buffer, 0, 500).every((byte) => byte === 0xee)).toBe(true)
        expect(into.subarray(1000).every((byte) => byte === 0xee)).toBe(true)
        const small = new Uint8Array(999).fill(0xee)
        expect(await store.get('packs/bb/object-2', { offset: 700, length: 1000 }, small)).toEqual(
          data.slice(700, 1700),
        )
        expect(small.every((byte) => byte === 0xee)).toBe(true)
        await expectCairnError(
          store.get('packs/bb/object-2', { offset: 99_500, length: 501 }, into),
          'OUT_OF_RANGE',
        )
      }),
    )

    it(
      `localPath${traits.localFiles === true ? '' : ', where a store has one,'} names a file holding exactly the object`,
      withStore(async (store) => {
        const data = new Uint8Array(70_000).map((_, i) => (i * 13) & 0xff)
        await store.put('packs/cc/object-3', data)
        const path = store.localPath?.('packs/cc/object-3')
        if (traits.localFiles === true) expect(path).toBeDefined()
        else expect(path).toBeUndefined()
        if (path !== undefined) expect(new Uint8Array(await readFile(path))).toEqual(data)
      }),
    )

    it(
      'a missing object is NOT_FOUND; a range past the end is OUT_OF_RANGE',
      withStore(async (store) => {
        const missing = await expectCairnError(store.get('no/such/key'), 'NOT_FOUND')
        expect(missing.context.path).toBe('no/such/key')
        await store.put('short', text('0123456789'))
        await expectCairnError(store.get('short', { offset: 5, length: 6 }), 'OUT_OF_RANGE')
        await expectCairnError(store.get('short', { offset: 11, length: 0 }), 'OUT_OF_RANGE')
        await expectCairnError(store.get('short', { offset: -1, length: 2 }), 'OUT_OF_RANGE')
      }),
    )

    it(
      'put replaces an object; put ifAbsent refuses an existing one and leaves it unchanged',
      withStore(async (store) => {
        await store.put('k', text('first'))
        await store.put('k', text('second'))
        expect(await store.get('k')).toEqual(text('second'))
        await expectCairnError(store.put('k', text('third'), { ifAbsent: true }), 'ALREADY_EXISTS')
        expect(await store.get('k')).toEqual(text('second'))
        await store.put('k2', text('new'), { ifAbsent: true })
        expect(await store.get('k2')).toEqual(text('new'))
      }),
    )

    it(
      'head tells the size of a present object and undefined for an absent one',
      withStore(async (store) => {
        await store.put('index/one', text('12345'))
        expect(await store.head('index/one')).toEqual({ key: 'index/one', size: 5 })
        expect(await store.head('index/two')).toBeUndefined()
      }),
    )

    it(
      'list returns every key under a prefix exactly once, including partial-segment prefixes',
      withStore(async (store) => {
        const keys = ['packs/ab/1', 'packs/ab/2', 'packs/ac/3', 'index/x', 'manifests/m-1', 'top']
        for (const key of keys) await store.put(key, text(key))
        expect(await keysOf(store, '')).toEqual([...keys].sort())
        expect(await keysOf(store, 'packs/')).toEqual(['packs/ab/1', 'packs/ab/2', 'packs/ac/3'])
        expect(await keysOf(store, 'packs/ab')).toEqual(['packs/ab/1', 'packs/ab/2'])
        expect(await keysOf(store, 'manifests/m-')).toEqual(['manifests/m-1'])
        expect(await keysOf(store, 'nothing/')).toEqual([])
        const sizes = await collect(store.list('index/'))
        expect(sizes).toEqual([{ key: 'index/x', size: 7 }])
      }),
    )

    it(
      'delete removes objects and skips missing keys',
      withStore(async (store) => {
        await store.put('d/1', text('1'))
        await store.put('d/2', text('2'))
        await store.delete(['d/1', 'd/missing'])
        expect(await keysOf(store, 'd/')).toEqual(['d/2'])
        await store.delete([])
        await store.delete(['d/1'])
      }),
    )

    it(
      'malformed keys are INVALID_KEY on every method, and nothing is written',
      withStore(async (store) => {
        const bad = ['', '/abs', 'a/../b', '../up', 'a//b', 'a\\b', 'with space', 'nul\0', 'x/'.repeat(600)]
        for (const key of bad) {
          await expectCairnError(store.put(key, text('x')), 'INVALID_KEY')
          await expectCairnError(store.get(key), 'INVALID_KEY')
          await expectCairnError(store.head(key), 'INVALID_KEY')
          await expectCairnError(store.delete([key]), 'INVALID_KEY')
        }
        expect(await keysOf(store, '')).toEqual([])
      }),
    )

    it(
      'concurrent puts of distinct keys into a new directory all land',
      withStore(async (store) => {
        const keys = Array.from({ length: 20 }, (_, i) => `fresh/dir/key-${String(i)}`)
        await Promise.all(keys.map((key) => store.put(key, text(key))))
        for (const key of keys) expect(await store.get(key)).toEqual(text(key))
      }),
    )

    it(
      'concurrent put ifAbsent of one key: exactly one wins',
      withStore(async (store) => {
        if (!store.properties.conditionalCreate) return
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) =>
            store.put('race', text(`writer-${String(i)}`), { ifAbsent: true }),
          ),
        )
        const winners = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []))
        expect(winners).toHaveLength(1)
        expect(await store.get('race')).toEqual(text(`writer-${String(winners[0])}`))
      }),
    )
  })
}
