/**
 * Manifests: what a checkpoint is. A full manifest lists every entry as its chunk list; a delta
 * names its parent and lists only what changed: entries added or replaced whole, entries
 * deleted, and patches (byte ranges written into an entry of the parent: their bytes, back to
 * back, stored as one chunk list per entry, so a thousand 128-byte rows are a few chunks, not a
 * thousand). A delta is O(change), not O(state).
 *
 *   header: magic "CAIRNMAN" (8), version u16, reserved u16, CRC-32C of the body u32,
 *           body bytes u32  (20 bytes)
 *   body:   UTF-8 JSON (docs/FORMAT.md gives its fields)
 *
 * A checkpoint's id is the BLAKE3-256 of its manifest's bytes, so a manifest cannot be swapped
 * for another under the same id. Decoding checks everything before anything is trusted: sizes
 * against limits, the CRC, every field's type, entry names (no way out of a restore directory),
 * chunk ids, and that lengths add up. Bad input is `CORRUPT_OBJECT` naming the manifest (or
 * `FORMAT_VERSION` for a newer one), never an exception of another kind.
 */
import { crc32c } from '../core/crc32c.js'
import { CairnError, isCairnError } from '../core/errors.js'
import type { CheckpointId } from '../core/ids.js'
import { parseCheckpointId, parseChunkId } from '../core/ids.js'
import { computeChunkId } from '../chunkstore/chunk-id.js'
import type { ChunkRef } from '../chunkstore/ingest.js'
import { checkObjectHeader } from '../chunkstore/object-header.js'
import { parseEntryName } from './entry-name.js'

export const MANIFEST_MAGIC = 'CAIRNMAN'
export const MANIFEST_VERSION = 1
export const MANIFEST_HEADER_BYTES = 20
/** The largest manifest body read (a full manifest of ~1.5M chunks). */
export const MANIFEST_BODY_BYTES_MAX: number = 256 * 1024 * 1024

/** A JSON value: what `meta` may hold. */
export type JsonValue =
  null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue }

/** An entry stored whole: its length and chunk list. */
export interface ManifestEntry {
  readonly name: string
  readonly length: number
  readonly chunks: readonly ChunkRef[]
}

/** `length` bytes written at `offset` into an entry of the parent; the bytes are the entry's next `length` bytes of `data`. */
export interface ManifestPatch {
  readonly offset: number
  readonly length: number
}

/**
 * An entry of the parent cut or extended (with zeros) to `length`, then with its patches (in
 * offset order, not overlapping) written over it. `data` holds the patches' bytes back to back.
 */
export interface PatchedEntry {
  readonly name: string
  readonly length: number
  readonly data: readonly ChunkRef[]
  readonly patches: readonly ManifestPatch[]
}

interface ManifestCommon {
  /** The state covers every log record <= lsn. */
  readonly lsn: number
  /** Milliseconds since the epoch. */
  readonly createdAt: number
  readonly tags: readonly string[]
  readonly metrics: Readonly<Record<string, number>>
  readonly meta: JsonValue
  /** Bytes of the whole state (full) or of what changed (delta), and what storing it cost. */
  readonly logicalBytes: number
  readonly newBytes: number
  readonly storedBytes: number
}

export interface FullManifest extends ManifestCommon {
  readonly kind: 'full'
  readonly entries: readonly ManifestEntry[]
}

export interface DeltaManifest extends ManifestCommon {
  readonly kind: 'delta'
  readonly parent: CheckpointId
  /** How many deltas this one stands on, itself included (1: the parent is full). */
  readonly depth: number
  readonly entries: readonly ManifestEntry[]
  readonly deleted: readonly string[]
  readonly patched: readonly PatchedEntry[]
}

export type Manifest = FullManifest | DeltaManifest

const MAGIC = new TextEncoder().encode(MANIFEST_MAGIC)

/** The manifest's bytes and its id (the checkpoint's id). Checks it as a reader would first. */
export function encodeManifest(manifest: Manifest): { id: CheckpointId; bytes: Uint8Array } {
  const body = new TextEncoder().encode(JSON.stringify(manifest))
  const bytes = new Uint8Array(MANIFEST_HEADER_BYTES + body.length)
  const view = new DataView(bytes.buffer)
  bytes.set(MAGIC, 0)
  view.setUint16(8, MANIFEST_VERSION, true)
  view.setUint32(12, crc32c(body), true)
  view.setUint32(16, body.length, true)
  bytes.set(body, MANIFEST_HEADER_BYTES)
  // What is written must read back: the same checks guard both directions.
  decodeManifest(bytes, 'manifest (being written)')
  return { id: computeChunkId(bytes) as string as CheckpointId, bytes }
}

