/**
 * The Vfs conformance suite. Every Vfs implementation runs it with one call, so the simulated
 * disk the crash tests use behaves, op for op and error for error, like node:fs.
 */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import type { Vfs } from '../../src/core/ports.js'
import { expectCairnError, text } from '../helpers.js'

export interface VfsFixture {
  readonly vfs: Vfs
  cleanup(): Promise<void>
}

export function describeVfsContract(name: string, makeFixture: () => Promise<VfsFixture>): void {
  describe(`Vfs contract: ${name}`, () => {
    const withVfs = (body: (vfs: Vfs) => Promise<void>) => async () => {
      const fixture = await makeFixture()
      try {
        await body(fixture.vfs)
      } finally {
        await fixture.cleanup()
      }
    }

    it(
      'opening a missing file for reading is NOT_FOUND, and naming it',
      withVfs(async (vfs) => {
        const error = await expectCairnError(vfs.open('missing.bin', 'read'), 'NOT_FOUND')
        expect(error.context.path).toBe('missing.bin')
        await expectCairnError(vfs.open('no/such/dir/file', 'create'), 'NOT_FOUND')
      }),
    )

    it(
      'createExclusive refuses an existing file with ALREADY_EXISTS',
      withVfs(async (vfs) => {
        const file = await vfs.open('a', 'createExclusive')
        await file.close()
        await expectCairnError(vfs.open('a', 'createExclusive'), 'ALREADY_EXISTS')
      }),
    )

    it(
      'writes and reads back bytes; a gap reads as zeros; reads stop at the end',
      withVfs(async (vfs) => {
        const file = await vfs.open('f', 'create')
        await file.write(text('hello'), 0)
        await file.write(text('world'), 10)
        expect(await file.size()).toBe(15)
        expect(await file.read(0, 15)).toEqual(
          new Uint8Array([...text('hello'), 0, 0, 0, 0, 0, ...text('world')]),
        )
        expect(await file.read(12, 100)).toEqual(text('rld'))
        expect(await file.read(15, 10)).toEqual(new Uint8Array(0))
        await file.close()
      }),
    )

    it(
      'a read given a buffer reads into its start and returns a view of it; one too small is never written',
      withVfs(async (vfs) => {
        const file = await vfs.open('f', 'create')
        await file.write(text('hello world'), 0)
        const into = new Uint8Array(20).fill(0xee).subarray(4)
        const got = await file.read(6, 16, into)
        expect(got).toEqual(text('world'))
        expect(got.buffer).toBe(into.buffer)
        expect(got.byteOffset).toBe(into.byteOffset)
        expect(into.subarray(5).every((byte) => byte === 0xee)).toBe(true)
        const small = new Uint8Array(4).fill(0xee)
        expect(await file.read(0, 5, small)).toEqual(text('hello'))
        expect(small.every((byte) => byte === 0xee)).toBe(true)
        await file.close()
      }),
    )

    it(
      'localPath, where a Vfs has one, names the file itself',
      withVfs(async (vfs) => {
        await vfs.mkdir('d')
        const file = await vfs.open('d/f', 'create')
        await file.write(text('local bytes'), 0)
        await file.close()
        const path = vfs.localPath?.('d/f')
        if (path !== undefined) expect(new TextDecoder().decode(await readFile(path))).toBe('local bytes')
      }),
    )

    it(
      'append writes at the end and returns the offset it started at',
      withVfs(async (vfs) => {
        const file = await vfs.open('log', 'create')
        expect(await file.append(text('abc'))).toBe(0)
        expect(await file.append(text('de'))).toBe(3)
        await file.close()
        const again = await vfs.open('log', 'readWrite')
        expect(await again.append(text('f'))).toBe(5)
        expect(await again.read(0, 6)).toEqual(text('abcdef'))
        await again.close()
      }),
    )

    it(
      'truncate cuts and extends with zeros, and create never truncates',
      withVfs(async (vfs) => {
        const file = await vfs.open('t', 'create')
        await file.write(text('abcdef'), 0)
        await file.truncate(2)
        expect(await file.read(0, 10)).toEqual(text('ab'))
        await file.truncate(4)
        expect(await file.read(0, 10)).toEqual(new Uint8Array([97, 98, 0, 0]))
        await file.fdatasync()
        await file.fsync()
        await file.close()
        const reopened = await vfs.open('t', 'create')
        expect(await reopened.size()).toBe(4)
        await reopened.close()
      }),
    )

    it(
      'rename replaces its target atomically; a missing source is NOT_FOUND',
      withVfs(async (vfs) => {
        for (const [path, body] of [
          ['x', 'new'],
          ['y', 'old'],
        ] as const) {
          const file = await vfs.open(path, 'create')
          await file.write(text(body), 0)
          await file.close()
        }
        await vfs.rename('x', 'y')
        await vfs.fsyncDir('')
        expect((await vfs.readdir('')).sort()).toEqual(['y'])
        const file = await vfs.open('y', 'read')
        expect(await file.read(0, 10)).toEqual(text('new'))
        await file.close()
        await expectCairnError(vfs.rename('x', 'z'), 'NOT_FOUND')
      }),
    )

    it(
      'link gives a second name and refuses an existing target with ALREADY_EXISTS',
      withVfs(async (vfs) => {
        const file = await vfs.open('one', 'create')
        await file.write(text('data'), 0)
        await file.close()
        await vfs.link('one', 'two')
        await expectCairnError(vfs.link('one', 'two'), 'ALREADY_EXISTS')
        await vfs.unlink('one')
        const second = await vfs.open('two', 'read')
        expect(await second.read(0, 4)).toEqual(text('data'))
        await second.close()
      }),
    )

    it(
      'unlink, readdir, mkdir, rmdir and stat follow POSIX',
      withVfs(async (vfs) => {
        await vfs.mkdir('a/b/c', { recursive: true })
        await vfs.mkdir('a/b/c', { recursive: true })
        await expectCairnError(vfs.mkdir('a/b'), 'ALREADY_EXISTS')
        await expectCairnError(vfs.mkdir('q/r'), 'NOT_FOUND')
        const file = await vfs.open('a/b/file', 'create')
        await file.write(text('12345'), 0)
        await file.close()
        expect((await vfs.readdir('a/b')).sort()).toEqual(['c', 'file'])
        expect(await vfs.stat('a/b/file')).toMatchObject({ kind: 'file', size: 5 })
        expect(await vfs.stat('a/b')).toMatchObject({ kind: 'directory' })
        await expectCairnError(vfs.stat('a/nothing'), 'NOT_FOUND')
        await expectCairnError(vfs.readdir('nothing'), 'NOT_FOUND')
        await expectCairnError(vfs.rmdir('a/b'), 'IO')
        await vfs.rmdir('a/b/c')
        await vfs.unlink('a/b/file')
        await expectCairnError(vfs.unlink('a/b/file'), 'NOT_FOUND')
        expect(await vfs.readdir('a/b')).toEqual([])
        await vfs.fsyncDir('a/b')
        await vfs.fsyncDir('')
      }),
    )

    it(
      'refuses paths that escape the root with INVALID_KEY',
      withVfs(async (vfs) => {
        for (const path of ['../x', '/etc/passwd', 'a//b', 'a/./b', 'a\\b', 'a/..', 'sp ace']) {
          await expectCairnError(vfs.open(path, 'create'), 'INVALID_KEY')
        }
      }),
    )

    it(
      'a closed handle throws CLOSED; a read-only handle cannot write',
      withVfs(async (vfs) => {
        const file = await vfs.open('c', 'create')
        await file.close()
        await file.close()
        await expectCairnError(file.read(0, 1), 'CLOSED')
        const readOnly = await vfs.open('c', 'read')
        await expect(readOnly.write(text('x'), 0)).rejects.toThrow()
        await readOnly.close()
      }),
    )
  })
}
