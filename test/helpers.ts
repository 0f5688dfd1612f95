/** Small helpers shared by the tests. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import { CairnError } from '../src/core/errors.js'
import type { CairnErrorCode } from '../src/core/errors.js'
import type { SimDisk } from '../src/adapters/sim/sim-disk.js'
import { openStore } from '../src/store.js'
import type { Store, StoreOptions } from '../src/store.js'

const encoder = new TextEncoder()

/** UTF-8 bytes of a string. */
export function text(value: string): Uint8Array {
  return encoder.encode(value)
}

/** Awaits `promise`, asserts it rejected with a CairnError of `code`, and returns the error. */
export async function expectCairnError(promise: Promise<unknown>, code: CairnErrorCode): Promise<CairnError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(CairnError)
    expect((error as CairnError).code).toBe(code)
    return error as CairnError
  }
  throw new Error(`expected a CairnError ${code}, but the promise resolved`)
}

/** A fresh temporary directory and a function that removes it. */
export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-test-'))
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** Collects an async iterable into an array. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

/** True when two byte arrays hold the same bytes (fast: vitest's toEqual walks them element by element). */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.length === b.length && Buffer.compare(a, b) === 0
}

/** Asserts two byte arrays are equal, naming the first differing offset when they are not. */
export function expectBytes(
  actual: Uint8Array | undefined,
  expected: Uint8Array | undefined,
  label = 'bytes',
): void {
  if (sameBytes(actual, expected)) return
  if (actual === undefined || expected === undefined) {
    throw new Error(
      `${label}: expected ${expected === undefined ? 'nothing' : 'bytes'}, got ${actual === undefined ? 'nothing' : 'bytes'}`,
    )
  }
  let at = 0
  while (at < Math.min(actual.length, expected.length) && actual[at] === expected[at]) at += 1
  throw new Error(
    `${label}: ${String(actual.length)} bytes where ${String(expected.length)} were expected; first difference at offset ${String(at)}`,
  )
}

/**
 * A store on a simulated disk, sized for tests: no worker threads, 64 KiB packs, 4 KiB chunks on
 * average (override any of it).
 */
export function openSimStore(disk: SimDisk, options: Partial<StoreOptions> = {}): Promise<Store> {
  return openStore({
    dir: '',
    vfs: disk,
    workers: 0,
    packBytes: 64 * 1024,
    chunking: { minSize: 1024, avgSize: 4096, maxSize: 16_384 },
    ...options,
  })
}
