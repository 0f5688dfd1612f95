/**
 * Step lists the model-based proof once failed on, kept to run first every time (crash.test.ts).
 * When fast-check reports a failure, paste its seed and shrunk steps here with a line on what
 * broke and the commit that fixed it.
 */
import type { CrashModel } from '../../src/adapters/sim/crash.js'
import type { Op } from './world.js'

/** An operation, or a crash: now (`inIo` 0) or that many I/Os into the next operations. */
export type Step = Op | { readonly kind: 'crash'; readonly model: CrashModel; readonly inIo: number }

export const REGRESSIONS: readonly {
  readonly why: string
  readonly seed: number
  readonly steps: readonly Step[]
}[] = [
  {
    why:
      'long run, 2026-11-22: a bit flipped in a sealed segment holding only records the checkpoint covers ' +
      '(sealed after the checkpoint, so not truncated yet) went unreported; nothing needs those records, ' +
      'so the oracle was too strict (it now asks for CORRUPT_LOG only when the segment holds later records)',
    seed: 0,
    steps: [
      { kind: 'append', sizes: [45, 834] },
      { kind: 'append', sizes: [406, 678] },
      { kind: 'full', entries: { 'a.bin': 0 } },
      { kind: 'append', sizes: [495, 821, 645] },
      { kind: 'rotLog', pick: 0, at: 0 },
    ],
  },
  {
    why:
      'long run, 2026-11-22: a bit flipped in the reserved bytes of a pack trailer went unseen by ' +
      'verify; readers now refuse non-zero reserved bytes in every object header',
    seed: 6204,
    steps: [
      { kind: 'full', entries: { 'b.bin': 444, 'a.bin': 280, 'dir/c.bin': 165 } },
      { kind: 'rotPack', pick: 0, at: 1716440642 },
      { kind: 'rotLog', pick: 0, at: 0 },
    ],
  },
]
