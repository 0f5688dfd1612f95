/** Small helpers shared by the tests. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'vitest'
import { CairnError } from '../src/core/errors.js'
import type { CairnErrorCode } from '../src/core/errors.js'

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
