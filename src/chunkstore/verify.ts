/**
 * Verifying a chunk store: every pack footer decodes, every index entry agrees with the footer of
 * the pack it names, and (with `readData`) every chunk's stored bytes decode to bytes that hash
 * to its id. Each problem is reported with its pack, chunk and offset; verify itself only throws
 * when the store cannot be read at all (an I/O error on a listing).
 *
 * Orphan packs (written, but named by no index object: a crash between pack and index) are
 * counted, not reported as problems: no checkpoint can reference their chunks, and GC collects
 * them. Memory: the footer entries of every pack are held while index objects are checked
 * (~200-250 bytes a chunk: ids as strings, an entry object, a map slot).
 */
import { isCairnError } from '../core/errors.js'
import type { CairnErrorCode } from '../core/errors.js'
import type { PackId } from '../core/ids.js'
import type { BlobStore } from '../core/ports.js'
import { decodeIndexObject } from './index-object.js'
import type { IndexEntry } from './index-object.js'
import { checkStoredChunk, listPackIds, packKey, readPackFooter, readPackRange } from './pack-store.js'

export interface VerifyOptions {
  /** Also read every chunk and check its bytes against its id (reads every pack whole). */
  readonly readData?: boolean
  /** Called as work advances: packs read, index objects checked, packs whose data was read. */
  readonly onProgress?: (progress: {
    readonly phase: 'footers' | 'index' | 'data'
    readonly done: number
    readonly total: number
  }) => void
}

export interface VerifyProblem {
  readonly code: CairnErrorCode
  /** The object key (with `@offset` for a chunk). */
  readonly where: string
  readonly message: string
  readonly pack?: string
  readonly chunk?: string
  readonly offset?: number
}

export interface VerifyReport {
  readonly ok: boolean
  readonly packsChecked: number
  readonly indexObjectsChecked: number
  readonly indexEntriesChecked: number
  /** Chunks whose bytes were read and hashed (0 without `readData`). */
  readonly chunksChecked: number
  /** Packs no index object names. */
  readonly orphanPacks: number
  readonly problems: VerifyProblem[]
}

function problemOf(
  error: unknown,
  fallback: { where: string; pack?: string; chunk?: string; offset?: number },
): VerifyProblem {
  if (isCairnError(error)) {
    return {
      ...fallback,
      code: error.code,
      message: error.message,
      where: error.context.path ?? fallback.where,
    }
  }
  throw error
}

export async function verifyChunkStore(blobs: BlobStore, options: VerifyOptions = {}): Promise<VerifyReport> {
  const problems: VerifyProblem[] = []
  const progress = options.onProgress ?? (() => undefined)

  // Index objects are listed before packs: a pack is always put before the index object naming
  // it, so a flush running meanwhile cannot make an entry seem to name a missing pack.
  const indexKeys: string[] = []
  for await (const { key } of blobs.list('index/')) indexKeys.push(key)
  indexKeys.sort()

  // 1. Footers.
  const packIds = await listPackIds(blobs)
  const footers = new Map<PackId, Map<number, IndexEntry>>()
  for (const [i, packId] of packIds.entries()) {
    try {
      footers.set(
        packId,
        new Map((await readPackFooter(blobs, packId)).map((entry) => [entry.offset, entry])),
      )
    } catch (error) {
      problems.push(problemOf(error, { where: packKey(packId), pack: packId }))
    }
    progress({ phase: 'footers', done: i + 1, total: packIds.length })
  }

  // 2. Index objects against the footers.
  const listedPacks = new Set(packIds)
  const named = new Set<PackId>()
  let indexEntriesChecked = 0
  for (const [i, key] of indexKeys.entries()) {
    let entries: IndexEntry[]
    try {
      entries = decodeIndexObject(await blobs.get(key), key)
    } catch (error) {
      problems.push(problemOf(error, { where: key }))
      continue
    }
    for (const entry of entries) {
      indexEntriesChecked++
      named.add(entry.packId)
      const where = `${packKey(entry.packId)}@${String(entry.offset)}`
      const place = { where, pack: entry.packId, chunk: entry.chunkId, offset: entry.offset }
      if (!listedPacks.has(entry.packId)) {
        problems.push({
          ...place,
          code: 'MISSING_CHUNK',
          message: `${key} names chunk ${entry.chunkId} in a missing pack`,
        })
        continue
      }
      const footer = footers.get(entry.packId)
      if (footer === undefined) continue // the pack's own problem is reported
      const found = footer.get(entry.offset)
      if (
        found?.chunkId !== entry.chunkId ||
        found.storedLength !== entry.storedLength ||
        found.rawLength !== entry.rawLength ||
        found.codec !== entry.codec
      ) {
        problems.push({ ...place, code: 'CORRUPT_OBJECT', message: `${key} disagrees with the pack footer` })
      }
    }
    progress({ phase: 'index', done: i + 1, total: indexKeys.length })
  }
  const orphanPacks = packIds.filter((id) => !named.has(id)).length

  // 3. The chunks' bytes.
  let chunksChecked = 0
  if (options.readData === true) {
    const readable = packIds.filter((id) => footers.has(id))
    for (const [i, packId] of readable.entries()) {
      const entries = [...(footers.get(packId)?.values() ?? [])]
      const dataBytes = entries.reduce((sum, entry) => sum + entry.storedLength, 0)
      let data: Uint8Array | undefined
      try {
        data = await readPackRange(blobs, packId, 0, dataBytes)
      } catch (error) {
        problems.push(problemOf(error, { where: packKey(packId), pack: packId }))
      }
      for (const entry of entries) {
        if (data === undefined) break
        chunksChecked++
        try {
          checkStoredChunk(entry, data.subarray(entry.offset, entry.offset + entry.storedLength))
        } catch (error) {
          problems.push(
            problemOf(error, {
              where: `${packKey(packId)}@${String(entry.offset)}`,
              pack: packId,
              chunk: entry.chunkId,
              offset: entry.offset,
            }),
          )
        }
      }
      progress({ phase: 'data', done: i + 1, total: readable.length })
    }
  }

  return {
    ok: problems.length === 0,
    packsChecked: packIds.length,
    indexObjectsChecked: indexKeys.length,
    indexEntriesChecked,
    chunksChecked,
    orphanPacks,
    problems,
  }
}
