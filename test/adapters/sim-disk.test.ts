/**
 * The simulated disk's behaviours that every crash test relies on, one test each: what survives
 * which crash model, directory durability, fsync failure with Linux semantics, ENOSPC and short
 * writes, torn writes, bit rot, injected EIO, the trace and determinism.
 */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { CRASH_MODELS } from '../../src/adapters/sim/crash.js'
import { createRng } from '../../src/adapters/sim/rng.js'
import { expectCairnError, text } from '../helpers.js'

async function writeFile(
  disk: SimDisk,
  path: string,
  data: Uint8Array,
  sync: { file: boolean; dir: boolean },
) {
  const file = await disk.open(path, 'create')
  await file.write(data, 0)
  if (sync.file) await file.fdatasync()
  await file.close()
  if (sync.dir) await disk.fsyncDir(path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '')
}

describe('sim disk: what survives a crash', () => {
  it('an unsynced write is lost under clearCache and kept under processCrash', async () => {
    const disk = new SimDisk({ seed: 1 })
    await writeFile(disk, 'f', text('durable'), { file: true, dir: true })
    const file = await disk.open('f', 'readWrite')
    await file.write(text('DURABLE'), 0)
    expect(await file.read(0, 7)).toEqual(text('DURABLE'))
    expect(disk.crash('clearCache').peek('f')).toEqual(text('durable'))
    expect(disk.crash('processCrash').peek('f')).toEqual(text('DURABLE'))
  })

  it('a synced write survives every crash model', async () => {
    for (const model of CRASH_MODELS) {
      const disk = new SimDisk({ seed: 2 })
      await writeFile(disk, 'f', text('kept'), { file: true, dir: true })
      for (let i = 0; i < 20; i++) expect(disk.crash(model, createRng(i)).peek('f')).toEqual(text('kept'))
    }
  })

  it('a new file whose directory was not fsynced is gone after clearCache, even with its data synced', async () => {
    const disk = new SimDisk({ seed: 3 })
    await writeFile(disk, 'f', text('data'), { file: true, dir: false })
    expect(disk.crash('clearCache').peek('f')).toBeUndefined()
    expect(disk.crash('processCrash').peek('f')).toEqual(text('data'))
  })

  it('a rename not followed by a directory fsync is reverted; after fsyncDir it holds', async () => {
    const disk = new SimDisk({ seed: 4 })
    await writeFile(disk, 'old', text('old'), { file: true, dir: true })
    await writeFile(disk, 'tmp', text('new'), { file: true, dir: true })
    await disk.rename('tmp', 'old')
    const reverted = disk.crash('clearCache')
    expect(reverted.peek('old')).toEqual(text('old'))
    expect(reverted.peek('tmp')).toEqual(text('new'))

    const disk2 = new SimDisk({ seed: 4 })
    await writeFile(disk2, 'old', text('old'), { file: true, dir: true })
    await writeFile(disk2, 'tmp', text('new'), { file: true, dir: true })
    await disk2.rename('tmp', 'old')
    await disk2.fsyncDir('')
    const kept = disk2.crash('clearCache')
    expect(kept.peek('old')).toEqual(text('new'))
    expect(kept.peek('tmp')).toBeUndefined()
  })

  it('a rename is atomic under the weak model: the target is either old or new, never both gone', async () => {
    for (let seed = 0; seed < 50; seed++) {
      const disk = new SimDisk({ seed })
      await writeFile(disk, 'old', text('old'), { file: true, dir: true })
      await writeFile(disk, 'tmp', text('new'), { file: true, dir: false })
      await disk.rename('tmp', 'old')
      const after = disk.crash('weak')
      expect([text('old'), text('new')]).toContainEqual(after.peek('old'))
    }
  })
})

describe('sim disk: fsync failure has Linux semantics', () => {
  it('the failed batch stays readable, a later fsync succeeds, and a crash loses the batch', async () => {
    const disk = new SimDisk({ seed: 5 })
    await writeFile(disk, 'wal', text('AAAA'), { file: true, dir: true })
    const file = await disk.open('wal', 'readWrite')
    await file.append(text('BBBB'))
    disk.injectFault({ kind: 'EIO', ops: ['fdatasync'] })
    await expectCairnError(file.fdatasync(), 'IO')
    expect(await file.read(0, 8)).toEqual(text('AAAABBBB'))
    await file.fdatasync() // "succeeds" without saving anything
    expect(disk.crash('clearCache').peek('wal')).toEqual(text('AAAA'))
    expect(disk.crash('weak').peek('wal')).toEqual(text('AAAA'))
  })
})

