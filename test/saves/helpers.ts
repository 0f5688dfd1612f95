/** Helpers of the save-game tests: saves on the simulated disk, sized for tests, and a virtual clock. */
import type { SimDisk } from '../../src/adapters/sim/sim-disk.js'
import { openSaves } from '../../src/saves/index.js'
import type { SaveGames, SavesOptions } from '../../src/saves/index.js'

/** 2026-03-02T10:00:00Z, a Monday: the virtual clock's start. */
export const T0 = Date.UTC(2026, 2, 2, 10, 0, 0)
export const MINUTE = 60_000
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR

/** A clock the test moves: `clock.now` is what the saves read. */
export function virtualClock(start = T0): { now: number; readonly read: () => number } {
  const clock = {
    now: start,
    read: () => clock.now,
  }
  return clock
}

/** Saves on a simulated disk: no worker threads, 64 KiB packs, 4 KiB chunks on average. */
export function openSimSaves(disk: SimDisk, options: Partial<SavesOptions> = {}): Promise<SaveGames> {
  return openSaves({
    dir: '',
    vfs: disk,
    ...options,
    store: {
      packBytes: 64 * 1024,
      chunking: { minSize: 1024, avgSize: 4096, maxSize: 16_384 },
      ...options.store,
    },
  })
}
