/**
 * Chunk ids: BLAKE3-256 of a chunk's uncompressed bytes, as 64 lowercase hex characters.
 *
 * Two implementations give the same digest; `loadChunkHasher()` (once, before `computeChunkId`)
 * picks the first that loads and passes the "abc" test vector:
 * - native, `@napi-rs/blake-hash` (prebuilt for the common platforms): ~2.2 GB/s on 16 KiB chunks
 *   measured here, against ~1.0 GB/s for wasm. Hashing is half of what a mostly unchanged
 *   entry costs to store, so this is the default wherever the binary exists.
 * - `blake3-wasm`, everywhere else. Its one-shot `hash` copies the input into a WebAssembly heap
 *   that cannot grow past a few MiB (measured: 8 MiB hashed, 16 MiB aborted), so inputs above
 *   1 MiB go through its streaming hasher in 1 MiB pieces.
 * `CAIRN_BLAKE3=wasm` in the environment forces the wasm one (tests use it to compare the two).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createHash, hash, load } from 'blake3-wasm'
import type { ChunkId } from '../core/ids.js'

/** Above this size the wasm streaming hasher is used (the one-shot copy must fit the wasm heap). */
const ONE_SHOT_BYTES_MAX = 1024 * 1024
const ABC_DIGEST = '6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85'

type Digest = (data: Uint8Array) => ChunkId

let loading: Promise<void> | undefined
let digest: Digest | undefined
let loadedName: 'native' | 'wasm' | undefined

function wasmDigest(data: Uint8Array): ChunkId {
  if (data.length <= ONE_SHOT_BYTES_MAX) return hash(data).toString('hex') as ChunkId
  const hasher = createHash()
  for (let at = 0; at < data.length; at += ONE_SHOT_BYTES_MAX) {
    hasher.update(data.subarray(at, Math.min(data.length, at + ONE_SHOT_BYTES_MAX)))
  }
  return hasher.digest().toString('hex') as ChunkId
}

type NativeBlake3 = (input: Buffer) => Buffer

/**
 * The binding of this platform's prebuilt package, loaded directly where that is cheap to get
 * right: on glibc Linux. The package's own loader first tells glibc from musl with
 * `process.report.getReport()` (measured here: ~10 of its ~15 ms, paid by every process and worker
 * thread that hashes: a one-shot GC, each CLI run, each chunk worker). /usr/bin/ldd names musl on
 * musl systems (the check napi-rs's newer loaders make first). Anywhere else, or when the direct
 * load fails, the package's loader decides.
 */
async function loadBinding(): Promise<{ blake3: NativeBlake3 }> {
  if (process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64')) {
    let musl = true
    try {
      musl = readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
    } catch {
      // No ldd to read: the package's loader decides.
    }
    if (!musl) {
      try {
        // require: the package is the .node binary itself, which import() cannot load. Resolved
        // from the wrapper's own place: the platform package is its dependency, not cairn's (a
        // strict layout such as pnpm's shows it to the wrapper only), and the version it pins.
        const wrapper = createRequire(import.meta.url).resolve('@napi-rs/blake-hash')
        const direct = createRequire(wrapper)(`@napi-rs/blake-hash-linux-${process.arch}-gnu`) as {
          readonly blake3?: unknown
        }
        if (typeof direct.blake3 === 'function') return { blake3: direct.blake3 as NativeBlake3 }
      } catch {
        // Not installed this way (another package manager's layout): the package's loader.
      }
    }
  }
  return import('@napi-rs/blake-hash')
}

async function loadNative(): Promise<Digest | undefined> {
  if (process.env.CAIRN_BLAKE3 === 'wasm') return undefined
  try {
    const { blake3 } = await loadBinding()
    // A Buffer view of the same memory (its types ask for a Buffer; nothing is copied).
    const native: Digest = (data) =>
      blake3(Buffer.from(data.buffer, data.byteOffset, data.length)).toString('hex') as ChunkId
    return native(new TextEncoder().encode('abc')) === ABC_DIGEST ? native : undefined
  } catch {
    return undefined // no prebuilt binary for this platform: wasm it is
  }
}

/** Loads the BLAKE3 implementation; safe to call many times and concurrently. */
export function loadChunkHasher(): Promise<void> {
  loading ??= (async () => {
    const native = await loadNative()
    if (native === undefined) await load()
    digest = native ?? wasmDigest
    loadedName = native === undefined ? 'wasm' : 'native'
  })()
  return loading
}

/** Which BLAKE3 implementation `loadChunkHasher()` chose (undefined before it resolves). */
export function chunkHasherName(): 'native' | 'wasm' | undefined {
  return loadedName
}

/** BLAKE3-256 of `data` as a chunk id. Call `loadChunkHasher()` first. */
export function computeChunkId(data: Uint8Array): ChunkId {
  if (digest === undefined) throw new Error('computeChunkId called before loadChunkHasher() resolved')
  return digest(data)
}

/** The wasm implementation, whatever was loaded (for tests comparing the two). */
export async function computeChunkIdWasm(data: Uint8Array): Promise<ChunkId> {
  await load()
  return wasmDigest(data)
}