describe('sim disk: ENOSPC and short writes', () => {
  it('a write past the space budget lands the prefix that fits and throws DISK_FULL with bytesWritten', async () => {
    const disk = new SimDisk({ seed: 6, spaceBytesMax: 10 })
    const file = await disk.open('f', 'create')
    await file.write(text('123456'), 0)
    const error = await expectCairnError(file.write(text('abcdefgh'), 6), 'DISK_FULL')
    expect(error.context.bytesWritten).toBe(4)
    expect(error.context.retryable).toBe(true)
    expect(await file.read(0, 20)).toEqual(text('123456abcd'))
    await file.truncate(6)
    await file.write(text('wxyz'), 6)
    expect(await file.read(0, 20)).toEqual(text('123456wxyz'))
  })

  it('space is freed by unlinking a file, and writes resume', async () => {
    const disk = new SimDisk({ seed: 6, spaceBytesMax: 8 })
    await writeFile(disk, 'big', text('12345678'), { file: false, dir: false })
    const file = await disk.open('small', 'create')
    await expectCairnError(file.write(text('x'), 0), 'DISK_FULL')
    await disk.unlink('big')
    await file.write(text('x'), 0)
    expect(disk.usedBytes()).toBe(1)
  })

  it('an injected short write lands a strict prefix and reports its length', async () => {
    const disk = new SimDisk({ seed: 8 })
    const file = await disk.open('f', 'create')
    disk.injectFault({ kind: 'shortWrite', ops: ['write'] })
    const data = text('0123456789abcdef')
    const error = await expectCairnError(file.write(data, 0), 'IO')
    const landed = error.context.bytesWritten ?? -1
    expect(landed).toBeGreaterThanOrEqual(0)
    expect(landed).toBeLessThan(data.length)
    expect(await file.read(0, 100)).toEqual(data.slice(0, landed))
  })
})

describe('sim disk: torn writes and appends', () => {
  it('a torn multi-sector write keeps whole sectors only, some new and some old', async () => {
    const sector = 512
    const old = new Uint8Array(4 * sector).fill(0x11)
    const fresh = new Uint8Array(4 * sector).fill(0x22)
    let sawMixed = false
    for (let seed = 0; seed < 40; seed++) {
      const disk = new SimDisk({ seed, sectorBytes: sector })
      await writeFile(disk, 'f', old, { file: true, dir: true })
      const file = await disk.open('f', 'readWrite')
      await file.write(fresh, 0)
      const after = disk.crash('weak').peek('f') ?? new Uint8Array(0)
      expect(after.length).toBe(4 * sector)
      const sectors = Array.from({ length: 4 }, (_, i) => after.slice(i * sector, (i + 1) * sector))
      for (const piece of sectors) {
        // Each sector is all old, all new, all zeros or garbage: atomic sectors are never mixed.
        const uniform = piece.every((b) => b === piece[0])
        if (piece[0] === 0x11 || piece[0] === 0x22) expect(uniform).toBe(true)
      }
      const kinds = new Set(sectors.map((p) => p[0]))
      if (kinds.has(0x11) && kinds.has(0x22)) sawMixed = true
    }
    expect(sawMixed).toBe(true)
  })

  it('an unsynced append may extend the file with zeros or garbage instead of its data', async () => {
    let sawExtendedWithoutData = false
    const record = new Uint8Array(1024).fill(0x77)
    for (let seed = 0; seed < 60; seed++) {
      const disk = new SimDisk({ seed })
      await writeFile(disk, 'log', text('HEAD'), { file: true, dir: true })
      const file = await disk.open('log', 'readWrite')
      await file.append(record)
      const after = disk.crash('weak').peek('log') ?? new Uint8Array(0)
      expect(after.slice(0, 4)).toEqual(text('HEAD'))
      if (after.length === 4 + record.length && !after.slice(4).every((b) => b === 0x77))
        sawExtendedWithoutData = true
    }
    expect(sawExtendedWithoutData).toBe(true)
  })

  it('prefixPerFile keeps an ordered prefix of each file’s writes', async () => {
    for (let seed = 0; seed < 30; seed++) {
      const disk = new SimDisk({ seed, sectorBytes: 4 })
      await writeFile(disk, 'log', new Uint8Array(0), { file: true, dir: true })
      const file = await disk.open('log', 'readWrite')
      for (let i = 0; i < 5; i++) await file.append(new Uint8Array(4).fill(i + 1))
      const after = disk.crash('prefixPerFile').peek('log') ?? new Uint8Array(0)
      // Records land in order: record i present (whole) implies every record before it is too.
      const present = Array.from({ length: 5 }, (_, i) =>
        after.slice(i * 4, i * 4 + 4).every((b) => b === i + 1),
      )
      const firstMissing = present.indexOf(false)
      if (firstMissing >= 0) expect(present.slice(firstMissing + 1).every((p) => !p)).toBe(true)
    }
  })
})

