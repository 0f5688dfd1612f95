/**
 * A BlobStore held in memory: a Map of keys to bytes. It stands for a shared object store in the
 * model-based tests of GC beside writers (test/shared/), where a scheduler wraps it, and it passes
 * the BlobStore conformance suite like every adapter. Every completed put is listed at once.
 */
import { CairnError } from '../../core/errors.js'
import { parseKey } from '../../core/paths.js'
import type { BlobInfo, BlobStore, BlobStoreProperties, ByteRange } from '../../core/ports.js'

export class MemoryBlobStore implements BlobStore {
  readonly properties: BlobStoreProperties = {
    name: 'memory',
    conditionalCreate: true,
    listAfterPut: true,
    concurrencyMax: 64,
  }
  readonly #objects = new Map<string, Uint8Array>()

  async put(key: string, data: Uint8Array, options: { readonly ifAbsent?: boolean } = {}): Promise<void> {
    await Promise.resolve()
    parseKey(key, 'blob.put')
    if (options.ifAbsent === true && this.#objects.has(key)) {
      throw new CairnError('ALREADY_EXISTS', 'the object exists', { op: 'blob.put', path: key })
    }
    this.#objects.set(key, data.slice())
  }

  async get(key: string, range?: ByteRange, into?: Uint8Array): Promise<Uint8Array> {
    await Promise.resolve()
    parseKey(key, 'blob.get')
    const data = this.#objects.get(key)
    if (data === undefined) throw new CairnError('NOT_FOUND', 'no such object', { op: 'blob.get', path: key })
    if (range === undefined) return data.slice()
    const { offset, length } = range
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > data.length
    ) {
      throw new CairnError(
        'OUT_OF_RANGE',
        `range ${String(offset)}+${String(length)} is outside the object of ${String(data.length)} bytes`,
        { op: 'blob.get', path: key, offset },
      )
    }
    if (into === undefined || into.length < length) return data.slice(offset, offset + length)
    into.set(data.subarray(offset, offset + length))
    return into.subarray(0, length)
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    await Promise.resolve()
    parseKey(key, 'blob.head')
    const data = this.#objects.get(key)
    return data === undefined ? undefined : { key, size: data.length }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    // A copy of the keys: the listing is what was there when it began, whatever happens meanwhile.
    const found = [...this.#objects].filter(([key]) => key.startsWith(prefix))
    for (const [key, data] of found) {
      await Promise.resolve()
      yield { key, size: data.length }
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    await Promise.resolve()
    for (const key of keys) parseKey(key, 'blob.delete')
    for (const key of keys) this.#objects.delete(key)
  }

  /** Every key, for tests. */
  keys(): string[] {
    return [...this.#objects.keys()].sort()
  }
}
