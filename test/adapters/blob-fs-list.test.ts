/**
 * FsBlobStore.list: every object under a prefix with its size, in name order, with its stats in
 * flight a few at a time; an object removed while the listing runs is left out, not an error, but
 * a name still there that cannot be stat'ed (a dangling symlink) fails the listing.
 */
import { mkdtemp, mkdir, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createFsBlobStore } from '../../src/adapters/blob-fs/fs-blob-store.js'
import { createNodeVfs } from '../../src/adapters/node/node-vfs.js'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { CairnError } from '../../src/core/errors.js'
import type { BlobStore, Vfs, VfsStat } from '../../src/core/ports.js'

/** `disk` with its stat replaced. */
function withStat(disk: SimDisk, stat: (path: string) => Promise<VfsStat>): Vfs {
  return {
    properties: disk.properties,
    open: (path, mode) => disk.open(path, mode),
    rename: (source, target) => disk.rename(source, target),
    link: (existing, target) => disk.link(existing, target),
    unlink: (path) => disk.unlink(path),
    readdir: (path) => disk.readdir(path),
    mkdir: (path, options) => disk.mkdir(path, options),
    rmdir: (path) => disk.rmdir(path),
    fsyncDir: (path) => disk.fsyncDir(path),
    stat,
  }
}

/** Every key the listing gives under packs/. */
async function packKeys(blobs: BlobStore): Promise<string[]> {
  const keys: string[] = []
  for await (const { key } of blobs.list('packs/')) keys.push(key)
  return keys
}

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
    const racing = withStat(disk, async (path) => {
      if (path.endsWith(doomed)) await disk.unlink(path)
      return disk.stat(path)
    })
    const blobs = await createFsBlobStore({ vfs: racing, root: 'objects' })
    const keys = await packKeys(blobs)
    expect(keys).toHaveLength(19)
    expect(keys).not.toContain(doomed)
  })

  it('a name still in its directory whose stat says NOT_FOUND fails the listing', async () => {
    const disk = new SimDisk({ seed: 5 })
    const blobs0 = await createFsBlobStore({ vfs: disk, root: 'objects' })
    for (let i = 0; i < 20; i++) await blobs0.put(keyOf(i), new Uint8Array(10))
    const unseen = keyOf(11)
    const blind = withStat(disk, (path) =>
      path.endsWith(unseen)
        ? Promise.reject(new CairnError('NOT_FOUND', 'no such file', { op: 'stat', path }))
        : disk.stat(path),
    )
    const blobs = await createFsBlobStore({ vfs: blind, root: 'objects' })
    await expect(packKeys(blobs)).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('on the real disk, a dangling symlink among packs fails the listing (GC must not sweep past it)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-list-'))
    try {
      const blobs = await createFsBlobStore({ vfs: createNodeVfs({ root: dir }), root: 'objects' })
      await blobs.put(keyOf(1), new Uint8Array(3))
      await mkdir(join(dir, 'objects', 'packs', '05'), { recursive: true })
      await symlink(join(dir, 'unmounted', 'pack'), join(dir, 'objects', 'packs', '05', 'f'.repeat(64)))
      await expect(packKeys(blobs)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
