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
}[] = []
