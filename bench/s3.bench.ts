/**
 * Checkpoint and restore over S3 on loopback, against the raw PUT/GET rate of the same server
 * measured in the same run, and the requests cairn sends per GiB checkpointed and restored.
 *
 * One s3rver (a fake S3 server: Node, objects as files on the local disk) is started by the
 * bench on 127.0.0.1 and stopped at the end. First the raw rate: PUT then GET of 16 MiB objects
 * (cairn's pack size) through cairn's own S3 adapter (so the client's overhead is the same) and
 * through a plain @aws-sdk/client-s3 client, one and four at a time. Then cairn, a store whose
 * objects live in that server: a full checkpoint of a state (half random bytes, half
 * compressible text rows), a delta of 2% of the state's 4 KiB rows changed at scattered places
 * (`patches`), a full checkpoint of the same changed state (deduplicated against the first),
 * and a restore of each from a fresh store opened on an empty directory (restore anywhere: no
 * cache), reading the whole entry and checking it byte for byte. Every HTTP request is counted
 * by method and key area through the adapter's `interceptRequest`. Then the raw rate again (the
 * run's noise), and the same cairn sequence on the local disk: what S3 adds to cairn's own cost.
 */
import { createCipheriv } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { createRng } from '../src/adapters/sim/rng.js'
import { createS3BlobStore } from '../src/adapters/s3/s3-blob-store.js'
import type { S3ObjectsOptions, S3RequestInterceptor, S3WireRequest } from '../src/adapters/s3/s3-options.js'
import { PACK_BYTES_DEFAULT } from '../src/chunkstore/chunk-store.js'
import type { CheckpointId } from '../src/core/ids.js'
import type { CheckpointInfo } from '../src/snapshot/snapshot.js'
import { openStore } from '../src/store.js'
import type { Store } from '../src/store.js'
import type { BenchOptions, BenchResult, Table } from './lib.js'
import { dirBytes, fmt, fmtRatio, now, withTempDir } from './lib.js'
import { startS3Server } from '../test/adapters/s3-server.js'
import type { S3Server as S3rver } from '../test/adapters/s3-server.js'

const NAME = 's3'
const MB = 1e6
const MIB = 1024 * 1024
const GIB = 1024 * MIB
/** The state's rows: a patch rewrites whole rows. */
const ROW = 4096
const CHANGED_SHARE = 0.02
const ENTRY = 'state.bin'
// The phases of a sequence (over S3 unprefixed; on the local disk prefixed with LOCAL).
const WRITER_OPEN = 'writer: open'
const CK1 = 'checkpoint 1: full'
const CK2 = 'checkpoint 2: delta'
const CK3 = 'checkpoint 3: full, dedup'
const WRITER_CLOSE = 'writer: close'
const R1 = 'restore 1 (full)'
const R2 = 'restore 2 (delta on 1)'
const R3 = 'restore 3 (full, dedup; latest)'
const LOCAL = 'local disk'
const CONCURRENCIES = [1, 4] as const
/** s3rver takes any secret with this access key id (it does not check signatures). */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'not-checked-by-s3rver' }
const REGION = 'us-east-1'

// ---------------------------------------------------------------------------------------------
// Counting requests
// ---------------------------------------------------------------------------------------------

interface Tally {
  /** `<kind> <area>` -> requests. */
  readonly requests: Map<string, number>
  bytesUp: number
  bytesDown: number
}

const newTally = (): Tally => ({ requests: new Map(), bytesUp: 0, bytesDown: 0 })

const total = (tally: Tally): number => [...tally.requests.values()].reduce((a, b) => a + b, 0)

/** Requests by kind alone (`PUT`, `GET range`, ...), the areas summed. */
function byKind(tally: Tally): Map<string, number> {
  const out = new Map<string, number>()
  for (const [key, n] of tally.requests) {
    const kind = key.slice(0, key.lastIndexOf(' '))
    out.set(kind, (out.get(kind) ?? 0) + n)
  }
  return out
}