describe('sim disk: bit rot and injected errors', () => {
  it('bit rot on the medium is found by a reader that checks a hash', async () => {
    const disk = new SimDisk({ seed: 9 })
    const payload = text('the state of the world')
    const digest = createHash('sha256').update(payload).digest('hex')
    await writeFile(disk, 'obj', payload, { file: true, dir: true })
    disk.rot('obj', 3, 5)
    const file = await disk.open('obj', 'read')
    const read = await file.read(0, payload.length)
    expect(createHash('sha256').update(read).digest('hex')).not.toBe(digest)
    expect(disk.crash('clearCache').peek('obj')).toEqual(read)
  })

  it('a bitflip fault corrupts one read only', async () => {
    const disk = new SimDisk({ seed: 10 })
    await writeFile(disk, 'obj', text('abcdefgh'), { file: true, dir: true })
    disk.injectFault({ kind: 'bitflip', ops: ['read'], path: 'obj' })
    const file = await disk.open('obj', 'read')
    expect(await file.read(0, 8)).not.toEqual(text('abcdefgh'))
    expect(await file.read(0, 8)).toEqual(text('abcdefgh'))
  })

  it('EIO is one-shot by default and persistent with times: Infinity', async () => {
    const disk = new SimDisk({ seed: 11 })
    await writeFile(disk, 'f', text('x'), { file: true, dir: true })
    disk.injectFault({ kind: 'EIO', ops: ['open'], path: 'f' })
    await expectCairnError(disk.open('f', 'read'), 'IO')
    await (await disk.open('f', 'read')).close()
    disk.injectFault({ kind: 'EIO', ops: ['stat'], path: /^f$/, times: Number.POSITIVE_INFINITY })
    for (let i = 0; i < 3; i++) await expectCairnError(disk.stat('f'), 'IO')
  })

  it('a misdirected write reports success but lands elsewhere', async () => {
    const disk = new SimDisk({ seed: 12, sectorBytes: 16 })
    const file = await disk.open('f', 'create')
    disk.injectFault({ kind: 'misdirect', ops: ['write'] })
    await file.write(text('payload'), 0)
    const content = disk.peek('f') ?? new Uint8Array(0)
    expect(content.slice(0, 7)).not.toEqual(text('payload'))
    expect(Buffer.from(content).includes(Buffer.from('payload'))).toBe(true)
  })
})

describe('sim disk: trace, halts and determinism', () => {
  it('numbers every call, halts at a chosen index, and refuses every call after', async () => {
    const disk = new SimDisk({ seed: 13 })
    disk.haltAtIo(3)
    const file = await disk.open('f', 'create') // #1
    await file.write(text('a'), 0) // #2
    await expectCairnError(file.fdatasync(), 'IO') // #3: power lost as it starts
    expect(disk.halted).toBe(true)
    await expectCairnError(disk.stat('f'), 'IO')
    expect(disk.trace.map((line) => `${String(line.io)}:${line.op}:${line.error ?? 'ok'}`)).toEqual([
      '1:open:ok',
      '2:write:ok',
      '3:fdatasync:IO',
    ])
    expect(disk.formatTrace()).toContain(
      '#2 write f @0+1\n#3 fdatasync f power lost as this call started error=IO',
    )
    expect(disk.crash('clearCache').peek('f')).toBeUndefined()
  })

  it('the same seed gives the same crash state, another seed may not', async () => {
    const build = async (seed: number) => {
      const disk = new SimDisk({ seed })
      const file = await disk.open('f', 'create')
      for (let i = 0; i < 20; i++) await file.append(new Uint8Array(700).fill(i))
      return disk.crash('weak').fingerprint()
    }
    expect(await build(42)).toBe(await build(42))
    const others = new Set(await Promise.all([1, 2, 3, 4, 5].map(build)))
    expect(others.size).toBeGreaterThan(1)
  })
})
