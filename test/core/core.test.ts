import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CAIRN_ERROR_CODES, CairnError, isCairnError } from '../../src/core/errors.js'
import { parseChunkId, parseCheckpointId, parseLsn, parsePackId, shortId } from '../../src/core/ids.js'
import { baseName, joinPath, parentOf, parseKey } from '../../src/core/paths.js'
import { AssertionError, assert } from '../../src/core/assert.js'
import { translateFsError } from '../../src/adapters/node/fs-errors.js'

const HEX = 'ab'.repeat(32)

describe('core: errors', () => {
  it('a CairnError carries its code and names the place in its message', () => {
    const error = new CairnError('CORRUPT_LOG', 'bad CRC', {
      op: 'wal.open',
      path: 'wal/1.seg',
      offset: 4096,
      lsn: 17,
    })
    expect(error.code).toBe('CORRUPT_LOG')
    expect(error.message).toBe('CORRUPT_LOG: bad CRC (op=wal.open path=wal/1.seg offset=4096 lsn=17)')
    expect(isCairnError(error)).toBe(true)
    expect(isCairnError(error, 'CORRUPT_LOG')).toBe(true)
    expect(isCairnError(error, 'IO')).toBe(false)
    expect(isCairnError(new Error('x'))).toBe(false)
  })

  it('codes are unique', () => {
    expect(new Set(CAIRN_ERROR_CODES).size).toBe(CAIRN_ERROR_CODES.length)
  })

  it('OS errors map to codes at the node boundary, keeping the cause', () => {
    const os = (code: string) => Object.assign(new Error(code), { code })
    expect(translateFsError(os('ENOENT'), 'vfs.open', 'a').code).toBe('NOT_FOUND')
    expect(translateFsError(os('ENOTDIR'), 'vfs.open', 'a').code).toBe('NOT_FOUND')
    expect(translateFsError(os('EEXIST'), 'vfs.open', 'a').code).toBe('ALREADY_EXISTS')
    const full = translateFsError(os('ENOSPC'), 'vfs.write', 'wal/1', 12)
    expect(full.code).toBe('DISK_FULL')
    expect(full.context).toMatchObject({ retryable: true, bytesWritten: 12, path: 'wal/1' })
    expect(translateFsError(os('EDQUOT'), 'vfs.write', 'a').code).toBe('DISK_FULL')
    const io = translateFsError(os('EIO'), 'vfs.fsync', 'a')
    expect(io.code).toBe('IO')
    expect(io.cause).toBeInstanceOf(Error)
  })

  it('assert throws AssertionError, not a CairnError', () => {
    expect(() => {
      assert(false, 'broken invariant')
    }).toThrow(AssertionError)
  })
})

describe('core: ids', () => {
  it('parse functions accept valid ids and refuse bad ones with INVALID_ID', () => {
    expect(parseChunkId(HEX)).toBe(HEX)
    expect(parsePackId(HEX)).toBe(HEX)
    expect(parseCheckpointId(HEX)).toBe(HEX)
    expect(shortId(parseChunkId(HEX))).toBe('abababab')
    for (const bad of ['', HEX.toUpperCase(), HEX.slice(1), `${HEX}0`, 'g'.repeat(64)]) {
      expect(() => parseChunkId(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }))
    }
    expect(parseLsn(0)).toBe(0)
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => parseLsn(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ID' }))
    }
  })
})

describe('core: paths', () => {
  it('joins and splits paths', () => {
    expect(parentOf('a/b/c')).toBe('a/b')
    expect(parentOf('c')).toBe('')
    expect(baseName('a/b/c')).toBe('c')
    expect(joinPath('', 'a', '', 'b')).toBe('a/b')
  })

  it('property: every key parseKey accepts stays inside the root', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (candidate) => {
        let accepted: string | undefined
        try {
          accepted = parseKey(candidate, 'test')
        } catch (error) {
          expect(isCairnError(error, 'INVALID_KEY')).toBe(true)
          return
        }
        const segments = accepted.split('/')
        expect(accepted.startsWith('/')).toBe(false)
        expect(segments.every((s) => s !== '' && s !== '.' && s !== '..')).toBe(true)
        expect(accepted.includes('\\')).toBe(false)
        expect(accepted.includes('\0')).toBe(false)
      }),
    )
  })
})
