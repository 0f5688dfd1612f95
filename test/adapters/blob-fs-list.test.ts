/**
 * FsBlobStore.list: every object under a prefix with its size, in name order, with its stats in
 * flight a few at a time; an object removed while the listing runs is left out, not an error.
 */
import { describe, expect, it } from 'vitest'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import type { Vfs } from '../../src/core/ports.js'

const keyOf = (i: number) =>
  `packs/${(i % 7).toString(16).padStart(2, '0')}/${i.toString(16).padStart(64, '0')}`

describe('blob-fs list', () => {
  it('gives every key under the prefix with its size, directories walked, names in order', async () => {
    const blobs = await createFsBlobStore({ vfs: new SimDisk({ seed: 3 }), root: 'objects' })
    const want = new Map<string, number>()
    for (let i = 0; i < 60; i++) {
      const key = keyOf(i)
      await blobs.put(key, new Uint8Array(i + 1))
      want.set(key, i + 1)
    }
    await blobs.put('index/aa', new Uint8Array(5))
    const got: [string, number][] = []
    for await (const { key, size } of blobs.list('packs/')) got.push([key, size])
    expect(new Map(got)).toEqual(want)
    // Within each directory the names come in the order the directory gave them.
    for (const dir of new Set(got.map(([key]) => key.slice(0, 8)))) {
      const inDir = got.filter(([key]) => key.startsWith(dir)).map(([key]) => key)
      expect(inDir).toEqual([...inDir].sort())
    }
  })

  it('an object deleted between reading its directory and its stat is left out', async () => {
    const disk = new SimDisk({ seed: 4 })
    const blobs0 = await createFsBlobStore({ vfs: disk, root: 'objects' })
    for (let i = 0; i < 20; i++) await blobs0.put(keyOf(i), new Uint8Array(10))
    const doomed = keyOf(8)
    // A Vfs whose stat of one object first sees it deleted (another process's GC, say).
    const racing: Vfs = {
      properties: disk.properties,
      open: (path, mode) => disk.open(path, mode),
      rename: (source, target) => disk.rename(source, target),
      link: (existing, target) => disk.link(existing, target),
      unlink: (path) => disk.unlink(path),
      readdir: (path) => disk.readdir(path),
      mkdir: (path, options) => disk.mkdir(path, options),
      rmdir: (path) => disk.rmdir(path),
      fsyncDir: (path) => disk.fsyncDir(path),
      stat: async (path) => {
        if (path.endsWith(doomed)) await disk.unlink(path)
        return disk.stat(path)
      },
    }
    const blobs = await createFsBlobStore({ vfs: racing, root: 'objects' })
    const keys: string[] = []
    for await (const { key } of blobs.list('packs/')) keys.push(key)
    expect(keys).toHaveLength(19)
    expect(keys).not.toContain(doomed)
  })
})
