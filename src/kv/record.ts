/**
 * The key-value store's log records: every write is one record of the store's log, so a write is
 * atomic (a batch included) and ordered by its LSN.
 *
 * ```
 * put     0x01  varint keyBytes  key  value (the rest of the record)
 * delete  0x02  key (the rest of the record)
 * batch   0x03  varint count (>= 1), then count operations:
 *                 0x01 varint keyBytes key varint valueBytes value
 *                 0x02 varint keyBytes key
 * ```
 *
 * Varints are unsigned LEB128 (varint.ts). A put of a 16-byte key and a 100-byte value is 118
 * bytes; the log frames it (length, CRC: wal/format.ts). A record that does not decode exactly
 * (an unknown kind, a length past the end, bytes left over, a key or value over its bound) is
 * `CORRUPT_LOG` naming its LSN and the offset inside it: replay never skips one.
 */
import { CairnError } from '../core/errors.js'
import { kvBatchOpsMax, kvKeyBytesMax, kvValueBytesMax } from './limits.js'
import { encodeKeyCode } from './sorted-map.js'
import { ByteReader, varintBytes, writeVarint } from './varint.js'

const PUT = 0x01
const DELETE = 0x02
const BATCH = 0x03

/** One change to the map: `value` undefined deletes the key. */
export interface MapChange {
  /** The key as a key code (sorted-map.ts). */
  readonly code: string
  readonly value: Uint8Array | undefined
}

/** An operation to encode: the key's bytes, and a value for a put (none for a delete). */
export interface RecordOp {
  readonly key: Uint8Array
  readonly value?: Uint8Array | undefined
}

/**
 * One log record holding `ops` (a put or a delete alone, else a batch), and the changes it makes.
 * The changes' values are views into the record: the caller's arrays are copied once, here.
 */
export function encodeRecord(ops: readonly RecordOp[]): { record: Uint8Array; changes: MapChange[] } {
  const only = ops.length === 1 ? ops[0] : undefined
  if (only !== undefined)
    return only.value === undefined ? encodeDelete(only.key) : encodePut(only.key, only.value)
  let bytes = 1 + varintBytes(ops.length)
  for (const op of ops) {
    bytes += 1 + varintBytes(op.key.length) + op.key.length
    if (op.value !== undefined) bytes += varintBytes(op.value.length) + op.value.length
  }
  const record = new Uint8Array(bytes)
  record[0] = BATCH
  let at = writeVarint(record, 1, ops.length)
  const changes: MapChange[] = []
  for (const op of ops) {
    record[at++] = op.value === undefined ? DELETE : PUT
    at = writeVarint(record, at, op.key.length)
    record.set(op.key, at)
    at += op.key.length
    if (op.value === undefined) {
      changes.push({ code: encodeKeyCode(op.key), value: undefined })
      continue
    }
    at = writeVarint(record, at, op.value.length)
    record.set(op.value, at)
    changes.push({ code: encodeKeyCode(op.key), value: record.subarray(at, at + op.value.length) })
    at += op.value.length
  }
  return { record, changes }
}

function encodePut(key: Uint8Array, value: Uint8Array): { record: Uint8Array; changes: MapChange[] } {
  const head = 1 + varintBytes(key.length) + key.length
  const record = new Uint8Array(head + value.length)
  record[0] = PUT
  const at = writeVarint(record, 1, key.length)
  record.set(key, at)
  record.set(value, head)
  return { record, changes: [{ code: encodeKeyCode(key), value: record.subarray(head) }] }
}

function encodeDelete(key: Uint8Array): { record: Uint8Array; changes: MapChange[] } {
  const record = new Uint8Array(1 + key.length)
  record[0] = DELETE
  record.set(key, 1)
  return { record, changes: [{ code: encodeKeyCode(key), value: undefined }] }
}

/** The changes record `lsn` makes, in order; `CORRUPT_LOG` naming the LSN when it does not decode. */
export function decodeRecord(data: Uint8Array, lsn: number): MapChange[] {
  const reader = new ByteReader(data, 0, (why, offset) => {
    throw new CairnError('CORRUPT_LOG', `log record ${String(lsn)} is not a key-value record: it ${why}`, {
      op: 'kv.replay',
      lsn,
      offset,
      hint: 'the log holds a record no key-value store wrote; open it with openStore to inspect it',
    })
  })
  const kind = reader.byte('kind')
  switch (kind) {
    case PUT: {
      const key = reader.take(reader.varint('key length', kvKeyBytesMax), 'key')
      if (reader.remaining > kvValueBytesMax)
        reader.fail(`has a value above ${String(kvValueBytesMax)} bytes`)
      return [{ code: encodeKeyCode(key), value: reader.take(reader.remaining, 'value') }]
    }
    case DELETE: {
      if (reader.remaining > kvKeyBytesMax) reader.fail(`has a key above ${String(kvKeyBytesMax)} bytes`)
      return [{ code: encodeKeyCode(reader.take(reader.remaining, 'key')), value: undefined }]
    }
    case BATCH:
      return decodeBatch(reader)
    default:
      return reader.fail(`has kind 0x${kind.toString(16).padStart(2, '0')}, not put, delete or batch`, 0)
  }
}

function decodeBatch(reader: ByteReader): MapChange[] {
  const count = reader.varint('operation count', kvBatchOpsMax)
  if (count === 0) reader.fail('is a batch of no operations')
  const changes: MapChange[] = []
  for (let i = 0; i < count; i++) {
    const kind = reader.byte('operation kind')
    if (kind !== PUT && kind !== DELETE) {
      const why = `has an operation of kind 0x${kind.toString(16).padStart(2, '0')}, not put or delete`
      reader.fail(why, reader.offset - 1)
    }
    const code = encodeKeyCode(reader.take(reader.varint('key length', kvKeyBytesMax), 'key'))
    const value =
      kind === PUT ? reader.take(reader.varint('value length', kvValueBytesMax), 'value') : undefined
    changes.push({ code, value })
  }
  if (reader.remaining > 0) reader.fail(`has ${String(reader.remaining)} bytes after its last operation`)
  return changes
}
