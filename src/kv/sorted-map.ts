/**
 * The key-value store's in-memory ordered map: a sorted list of sorted leaves (the layout of
 * Python's sortedcontainers), keyed by *key codes*.
 *
 * A key code is a key's bytes as a latin1 string: byte b becomes the UTF-16 code unit b, so
 * JavaScript's native string comparison (`<`, by code unit) is exactly the byte order of the keys,
 * and comparing two keys costs no call into native code. `encodeKeyCode`/`decodeKeyCode` convert.
 *
 * Leaves hold at most `LEAF_KEYS_MAX` keys; a full leaf splits in two, an emptied one is removed
 * and a small one merges into its neighbour when they fit in one. Finding a key is a binary search
 * over the leaves' last keys, then one inside the leaf; an insert moves at most a leaf's worth of
 * references (a sorted array would move up to the whole map's: bench/kv.bench.ts measures puts
 * into 100,000 keys). Nothing here does I/O.
 */
import { assert } from '../core/assert.js'

/** A leaf splits when it would pass this many keys (512: measured no slower than 256 or 1,024 here). */
export const LEAF_KEYS_MAX = 512

/** Below this many keys a leaf merges into its next neighbour if both fit in one leaf. */
const LEAF_KEYS_MIN = LEAF_KEYS_MAX / 4

/** Keys up to this long are converted by `String.fromCharCode` (an argument per byte). */
const SHORT_KEY_BYTES = 256

/** A key's bytes as a key code (see the file header). */
export function encodeKeyCode(key: Uint8Array): string {
  // For short keys fromCharCode is ~2.5x faster than a Buffer round trip (~320 vs ~820 ns for 16
  // bytes, measured here); long ones go through Buffer, which has no argument-count limit.
  if (key.length <= SHORT_KEY_BYTES) return String.fromCharCode.apply(null, key as unknown as number[])
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')
}

/** A key code's bytes (a fresh array). */
export function decodeKeyCode(code: string): Uint8Array {
  const bytes = Buffer.from(code, 'latin1')
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The smallest key code greater than every code starting with `prefix`; undefined if none (all 0xff). */
export function prefixEndCode(prefix: string): string | undefined {
  let end = prefix.length
  while (end > 0 && prefix.charCodeAt(end - 1) === 0xff) end--
  if (end === 0) return undefined
  return prefix.slice(0, end - 1) + String.fromCharCode(prefix.charCodeAt(end - 1) + 1)
}

/** A range of key codes: `start` inclusive, `end` exclusive (either may be open). */
export interface CodeRange {
  readonly start?: string | undefined
  readonly end?: string | undefined
  readonly reverse?: boolean
}

/** A place in the map: a leaf, and an index inside it. */
interface Position {
  readonly leaf: number
  readonly at: number
}

interface Leaf<V> {
  keys: string[]
  values: V[]
}

/** A point-in-time copy of the map's layout: its leaves' arrays, shallow-copied. */
export interface MapImage<V> {
  readonly size: number
  readonly leaves: readonly { readonly keys: readonly string[]; readonly values: readonly V[] }[]
}

/** Index of the first element of sorted `keys` that is >= `key` (keys.length when none). */
function lowerBound(keys: readonly string[], key: string): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((keys[mid] as string) < key) low = mid + 1
    else high = mid
  }
  return low
}

/** Index of the first element of sorted `keys` that is > `key`. */
function upperBound(keys: readonly string[], key: string): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if ((keys[mid] as string) <= key) low = mid + 1
    else high = mid
  }
  return low
}

/** An ordered map from key codes to values. */
export class SortedMap<V> {
  /** Never empty: an empty map has one empty leaf. Only the last leaf may be empty, and only then. */
  #leaves: Leaf<V>[] = [{ keys: [], values: [] }]
  #size = 0
  /** Bumped on every insert and removal (not on an overwrite): iterators re-seek when it moved. */
  #version = 0

  /** Builds a map from keys already in strictly ascending order (a checkpoint's image). */
  static fromSorted<V>(keys: readonly string[], values: readonly V[]): SortedMap<V> {
    assert(keys.length === values.length, 'as many values as keys')
    const map = new SortedMap<V>()
    if (keys.length === 0) return map
    const step = LEAF_KEYS_MAX / 2
    map.#leaves = []
    for (let at = 0; at < keys.length; at += step) {
      map.#leaves.push({ keys: keys.slice(at, at + step), values: values.slice(at, at + step) })
    }
    map.#size = keys.length
    return map
  }

  get size(): number {
    return this.#size
  }

  get(code: string): V | undefined {
    const leaf = this.#leaves[this.#leafFor(code)] as Leaf<V>
    const at = lowerBound(leaf.keys, code)
    return leaf.keys[at] === code ? leaf.values[at] : undefined
  }

  has(code: string): boolean {
    const leaf = this.#leaves[this.#leafFor(code)] as Leaf<V>
    return leaf.keys[lowerBound(leaf.keys, code)] === code
  }

  /** Sets `code` to `value`; true when the key is new. */
  set(code: string, value: V): boolean {
    const index = this.#leafFor(code)
    const leaf = this.#leaves[index] as Leaf<V>
    const at = lowerBound(leaf.keys, code)
    if (leaf.keys[at] === code) {
      leaf.values[at] = value
      return false
    }
    leaf.keys.splice(at, 0, code)
    leaf.values.splice(at, 0, value)
    this.#size++
    this.#version++
    if (leaf.keys.length > LEAF_KEYS_MAX) {
      const half = leaf.keys.length >>> 1
      const right: Leaf<V> = { keys: leaf.keys.splice(half), values: leaf.values.splice(half) }
      this.#leaves.splice(index + 1, 0, right)
    }
    return true
  }

