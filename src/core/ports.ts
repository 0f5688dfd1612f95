/**
 * The ports: the only ways cairn's feature code touches the outside world. Feature folders
 * (`wal`, `chunkstore`, `snapshot`) are written against these interfaces; adapters implement them
 * over `node:fs`, a simulated disk, S3, LMDB. Each port is small and role-shaped, and each method
 * states its error contract. One conformance suite per port (`test/contract/`) runs against every
 * adapter, so the simulated disk used by the crash tests behaves like the real one.
 *
 * Paths and keys are relative, `/`-separated and validated by `parseKey` (core/paths.ts).
 */

// ---------------------------------------------------------------------------------------------
// Vfs: a filesystem rooted at one directory.
// ---------------------------------------------------------------------------------------------

/**
 * How to open a file.
 * - `read`: an existing file, read only.
 * - `readWrite`: an existing file, read and write.
 * - `create`: read and write, created empty if absent (never truncated).
 * - `createExclusive`: read and write, created empty; `ALREADY_EXISTS` if present.
 */
export type OpenMode = 'read' | 'readWrite' | 'create' | 'createExclusive'

/** What `stat` tells of a path. */
export interface VfsStat {
  readonly kind: 'file' | 'directory'
  readonly size: number
  readonly mtimeMs: number
}

/** What a Vfs implementation is and can do. */
export interface VfsProperties {
  /** A short name for messages and traces: `'node'`, `'sim'`. */
  readonly name: string
}

/**
 * A filesystem rooted at one directory. `''` is the root itself.
 *
 * Durability follows POSIX as Linux implements it, and the simulated disk enforces it:
 * - data written to a file is durable only after that file's `fdatasync` or `fsync` resolves;
 * - a created, renamed, linked or unlinked name is durable only after `fsyncDir` of its
 *   directory resolves (a file's fsync does not save its directory entry);
 * - after a failed `fdatasync`/`fsync` the unsaved writes may be lost even though a later sync
 *   succeeds (Linux marks the pages clean): a caller must never treat them as durable.
 *
 * Errors: every method throws `CairnError` with code `NOT_FOUND` (no such path),
 * `ALREADY_EXISTS`, `DISK_FULL` (ENOSPC/EDQUOT; `retryable`), `INVALID_KEY` (a malformed path)
 * or `IO` (anything else, with the OS error as `cause`), and names the path.
 */
export interface Vfs {
  readonly properties: VfsProperties
  /** Opens a file. `NOT_FOUND` for `read`/`readWrite` of a missing file or a missing parent. */
  open(path: string, mode: OpenMode): Promise<VfsFile>
  /**
   * Renames a file over `target`, atomically replacing it. Durable after `fsyncDir` of both
   * parents. `NOT_FOUND` if `source` is missing.
   */
  rename(source: string, target: string): Promise<void>
  /**
   * Gives the file at `existing` a second name `target` (a hard link). `ALREADY_EXISTS` if
   * `target` exists: this is the atomic create-if-absent that `put({ ifAbsent })` relies on.
   */
  link(existing: string, target: string): Promise<void>
  /** Removes a file's name. `NOT_FOUND` if absent. Durable after `fsyncDir` of its parent. */
  unlink(path: string): Promise<void>
  /** The names in a directory (not `.` or `..`), unsorted. `NOT_FOUND` if absent. */
  readdir(path: string): Promise<string[]>
  /** Creates a directory; with `recursive`, its missing parents too and no error if present. */
  mkdir(path: string, options?: { readonly recursive?: boolean }): Promise<void>
  /** Removes an empty directory. `NOT_FOUND` if absent. */
  rmdir(path: string): Promise<void>
  /** Makes the directory's entries (creates, renames, unlinks) durable. */
  fsyncDir(path: string): Promise<void>
  /** Describes a path. `NOT_FOUND` if absent. */
  stat(path: string): Promise<VfsStat>
  /**
   * The path's file in the machine's own file system, for code that reads it outside this Vfs (a
   * worker thread); absent, or undefined, where files are not the machine's (a simulated disk).
   */
  localPath?(path: string): string | undefined
}

/**
 * An open file. Reads see every write made so far (durable or not), as a page cache does.
 * A handle is used by one logical writer at a time; after `close` every call throws `CLOSED`.
 */
