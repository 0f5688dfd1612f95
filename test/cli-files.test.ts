/**
 * `cairn restore` writes a file from its pieces in batches: the file is byte-exact whatever the
 * piece sizes (zero-length, tiny, larger than a batch), progress adds up to its size and comes
 * as the batches land, and an existing file is kept without `force`.
 */
import { mkdtemp, readFile, rm, stat, writeFile as writeRaw } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createRng } from '../src/adapters/sim/rng.js'
import { writeFile } from '../src/cli/files.js'
import { expectCairnError } from './helpers.js'

async function* each(pieces: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const piece of pieces) yield piece
  await Promise.resolve()
}

describe('writeFile', () => {
  let dir = ''
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-files-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes any pieces byte-exact, and reports every byte once', async () => {
    const rng = createRng(3)
    let n = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.nat(64), fc.nat(70_000), fc.constant(1_500_000)), { maxLength: 40 }),
        async (sizes) => {
          const pieces = sizes.map((size) => rng.bytes(size))
          const target = join(dir, `f${String(n++)}`)
          let reported = 0
          await writeFile(target, each(pieces), undefined, false, (bytes) => (reported += bytes))
          expect(Buffer.compare(await readFile(target), Buffer.concat(pieces))).toBe(0)
          expect(reported).toBe(sizes.reduce((sum, size) => sum + size, 0))
        },
      ),
      { numRuns: 25 },
    )
  })

  it('reports progress as batches land, not only at the end', async () => {
    const pieces = Array.from({ length: 300 }, (_, i) => new Uint8Array(20_000).fill(i))
    const reports: number[] = []
    await writeFile(join(dir, 'progress'), each(pieces), undefined, false, (bytes) => reports.push(bytes))
    expect(reports.length).toBeGreaterThan(3)
    expect(reports.reduce((sum, bytes) => sum + bytes, 0)).toBe(6_000_000)
    expect((await stat(join(dir, 'progress'))).size).toBe(6_000_000)
  })

  it('keeps an existing file unless forced', async () => {
    const target = join(dir, 'kept')
    await writeRaw(target, 'old')
    await expectCairnError(
      writeFile(target, each([new Uint8Array([1])]), undefined, false, () => undefined),
      'ALREADY_EXISTS',
    )
    expect(await readFile(target, 'utf8')).toBe('old')
    await writeFile(target, each([new TextEncoder().encode('new')]), undefined, true, () => undefined)
    expect(await readFile(target, 'utf8')).toBe('new')
  })

  it('restores an mtime with its fraction of a millisecond', async () => {
    // A Date keeps whole milliseconds: 1796576469415.6 came back as ...415 (the CLI test saw it).
    const mtimeMs = 1_796_576_469_415.6
    for (const [name, facts] of [
      ['file', { size: 1, mode: 0o640, mtimeMs }],
      ['other', { size: 1, mode: 0o600, mtimeMs: 1_577_934_245_000.25 }],
    ] as const) {
      const target = join(dir, name)
      await writeFile(target, each([new Uint8Array([1])]), facts, false, () => undefined)
      const info = await stat(target)
      expect(Math.abs(info.mtimeMs - facts.mtimeMs)).toBeLessThan(0.01)
      expect(info.mode & 0o7777).toBe(facts.mode)
    }
  })
})
