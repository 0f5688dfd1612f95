/**
 * `cairn restore` writes each file through `writeFile`: the content is written into the open file
 * (by the chunk store's workers in a restore), an existing file is kept without `force`, a write
 * that fails is reported naming the file (not the descriptor) and the file is closed, and the
 * mode and mtime are set after, the mtime with its fraction of a millisecond.
 */
import { mkdtemp, readFile, rm, stat, writeFile as writeRaw } from 'node:fs/promises'
import { readlinkSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeFile } from '../src/cli/files.js'
import { CairnError } from '../src/core/errors.js'
import { expectCairnError } from './helpers.js'

/** Content that writes `bytes` at the start of the file and reports them. */
function bytesOf(bytes: Uint8Array) {
  return (fd: number, onBytes: (n: number) => void) => {
    writeSync(fd, bytes, 0, bytes.length, 0)
    onBytes(bytes.length)
    return Promise.resolve()
  }
}

describe('writeFile', () => {
  let dir = ''
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-files-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('hands the content the open file, and passes its progress on', async () => {
    const target = join(dir, 'nested', 'written')
    let reported = 0
    await writeFile(
      target,
      bytesOf(new TextEncoder().encode('hello')),
      undefined,
      false,
      (n) => (reported += n),
    )
    expect(await readFile(target, 'utf8')).toBe('hello')
    expect(reported).toBe(5)
  })

  it('keeps an existing file unless forced', async () => {
    const target = join(dir, 'kept')
    await writeRaw(target, 'old')
    await expectCairnError(
      writeFile(target, bytesOf(new Uint8Array([1])), undefined, false, () => undefined),
      'ALREADY_EXISTS',
    )
    expect(await readFile(target, 'utf8')).toBe('old')
    await writeFile(target, bytesOf(new TextEncoder().encode('new')), undefined, true, () => undefined)
    expect(await readFile(target, 'utf8')).toBe('new')
  })

  it('names the file when the content fails to write it, and closes it', async () => {
    const target = join(dir, 'failing')
    let descriptor = -1
    const failing = (fd: number) => {
      descriptor = fd
      return Promise.reject(
        new CairnError('DISK_FULL', 'ENOSPC: no space left on device', {
          op: 'entry.write',
          path: `fd ${String(fd)} @ 4096`,
          retryable: true,
        }),
      )
    }
    const error = await expectCairnError(
      writeFile(target, failing, undefined, false, () => undefined),
      'DISK_FULL',
    )
    expect(error.context.path).toBe(target)
    expect(error.message).toContain(target)
    expect(error.context.retryable).toBe(true)
    // Closed: the descriptor no longer names the file (it may name another by now: never written to).
    let named: string | undefined
    try {
      named = readlinkSync(`/proc/self/fd/${String(descriptor)}`)
    } catch {
      named = undefined
    }
    expect(named).not.toBe(target)
  })

  it('restores an mtime with its fraction of a millisecond, and the mode', async () => {
    // A Date keeps whole milliseconds: 1796576469415.6 came back as ...415 (the CLI test saw it).
    for (const [name, facts] of [
      ['file', { size: 1, mode: 0o640, mtimeMs: 1_796_576_469_415.6 }],
      ['other', { size: 1, mode: 0o600, mtimeMs: 1_577_934_245_000.25 }],
    ] as const) {
      const target = join(dir, name)
      await writeFile(target, bytesOf(new Uint8Array([1])), facts, false, () => undefined)
      const info = await stat(target)
      expect(Math.abs(info.mtimeMs - facts.mtimeMs)).toBeLessThan(0.01)
      expect(info.mode & 0o7777).toBe(facts.mode)
    }
  })
})