/**
 * Checks a manifest's envelope (magic, version, length, the body's CRC) without parsing its body;
 * returns the body. `decodeManifest` starts with it; GC uses it alone for manifests it deletes.
 */
export function checkManifestEnvelope(bytes: Uint8Array, where: string): Uint8Array {
  const corrupt = (why: string) =>
    new CairnError('CORRUPT_OBJECT', `manifest ${why}`, { op: 'manifest.read', path: where })
  if (bytes.length < MANIFEST_HEADER_BYTES) throw corrupt('is shorter than its header')
  checkObjectHeader(bytes, { magic: MANIFEST_MAGIC, version: MANIFEST_VERSION, what: 'manifest' }, where)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  const bodyBytes = view.getUint32(16, true)
  if (bodyBytes > MANIFEST_BODY_BYTES_MAX)
    throw corrupt(`body of ${String(bodyBytes)} bytes is over the limit`)
  if (bytes.length !== MANIFEST_HEADER_BYTES + bodyBytes) throw corrupt('length does not match its header')
  const body = bytes.subarray(MANIFEST_HEADER_BYTES)
  if (crc32c(body) !== view.getUint32(12, true)) throw corrupt('fails its CRC')
  return body
}

/** Decodes and checks a manifest; `where` names it in errors. */
export function decodeManifest(bytes: Uint8Array, where: string): Manifest {
  const corrupt = (why: string, cause?: unknown) =>
    new CairnError('CORRUPT_OBJECT', `manifest ${why}`, { op: 'manifest.read', path: where, cause })
  const body = checkManifestEnvelope(bytes, where)
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body))
  } catch (error) {
    throw corrupt('body is not UTF-8 JSON', error)
  }
  try {
    return checkManifest(parsed)
  } catch (error) {
    if (
      error instanceof ShapeError ||
      isCairnError(error, 'INVALID_KEY') ||
      isCairnError(error, 'INVALID_ID')
    ) {
      throw corrupt(error.message, error)
    }
    throw error
  }
}

class ShapeError extends Error {}

type Fields = Readonly<Record<string, unknown>>

function record(value: unknown, what: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ShapeError(`${what} is not an object`)
  return value as Fields
}

function list(value: unknown, what: string): readonly unknown[] {
  if (!Array.isArray(value)) throw new ShapeError(`${what} is not a list`)
  return value
}

function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new ShapeError(`${what} is not a non-negative integer`)
  return value
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new ShapeError(`${what} is not a string`)
  return value
}

/** A manifest's chunk list, checked. The hot path of reading a manifest: names are built only for errors. */
/**
 * Refuses a field this version does not know: a newer writer's field (one naming chunks, say)
 * must not be dropped silently by an older reader, whose GC would then free what it names.
 */
function onlyKnown(fields: Fields, known: ReadonlySet<string>, what: string): void {
  for (const key in fields) {
    if (!known.has(key))
      throw new ShapeError(`${what} has a field this version does not know: ${JSON.stringify(key)}`)
  }
}

const COMMON_FIELDS = [
  'kind',
  'lsn',
  'createdAt',
  'tags',
  'metrics',
  'meta',
  'logicalBytes',
  'newBytes',
  'storedBytes',
  'entries',
]
const FULL_FIELDS: ReadonlySet<string> = new Set(COMMON_FIELDS)
const DELTA_FIELDS: ReadonlySet<string> = new Set([...COMMON_FIELDS, 'parent', 'depth', 'deleted', 'patched'])
const ENTRY_FIELDS: ReadonlySet<string> = new Set(['name', 'length', 'chunks'])
const PATCHED_FIELDS: ReadonlySet<string> = new Set(['name', 'length', 'data', 'patches'])
const PATCH_FIELDS: ReadonlySet<string> = new Set(['offset', 'length'])

function chunkList(value: unknown, what: string): ChunkRef[] {
  const items = list(value, what)
  const out: ChunkRef[] = new Array<ChunkRef>(items.length)
  // The hot loop of every manifest read (GC marks from whole manifests): no allocation per
  // item. A checked item is used as it is: it holds exactly its id and length.
  for (let i = 0; i < items.length; i++) {
    const value: unknown = items[i]
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new ShapeError(`${what}[${String(i)}] is not an object`)
    const item = value as Fields
    for (const key in item) {
      if (key !== 'id' && key !== 'length')
        throw new ShapeError(
          `${what}[${String(i)}] has a field this version does not know: ${JSON.stringify(key)}`,
        )
    }
    const { id, length } = item
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0)
      throw new ShapeError(`${what}[${String(i)}].length is not a non-negative integer`)
    if (length === 0) throw new ShapeError(`${what}[${String(i)}] is an empty chunk`)
    if (typeof id !== 'string') throw new ShapeError(`${what}[${String(i)}].id is not a string`)
    parseChunkId(id, 'manifest.read')
    out[i] = item as unknown as ChunkRef
  }
  return out
}

