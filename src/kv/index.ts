/**
 * The embedded key-value store: the reference for a database that embeds cairn.
 *
 * ```ts
 * const kv = await openKv({ dir: './db' })
 * await kv.put('user:1', bytes)            // durable (fdatasync'ed, group-committed) when it resolves
 * kv.get('user:1')                          // synchronous, from memory
 * for (const [key, value] of kv.scan({ prefix: 'user:' })) { ... }
 * await kv.close()                          // reopening recovers: newest checkpoint + the log after it
 * ```
 *
 * Nouns. A *key* is bytes (a string stands for its UTF-8 bytes); keys sort by their bytes
 * (keys.ts). The *map* is the ordered in-memory structure holding every key (sorted-map.ts). A
 * *write* (put, delete or batch) is one *record* of the store's log (record.ts). A *checkpoint*
 * is the whole map as one snapshot entry, the *image* (image.ts), bound to the LSN it covers.
 *
 * Guarantees.
 * - A write's promise resolves once its record is durable: with the store's default
 *   `wal: { sync: 'always' }`, written and fdatasync'ed. Concurrent writes share one fdatasync
 *   (the log's group commit). After a crash, every write whose promise resolved is there.
 * - Writes are applied to the map only once durable, in LSN order (write-queue.ts). So a reader
 *   never sees a value that a crash could take back, and a write the log refused (disk full) was
 *   never visible; the price is that a `get` made while a put is pending sees the old value. The
 *   writer sees its own write as soon as its promise resolves (read-your-writes after `await`).
 *   Writes take effect in call order: the last one called wins.
 * - What a crash keeps is a prefix of the writes in call order: all the acknowledged ones, and
 *   possibly some issued after them whose acknowledgement was cut short. A batch is all or nothing.
 * - Checkpoints (checkpointer.ts) run in the background every N records or M ms; retention keeps
 *   the newest 2 and GC frees the rest every 4 checkpoints, by default. A checkpoint truncates
 *   the log behind it, so reopening replays at most about N records.
 *
 * Errors are CairnErrors that name the place: `CLOSED`, `LIMIT_EXCEEDED` (a key over 16 KiB, a
 * value over 16 MiB), `CORRUPT_LOG` (a record that does not decode, with its LSN: replay never
 * skips one), `CORRUPT_OBJECT`/`FORMAT_VERSION` (a checkpoint image), and the log's own (`DISK_FULL`,
 * `IO`, `LOG_FAILED`: reopen). A wrong argument type is a `TypeError`.
 */
export { openKv, Kv } from './kv.js'
export type { KvOptions, KvEntry, KvBatchOp, KvScanOptions, KvRecovery, KvStats } from './kv.js'
export type { KvKey } from './keys.js'
export { IMAGE_ENTRY, IMAGE_FORMAT_VERSION } from './image.js'
export { kvKeyBytesMax, kvValueBytesMax, kvBatchOpsMax } from './limits.js'