const breakdown = (counts: Map<string, number>): string =>
  [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${kind} ${fmt(n)}`)
    .join(', ')

/** What an S3 request is: PUT, PUT part, GET, GET range, HEAD, LIST, DELETE, multipart ... */
function kindOf(request: S3WireRequest): string {
  const has = (name: string): boolean => name in request.query
  switch (request.method) {
    case 'PUT':
      return has('partNumber') ? 'PUT part' : 'PUT'
    case 'GET':
      if (has('list-type')) return 'LIST'
      if (has('uploadId')) return 'LIST parts'
      return request.headers['range'] === undefined ? 'GET' : 'GET range'
    case 'HEAD':
      return 'HEAD'
    case 'POST':
      if (has('delete')) return 'DELETE batch'
      if (has('uploads')) return 'multipart start'
      if (has('uploadId')) return 'multipart complete'
      return 'POST'
    case 'DELETE':
      return has('uploadId') ? 'multipart abort' : 'DELETE'
    default:
      return request.method
  }
}

/** Which part of the store's layout a request touches (docs/SHARED.md): packs, index, manifests, gc ... */
function areaOf(request: S3WireRequest, bucket: string): string {
  const listPrefix = request.query['prefix']
  let key = decodeURIComponent(request.path.split('?', 1)[0] ?? '')
  if (key.startsWith(`/${bucket}`)) key = key.slice(bucket.length + 1)
  key = key.replace(/^\//, '')
  if (typeof listPrefix === 'string') key = listPrefix
  const parts = key.split('/')
  // Under a prefix of one segment (`cairn/`, `raw-adapter/`): the layout starts at the second.
  const [first = '', , third = ''] = parts.slice(1)
  if (parts[0] === '' || key === '') return 'bucket'
  if (first === '.cairn-probe') return 'probe'
  if (first === 'stores') return third === '' ? 'stores' : `stores/*/${third}`
  if (first === '') return 'prefix root'
  return first
}

class RequestCounter {
  phase = 'setup'
  readonly phases = new Map<string, Tally>()
  readonly #bucket: string

  constructor(bucket: string) {
    this.#bucket = bucket
  }

  tally(phase: string): Tally {
    let tally = this.phases.get(phase)
    if (tally === undefined) {
      tally = newTally()
      this.phases.set(phase, tally)
    }
    return tally
  }

  readonly intercept: S3RequestInterceptor = async (request, send) => {
    const tally = this.tally(this.phase)
    const key = `${kindOf(request)} ${areaOf(request, this.#bucket)}`
    tally.requests.set(key, (tally.requests.get(key) ?? 0) + 1)
    if (request.method === 'PUT' || request.method === 'POST')
      tally.bytesUp += Number(request.headers['content-length'] ?? 0)
    const response = await send()
    if (request.method === 'GET') tally.bytesDown += Number(response.headers['content-length'] ?? 0)
    return response
  }
}

// ---------------------------------------------------------------------------------------------
// Phases: wall time, this process's CPU (its worker threads included), the server's CPU
// ---------------------------------------------------------------------------------------------

interface Phase {
  readonly name: string
  readonly ms: number
  readonly clientCpuS: number
  readonly serverCpuS: number
  readonly requests: Record<string, number>
  readonly requestCount: number
  readonly bytesUp: number
  readonly bytesDown: number
}

function phaseRunner(counter: RequestCounter, server: S3rver, phases: Phase[]) {
  return async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    counter.phase = name
    const tally = counter.tally(name)
    const cpu = process.cpuUsage()
    const serverCpu = server.cpuSeconds()
    const started = now()
    try {
      return await body()
    } finally {
      const ms = now() - started
      const used = process.cpuUsage(cpu)
      phases.push({
        name,
        ms,
        clientCpuS: (used.user + used.system) / 1e6,
        serverCpuS: server.cpuSeconds() - serverCpu,
        requests: Object.fromEntries(tally.requests),
        requestCount: total(tally),
        bytesUp: tally.bytesUp,
        bytesDown: tally.bytesDown,
      })
      counter.phase = 'between phases'
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The raw rate of the server
// ---------------------------------------------------------------------------------------------

interface RawClient {
  readonly name: string
  put(key: string, data: Uint8Array): Promise<void>
  /** The object's length, read whole. */
  get(key: string): Promise<number>
  remove(keys: readonly string[]): Promise<void>
}

interface RawRate {
  readonly client: string
  readonly pass: string
  readonly concurrency: number
  readonly objects: number
  readonly objectBytes: number
  readonly putMs: number
  readonly getMs: number
  readonly putMBps: number
  readonly getMBps: number
}