function sumOf(chunks: readonly ChunkRef[]): number {
  return chunks.reduce((total, chunk) => total + chunk.length, 0)
}

function entryOf(value: unknown, what: string): ManifestEntry {
  const fields = record(value, what)
  onlyKnown(fields, ENTRY_FIELDS, what)
  const name = parseEntryName(fields.name, 'manifest.read')
  const length = count(fields.length, `${what}.length`)
  const chunks = chunkList(fields.chunks, `${what}.chunks`)
  if (sumOf(chunks) !== length)
    throw new ShapeError(`entry ${JSON.stringify(name)}: chunks do not add up to its length`)
  return { name, length, chunks }
}

function patchedOf(value: unknown, what: string): PatchedEntry {
  const fields = record(value, what)
  onlyKnown(fields, PATCHED_FIELDS, what)
  const name = parseEntryName(fields.name, 'manifest.read')
  const length = count(fields.length, `${what}.length`)
  const data = chunkList(fields.data, `${what}.data`)
  let end = 0
  let written = 0
  const patches = list(fields.patches, `${what}.patches`).map((item, i): ManifestPatch => {
    const patch = record(item, `${what}.patches[${String(i)}]`)
    onlyKnown(patch, PATCH_FIELDS, `${what}.patches[${String(i)}]`)
    const offset = count(patch.offset, `${what}.patches[${String(i)}].offset`)
    const patchLength = count(patch.length, `${what}.patches[${String(i)}].length`)
    if (patchLength === 0) throw new ShapeError(`entry ${JSON.stringify(name)}: patch ${String(i)} is empty`)
    if (offset < end)
      throw new ShapeError(`entry ${JSON.stringify(name)}: patches overlap or are out of order`)
    end = offset + patchLength
    if (end > length)
      throw new ShapeError(`entry ${JSON.stringify(name)}: a patch ends past the entry's length`)
    written += patchLength
    return { offset, length: patchLength }
  })
  if (sumOf(data) !== written)
    throw new ShapeError(`entry ${JSON.stringify(name)}: its patch data does not add up to its patches`)
  return { name, length, data, patches }
}

function metricsOf(value: unknown): Record<string, number> {
  const fields = record(value, 'metrics')
  const metrics: Record<string, number> = {}
  for (const [key, metric] of Object.entries(fields)) {
    if (typeof metric !== 'number' || !Number.isFinite(metric))
      throw new ShapeError(`metric ${JSON.stringify(key)} is not a finite number`)
    metrics[key] = metric
  }
  return metrics
}

/** Checks a parsed manifest body field by field; ShapeError (or a name/id error) otherwise. */
function checkManifest(value: unknown): Manifest {
  const fields = record(value, 'the body')
  const common: ManifestCommon = {
    lsn: count(fields.lsn, 'lsn'),
    createdAt: count(fields.createdAt, 'createdAt'),
    tags: list(fields.tags, 'tags').map((tag, i) => text(tag, `tags[${String(i)}]`)),
    metrics: metricsOf(fields.metrics),
    meta: (fields.meta ?? null) as JsonValue,
    logicalBytes: count(fields.logicalBytes, 'logicalBytes'),
    newBytes: count(fields.newBytes, 'newBytes'),
    storedBytes: count(fields.storedBytes, 'storedBytes'),
  }
  const entries = list(fields.entries, 'entries').map((entry, i) => entryOf(entry, `entries[${String(i)}]`))
  const names = new Set<string>()
  const claim = (name: string) => {
    if (names.has(name)) throw new ShapeError(`entry ${JSON.stringify(name)} appears twice`)
    names.add(name)
  }
  for (const entry of entries) claim(entry.name)
  if (fields.kind === 'full') {
    onlyKnown(fields, FULL_FIELDS, 'the body')
    return { kind: 'full', ...common, entries }
  }
  if (fields.kind !== 'delta') throw new ShapeError(`kind is neither full nor delta`)
  onlyKnown(fields, DELTA_FIELDS, 'the body')
  const deleted = list(fields.deleted, 'deleted').map((name) => parseEntryName(name, 'manifest.read'))
  const patched = list(fields.patched, 'patched').map((entry, i) => patchedOf(entry, `patched[${String(i)}]`))
  for (const name of deleted) claim(name)
  for (const entry of patched) claim(entry.name)
  const depth = count(fields.depth, 'depth')
  if (depth < 1) throw new ShapeError('depth of a delta is at least 1')
  const parent = parseCheckpointId(text(fields.parent, 'parent'), 'manifest.read')
  return { kind: 'delta', ...common, parent, depth, entries, deleted, patched }
}
