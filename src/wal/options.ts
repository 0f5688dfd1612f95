/**
 * The log's options: their types, their defaults, and their validation (`BAD_OPTION`).
 */
import { CairnError } from '../core/errors.js'
import type { Vfs } from '../core/ports.js'
import { walSegmentBytesDefault, walSegmentBytesMin, walSyncIntervalMsDefault } from '../core/limits.js'
import { RECOVERY_MODES } from './recovery.js'
import type { RecoveryMode } from './recovery.js'

export const SYNC_MODES = ['always', 'batch', 'none'] as const
export type SyncMode = (typeof SYNC_MODES)[number]

export interface WalOptions {
  readonly vfs: Vfs
  /** The log's directory inside the Vfs. Default `'wal'`. */
  readonly dir?: string
  /** Default `'always'`. */
  readonly sync?: SyncMode
  /** A segment is sealed once the next frame would take it past this size. Default 64 MiB. */
  readonly segmentBytes?: number
  /** `'batch'` mode: how long written records may wait for an fdatasync. Default 50 ms. */
  readonly syncIntervalMs?: number
  /** How to treat damage found on open. Default `'tolerateTornTail'`. */
  readonly recovery?: RecoveryMode
  /** The LSN of the first record of a new, empty log. Default 1. */
  readonly firstLsn?: number
  /**
   * Called (not awaited) each time a segment is sealed: durable whole, its successor created.
   * Log shipping uses it to upload sealed segments as they seal.
   */
  readonly onSealed?: (segmentName: string) => void
}

/** The options once checked, with their defaults filled in. */
export interface WalConfig {
  readonly vfs: Vfs
  readonly dir: string
  readonly sync: SyncMode
  readonly mode: RecoveryMode
  readonly segmentBytes: number
  readonly syncIntervalMs: number
  readonly onSealed: ((segmentName: string) => void) | undefined
}

function badOption(message: string): CairnError {
  return new CairnError('BAD_OPTION', message, { op: 'wal.open' })
}

/** Checks the options and fills in the defaults; `BAD_OPTION` names the first bad one. */
export function parseWalOptions(options: WalOptions): { config: WalConfig; firstLsn: number } {
  const sync = options.sync ?? 'always'
  const mode = options.recovery ?? 'tolerateTornTail'
  const segmentBytes = options.segmentBytes ?? walSegmentBytesDefault
  const syncIntervalMs = options.syncIntervalMs ?? walSyncIntervalMsDefault
  const firstLsn = options.firstLsn ?? 1
  if (!SYNC_MODES.includes(sync)) throw badOption(`sync must be one of ${SYNC_MODES.join(', ')}`)
  if (!RECOVERY_MODES.includes(mode)) throw badOption(`recovery must be one of ${RECOVERY_MODES.join(', ')}`)
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < walSegmentBytesMin) {
    throw badOption(`segmentBytes must be an integer >= ${String(walSegmentBytesMin)}`)
  }
  if (!Number.isFinite(syncIntervalMs) || syncIntervalMs < 0) throw badOption('syncIntervalMs must be >= 0')
  if (!Number.isSafeInteger(firstLsn) || firstLsn < 1) throw badOption('firstLsn must be an integer >= 1')
  return {
    config: {
      vfs: options.vfs,
      dir: options.dir ?? 'wal',
      sync,
      mode,
      segmentBytes,
      syncIntervalMs,
      onSealed: options.onSealed,
    },
    firstLsn,
  }
}
