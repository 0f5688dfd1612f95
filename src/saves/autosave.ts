/**
 * Autosave: the world captured and saved to a slot on a cadence, until stopped (closing the saves
 * stops it). The next autosave is timed from the end of the one before, so a slow disk never
 * piles saves up. A failed autosave is never silent: it goes to the saves' `onError`, or (without
 * one) is thrown by the next call on the saves; autosaving goes on at its cadence.
 */
import { CairnError } from '../core/errors.js'
import { parseSlotName } from './errors.js'
import type { SaveInfo } from './slot-index.js'
import type { WorldInput } from './world.js'
import { OneAtATime } from '../core/one-at-a-time.js'

/** The slot autosaves go to by default. */
export const AUTOSAVE_SLOT_DEFAULT = 'autosave'

export interface AutosaveOptions {
  /** Milliseconds from the end of one autosave to the start of the next. */
  readonly everyMs: number
  /** The slot saved to (default `'autosave'`). */
  readonly slot?: string
}

/** Returns the world to save, taken when it is called (it may be async). */
export type CaptureWorld = () => WorldInput | Promise<WorldInput>

/** What an autosave needs of the saves. */
export interface AutosaveTarget {
  save(slot: string, world: WorldInput): Promise<SaveInfo>
  report(error: Error): void
}

/** Checks autosave options; `BAD_OPTION` (or `INVALID_KEY` for the slot) when they are wrong. */
export function parseAutosaveOptions(options: AutosaveOptions, op: string): Required<AutosaveOptions> {
  const { everyMs } = options
  if (typeof everyMs !== 'number' || !Number.isFinite(everyMs) || everyMs <= 0) {
    throw new CairnError('BAD_OPTION', `autosave everyMs must be a positive number, got ${String(everyMs)}`, {
      op,
    })
  }
  return { everyMs, slot: parseSlotName(options.slot ?? AUTOSAVE_SLOT_DEFAULT, op) }
}

export class Autosave {
  readonly slot: string
  readonly everyMs: number
  readonly #target: AutosaveTarget
  readonly #capture: CaptureWorld
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #slot = new OneAtATime()
  #stopped = false
  #lastSave: SaveInfo | undefined
  #saves = 0
  #failures = 0

  /** Use `saves.autosave(capture, options)`. Starts the cadence. */
  constructor(target: AutosaveTarget, capture: CaptureWorld, options: Required<AutosaveOptions>) {
    this.#target = target
    this.#capture = capture
    this.slot = options.slot
    this.everyMs = options.everyMs
    this.#schedule()
  }

  /** The newest autosave that succeeded. */
  get lastSave(): SaveInfo | undefined {
    return this.#lastSave
  }

  /** How many autosaves succeeded, and how many failed (each failure was reported). */
  get counts(): { readonly saves: number; readonly failures: number } {
    return { saves: this.#saves, failures: this.#failures }
  }

  get stopped(): boolean {
    return this.#stopped
  }

  /**
   * Autosaves now, after one in progress (a level change, a checkpoint in the story). Resolves
   * with the save once durable; a failure rejects here (and is not reported again).
   */
  async saveNow(): Promise<SaveInfo> {
    if (this.#stopped) throw new CairnError('CLOSED', 'the autosave is stopped', { op: 'saves.autosave' })
    await this.#slot.idle()
    return this.#slot.track(this.#once())
  }

  /** Stops the cadence and waits for an autosave in progress. */
  async stop(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#slot.idle()
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#tick()
    }, this.everyMs)
    // An autosave does not keep the process alive: the game does, while it runs.
    this.#timer.unref()
  }

  #tick(): void {
    if (this.#stopped) return
    const current = this.#slot.current
    if (current !== undefined) {
      // A saveNow() runs: time the next one from its end.
      void current.finally(() => {
        this.#schedule()
      })
      return
    }
    const run = this.#once().catch((error: unknown) => {
      this.#target.report(error instanceof Error ? error : new Error(String(error)))
    })
    void this.#slot.track(run).finally(() => {
      this.#schedule()
    })
  }

  async #once(): Promise<SaveInfo> {
    try {
      const world = await this.#capture()
      const info = await this.#target.save(this.slot, world)
      this.#lastSave = info
      this.#saves++
      return info
    } catch (error) {
      this.#failures++
      throw error
    }
  }
}
