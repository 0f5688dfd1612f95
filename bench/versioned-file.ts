/**
 * A deterministic versioned file for the chunk-store bench: a "database file" of 4 KiB pages and
 * its later versions, each with small scattered rewrites, a few inserts and deletes that shift
 * everything after them, and an append (the shape BENCHMARKS.md measured restic and borg on).
 *
 * Pages are of three kinds, as in a real database file: record pages (JSON-like rows, deflate
 * ~3x), blob pages (random bytes: incompressible) and sparse pages (mostly zeros). Every version
 * also reports the bytes it actually changed, the ideal a chunk store could store for it.
 */
import { deflateRawSync } from 'node:zlib'
import { createRng } from '../src/adapters/sim/rng.js'
import type { Rng } from '../src/adapters/sim/rng.js'

export const PAGE_BYTES = 4096

export interface VersionPlan {
  readonly baseBytes: number
  readonly versions: number
  /** Share of the file rewritten per version, in runs of whole pages. */
  readonly rewriteShare: number
  /** Insert or delete sites per version (each shifts every byte after it). */
  readonly shiftSites: number
  readonly appendBytes: number
}

export interface Version {
  readonly bytes: Uint8Array
  /** Bytes this version wrote that the previous did not hold (rewrites, inserts, the append). */
  readonly changedBytes: number
  /** Those bytes after deflate level 1 (the ideal with compression). */
  readonly changedCompressedBytes: number
}

const WORDS = [
  'alpha',
  'bravo',
  'charlie',
  'delta',
  'echo',
  'foxtrot',
  'golf',
  'hotel',
  'india',
  'juliet',
  'kilo',
  'lima',
  'mike',
  'november',
  'oscar',
  'papa',
  'quebec',
  'romeo',
  'sierra',
  'tango',
  'uniform',
  'victor',
  'whiskey',
  'xray',
  'yankee',
  'zulu',
  'active',
  'pending',
  'closed',
  'error',
].map((w) => Buffer.from(w))

/**
 * One page of rows as a document database or a log-structured table holds them: JSON-like, ids
 * and timestamps ascending from a random start, names and states from small vocabularies, one
 * random score per row.
 */
function recordPage(rng: Rng): Uint8Array {
  const page = Buffer.alloc(PAGE_BYTES)
  let id = rng.int(100_000_000)
  let ts = 1_700_000_000 + rng.int(50_000_000)
  let at = 0
  while (at < PAGE_BYTES - 128) {
    const name = WORDS[rng.int(WORDS.length)] as Buffer
    const state = WORDS[rng.int(4) + 26] as Buffer
    at += page.write(`{"id":${String(id)},"user":"`, at, 'latin1')
    at += name.copy(page, at)
    at += page.write(`_${String(rng.int(100))}","state":"`, at, 'latin1')
    at += state.copy(page, at)
    at += page.write(`","score":${(rng.int(100_000) / 100).toFixed(2)},"ts":${String(ts)}}\n`, at, 'latin1')
    id += 1 + rng.int(3)
    ts += rng.int(60)
  }
  return page
}

function sparsePage(rng: Rng): Uint8Array {
  const page = new Uint8Array(PAGE_BYTES)
  page.set(rng.bytes(64), 0)
  return page
}

function makePage(rng: Rng): Uint8Array {
  const kind = rng.int(10)
  if (kind < 7) return recordPage(rng)
  if (kind < 9) return rng.bytes(PAGE_BYTES)
  return sparsePage(rng)
}

function pages(rng: Rng, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes)
  for (let at = 0; at < bytes; at += PAGE_BYTES) {
    const page = makePage(rng)
    out.set(page.subarray(0, Math.min(PAGE_BYTES, bytes - at)), at)
  }
  return out
}

/** The versions of the file, made one at a time (only the current one is held). */
export function* versionedFile(plan: VersionPlan, seed = 0x5eed): Generator<Version> {
  const rng = createRng(seed)
  let current = pages(rng, plan.baseBytes)
  yield { bytes: current, changedBytes: current.length, changedCompressedBytes: deflatedSize(current) }
  for (let v = 1; v < plan.versions; v++) {
    const changed: Uint8Array[] = []
    // Scattered rewrites: runs of 1-16 pages, page-aligned, until rewriteShare of the file.
    const next = current.slice()
    const pagesTotal = Math.floor(next.length / PAGE_BYTES)
    let budget = Math.floor((next.length * plan.rewriteShare) / PAGE_BYTES)
    while (budget > 0) {
      const run = Math.min(budget, 1 + rng.int(16))
      const first = rng.int(Math.max(1, pagesTotal - run))
      const fresh = pages(rng, run * PAGE_BYTES)
      next.set(fresh, first * PAGE_BYTES)
      changed.push(fresh)
      budget -= run
    }
    // Shifting edits: inserts (up to 8 KiB of new bytes) and deletes (up to 8 KiB).
    let shifted: Uint8Array = next
    for (let s = 0; s < plan.shiftSites; s++) {
      const at = rng.int(shifted.length)
      const length = 1 + rng.int(8192)
      if (rng.chance(0.5)) {
        const inserted = pages(rng, length)
        const grown = new Uint8Array(shifted.length + length)
        grown.set(shifted.subarray(0, at), 0)
        grown.set(inserted, at)
        grown.set(shifted.subarray(at), at + length)
        shifted = grown
        changed.push(inserted)
      } else {
        const end = Math.min(shifted.length, at + length)
        const shrunk = new Uint8Array(shifted.length - (end - at))
        shrunk.set(shifted.subarray(0, at), 0)
        shrunk.set(shifted.subarray(end), at)
        shifted = shrunk
      }
    }
    // The append.
    const appended = pages(rng, plan.appendBytes)
    const grown = new Uint8Array(shifted.length + appended.length)
    grown.set(shifted, 0)
    grown.set(appended, shifted.length)
    changed.push(appended)
    current = grown
    const changedBytes = changed.reduce((sum, c) => sum + c.length, 0)
    const changedCompressedBytes = changed.reduce((sum, c) => sum + deflatedSize(c), 0)
    yield { bytes: current, changedBytes, changedCompressedBytes }
  }
}

/** Deflate level 1 size, in 1 MiB pieces (as a chunk store would compress them: piecewise). */
function deflatedSize(bytes: Uint8Array): number {
  let total = 0
  for (let at = 0; at < bytes.length; at += 1 << 20) {
    const piece = bytes.subarray(at, Math.min(bytes.length, at + (1 << 20)))
    total += Math.min(piece.length, deflateRawSync(piece, { level: 1 }).length)
  }
  return total
}
