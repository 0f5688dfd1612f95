/**
 * The chunk index cached in LMDB: the embedded default, so a store that restarts knows its chunks
 * without reading every index object again. It is only a cache (chunkstore/chunk-index.ts):
 * deleting its directory loses nothing, the next open rebuilds it from the index objects.
 *
 * One LMDB database, binary keys by kind:
 *   0x00                → the cache's format version (u16)
 *   0x01 + chunk id (32) → pack id (32), offset u32, stored length u32, raw length u32, codec u8
 *   0x02 + index key     → empty: index object `key` is merged
 * An index object's entries and its 0x02 key are written in one transaction, so after a crash
 * the cache holds all of an index object or none of it. A commit may return before it is on disk
 * (lmdb's overlappingSync); that is fine for a cache: what a crash loses is merged again on open.
 */
import { open } from 'lmdb'
import type { RootDatabase } from 'lmdb'
import { CairnError } from '../../core/errors.js'
import type { ChunkId, PackId } from '../../core/ids.js'
import type { ChunkIndex, IndexObjectEntries } from '../../chunkstore/chunk-index.js'
import { isCodec } from '../../chunkstore/codec.js'
import type { IndexEntry } from '../../chunkstore/index-object.js'

const CACHE_VERSION = 1
const KIND_VERSION = 0
const KIND_ENTRY = 1
const KIND_OBJECT = 2
const VALUE_BYTES = 45

function keyOf(kind: number, body: Uint8Array = new Uint8Array(0)): Buffer {
  const key = Buffer.allocUnsafe(1 + body.length)
  key[0] = kind
  key.set(body, 1)
  return key
}

/** The key of chunk `id`'s entry, in one reused buffer: lookups are per chunk, so no allocation. */
const lookupKey = Buffer.alloc(33)
lookupKey[0] = KIND_ENTRY
function entryKey(id: ChunkId): Buffer {
  lookupKey.write(id, 1, 'hex')
  return lookupKey
}

export interface LmdbChunkIndexOptions {
  /** The cache's directory (LMDB keeps `data.mdb` and `lock.mdb` in it). */
  readonly path: string
}

/** Opens (creating if absent) the LMDB cache of the merged chunk index. */
export function openLmdbChunkIndex(options: LmdbChunkIndexOptions): LmdbChunkIndex {
  let db: RootDatabase<Buffer, Buffer>
  try {
    db = open<Buffer, Buffer>({ path: options.path, encoding: 'binary', keyEncoding: 'binary' })
  } catch (error) {
    throw new CairnError('IO', 'cannot open the chunk index cache', {
      op: 'index.cache.open',
      path: options.path,
      cause: error,
      hint: 'the cache can be deleted: it is rebuilt from the index objects',
    })
  }
  return new LmdbChunkIndex(db, options.path)
}

function versionValue(): Buffer {
  const value = Buffer.alloc(2)
  value.writeUInt16LE(CACHE_VERSION, 0)
  return value
}

export class LmdbChunkIndex implements ChunkIndex {
  readonly #db: RootDatabase<Buffer, Buffer>
  readonly #path: string
  #objects: Set<string> | undefined
  #closed = false

  constructor(db: RootDatabase<Buffer, Buffer>, path: string) {
    this.#db = db
    this.#path = path
    const version = db.get(keyOf(KIND_VERSION))
    if (version?.length !== 2 || version.readUInt16LE(0) !== CACHE_VERSION) {
      // An unknown or absent layout: start again (it is only a cache).
      db.transactionSync(() => {
        db.clearSync()
        db.putSync(keyOf(KIND_VERSION), versionValue())
      })
    }
  }

  get size(): number {
    this.#check()
    return this.#db.getKeysCount({ start: keyOf(KIND_ENTRY), end: keyOf(KIND_OBJECT) })
  }

