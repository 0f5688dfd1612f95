/**
 * The options of `openSaves`, checked once when the saves open (`BAD_OPTION` for one out of range).
 */
import { CairnError } from '../core/errors.js'
import type { Vfs } from '../core/ports.js'
import { planRetention } from '../retention/plan.js'
import type { StoreOptions } from '../store.js'
import { parseAutosaveOptions } from './autosave.js'
import type { AutosaveOptions, CaptureWorld } from './autosave.js'
import { SAVE_HISTORY_DEFAULT } from './history.js'
import type { HistoryPolicy } from './history.js'

/** Pruned saves between automatic compactions, by default (compaction reads every kept save's manifest). */
export const COMPACT_EVERY_DEFAULT = 32

export interface SavesOptions {
  /** The directory of the saves (created if missing): a cairn store. */
  readonly dir: string
  /** Instead of `dir` on the real disk: any Vfs (the simulated disk, in tests). */
  readonly vfs?: Vfs
  /** Milliseconds since the epoch: save times and the history's buckets (default `Date.now`). */
  readonly clock?: () => number
  /**
   * Which saves each slot keeps, as a retention policy (retention/plan.ts), planned over that
   * slot's saves only; or a function giving each slot's. Default `SAVE_HISTORY_DEFAULT` (the last
   * 10, the newest of each of 24 hours, of each of 7 days). `{ keepLast: -1 }` keeps every save.
   */
  readonly history?: HistoryPolicy
  /** The time zone of the history's hours and days (default `'UTC'`). */
  readonly timeZone?: string
  /**
   * The cadence of `saves.autosave(capture)`; with `capture`, autosaving starts as the saves open.
   */
  readonly autosave?: AutosaveOptions & { readonly capture?: CaptureWorld }
  /** Compact (GC) after this many saves were pruned (default 32; 0: only when `compact()` is called). */
  readonly compactEvery?: number
  /**
   * Receives each failure that happens in the background (an autosave, pruning, compaction).
   * Without it, the next call on the saves throws the first such failure (and `close()` does).
   */
  readonly onError?: (error: Error) => void
  /** Options of the store underneath (chunking, compression, workers: default 0, …). */
  readonly store?: Partial<StoreOptions>
}

/** The options as the saves use them. */
export interface ParsedSavesOptions {
  readonly vfs: Vfs | undefined
  readonly clock: () => number
  readonly history: HistoryPolicy
  readonly timeZone: string
  readonly autosave: Required<AutosaveOptions> | undefined
  readonly compactEvery: number
  readonly onError: ((error: Error) => void) | undefined
}

/** Checks `options`: `BAD_OPTION` for one out of range. */
export function parseSavesOptions(options: SavesOptions): ParsedSavesOptions {
  const op = 'saves.open'
  const bad = (why: string): never => {
    throw new CairnError('BAD_OPTION', why, { op })
  }
  if (typeof options.dir !== 'string') bad('dir must be a string')
  if (options.store?.readOnly === true) bad('saves cannot open read-only: they prune as they save')
  const clock = options.clock ?? options.store?.clock ?? Date.now
  const timeZone = options.timeZone ?? 'UTC'
  try {
    new Intl.DateTimeFormat('en-US', { timeZone })
  } catch (error) {
    throw new CairnError('BAD_OPTION', `unknown time zone ${JSON.stringify(timeZone)}`, { op, cause: error })
  }
  const history = options.history ?? SAVE_HISTORY_DEFAULT
  // A policy the planner refuses (empty, a bad count) is refused now, not at the first save.
  if (typeof history !== 'function') planRetention([], history, { now: new Date(clock()), timeZone })
  const compactEvery = options.compactEvery ?? COMPACT_EVERY_DEFAULT
  if (!Number.isSafeInteger(compactEvery) || compactEvery < 0)
    bad(`compactEvery must be an integer >= 0, got ${String(compactEvery)}`)
  return {
    vfs: options.vfs ?? options.store?.vfs,
    clock,
    history,
    timeZone,
    autosave: options.autosave === undefined ? undefined : parseAutosaveOptions(options.autosave, op),
    compactEvery,
    onError: options.onError,
  }
}
