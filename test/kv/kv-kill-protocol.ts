/**
 * What the key-value kill loop's worker (kv-kill-worker.ts) writes, and what it tells the parent
 * (kv-kill.test.ts). Writes are a deterministic function of (iteration, index), so the parent
 * knows every write the worker may have issued without being told, and can tell a value the
 * worker wrote from anything else.
 */
import { createRng } from '../../src/adapters/sim/rng.js'

/** How many distinct keys the writes touch. */
export const KILL_KEYS = 1500

export type KvKillMessage =
  | { readonly kind: 'opened'; readonly lsn: number }
  /** Every write with index <= upTo has resolved (acknowledged durable). */
  | { readonly kind: 'acked'; readonly upTo: number }
  | { readonly kind: 'checkpoint'; readonly lsn: number }

/** One change: a put (value) or a delete (undefined). */
export type KillChange = readonly [key: string, value: Uint8Array | undefined]

/** Write `index` of worker `iteration`: one change, or every 40th a batch of three. */
export function killWrite(iteration: number, index: number): KillChange[] {
  const rng = createRng(iteration * 1_000_003 + index * 7919 + 17)
  const count = index % 40 === 39 ? 3 : 1
  return Array.from({ length: count }, (_, i) => {
    const key = `key${String(rng.int(KILL_KEYS)).padStart(5, '0')}`
    if (rng.chance(0.15)) return [key, undefined]
    const head = new TextEncoder().encode(`i${String(iteration)}-w${String(index)}-${String(i)}|`)
    const value = new Uint8Array(head.length + 20 + rng.int(800))
    value.set(head)
    value.set(rng.bytes(value.length - head.length), head.length)
    return [key, value]
  })
}
