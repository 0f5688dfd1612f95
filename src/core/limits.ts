/**
 * Every bound cairn enforces, in one place. Anything read from disk or from the network is
 * checked against these before memory is allocated for it, so a lying length field is a
 * `CORRUPT_*` error and never an out-of-memory. Relations between limits are asserted at load.
 */
import { assert } from './assert.js'

/** The longest object key or file path, in bytes of UTF-8 (S3 allows 1,024). */
export const keyBytesMax: number = 1024
/** The longest single segment of a key or path (ext4 allows 255). */
export const keySegmentBytesMax: number = 255
/** The largest object a BlobStore accepts in one put. Packs are far smaller. */
export const objectBytesMax: number = 1024 * 1024 * 1024
/** The default sector size of the simulated disk: the unit a torn write keeps or loses. */
export const sectorBytesDefault: number = 512
/** The most entries one directory listing returns before it is refused. */
export const directoryEntriesMax: number = 10_000_000

assert(keySegmentBytesMax <= keyBytesMax, 'a key segment cannot be longer than a key')
assert(Number.isSafeInteger(objectBytesMax), 'objectBytesMax must be a safe integer')

/** The largest single log record. A record this size gets a segment of its own if it must. */
export const walRecordBytesMax: number = 64 * 1024 * 1024
/** The most records one frame (one group-commit batch or appendMany) may carry. */
export const frameRecordsMax: number = 1 << 20
/** A group-commit batch stops growing at this many bytes (one record may exceed it alone). */
export const walBatchBytesMax: number = 4 * 1024 * 1024
/** Appends wait (back-pressure) while this many bytes are queued and not yet written. */
export const walQueueBytesMax: number = 64 * 1024 * 1024
/** The default and the smallest segment size. */
export const walSegmentBytesDefault: number = 64 * 1024 * 1024
export const walSegmentBytesMin: number = 4096
/** How long 'batch' sync mode lets appended records wait before an fdatasync, by default. */
export const walSyncIntervalMsDefault: number = 50
/** How many bytes recovery and replay read from a segment at a time. 1 MiB measured faster than
 * 4 MiB here: a fresh zeroed window costs more than re-reading a frame that straddles one. */
export const walReadChunkBytes: number = 1024 * 1024

assert(walBatchBytesMax <= walQueueBytesMax, 'a batch must fit in the queue')
assert(walSegmentBytesMin <= walSegmentBytesDefault, 'the default segment is at least the minimum')

/**
 * The log zero-fills this far ahead of its end, so that an fdatasync of small frames overwrites
 * allocated blocks instead of committing a new file size (measured here: ~1.2x more fdatasyncs/s).
 */
export const walPreallocateBytes: number = 1024 * 1024
/**
 * Only frames up to this size trigger zero-fill: larger ones are bound by bandwidth, which the
 * zeros would halve, and the size commit is shared by many bytes anyway.
 */
export const walPreallocateFrameBytesMax: number = 64 * 1024

assert(walPreallocateFrameBytesMax <= walPreallocateBytes, 'a preallocated step holds a small frame')

/** The smallest and largest chunk sizes the chunker accepts as parameters. */
export const chunkBytesMin: number = 64
export const chunkBytesMax: number = 16 * 1024 * 1024

assert(chunkBytesMin < chunkBytesMax, 'chunk size bounds are ordered')

/** The most chunks one pack may list (a 16 MiB pack of 64-byte chunks would hold 262,144). */
export const packChunksMax: number = 1 << 20

/** The most entries one index object may hold (~77 MiB of index at the limit). */
export const indexEntriesMax: number = 1 << 20