/** `tasks` run `concurrency` at a time. */
async function pool(concurrency: number, tasks: readonly (() => Promise<void>)[]): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tasks.length) await tasks[next++]!()
    }),
  )
}

async function rawRate(
  client: RawClient,
  pass: string,
  concurrency: number,
  objects: number,
  data: Uint8Array,
): Promise<RawRate> {
  const keys = Array.from({ length: objects }, (_, i) => `raw/${pass}/c${String(concurrency)}/${String(i)}`)
  let started = now()
  await pool(
    concurrency,
    keys.map((key) => () => client.put(key, data)),
  )
  const putMs = now() - started
  started = now()
  await pool(
    concurrency,
    keys.map((key) => async () => {
      const length = await client.get(key)
      if (length !== data.length) throw new Error(`GET ${key}: ${String(length)} bytes`)
    }),
  )
  const getMs = now() - started
  await client.remove(keys) // untimed: keeps the server's disk from filling
  const bytes = objects * data.length
  return {
    client: client.name,
    pass,
    concurrency,
    objects,
    objectBytes: data.length,
    putMs,
    getMs,
    putMBps: bytes / MB / (putMs / 1000),
    getMBps: bytes / MB / (getMs / 1000),
  }
}

function sdkClient(server: S3rver): { client: RawClient; close: () => void } {
  const sdk = new S3Client({
    region: REGION,
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: CREDENTIALS,
  })
  const Bucket = server.bucket
  const client: RawClient = {
    name: 'plain @aws-sdk/client-s3',
    put: async (key, data) => {
      await sdk.send(new PutObjectCommand({ Bucket, Key: key, Body: data, ContentLength: data.length }))
    },
    get: async (key) => {
      const output = await sdk.send(new GetObjectCommand({ Bucket, Key: key }))
      return output.Body === undefined ? 0 : (await output.Body.transformToByteArray()).length
    },
    remove: async (keys) => {
      await sdk.send(
        new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
      )
    },
  }
  return {
    client,
    close: () => {
      sdk.destroy()
    },
  }
}

// ---------------------------------------------------------------------------------------------
// The state
// ---------------------------------------------------------------------------------------------

/** A keystream (AES-128-CTR of zeros, fixed key): fast, deterministic, incompressible. */
function keystream(seed: number): (length: number) => Uint8Array {
  const key = Buffer.alloc(16, seed & 0xff)
  key.writeUInt32LE(seed >>> 0, 0)
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16))
  return (length) => cipher.update(Buffer.alloc(length))
}

// A JSON-ish text row of 64 bytes; its 16 `#` are hex digits (8 random bytes each row).
const TEMPLATE = Buffer.from('{"row":"########","user":"u-########","score":0.5125,"ok":true}\n')
const HOLES = [...TEMPLATE.keys()].filter((i) => TEMPLATE[i] === 0x23)
const HEX = Buffer.from('0123456789abcdef')

/**
 * `bytes` of state in 1 MiB blocks, each (by a seeded coin) random bytes or text rows that
 * deflate shrinks about 3×: an embedding table beside a database's pages, say.
 */
function makeState(bytes: number): { state: Uint8Array; randomBlocks: number; textBlocks: number } {
  if (TEMPLATE.length !== 64 || HOLES.length !== 16) throw new Error('the row template must be 64 bytes')
  const state = new Uint8Array(bytes)
  const coin = createRng(20_260_101)
  const stream = keystream(1)
  let randomBlocks = 0
  let textBlocks = 0
  for (let at = 0; at < bytes; at += MIB) {
    const block = state.subarray(at, Math.min(bytes, at + MIB))
    const random = stream(block.length)
    if (coin.chance(0.5)) {
      block.set(random)
      randomBlocks++
      continue
    }
    textBlocks++
    for (let row = 0; row + 64 <= block.length; row += 64) {
      block.set(TEMPLATE, row)
      for (let h = 0; h < 16; h++)
        block[row + HOLES[h]!] = HEX[(random[row + (h >> 1)]! >> ((h & 1) * 4)) & 0xf]!
    }
  }
  return { state, randomBlocks, textBlocks }
}

