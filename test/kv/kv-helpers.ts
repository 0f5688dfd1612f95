/** Helpers shared by the key-value store's tests. */
import type { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { openKv } from '../../src/kv/index.js'
import type { Kv, KvOptions } from '../../src/kv/index.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** UTF-8 bytes. */
export const bytes = (text: string): Uint8Array => encoder.encode(text)

/** UTF-8 text of bytes (undefined stays undefined). */
export function text(value: Uint8Array | undefined): string | undefined {
  return value === undefined ? undefined : decoder.decode(value)
}

/** Every entry of a scan, as [key, value] text pairs. */
export function scanText(entries: Iterable<readonly [Uint8Array, Uint8Array]>): [string, string][] {
  return Array.from(entries, ([key, value]) => [decoder.decode(key), decoder.decode(value)])
}

/** A byte array as hex (keys in messages and model maps). */
export const hex = (value: Uint8Array): string => Buffer.from(value).toString('hex')

/**
 * A key-value store on a simulated disk, sized for tests: no worker threads, small packs and
 * chunks, no timer; override any of it.
 */
export function openSimKv(disk: SimDisk, options: Partial<KvOptions> = {}): Promise<Kv> {
  return openKv({
    dir: '',
    vfs: disk,
    checkpointEvery: false,
    ...options,
    store: {
      workers: 0,
      packBytes: 64 * 1024,
      chunking: { minSize: 256, avgSize: 1024, maxSize: 4096 },
      ...options.store,
    },
  })
}