export interface VfsFile {
  readonly path: string
  /**
   * Up to `length` bytes from `position`; fewer only at the end of the file. With `into` (at least
   * `length` bytes long) a file may read them into its start and return a view of it, so a caller
   * reading many ranges can reuse one buffer; it must not touch `into` until the read settles.
   */
  read(position: number, length: number, into?: Uint8Array): Promise<Uint8Array>
  /**
   * Writes all of `data` at `position`, extending the file if needed (a gap reads as zeros).
   * Either every byte is written or it throws; on `DISK_FULL` or `IO` a prefix may have landed,
   * and its length is in the error's `context.bytesWritten` (a short write).
   */
  write(data: Uint8Array, position: number): Promise<void>
  /** Writes `data` at the current end of the file and resolves with the offset it starts at. */
  append(data: Uint8Array): Promise<number>
  /** The file's current size in bytes. */
  size(): Promise<number>
  /** Cuts or extends (with zeros) the file to `size` bytes. Durable after a sync. */
  truncate(size: number): Promise<void>
  /** Makes the file's data (and size) durable. Not its directory entry. */
  fdatasync(): Promise<void>
  /** Makes the file's data and metadata durable. Not its directory entry. */
  fsync(): Promise<void>
  /** Releases the handle. Idempotent. Does not sync. */
  close(): Promise<void>
}

// ---------------------------------------------------------------------------------------------
// BlobStore: immutable objects under keys (a directory tree, an S3 bucket + prefix).
// ---------------------------------------------------------------------------------------------

/** A stored object's key and size. */
export interface BlobInfo {
  readonly key: string
  readonly size: number
}

/** A byte range of an object. */
export interface ByteRange {
  readonly offset: number
  readonly length: number
}

/** What a BlobStore implementation guarantees, so callers and tests adapt without guessing. */
export interface BlobStoreProperties {
  /** A short name for messages: `'fs'`, `'s3'`. */
  readonly name: string
  /** True when `put({ ifAbsent: true })` is atomic against concurrent writers. */
  readonly conditionalCreate: boolean
  /** True when `list` sees every completed put at once (false: eventually consistent). */
  readonly listAfterPut: boolean
  /** How many operations it serves well at once. */
  readonly concurrencyMax: number
}

/**
 * Objects written once under keys. A put is atomic and durable when its promise resolves: a
 * reader, or the store after a crash, sees either no object or all of it, never part.
 *
 * Errors: `CairnError` with code `INVALID_KEY` (a malformed key), `NOT_FOUND`, `ALREADY_EXISTS`,
 * `OUT_OF_RANGE`, `DISK_FULL` or `IO`, naming the key.
 */
export interface BlobStore {
  readonly properties: BlobStoreProperties
  /**
   * Stores `data` under `key`, durably. With `ifAbsent`, throws `ALREADY_EXISTS` and changes
   * nothing when the key exists; otherwise replaces it atomically.
   */
  put(key: string, data: Uint8Array, options?: { readonly ifAbsent?: boolean }): Promise<void>
  /**
   * The object's bytes, or the `range` of them. `NOT_FOUND` if absent; `OUT_OF_RANGE` when the
   * range does not lie inside the object (a truncated object is found out here, not ignored).
   * With `into` (at least the range's length), a store may read the range into its start and
   * return a view of it (the fs store does; S3 returns a buffer of its own): a restore reuses its
   * read buffers instead of faulting in fresh pages for every get. The caller must not touch
   * `into` until the get settles.
   */
  get(key: string, range?: ByteRange, into?: Uint8Array): Promise<Uint8Array>
  /** The object's size, or `undefined` when it does not exist. */
  head(key: string): Promise<BlobInfo | undefined>
  /** Every object whose key starts with `prefix` (`''` for all), each once, in no set order. */
  list(prefix: string): AsyncIterable<BlobInfo>
  /** Removes the objects; keys that do not exist are skipped, not an error. Durable on resolve. */
  delete(keys: readonly string[]): Promise<void>
  /**
   * The object's file in the machine's own file system, for a reader on another thread to read
   * its ranges itself (a restore's worker threads: no trip through this thread for each get).
   * Absent, or undefined, where objects are not files of this machine (S3, memory, a simulated
   * disk). The file holds exactly the object's bytes, as `get` would give them.
   */
  localPath?(key: string): string | undefined
}
