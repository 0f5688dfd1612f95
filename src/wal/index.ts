/**
 * The write-ahead log.
 *
 * Nouns: a *record* is one appended byte string with a log sequence number (*LSN*: 1, 2, 3, …, no
 * gaps); a *frame* is one group-commit batch of records with one CRC; a *segment* is one file of
 * frames, named by its first LSN; the *active* segment is the last one, the only one written to;
 * the others are *sealed*. See wal.ts for durability, recovery.ts for what happens after a crash.
 */
export { openWal, Wal } from './wal.js'
export type { WalStats } from './wal.js'
export { SYNC_MODES } from './options.js'
export type { WalOptions, SyncMode } from './options.js'
export { RECOVERY_MODES } from './recovery.js'
export type { RecoveryMode, RecoveryReport } from './recovery.js'
export type { LogRecord } from './replay.js'
export { LogShipper, SHIPPED_PREFIX, listShipped, pruneShipped, shipLog, shippedKey } from './shipping.js'
export type { LogShipperOptions, ShipOptions, ShipResult, ShippedSegment } from './shipping.js'
export { restoreShippedLog } from './shipping-restore.js'
export type { RestoreOptions, RestoreResult } from './shipping-restore.js'
