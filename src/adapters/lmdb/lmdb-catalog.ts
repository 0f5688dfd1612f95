/**
 * The checkpoint catalog cache on disk (snapshot/catalog-cache.ts): one LMDB environment in its
 * own directory, id -> info (with its CRC-32C). Writes are neither awaited nor synced: it is a
 * cache; an entry lost in a crash is read again from its manifest, one that cannot be read or does
 * not check is absent, and a file that will not open is started again.
 */
import { rmSync } from 'node:fs'
import { open } from 'lmdb'
import type { RootDatabase } from 'lmdb'
import { CairnError } from '../../core/errors.js'
import type { CheckpointId } from '../../core/ids.js'
import { decodeInfo, encodeInfo } from '../../snapshot/catalog-cache.js'
import type { CatalogCache } from '../../snapshot/catalog-cache.js'
import type { CheckpointInfo } from '../../snapshot/snapshot.js'

export function openLmdbCatalog(options: { readonly path: string }): CatalogCache {
  // Not synced commit by commit (each put and remove would cost an fsync: it doubled GC's time):
  // after a crash the file may lack recent entries, or be damaged. A damaged value fails its CRC
  // and reads as absent; a file that no longer opens is deleted and started again.
  const openDb = () => open<Buffer, string>({ path: options.path, encoding: 'binary', noSync: true })
  let db: RootDatabase<Buffer, string>
  try {
    db = openDb()
  } catch {
    try {
      rmSync(options.path, { recursive: true, force: true })
      db = openDb()
    } catch (error) {
      throw new CairnError('IO', 'cannot open the checkpoint catalog cache', {
        op: 'catalog.cache.open',
        path: options.path,
        cause: error,
        hint: 'the cache can be deleted: it is rebuilt from the manifests',
      })
    }
  }
  return {
    get: (id: CheckpointId) => {
      // A cache that cannot be read is a cache that has nothing: the manifest is read instead.
      let value: Buffer | undefined
      try {
        value = db.get(id)
      } catch {
        return undefined
      }
      return value === undefined ? undefined : decodeInfo(value, id)
    },
    set: (info: CheckpointInfo) => {
      // A cache: a failed write only means the manifest is read again next time.
      db.put(info.id, Buffer.from(encodeInfo(info))).catch(() => undefined)
    },
    delete: (id: CheckpointId) => {
      db.remove(id).catch(() => undefined)
    },
    close: async () => {
      await db.close()
    },
  }
}
