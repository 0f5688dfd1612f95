/**
 * Composing a chain of manifests into the state it stands for, against a model of plain byte
 * arrays: any sequence of deltas (entries replaced whole, added, deleted, and patched: bytes
 * written at any offset, extending or cutting the entry) reads back byte-exact at every point of
 * the chain; a chain that does not fit together is CORRUPT_OBJECT.
 */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { computeChunkId, loadChunkHasher } from '../../src/chunkstore/chunk-id.js'
import type { ChunkRef } from '../../src/chunkstore/ingest.js'
import type { CheckpointId, ChunkId } from '../../src/core/ids.js'
import { chunksOfPieces, readPieces, resolveChain } from '../../src/snapshot/compose.js'
import type { ResolvedEntry } from '../../src/snapshot/compose.js'
import type { DeltaManifest, FullManifest, Manifest, ManifestPatch } from '../../src/snapshot/manifest.js'
import { encodeManifest } from '../../src/snapshot/manifest.js'
import { expectBytes, expectCairnError } from '../helpers.js'

beforeAll(async () => {
  await loadChunkHasher()
})

/** A content-addressed map standing in for the chunk store. */
class Chunks {
  readonly bytes = new Map<ChunkId, Uint8Array>()
  /** Cuts `data` into pieces of `size` bytes and stores them. */
  put(data: Uint8Array, size: number): ChunkRef[] {
    const refs: ChunkRef[] = []
    for (let at = 0; at < data.length; at += size) {
      const chunk = data.slice(at, Math.min(data.length, at + size))
      const id = computeChunkId(chunk)
      this.bytes.set(id, chunk)
      refs.push({ id, length: chunk.length })
    }
    return refs
  }
  async *read(refs: readonly ChunkRef[]): AsyncGenerator<Uint8Array> {
    for (const ref of refs) {
      await Promise.resolve()
      const bytes = this.bytes.get(ref.id)
      if (bytes === undefined) throw new Error(`no chunk ${ref.id}`)
      yield bytes
    }
  }
}

async function readEntry(chunks: Chunks, entry: ResolvedEntry): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const part of readPieces(
    entry.pieces,
    chunks.read(chunksOfPieces(entry.pieces))[Symbol.asyncIterator](),
  ))
    parts.push(part)
  const out = Buffer.concat(parts)
  expect(out.length).toBe(entry.length)
  return out
}

const common = {
  lsn: 1,
  createdAt: 0,
  tags: [],
  metrics: {},
  meta: null,
  logicalBytes: 0,
  newBytes: 0,
  storedBytes: 0,
}
const NAMES = ['a', 'b', 'dir/c', 'd e']

/** One change of a delta, as the model applies it. */
type Change =
  | { kind: 'put'; name: string; data: Uint8Array }
  | { kind: 'delete'; name: string }
  | { kind: 'patch'; name: string; length: number; writes: { offset: number; data: Uint8Array }[] }

const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({
    kind: fc.constant('put' as const),
    name: fc.constantFrom(...NAMES),
    data: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom(...NAMES) }),
  fc.record({
    kind: fc.constant('patch' as const),
    name: fc.constantFrom(...NAMES),
    length: fc.nat(400),
    writes: fc.array(
      fc.record({ offset: fc.nat(400), data: fc.uint8Array({ minLength: 1, maxLength: 60 }) }),
      { maxLength: 5 },
    ),
  }),
)

describe('composing a chain', () => {
  it('property: every point of a chain of deltas reads back as the model says', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom(...NAMES), fc.uint8Array({ maxLength: 300 })),
        fc.array(fc.array(change, { maxLength: 4 }), { maxLength: 8 }),
        fc.integer({ min: 1, max: 64 }),
        async (initial, deltas, chunkSize) => {
          const chunks = new Chunks()
          const model = new Map<string, Uint8Array>(Object.entries(initial))
          const full: FullManifest = {
            kind: 'full',
            ...common,
            entries: [...model].map(([name, data]) => ({
              name,
              length: data.length,
              chunks: chunks.put(data, chunkSize),
            })),
          }
          const chain: { id: string; manifest: Manifest }[] = [
            { id: encodeManifest(full).id, manifest: full },
          ]
          for (const changes of deltas) {
            const entries: DeltaManifest['entries'][number][] = []
            const deleted: string[] = []
            const patched: DeltaManifest['patched'][number][] = []
            const touched = new Set<string>()
            for (const c of changes) {
              if (touched.has(c.name)) continue // a name appears once in a delta
              if (c.kind === 'put') {
                entries.push({ name: c.name, length: c.data.length, chunks: chunks.put(c.data, chunkSize) })
                model.set(c.name, c.data)
              } else if (c.kind === 'delete') {
                if (!model.has(c.name)) continue
                deleted.push(c.name)
                model.delete(c.name)
              } else {
                const old = model.get(c.name)
                if (old === undefined) continue
                // Writes kept in order and apart, inside the new length.
                const patches: ManifestPatch[] = []
                const written: Uint8Array[] = []
                const next = new Uint8Array(c.length)
                next.set(old.subarray(0, Math.min(old.length, c.length)))
                let end = 0
                for (const w of [...c.writes].sort((x, y) => x.offset - y.offset)) {
                  const offset = Math.max(w.offset, end)
                  const data = w.data.subarray(0, Math.max(0, c.length - offset))
                  if (data.length === 0) continue
                  patches.push({ offset, length: data.length })
                  written.push(data)
                  next.set(data, offset)
                  end = offset + data.length
                }
                patched.push({
                  name: c.name,
                  length: c.length,
                  data: chunks.put(Buffer.concat(written), chunkSize),
                  patches,
                })
                model.set(c.name, next)
              }
              touched.add(c.name)
            }
            const parent = chain[chain.length - 1]!.id as CheckpointId
            const delta: DeltaManifest = {
              kind: 'delta',
              ...common,
              parent,
              depth: chain.length,
              entries,
              deleted,
              patched,
            }
            // Every manifest survives its own encoding.
            chain.push({ id: encodeManifest(delta).id, manifest: delta })
            const state = resolveChain(chain)
            expect([...state.keys()].sort()).toEqual([...model.keys()].sort())
            for (const [name, data] of model)
              expectBytes(await readEntry(chunks, state.get(name)!), data, name)
          }
        },
      ),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 150) },
    )
  })

  it('a chain that does not fit together is CORRUPT_OBJECT naming the manifest', async () => {
    const full: FullManifest = { kind: 'full', ...common, entries: [] }
    const parent = encodeManifest(full).id
    const del: DeltaManifest = {
      kind: 'delta',
      ...common,
      parent,
      depth: 1,
      entries: [],
      deleted: ['gone'],
      patched: [],
    }
    const patch: DeltaManifest = {
      ...del,
      deleted: [],
      patched: [{ name: 'gone', length: 3, data: [], patches: [] }],
    }
    for (const delta of [del, patch]) {
      const error = await expectCairnError(
        Promise.resolve().then(() =>
          resolveChain([
            { id: parent, manifest: full },
            { id: 'x', manifest: delta },
          ]),
        ),
        'CORRUPT_OBJECT',
      )
      expect(error.context.checkpoint).toBe('x')
    }
    await expectCairnError(
      Promise.resolve().then(() => resolveChain([{ id: 'y', manifest: del }])),
      'CORRUPT_OBJECT',
    )
  })
})
