/**
 * The key-value store's bounds. They belong in core/limits.ts with the others; they are here
 * while src/kv is built beside the files other work is changing (move them in one change).
 */
import { assert } from '../core/assert.js'
import { walQueueBytesMax, walRecordBytesMax } from '../core/limits.js'

/** The longest key, in bytes (LMDB's default is 511; keys this long are rare and cost memory twice). */
export const kvKeyBytesMax: number = 16 * 1024
/** The largest value, in bytes. */
export const kvValueBytesMax: number = 16 * 1024 * 1024
/** The most operations one batch (one log record) may carry. */
export const kvBatchOpsMax: number = 1 << 20
/**
 * Bytes of records handed to the log and not yet acknowledged. Past it, writes wait in the store's
 * own queue, in call order: the log's queue (64 MiB) then never applies back-pressure of its own,
 * which could let a small write overtake a large one that waits for room.
 */
export const kvInFlightBytesMax: number = 32 * 1024 * 1024
/** A checkpoint image is handed to the chunk store in pieces of about this size. */
export const kvImagePieceBytes: number = 256 * 1024

assert(
  kvKeyBytesMax + kvValueBytesMax + 16 <= walRecordBytesMax,
  'a put of the largest key and value is one log record',
)
assert(kvInFlightBytesMax <= walQueueBytesMax / 2, 'writes in flight stay under the log queue bound')
assert(kvValueBytesMax <= kvInFlightBytesMax, 'the largest put fits in flight alone')