  /** Removes `code`; true when it was there. */
  delete(code: string): boolean {
    const index = this.#leafFor(code)
    const leaf = this.#leaves[index] as Leaf<V>
    const at = lowerBound(leaf.keys, code)
    if (leaf.keys[at] !== code) return false
    leaf.keys.splice(at, 1)
    leaf.values.splice(at, 1)
    this.#size--
    this.#version++
    if (leaf.keys.length === 0) {
      if (this.#leaves.length > 1) this.#leaves.splice(index, 1)
    } else if (leaf.keys.length < LEAF_KEYS_MIN) {
      const next = this.#leaves[index + 1]
      if (next !== undefined && leaf.keys.length + next.keys.length <= LEAF_KEYS_MAX) {
        leaf.keys.push(...next.keys)
        leaf.values.push(...next.values)
        this.#leaves.splice(index + 1, 1)
      }
    }
    return true
  }

  /**
   * The entries in `range`, in key order (or reversed). Changes made while iterating are safe:
   * after one, the iterator seeks again just past the last key it gave, so it never gives a key
   * twice nor skips one that was there throughout; keys added or removed meanwhile may or may not
   * be seen, and a value overwritten meanwhile is seen as it is when its key is reached.
   */
  *entries(range: CodeRange = {}): Generator<[string, V], undefined, undefined> {
    const { start, end } = range
    if (start !== undefined && end !== undefined && start >= end) return
    const reverse = range.reverse === true
    let { leaf, at } = reverse ? this.#seekBefore(end) : this.#seekFrom(start)
    let version = this.#version
    let last: string | undefined
    for (;;) {
      if (version !== this.#version && last !== undefined) {
        version = this.#version
        ;({ leaf, at } = reverse ? this.#seekBefore(last) : this.#seekAfter(last))
      }
      const keys = this.#leaves[leaf]?.keys
      if (keys === undefined) return
      if (reverse && at < 0) {
        // Before this leaf's first key: on to the end of the previous leaf.
        if (leaf === 0) return
        leaf--
        at = (this.#leaves[leaf] as Leaf<V>).keys.length - 1
        continue
      }
      if (!reverse && at >= keys.length) {
        leaf++
        at = 0
        continue
      }
      const key = keys[at] as string
      if (reverse ? start !== undefined && key < start : end !== undefined && key >= end) return
      const value = (this.#leaves[leaf] as Leaf<V>).values[at] as V
      at += reverse ? -1 : 1
      last = key
      yield [key, value]
    }
  }

  /** The layout as it is now, copied shallowly (O(keys) references): later changes do not reach it. */
  image(): MapImage<V> {
    return {
      size: this.#size,
      leaves: this.#leaves.map((leaf) => ({ keys: leaf.keys.slice(), values: leaf.values.slice() })),
    }
  }

  /** Checks the invariants (tests): leaves sorted, joined in order, sizes within bounds. */
  check(): void {
    let count = 0
    let previous: string | undefined
    for (const leaf of this.#leaves) {
      assert(leaf.keys.length === leaf.values.length, 'a leaf holds as many values as keys')
      assert(leaf.keys.length <= LEAF_KEYS_MAX, 'a leaf holds at most LEAF_KEYS_MAX keys')
      assert(leaf.keys.length > 0 || this.#leaves.length === 1, 'only a lone leaf may be empty')
      for (const key of leaf.keys) {
        assert(previous === undefined || previous < key, 'keys strictly ascending across leaves')
        previous = key
        count++
      }
    }
    assert(count === this.#size, 'size counts every key')
  }

  /** The leaf where `code` is or would go: the first whose last key is >= code, else the last. */
  #leafFor(code: string): number {
    const leaves = this.#leaves
    let low = 0
    let high = leaves.length - 1
    while (low < high) {
      const mid = (low + high) >>> 1
      const keys = (leaves[mid] as Leaf<V>).keys
      if ((keys[keys.length - 1] as string) < code) low = mid + 1
      else high = mid
    }
    return low
  }

  /** The position of the first key >= `code` (the first key when undefined). */
  #seekFrom(code: string | undefined): Position {
    if (code === undefined) return { leaf: 0, at: 0 }
    const leaf = this.#leafFor(code)
    return { leaf, at: lowerBound((this.#leaves[leaf] as Leaf<V>).keys, code) }
  }

  /** The position of the first key > `code`. */
  #seekAfter(code: string): Position {
    const leaf = this.#leafFor(code)
    return { leaf, at: upperBound((this.#leaves[leaf] as Leaf<V>).keys, code) }
  }

  /** The position of the last key < `code` (the last key when undefined); `at` may be -1. */
  #seekBefore(code: string | undefined): Position {
    if (code === undefined) {
      const leaf = this.#leaves.length - 1
      return { leaf, at: (this.#leaves[leaf] as Leaf<V>).keys.length - 1 }
    }
    const leaf = this.#leafFor(code)
    return { leaf, at: lowerBound((this.#leaves[leaf] as Leaf<V>).keys, code) - 1 }
  }
}
