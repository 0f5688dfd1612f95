/**
 * A world: the state a game saves in a slot, in one of two forms, and how each round-trips.
 *
 * - **Bytes** (a `Uint8Array`, a `Buffer` included): stored as they are, copied when `save` is
 *   called (the caller may go on changing its buffer); `load` gives a plain `Uint8Array` of the
 *   same bytes. Entry `world.bin` in the checkpoint.
 * - **A JSON value**: stored as the UTF-8 of `JSON.stringify`, taken when `save` is called; `load`
 *   gives `JSON.parse` of it. Plain objects, arrays, strings, finite numbers, booleans and `null`
 *   come back equal; an object with `toJSON` (a `Date`) is saved as what `toJSON` returns (a
 *   string); an `undefined` property is left out and an `undefined` array item becomes `null`, as
 *   in JSON. What JSON would change without a trace is refused with `BAD_OPTION` rather than
 *   saved changed: a Map, Set, typed array or ArrayBuffer inside the value, a RegExp, an Error, a
 *   function, a symbol, a BigInt, NaN or ±Infinity, a cycle. Entry `world.json`.
 *
 * The form is recorded with the save, so `load` returns what was saved, never a guess.
 */
import { CairnError } from '../core/errors.js'
import type { JsonValue } from '../snapshot/manifest.js'
import { slotError } from './errors.js'

/** What `load` returns: the bytes, or the JSON value, that were saved. */
export type World = Uint8Array | JsonValue

/**
 * What `save` accepts: bytes, or a value JSON represents. `object` is here so that values typed
 * by an interface (which TypeScript does not see as JSON) are accepted; they are checked when saved.
 */
export type WorldInput = Uint8Array | JsonValue | object

/** How a world is stored. */
export type WorldFormat = 'bytes' | 'json'

export const WORLD_FORMATS: readonly WorldFormat[] = ['bytes', 'json']

/** The entry that holds a world of each form. */
export const WORLD_ENTRY: Readonly<Record<WorldFormat, string>> = {
  bytes: 'world.bin',
  json: 'world.json',
}

export interface EncodedWorld {
  readonly format: WorldFormat
  readonly bytes: Uint8Array
}

/** Objects JSON.stringify turns into `{}` or a lossy string without a trace. */
const REFUSED: readonly (abstract new (...args: never[]) => unknown)[] = [
  Map,
  Set,
  WeakMap,
  WeakSet,
  ArrayBuffer,
  SharedArrayBuffer,
  RegExp,
  Error,
  Promise,
]

/** The world as stored, taken now: bytes copied, a JSON value serialized. */
export function encodeWorld(world: WorldInput, slot: string, op: string): EncodedWorld {
  // A copy, as a plain Uint8Array (a Buffer's slice() would share its memory).
  if (world instanceof Uint8Array) return { format: 'bytes', bytes: new Uint8Array(world) }
  if (ArrayBuffer.isView(world)) {
    throw slotError('BAD_OPTION', slot, `a ${world.constructor.name} is not a world`, {
      op,
      hint: 'pass its bytes as a Uint8Array (new Uint8Array(view.buffer, view.byteOffset, view.byteLength))',
    })
  }
  return { format: 'json', bytes: new TextEncoder().encode(encodeJsonText(world, slot, op, 'the world')) }
}

/** JSON.stringify as it is: undefined for undefined itself (its declared type says string). */
const stringify: (value: unknown, replacer: (key: string, item: unknown) => unknown) => string | undefined =
  JSON.stringify

/** The JSON text of `value`, refusing (`BAD_OPTION` naming the slot) what JSON would change without a trace. */
export function encodeJsonText(value: unknown, slot: string, op: string, what: string): string {
  const refuse = (where: string, why: string): never => {
    throw slotError('BAD_OPTION', slot, `${what} is not JSON: ${where} ${why}`, {
      op,
      hint: 'save bytes (a Uint8Array), or convert the value to plain objects, arrays, strings, finite numbers, booleans and null',
    })
  }
  if (value instanceof Uint8Array) refuse('the value', 'is a Uint8Array')
  let text: string | undefined
  try {
    text = stringify(value, (key: string, item: unknown): unknown => {
      const where = key === '' ? 'the value' : `key ${JSON.stringify(key)}`
      switch (typeof item) {
        case 'function':
        case 'symbol':
        case 'bigint':
          return refuse(where, `is a ${typeof item}`)
        case 'number':
          return Number.isFinite(item) ? item : refuse(where, `is ${String(item)}`)
        case 'object':
          if (item === null || Array.isArray(item)) return item
          if (ArrayBuffer.isView(item)) return refuse(where, `is a ${item.constructor.name}`)
          for (const kind of REFUSED) if (item instanceof kind) return refuse(where, `is a ${kind.name}`)
          return item
        case 'string':
        case 'boolean':
        case 'undefined':
          return item
      }
    })
  } catch (error) {
    if (error instanceof CairnError) throw error
    // JSON.stringify's own refusal: a cycle.
    throw slotError('BAD_OPTION', slot, `${what} is not JSON: ${String(error)}`, { op, cause: error })
  }
  if (text === undefined) return refuse('the value', 'is undefined')
  return text
}

/** The world a save holds, from its stored bytes; bytes that do not decode are `CORRUPT_OBJECT`. */
export function decodeWorld(format: WorldFormat, bytes: Uint8Array, slot: string, op: string): World {
  if (format === 'bytes') return bytes
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as JsonValue
  } catch (error) {
    throw slotError('CORRUPT_OBJECT', slot, 'the saved JSON does not parse', { op, cause: error })
  }
}