/** `share` of the state's rows, chosen at random, rewritten with random bytes. */
function makePatches(bytes: number, share: number): { offset: number; data: Uint8Array }[] {
  const rows = Math.floor(bytes / ROW)
  const rng = createRng(77)
  const chosen = new Set<number>()
  while (chosen.size < Math.ceil(rows * share)) chosen.add(rng.int(rows))
  const stream = keystream(2)
  return [...chosen].sort((a, b) => a - b).map((row) => ({ offset: row * ROW, data: stream(ROW) }))
}

/** Reads the whole entry and checks it against `expected`; the bytes read. */
async function restoreEntry(
  store: Store,
  id: CheckpointId | 'latest',
  expected: Uint8Array,
): Promise<number> {
  const snapshot = await store.snapshot(id)
  let at = 0
  for await (const piece of snapshot.stream(ENTRY)) {
    if (Buffer.compare(piece, expected.subarray(at, at + piece.length)) !== 0)
      throw new Error(`restore of ${id} differs in the ${String(piece.length)} bytes at ${String(at)}`)
    at += piece.length
  }
  if (at !== expected.length)
    throw new Error(`restore of ${id}: ${String(at)} of ${String(expected.length)} bytes`)
  return at
}

// ---------------------------------------------------------------------------------------------
// The bench
// ---------------------------------------------------------------------------------------------

export async function run(options: BenchOptions): Promise<BenchResult> {
  const stateBytes = options.full ? GIB : 256 * MIB
  const rawObjects = options.full ? 64 : 16
  const progress = (line: string) => process.stderr.write(`  ${line}\n`)
  const server = await startS3Server('cairn-bench')
  try {
    return await withTempDir(NAME, (dir) => measure(server, dir, stateBytes, rawObjects, progress))
  } finally {
    await server.stop()
  }
}