  get(id: ChunkId): IndexEntry | undefined {
    this.#check()
    // A view of LMDB's own memory, valid until the next lookup: decoded (copied) at once. A
    // restore looks up every chunk of its entry: with the copy `get` makes, a lookup and its decode
    // took 1.8-2.9 µs here, without it 0.9-1.7 µs (~15,000 lookups, the bench's 20th version).
    const value = this.#db.getBinaryFast(entryKey(id))
    return value === undefined ? undefined : this.#decode(id, value)
  }

  has(id: ChunkId): boolean {
    this.#check()
    return this.#db.doesExist(entryKey(id))
  }

  indexObjects(): ReadonlySet<string> {
    this.#check()
    if (this.#objects === undefined) {
      const objects = new Set<string>()
      for (const key of this.#db.getKeys({ start: keyOf(KIND_OBJECT), end: keyOf(KIND_OBJECT + 1) }))
        objects.add(key.subarray(1).toString('utf8'))
      this.#objects = objects
    }
    return this.#objects
  }

  addIndexObject(key: string, entries: readonly IndexEntry[]): void {
    this.addIndexObjects([{ key, entries }])
  }

  addIndexObjects(objects: readonly IndexObjectEntries[]): void {
    this.#check()
    const db = this.#db
    // One key and one value buffer for every put (LMDB copies both into the transaction): a
    // rebuild after GC writes every live entry, and two Buffers per entry were half its time.
    const key = Buffer.alloc(33)
    key[0] = KIND_ENTRY
    const value = Buffer.alloc(VALUE_BYTES)
    db.transactionSync(() => {
      for (const object of objects) {
        let packId = ''
        for (const entry of object.entries) {
          key.write(entry.chunkId, 1, 32, 'hex')
          if (entry.packId !== packId) {
            packId = entry.packId
            value.write(packId, 0, 32, 'hex')
          }
          value.writeUInt32LE(entry.offset, 32)
          value.writeUInt32LE(entry.storedLength, 36)
          value.writeUInt32LE(entry.rawLength, 40)
          value.writeUInt8(entry.codec, 44)
          db.putSync(key, value)
        }
        db.putSync(keyOf(KIND_OBJECT, Buffer.from(object.key, 'utf8')), Buffer.alloc(0))
      }
    })
    for (const { key } of objects) this.#objects?.add(key)
  }

  *entries(): Iterable<IndexEntry> {
    this.#check()
    for (const { key, value } of this.#db.getRange({ start: keyOf(KIND_ENTRY), end: keyOf(KIND_OBJECT) }))
      yield this.#decode(key.subarray(1).toString('hex') as ChunkId, value)
  }

  clear(): void {
    this.#check()
    const db = this.#db
    // The whole database at once (cheaper than key by key), then the version again.
    db.transactionSync(() => {
      db.clearSync()
      db.putSync(keyOf(KIND_VERSION), versionValue())
    })
    this.#objects = new Set()
  }

  async flushed(): Promise<void> {
    this.#check()
    await this.#db.flushed
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#db.close()
  }

  #decode(id: ChunkId, value: Buffer): IndexEntry {
    const codec = value.length === VALUE_BYTES ? value.readUInt8(44) : -1
    if (!isCodec(codec)) {
      throw new CairnError('CORRUPT_OBJECT', `chunk index cache entry for ${id.slice(0, 8)} is damaged`, {
        op: 'index.cache.get',
        path: this.#path,
        hint: 'delete the cache: it is rebuilt from the index objects',
      })
    }
    return {
      chunkId: id,
      packId: value.toString('hex', 0, 32) as PackId,
      offset: value.readUInt32LE(32),
      storedLength: value.readUInt32LE(36),
      rawLength: value.readUInt32LE(40),
      codec,
    }
  }

  #check(): void {
    if (this.#closed)
      throw new CairnError('CLOSED', 'the chunk index cache is closed', {
        op: 'index.cache',
        path: this.#path,
      })
  }
}
