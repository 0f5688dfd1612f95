/**
 * What the key-value store accepts as keys and values, checked where they enter.
 *
 * A key is a `Uint8Array` of 0 to kvKeyBytesMax bytes, or a string, which stands for its UTF-8
 * bytes (`'é'` and `new Uint8Array([0xc3, 0xa9])` are the same key; keys come back from `scan` as
 * bytes). Keys sort by their bytes, unsigned, shorter first on a tie (memcmp order, as LMDB and
 * LevelDB). A value is a `Uint8Array` of 0 to kvValueBytesMax bytes. A wrong type is a programmer
 * error (`TypeError`); a size over its bound is `LIMIT_EXCEEDED` naming the operation.
 */
import { CairnError } from '../core/errors.js'
import { kvKeyBytesMax, kvValueBytesMax } from './limits.js'

/** A key: bytes, or a string standing for its UTF-8 bytes. */
export type KvKey = Uint8Array | string

const encoder = new TextEncoder()

/** The bytes of `key`, checked. */
export function keyBytesOf(key: KvKey, op: string): Uint8Array {
  let bytes: Uint8Array
  if (typeof key === 'string') bytes = encoder.encode(key)
  else if (key instanceof Uint8Array) bytes = key
  else throw new TypeError(`${op}: a key is a Uint8Array or a string, not ${describe(key)}`)
  if (bytes.length > kvKeyBytesMax) {
    throw new CairnError(
      'LIMIT_EXCEEDED',
      `a key of ${String(bytes.length)} bytes is longer than ${String(kvKeyBytesMax)}`,
      { op },
    )
  }
  return bytes
}

/** `value`, checked. */
export function valueBytesOf(value: Uint8Array, op: string): Uint8Array {
  if (!((value as unknown) instanceof Uint8Array)) {
    throw new TypeError(`${op}: a value is a Uint8Array, not ${describe(value)}`)
  }
  if (value.length > kvValueBytesMax) {
    throw new CairnError(
      'LIMIT_EXCEEDED',
      `a value of ${String(value.length)} bytes is larger than ${String(kvValueBytesMax)}`,
      { op },
    )
  }
  return value
}

function describe(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
}