async function measure(
  server: S3rver,
  dir: string,
  stateBytes: number,
  rawObjects: number,
  progress: (line: string) => void,
): Promise<BenchResult> {
  const counter = new RequestCounter(server.bucket)
  const phases: Phase[] = []
  const phase = phaseRunner(counter, server, phases)
  const s3 = (prefix: string): S3ObjectsOptions => ({
    bucket: server.bucket,
    endpoint: server.endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: CREDENTIALS,
    prefix,
    interceptRequest: counter.intercept,
  })

  // --- the raw rate of the server ---
  const object = keystream(3)(PACK_BYTES_DEFAULT)
  const adapter = await createS3BlobStore(s3('raw-adapter'))
  const adapterClient: RawClient = {
    name: "cairn's S3 adapter",
    put: (key, data) => adapter.put(key, data),
    get: async (key) => (await adapter.get(key)).length,
    remove: (keys) => adapter.delete(keys),
  }
  const sdk = sdkClient(server)
  const raw: RawRate[] = []
  const rawPass = async (pass: string, clients: readonly RawClient[]) => {
    for (const client of clients) {
      for (const concurrency of CONCURRENCIES) {
        const rate = await phase(`raw ${pass} ${client.name} ×${String(concurrency)}`, () =>
          rawRate(client, pass, concurrency, rawObjects, object),
        )
        raw.push(rate)
        progress(
          `raw (${pass}), ${client.name}, ${String(concurrency)} at a time: PUT ${fmt(rate.putMBps)} MB/s, GET ${fmt(rate.getMBps)} MB/s`,
        )
      }
    }
  }
  await rawPass('before', [adapterClient, sdk.client])

  // --- cairn: over S3, then the same on the local disk (the control: what S3 adds) ---
  const { state, randomBlocks, textBlocks } = makeState(stateBytes)
  const patches = makePatches(stateBytes, CHANGED_SHARE)
  const originals = patches.map(({ offset }) => state.slice(offset, offset + ROW))
  const setPatched = (patched: boolean) => {
    patches.forEach(({ offset, data }, i) => {
      state.set(patched ? data : originals[i]!, offset)
    })
  }
  const cairnS3 = s3('cairn')
  const overS3 = async (sub: string): Promise<Store> => {
    const at = join(dir, sub)
    await mkdir(at) // fails unless new: every store over S3 starts on an empty directory
    return openStore({ dir: at, objects: { s3: cairnS3, name: 'bench' } })
  }
  const onDisk = async (): Promise<Store> => openStore({ dir: join(dir, 'local') })

  const sequence = async (where: string, open: (sub: string) => Promise<Store>): Promise<Checkpoints> => {
    const p = where === '' ? '' : `${where}: `
    const step = <T>(name: string, body: () => Promise<T>): Promise<T> =>
      phase(p + name, body).finally(() => {
        progress(`${p}${name}: ${fmt(phases.at(-1)?.ms ?? Number.NaN)} ms`)
      })
    setPatched(false)
    const writer = await step(WRITER_OPEN, () => open('writer'))
    const first = await step(CK1, () => writer.checkpoint({ lsn: 0, entries: { [ENTRY]: state } }))
    const delta = await step(CK2, () =>
      writer.checkpoint({ lsn: 0, parent: first.id, patches: { [ENTRY]: patches } }),
    )
    setPatched(true)
    const third = await step(CK3, () => writer.checkpoint({ lsn: 0, entries: { [ENTRY]: state } }))
    await step(WRITER_CLOSE, () => writer.close())
    // Restore anywhere (over S3): a fresh store on an empty directory each time, so no cache helps.
    const restore = async (label: string, sub: string, id: CheckpointId | 'latest') => {
      const store = await step(`${label}: open`, () => open(sub))
      try {
        await step(`${label}: read`, () => restoreEntry(store, id, state))
      } finally {
        await step(`${label}: close`, () => store.close())
      }
    }
    setPatched(false)
    await restore(R1, 'restore-1', first.id)
    setPatched(true)
    await restore(R2, 'restore-2', delta.id)
    await restore(R3, 'restore-3', 'latest')
    return { first, delta, third }
  }
  const overS3Checkpoints = await sequence('', overS3)
  const serverStoredBytes = dirBytes(server.directory)
  await rawPass('after', [adapterClient])
  await adapter.close()
  sdk.close()
  const localCheckpoints = await sequence(LOCAL, onDisk)
  const localStoredBytes = dirBytes(join(dir, 'local', 'objects'))

  return report({
    server,
    stateBytes,
    randomBlocks,
    textBlocks,
    changedBytes: patches.length * ROW,
    patchCount: patches.length,
    raw,
    phases,
    checkpoints: overS3Checkpoints,
    localCheckpoints,
    serverStoredBytes,
    localStoredBytes,
    counter,
  })
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

interface Checkpoints {
  readonly first: CheckpointInfo
  readonly delta: CheckpointInfo
  readonly third: CheckpointInfo
}

interface Measured {
  readonly server: S3rver
  readonly stateBytes: number
  readonly randomBlocks: number
  readonly textBlocks: number
  readonly changedBytes: number
  readonly patchCount: number
  readonly raw: readonly RawRate[]
  readonly phases: readonly Phase[]
  readonly checkpoints: Checkpoints
  readonly localCheckpoints: Checkpoints
  readonly serverStoredBytes: number
  readonly localStoredBytes: number
  readonly counter: RequestCounter
}

const ADAPTER = "cairn's S3 adapter"

function report(m: Measured): BenchResult {
  const { stateBytes, phases, raw, counter } = m
  const stateGiB = stateBytes / GIB
  const get = (name: string): Phase => {
    const found = phases.find((p) => p.name === name)
    if (found === undefined) throw new Error(`no phase ${name}`)
    return found
  }
  const local = (name: string): Phase => get(`${LOCAL}: ${name}`)
  const mbps = (bytes: number, ms: number) => bytes / MB / (ms / 1000)
  const best = (rates: readonly RawRate[], of: 'putMBps' | 'getMBps') => Math.max(...rates.map((r) => r[of]))
  const adapterRates = raw.filter((r) => r.client === ADAPTER)
  const sdkRates = raw.filter((r) => r.client !== ADAPTER)
  const bestPut = best(adapterRates, 'putMBps')
  const bestGet = best(adapterRates, 'getMBps')
  const put1 = best(
    adapterRates.filter((r) => r.concurrency === 1),
    'putMBps',
  )
  const get4 = best(
    adapterRates.filter((r) => r.concurrency === 4),
    'getMBps',
  )

  const rawTable: Table = {
    title: `The server's raw rate: ${String(raw[0]?.objects ?? 0)} objects of ${fmt(PACK_BYTES_DEFAULT / MIB)} MiB, PUT all then GET all`,
    headers: ['client', 'pass', 'at a time', 'PUT MB/s', 'GET MB/s'],
    rows: raw.map((r) => [r.client, r.pass, String(r.concurrency), fmt(r.putMBps), fmt(r.getMBps)]),
  }

  const ck = m.checkpoints
  const ckRow = (label: string, name: string, info: CheckpointInfo) => {
    const p = get(name)
    const rate = mbps(stateBytes, p.ms)
    return [
      label,
      fmt(p.ms),
      fmt(info.storedBytes / MB, 1),
      fmt(rate),
      fmt(mbps(p.bytesUp, p.ms)),
      fmtRatio(rate / bestPut),
      fmtRatio(rate / put1),
      fmt(local(name).ms),
      fmtRatio(p.ms / local(name).ms),
    ]
  }
  const checkpointTable: Table = {
    title: `Checkpoints of a ${fmt(stateBytes / MIB)} MiB state over S3, against the raw PUT rate (same server, same run)`,
    headers: [
      'checkpoint',
      'ms',
      'stored MB',
      'logical MB/s',
      'uploaded MB/s',
      `vs best raw PUT (${fmt(bestPut)} MB/s)`,
      `vs raw PUT 1 at a time (${fmt(put1)} MB/s)`,
      'local disk ms',
      'S3 time vs local disk',
    ],
    rows: [
      ckRow('1: full', CK1, ck.first),
      ckRow(
        `2: ${ck.delta.kind}, ${fmt(m.patchCount)} rows of 4 KiB (${fmt(m.changedBytes / MB, 1)} MB) changed`,
        CK2,
        ck.delta,
      ),
      ckRow('3: full, the state of 2 (dedup against 1)', CK3, ck.third),
    ],
  }

  const rsRow = (label: string, name: string) => {
    const open = get(`${name}: open`)
    const read = get(`${name}: read`)
    const rate = mbps(stateBytes, read.ms)
    return [
      label,
      fmt(open.ms),
      fmt(read.ms),
      fmt(rate),
      fmt(mbps(stateBytes, read.ms + open.ms)),
      fmt(read.requestCount),
      fmt(read.bytesDown / MB),
      fmtRatio(rate / bestGet),
      fmtRatio(rate / get4),
      fmt(local(`${name}: read`).ms),
      fmtRatio(read.ms / local(`${name}: read`).ms),
    ]
  }
  const restoreTable: Table = {
    title: `Restore anywhere (a fresh store on an empty directory): read the whole ${fmt(stateBytes / MIB)} MiB entry, against the raw GET rate`,
    headers: [
      'snapshot',
      'open ms',
      'read ms',
      'MB/s (read)',
      'MB/s (open + read)',
      'requests (read)',
      'MB down',
      `read vs best raw GET (${fmt(bestGet)} MB/s)`,
      `vs raw GET 4 at a time (${fmt(get4)} MB/s)`,
      'local disk read ms',
      'S3 time vs local disk',
    ],
    rows: [
      rsRow('1: full', R1),
      rsRow('2: delta on 1 (chain of 2)', R2),
      rsRow('3: full, dedup against 1 (latest)', R3),
    ],
  }

  const cairnPhases = phases.filter((p) => !p.name.startsWith('raw ') && !p.name.startsWith(LOCAL))
  const perGiBPhases = new Set([CK1, CK2, CK3, `${R1}: read`, `${R2}: read`, `${R3}: read`])
  const requestTable: Table = {
    title: `Requests cairn sent over S3, by phase (per GiB: of the ${fmt(stateBytes / MIB)} MiB state checkpointed or restored)`,
    headers: [
      'phase',
      'ms',
      'requests',
      'per GiB',
      'MB up',
      'MB down',
      'client CPU s',
      'server CPU s',
      'by kind',
    ],
    rows: cairnPhases.map((p) => [
      p.name,
      fmt(p.ms),
      fmt(p.requestCount),
      perGiBPhases.has(p.name) ? fmt(p.requestCount / stateGiB) : '',
      fmt(p.bytesUp / MB, 1),
      fmt(p.bytesDown / MB, 1),
      fmt(p.clientCpuS, 1),
      fmt(p.serverCpuS, 1),
      breakdown(byKind(counter.tally(p.name))),
    ]),
  }

  // Every request cairn sent, by kind and key area, over all its phases.
  const all = new Map<string, number>()
  const where = new Map<string, Map<string, number>>()
  for (const p of cairnPhases) {
    for (const [key, n] of counter.tally(p.name).requests) {
      all.set(key, (all.get(key) ?? 0) + n)
      const short = p.name.replace(/ \(.*\)/, '').replace(/, dedup$/, '')
      const inPhase = where.get(key) ?? new Map<string, number>()
      inPhase.set(short, (inPhase.get(short) ?? 0) + n)
      where.set(key, inPhase)
    }
  }
  const kindTable: Table = {
    title: 'Every request cairn sent over S3, by kind and key area (the docs/SHARED.md layout)',
    headers: ['request', 'count', 'in'],
    rows: [...all]
      .sort((a, b) => b[1] - a[1])
      .map(([key, n]) => [key, fmt(n), breakdown(where.get(key) ?? new Map<string, number>())]),
  }

  const c1 = get(CK1)
  const c2 = get(CK2)
  const r1 = get(`${R1}: read`)
  const r3 = get(`${R3}: read`)
  const checkpointMBps = mbps(stateBytes, c1.ms)
  const restoreMBps = mbps(stateBytes, r1.ms)
  const summary =
    `Over s3rver on loopback, same run: a full checkpoint of ${fmt(stateBytes / MIB)} MiB at ${fmt(checkpointMBps)} MB/s ` +
    `(${fmtRatio(checkpointMBps / bestPut)} the server's best raw PUT rate through the same adapter, ${fmt(bestPut)} MB/s; ` +
    `${fmtRatio(c1.ms / local(CK1).ms)} the time on the local disk), ` +
    `its restore anywhere at ${fmt(restoreMBps)} MB/s (${fmtRatio(restoreMBps / bestGet)} the best raw GET rate, ${fmt(bestGet)} MB/s); ` +
    `${fmt(c1.requestCount / stateGiB)} requests per GiB checkpointed in full, ${fmt(c2.requestCount / stateGiB)} per GiB of state for a 2% delta, ` +
    `${fmt(r1.requestCount / stateGiB)} per GiB restored (${fmt(r3.requestCount / stateGiB)} for a full checkpoint deduplicated after 2% scattered changes)`

  const count = (phase: string, key: string) => counter.tally(phase).requests.get(key) ?? 0
  const lists = (phase: string) => byKind(counter.tally(phase)).get('LIST') ?? 0
  const sumPhases = (re: RegExp) =>
    cairnPhases.filter((p) => re.test(p.name)).reduce((a, p) => a + p.requestCount, 0)
  const notes = [
    'The peer is the server itself: s3rver 3.7.1 (a fake S3 server in Node.js, a devDependency) started by the bench on 127.0.0.1 and stopped at the end. ' +
      'Loopback: no network latency and no bandwidth limit, so every figure is bound by the CPU of the client and the server and by the disk, never by a network. Against real S3 each request costs a round trip (tens of ms to first byte), so the request counts below matter far more there than here.',
    `s3rver keeps each object as files on the local disk under os.tmpdir() (the object, its metadata, its MD5), with no fsync: a PUT lands in the page cache, and GETs are served from it (the machine has the memory). Its ceiling is its own Node.js overhead (MD5 of every byte, streams, ~ms per request) and the disk; it is one process, sharing the ${String(cpus().length)} cores with the bench's client and cairn's worker threads (the server CPU column).`,
    `The raw rate: ${String(raw[0]?.objects ?? 0)} objects of ${fmt(PACK_BYTES_DEFAULT / MIB)} MiB (cairn's pack size) of random bytes, PUT all then GET all, 1 and 4 at a time, through cairn's own S3 adapter (the same client overhead as cairn: AWS SDK v3 with its default checksums, the adapter's retry loop, the same request interceptor) and through a plain @aws-sdk/client-s3 client (best ${fmt(best(sdkRates, 'putMBps'))} MB/s PUT, ${fmt(best(sdkRates, 'getMBps'))} MB/s GET). Ratios use the best adapter rate of either pass (before cairn, and again after it: the spread between passes is the run's noise).`,
    'Like for like: cairn puts one pack at a time (the next is built meanwhile), so the raw PUT 1 at a time is its rate with no overlap lost; a restore reads ranged GETs of up to 4 MiB with up to 16 MiB ahead, about 4 at a time.',
    `The state: ${fmt(stateBytes / MIB)} MiB in 1 MiB blocks, ${String(m.randomBlocks)} of random bytes and ${String(m.textBlocks)} of JSON-ish text rows (deflate shrinks them about 3×), generated deterministically and held once in memory; logical MB/s = the state's bytes / the time. The delta rewrites ${fmt(m.patchCount)} random 4 KiB rows (${fmt(m.changedBytes / MB, 1)} MB, ${String(CHANGED_SHARE * 100)}%) with random bytes through \`patches\`; checkpoint 3 is a full checkpoint of the same changed state, deduplicated against checkpoint 1.`,
    'Restores open a fresh store on an empty directory (restore anywhere): "open" lists the store\'s manifests and the shipped log and downloads every index object; "read" streams the whole entry and checks every byte against the state (a memcmp).',
    `Restore 3 reads the same bytes as restore 2, from a full checkpoint whose changed chunks (about one per changed row, in a new pack) lie between runs of checkpoint 1's chunks: every change splits a ranged GET in two (${fmt(r3.requestCount)} requests against restore 1's ${fmt(r1.requestCount)}). A delta's patches are chunked back to back, several rows a chunk, so restore 2 splits fewer (${fmt(get(`${R2}: read`).requestCount)}). Here each extra request costs about ${fmt((r3.ms - r1.ms) / (r3.requestCount - r1.requestCount), 1)} ms of wall time (restore 3 less restore 1, per extra request); against real S3 it would cost a round trip, partly hidden by the read-ahead.`,
    `The control: the same sequence on the local disk (objects under the store's directory, written durably with fsync), after the S3 one, in the same process. Its restores reopen the writer's directory (its index cache is there, the packs are in the page cache), so they are not "anywhere": they show what the chunk store costs with no S3 in the way.`,
    'Requests are counted by method and key area in the adapter\'s interceptRequest, every attempt included (no retries happened unless the raw JSON says so). s3rver ignores If-None-Match, so conditional writes are detected "no" at every open (a probe: 2 PUTs and a batch DELETE) and every content-addressed put (packs, index objects, manifests) is a HEAD then a PUT; on AWS S3, which honours If-None-Match, those HEADs go away.',
    `Fixed costs per checkpoint: ${fmt(lists(CK2))} LISTs whatever its size (gc/ twice for the commit guard, index/ and the manifests once; the shipped log only when a segment has sealed since the last ship), a HEAD and a PUT of its manifest, and after the commit a HEAD of every pack its chunks lie in that it did not put itself (checkpoint 1: ${fmt(count(CK1, 'HEAD packs'))} HEADs of packs for ${fmt(count(CK1, 'PUT packs'))} packs put: the HEAD before each put, as s3rver ignores If-None-Match). Every open (the restores too) probes conditional writes: ${fmt(count(WRITER_OPEN, 'PUT probe'))} PUTs and a batch DELETE, so even a restore writes to the bucket.`,
    `Totals over S3: ${fmt(sumPhases(/^(writer|checkpoint)/))} requests for the writer (open, 3 checkpoints, close) and ${fmt(sumPhases(/^restore/))} for the 3 restores; s3rver held ${fmt(m.serverStoredBytes / MB)} MB on disk after the checkpoints (its metadata files included), the local store ${fmt(m.localStoredBytes / MB)} MB of objects.`,
  ]

  return {
    name: NAME,
    summary,
    tables: [rawTable, checkpointTable, restoreTable, requestTable, kindTable],
    notes,
    raw: {
      stateBytes,
      randomBlocks: m.randomBlocks,
      textBlocks: m.textBlocks,
      changedBytes: m.changedBytes,
      patchCount: m.patchCount,
      packBytes: PACK_BYTES_DEFAULT,
      rawRates: raw,
      best: { putMBps: bestPut, getMBps: bestGet, put1MBps: put1, get4MBps: get4 },
      checkpoints: m.checkpoints,
      localCheckpoints: m.localCheckpoints,
      checkpointMBps,
      restoreMBps,
      requestsPerGiB: Object.fromEntries(
        [...perGiBPhases].map((name) => [name, get(name).requestCount / stateGiB]),
      ),
      requestsByKindAndArea: Object.fromEntries(all),
      serverStoredBytes: m.serverStoredBytes,
      localStoredBytes: m.localStoredBytes,
      phases,
    },
  }
}
