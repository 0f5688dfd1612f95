/** What the kill loop's worker tells its parent (kill-worker.ts, kill.test.ts), and the payloads it writes. */
import { createHash } from 'node:crypto'
import { createRng } from '../../src/adapters/sim/rng.js'

export type KillMessage =
  | { readonly kind: 'opened' }
  | { readonly kind: 'acked'; readonly lsns: readonly number[]; readonly payloads: readonly string[] }
  | {
      readonly kind: 'phase'
      readonly phase: 'checkpoint' | 'gc'
      readonly lsn: number
      readonly digests?: Record<string, string>
    }
  | {
      readonly kind: 'checkpoint'
      readonly id: string
      readonly lsn: number
      readonly digests: Record<string, string>
    }
  | { readonly kind: 'retained'; readonly dropped: readonly string[] }

export function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** A record's payload: its tag, then filler derived from it (the parent can tell one it issued). */
export function killPayload(tag: string): Uint8Array {
  const filler = createRng(tag.length * 7919 + tag.charCodeAt(tag.length - 1)).bytes(
    40 + (tag.length % 7) * 30,
  )
  const head = new TextEncoder().encode(`${tag}|`)
  const out = new Uint8Array(head.length + filler.length)
  out.set(head)
  out.set(filler, head.length)
  return out
}
