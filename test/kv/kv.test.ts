/**
 * The key-value store's semantics, one behaviour a test: put/get/delete, key order, scans
 * (ranges, prefixes, reverse, limit), batches, when a write becomes visible, checkpoints and
 * reopening, and the typed errors. Most run on the simulated disk; one on the real one.
 */
import { describe, expect, it } from 'vitest'
import { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { isCairnError } from '../../src/core/errors.js'
import { kvKeyBytesMax, openKv } from '../../src/kv/index.js'
import { openStore } from '../../src/store.js'
import { expectCairnError, makeTempDir } from '../helpers.js'
import { bytes, openSimKv, scanText, text } from './kv-helpers.js'

describe('kv: put, get, delete', () => {
  it('kv: a put is read back; an overwrite replaces it; size counts keys', async () => {
    const kv = await openSimKv(new SimDisk())
    expect(kv.get('a')).toBeUndefined()
    const lsn = await kv.put('a', bytes('1'))
    expect(lsn).toBe(1)
    expect(text(kv.get('a'))).toBe('1')
    await kv.put('a', bytes('2'))
    await kv.put('b', bytes('3'))
    expect(text(kv.get('a'))).toBe('2')
    expect(kv.size).toBe(2)
    expect(kv.has('b')).toBe(true)
    expect(kv.lsn).toBe(3)
    await kv.close()
  })

  it('kv: delete removes a key; deleting a missing key is logged and changes nothing', async () => {
    const disk = new SimDisk()
    const kv = await openSimKv(disk)
    await kv.put('a', bytes('1'))
    expect(await kv.delete('a')).toBe(2)
    expect(kv.get('a')).toBeUndefined()
    expect(await kv.delete('never')).toBe(3)
    expect(kv.size).toBe(0)
    await kv.close()
    const again = await openSimKv(disk)
    expect(again.size).toBe(0)
    expect(again.lsn).toBe(3)
    await again.close()
  })

  it('kv: empty values and the empty key are stored and survive a reopen', async () => {
    const disk = new SimDisk()
    const kv = await openSimKv(disk)
    await kv.put('', bytes('empty key'))
    await kv.put('e', new Uint8Array(0))
    expect(kv.get('e')).toEqual(new Uint8Array(0))
    await kv.close()
    for (const checkpointOnClose of [false, true]) {
      const again = await openSimKv(disk, { checkpointOnClose })
      expect(text(again.get(''))).toBe('empty key')
      expect(again.get('e')).toEqual(new Uint8Array(0))
      expect(again.has('e')).toBe(true)
      await again.close()
    }
  })

  it('kv: get returns a copy, and put copies the value: changing either array changes nothing stored', async () => {
    const kv = await openSimKv(new SimDisk())
    const value = bytes('abc')
    const pending = kv.put('k', value)
    value[0] = 0x7a
    await pending
    const read = kv.get('k')
    read?.fill(0)
    expect(text(kv.get('k'))).toBe('abc')
    await kv.close()
  })

  it('kv: binary keys sort by unsigned bytes, shorter first; a string key is its UTF-8 bytes', async () => {
    const kv = await openSimKv(new SimDisk())
    const keys = [[0xff], [0x80], [0x7f], [0x00], [], [0x00, 0x00], [0x7f, 0xff], [0xc3, 0xa9]]
    for (const key of keys) await kv.put(new Uint8Array(key), new Uint8Array(key))
    const scanned = [...kv.scan()].map(([key]) => [...key])
    expect(scanned).toEqual([[], [0x00], [0x00, 0x00], [0x7f], [0x7f, 0xff], [0x80], [0xc3, 0xa9], [0xff]])
    expect(kv.get('é')).toEqual(new Uint8Array([0xc3, 0xa9]))
    await kv.close()
  })
})

describe('kv: scan', () => {
  const setup = async () => {
    const kv = await openSimKv(new SimDisk())
    await kv.putMany(['a', 'b', 'ba', 'bb', 'bc', 'c', 'd'].map((k) => [k, bytes(k.toUpperCase())]))
    return kv
  }

  it('kv: scan gives every entry in order; start is inclusive, end exclusive', async () => {
    const kv = await setup()
    expect(scanText(kv.scan()).map(([k]) => k)).toEqual(['a', 'b', 'ba', 'bb', 'bc', 'c', 'd'])
    expect(scanText(kv.scan()).at(2)).toEqual(['ba', 'BA'])
    expect(scanText(kv.scan({ start: 'b', end: 'c' })).map(([k]) => k)).toEqual(['b', 'ba', 'bb', 'bc'])
    expect(scanText(kv.scan({ start: 'bab', end: 'bc' })).map(([k]) => k)).toEqual(['bb'])
    expect(scanText(kv.scan({ start: 'c', end: 'b' }))).toEqual([])
    expect(scanText(kv.scan({ start: 'zz' }))).toEqual([])
    await kv.close()
  })

  it('kv: prefix, alone and with start and end; reverse; limit', async () => {
    const kv = await setup()
    const keys = (options: Parameters<typeof kv.scan>[0]) => scanText(kv.scan(options)).map(([k]) => k)
    expect(keys({ prefix: 'b' })).toEqual(['b', 'ba', 'bb', 'bc'])
    expect(keys({ prefix: 'b', start: 'bb' })).toEqual(['bb', 'bc'])
    expect(keys({ prefix: 'b', end: 'bb' })).toEqual(['b', 'ba'])
    expect(keys({ prefix: 'b', reverse: true })).toEqual(['bc', 'bb', 'ba', 'b'])
    expect(keys({ reverse: true, limit: 2 })).toEqual(['d', 'c'])
    expect(keys({ start: 'b', end: 'c', reverse: true, limit: 3 })).toEqual(['bc', 'bb', 'ba'])
    expect(keys({ limit: 0 })).toEqual([])
    expect(keys({ prefix: 'x' })).toEqual([])
    await kv.close()
  })

  it('kv: a prefix ending in 0xff bytes ends where the prefix does (and an all-0xff prefix runs to the end)', async () => {
    const kv = await openSimKv(new SimDisk())
    const keys = [[0x01, 0xff], [0x01, 0xff, 0x00], [0x01, 0xff, 0xff], [0x02], [0xff], [0xff, 0xff, 0x01]]
    for (const key of keys) await kv.put(new Uint8Array(key), new Uint8Array(0))
    const under = (prefix: number[]) =>
      [...kv.scan({ prefix: new Uint8Array(prefix) })].map(([key]) => [...key])
    expect(under([0x01, 0xff])).toEqual([
      [0x01, 0xff],
      [0x01, 0xff, 0x00],
      [0x01, 0xff, 0xff],
    ])
    expect(under([0xff])).toEqual([[0xff], [0xff, 0xff, 0x01]])
    expect(under([0xff, 0xff])).toEqual([[0xff, 0xff, 0x01]])
    await kv.close()
  })

  it('kv: writes applied while scanning: no key is given twice, none that was there throughout is skipped', async () => {
    const kv = await openSimKv(new SimDisk())
    const all = Array.from({ length: 3000 }, (_, i) => `k${String(i).padStart(5, '0')}`)
    await kv.putMany(all.map((k) => [k, bytes(k)]))
    const seen: string[] = []
    let i = 0
    for (const [key] of kv.scan()) {
      seen.push(text(key) ?? '')
      // Inserts before and after the cursor, and deletes of keys not yet reached (leaves split and merge).
      if (i % 100 === 0) {
        await kv.putMany([
          [`a${String(i)}`, bytes('x')],
          [`z${String(i)}`, bytes('x')],
        ])
        await kv.delete(`k${String(i + 2000).padStart(5, '0')}`)
      }
      i++
    }
    expect(new Set(seen).size).toBe(seen.length)
    const deleted = new Set(
      Array.from({ length: 30 }, (_, n) => `k${String(n * 100 + 2000).padStart(5, '0')}`),
    )
    for (const key of all) if (!deleted.has(key)) expect(seen).toContain(key)
    expect(seen.filter((k) => k.startsWith('z')).length).toBeGreaterThan(0)
    await kv.close()
  })
})

describe('kv: when a write is visible, and batches', () => {
  it('kv: a get made while a put is pending sees the old value; once the put resolves, the new one', async () => {
    const kv = await openSimKv(new SimDisk())
    await kv.put('k', bytes('old'))
    const pending = kv.put('k', bytes('new'))
    expect(text(kv.get('k'))).toBe('old')
    expect(kv.stats().writesPending).toBe(1)
    await pending
    expect(text(kv.get('k'))).toBe('new')
    await kv.close()
  })

  it('kv: concurrent writes share fdatasyncs and take effect in call order (the last call wins)', async () => {
    const disk = new SimDisk({ traceMax: 100_000 })
    const kv = await openSimKv(disk)
    const before = disk.ioCount
    const lsns = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        i % 5 === 4 ? kv.delete('same') : kv.put(i % 2 === 0 ? 'same' : `k${String(i)}`, bytes(String(i))),
      ),
    )
    expect(lsns).toEqual(Array.from({ length: 64 }, (_, i) => i + 1))
    const syncs = disk.trace.filter((line) => line.io > before && line.op === 'fdatasync').length
    expect(syncs).toBeLessThan(8)
    // The last write of 'same' is put #62 (#63 deletes only when i % 5 === 4).
    expect(text(kv.get('same'))).toBe('62')
    await kv.close()
  })

  it('kv: a batch applies its operations in order, atomically, as one log record', async () => {
    const disk = new SimDisk()
    const kv = await openSimKv(disk)
    await kv.put('gone', bytes('x'))
    const lsn = await kv.batch([
      { type: 'put', key: 'a', value: bytes('1') },
      { type: 'put', key: 'a', value: bytes('2') },
      { type: 'delete', key: 'gone' },
      { type: 'put', key: 'b', value: new Uint8Array(0) },
    ])
    expect(lsn).toBe(2)
    expect(await kv.batch([])).toBe(2)
    expect(scanText(kv.scan())).toEqual([
      ['a', '2'],
      ['b', ''],
    ])
    await kv.close()
    const again = await openSimKv(disk, { checkpointOnClose: false })
    expect(again.recovery.recordsReplayed).toBe(0) // the first close checkpointed
    expect(scanText(again.scan())).toEqual([
      ['a', '2'],
      ['b', ''],
    ])
    await again.close()
  })

  it('kv: a write the disk refuses (ENOSPC) rejects with DISK_FULL, never reaches the map, and later writes go on', async () => {
    const disk = new SimDisk()
    const kv = await openSimKv(disk)
    await kv.put('a', bytes('1'))
    disk.injectFault({ kind: 'ENOSPC', ops: ['write'], path: /^log\// })
    const refused = kv.put('a', bytes('refused'))
    await expectCairnError(refused, 'DISK_FULL')
    expect(text(kv.get('a'))).toBe('1')
    expect(await kv.put('b', bytes('2'))).toBe(2) // the refused write's LSN is handed out again
    await kv.close()
    const again = await openSimKv(disk, { checkpointOnClose: false })
    expect(scanText(again.scan())).toEqual([
      ['a', '1'],
      ['b', '2'],
    ])
    await again.close()
  })
})

describe('kv: a failed fsync', () => {
  it('kv: a write whose fsync failed is neither acknowledged nor applied; later writes are LOG_FAILED; reopening recovers what is durable', async () => {
    const disk = new SimDisk()
    const kv = await openSimKv(disk, { checkpointOnClose: false })
    await kv.put('a', bytes('1'))
    disk.injectFault({ kind: 'EIO', ops: ['fdatasync'], path: /^log\// })
    await expectCairnError(kv.put('a', bytes('lost')), 'LOG_FAILED')
    expect(text(kv.get('a'))).toBe('1')
    await expectCairnError(kv.put('b', bytes('2')), 'LOG_FAILED')
    await kv.close() // resolves: nothing left to write, the log just closes its file
    // Linux semantics: the failed batch's pages left the durable path; a crash loses them.
    const again = await openSimKv(disk.crash('clearCache'), { checkpointOnClose: false })
    expect(scanText(again.scan())).toEqual([['a', '1']])
    await again.close()
  })
})

describe('kv: checkpoints and reopening', () => {
  it('kv: checkpoints every N records; reopening replays only the records after the newest; retention keeps 2', async () => {
    const disk = new SimDisk()
    const committed: number[] = []
    const kv = await openSimKv(disk, {
      checkpointEvery: { records: 10 },
      retention: { keepLast: 2, gcEvery: 2 },
      onCheckpoint: (info) => committed.push(info.lsn),
    })
    for (let i = 0; i < 45; i++) await kv.put(`k${String(i % 7)}`, bytes(String(i)))
    await kv.checkpoint() // waits for a checkpoint in progress, then takes one at LSN 45
    expect(committed[0]).toBe(10) // captured as the 10th write was applied
    expect(committed.at(-1)).toBe(45)
    expect(await kv.checkpoint()).toBeUndefined() // nothing changed since
    await kv.put('after', bytes('x'))
    const expected = scanText(kv.scan())
    expect(kv.stats()).toMatchObject({ keys: 8, lsn: 46, checkpointLsn: 45, recordsSinceCheckpoint: 1 })
    await kv.close()
    const store = await openStore({ dir: '', vfs: disk, workers: 0 })
    const kept = await store.checkpoints()
    expect(kept.map((c) => c.lsn)).toEqual([45, 46]) // close checkpointed 46; retention dropped the rest
    expect(kept.every((c) => c.tags.includes('kv'))).toBe(true)
    await store.close()
    const again = await openSimKv(disk)
    expect(again.recovery).toMatchObject({ checkpointLsn: 46, recordsReplayed: 0, warnings: [] })
    expect(scanText(again.scan())).toEqual(expected)
    await again.close()
  })

  it('kv: checkpoints every M milliseconds when there are writes', async () => {
    const disk = new SimDisk()
    const kv = await openSimKv(disk, { checkpointEvery: { ms: 20 }, checkpointOnClose: false })
    await kv.put('a', bytes('1'))
    const until = Date.now() + 5000
    while (kv.stats().checkpoints === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
    expect(kv.stats()).toMatchObject({ checkpoints: 1, checkpointLsn: 1 })
    await new Promise((r) => setTimeout(r, 60))
    expect(kv.stats().checkpoints).toBe(1) // no write since: no checkpoint
    await kv.put('b', bytes('2'))
    await kv.close()
    const again = await openSimKv(disk)
    expect(again.recovery).toMatchObject({ checkpointLsn: 1, recordsReplayed: 1 })
    await again.close()
  })

  it('kv: on the real disk, data survives close and reopen, and a second open is LOCKED', async () => {
    const { dir, cleanup } = await makeTempDir()
    try {
      const kv = await openKv({ dir, store: { workers: 0 } })
      await Promise.all(Array.from({ length: 100 }, (_, i) => kv.put(`k${String(i)}`, bytes(String(i)))))
      await expectCairnError(openKv({ dir, store: { workers: 0 } }), 'LOCKED')
      await kv.close()
      const again = await openKv({ dir, store: { workers: 0 } })
      expect(again.size).toBe(100)
      expect(text(again.get('k42'))).toBe('42')
      await again.close()
    } finally {
      await cleanup()
    }
  })
})

describe('kv: errors', () => {
  it('kv: a log record that does not decode is CORRUPT_LOG naming its LSN; replay never skips it', async () => {
    const disk = new SimDisk()
    const kv = await openSimKv(disk, { checkpointOnClose: false })
    await kv.put('a', bytes('1'))
    await kv.close()
    const store = await openStore({ dir: '', vfs: disk, workers: 0 })
    await store.append(new Uint8Array([0x09, 1, 2]))
    await store.append(new Uint8Array([0x01, 5, 0x61])) // a put whose key runs past the end
    await store.close()
    const error = await expectCairnError(openSimKv(disk), 'CORRUPT_LOG')
    expect(error.context).toMatchObject({ op: 'kv.replay', lsn: 2, offset: 0 })
    expect(error.message).toContain('kind 0x09')
  })

  it('kv: a store whose newest checkpoint is not a key-value image is NOT_SUPPORTED', async () => {
    const disk = new SimDisk()
    const store = await openStore({ dir: '', vfs: disk, workers: 0 })
    await store.checkpoint({ lsn: 0, entries: { 'world.bin': bytes('x') } })
    await store.close()
    await expectCairnError(openSimKv(disk), 'NOT_SUPPORTED')
  })

  it('kv: limits are LIMIT_EXCEEDED, wrong types TypeError, bad options BAD_OPTION', async () => {
    const kv = await openSimKv(new SimDisk())
    await expectCairnError(kv.put(new Uint8Array(kvKeyBytesMax + 1), bytes('v')), 'LIMIT_EXCEEDED')
    await kv.put(new Uint8Array(kvKeyBytesMax), bytes('v')) // the bound itself is allowed
    await expect(kv.put(42 as unknown as string, bytes('v'))).rejects.toThrow(TypeError)
    await expect(kv.put('k', 'v' as unknown as Uint8Array)).rejects.toThrow(TypeError)
    expect(() => kv.get(null as unknown as string)).toThrow(TypeError)
    expect(() => kv.scan({ limit: -1 })).toThrow(/BAD_OPTION/)
    expect(() => kv.scan({ limit: 1.5 })).toThrow(/BAD_OPTION/)
    await kv.close()
    await expectCairnError(openSimKv(new SimDisk(), { checkpointEvery: {} }), 'BAD_OPTION')
    await expectCairnError(openSimKv(new SimDisk(), { checkpointEvery: { records: 0 } }), 'BAD_OPTION')
    await expectCairnError(openSimKv(new SimDisk(), { retention: { keepLast: 1.5 } }), 'BAD_OPTION')
  })

  it('kv: after close every call is CLOSED, and close is idempotent', async () => {
    const kv = await openSimKv(new SimDisk())
    const pending = kv.put('a', bytes('1'))
    const closed = kv.close()
    await expectCairnError(kv.put('b', bytes('2')), 'CLOSED')
    await pending // a write made before close settles first
    await closed
    await kv.close()
    await expectCairnError(kv.delete('a'), 'CLOSED')
    await expectCairnError(kv.batch([]), 'CLOSED')
    await expectCairnError(kv.checkpoint(), 'CLOSED')
    for (const call of [() => kv.get('a'), () => kv.has('a'), () => kv.scan()]) {
      try {
        call()
        expect.unreachable()
      } catch (error) {
        expect(isCairnError(error, 'CLOSED')).toBe(true)
      }
    }
  })
})
