/**
 * The main demo: a game world saved with cairn, killed mid-write, recovered, and checked.
 *
 *   npm run demo            (builds, then runs this file)
 *
 * A child process runs a world of 4,096 players (a 512 KiB entry of 128-byte rows). Every change
 * rewrites one player's row and is logged first (`sync: 'always'`: acknowledged once durable); it
 * reports each acknowledged LSN to the parent. Every 1,500 changes it checkpoints: a delta that
 * patches just the rows changed since the last one, and a full snapshot every fourth time. After
 * about four seconds the parent kills it with SIGKILL, wherever it is: mid-append, mid-checkpoint.
 *
 * The parent then opens the store, recovers (the newest intact checkpoint plus the log after it),
 * replays the log into the world, and checks the result byte for byte against the world rebuilt
 * from the deterministic change stream, and that every change acknowledged before the kill is in.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createRng, openStore } from 'cairn'

const PLAYERS = 4096
const ROW = 128
const CHECKPOINT_EVERY = 1000
const FULL_EVERY = 4
const IN_FLIGHT = 32
const RUN_MS = Number(process.env.DEMO_RUN_MS ?? 4000)

/** The world before any change. */
function initialWorld(): Uint8Array {
  return createRng(42).bytes(PLAYERS * ROW)
}

/** Change `lsn`: which player, and its new row (deterministic, so the parent can replay it). */
function changeOf(lsn: number): { player: number; row: Uint8Array } {
  const rng = createRng(lsn * 7919 + 1)
  return { player: rng.int(PLAYERS), row: rng.bytes(ROW) }
}

function encodeChange(change: { player: number; row: Uint8Array }): Uint8Array {
  const record = new Uint8Array(4 + ROW)
  new DataView(record.buffer).setUint32(0, change.player, true)
  record.set(change.row, 4)
  return record
}

function applyRecord(world: Uint8Array, record: Uint8Array): void {
  const player = new DataView(record.buffer, record.byteOffset, record.length).getUint32(0, true)
  world.set(record.subarray(4, 4 + ROW), player * ROW)
}

/** The child: plays the world until it is killed. */
async function child(dir: string): Promise<void> {
  const store = await openStore({ dir, wal: { sync: 'always' } })
  const world = initialWorld()
  await store.checkpoint({ lsn: 0, entries: { 'world.bin': world } })
  let dirty = new Set<number>()
  let checkpoints = 0
  let highestAck = 0
  const inFlight = new Set<Promise<void>>()
  for (let lsn = 1; ; lsn++) {
    const change = changeOf(lsn)
    world.set(change.row, change.player * ROW)
    dirty.add(change.player)
    const acked = store.append(encodeChange(change)).then((got) => {
      if (got !== lsn) throw new Error(`LSN ${String(got)} where ${String(lsn)} was due`)
      if (got > highestAck) {
        highestAck = got
        process.stdout.write(`ack ${String(got)}\n`)
      }
    })
    inFlight.add(acked)
    void acked.finally(() => inFlight.delete(acked))
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight)
    if (lsn % CHECKPOINT_EVERY === 0) {
      checkpoints++
      const full = checkpoints % FULL_EVERY === 0
      const patches = [...dirty].map((player) => ({
        offset: player * ROW,
        data: world.slice(player * ROW, (player + 1) * ROW),
      }))
      // The world now holds every change up to `lsn`: the checkpoint covers them.
      const info = full
        ? await store.checkpoint({ lsn, entries: { 'world.bin': world.slice() }, tags: ['full'] })
        : await store.checkpoint({ lsn, parent: 'latest', patches: { 'world.bin': patches } })
      process.stdout.write(`checkpoint ${info.kind} ${String(lsn)} ${String(info.newBytes)}\n`)
      dirty = new Set()
    }
  }
}

/** The parent: runs the child, kills it, recovers and checks. */
async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-demo-'))
  try {
    const started = performance.now()
    const proc = spawn(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), 'child', dir],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let highestAck = 0
    const kinds = { full: 0, delta: 0 }
    let deltaBytes = 0
    const lines = createInterface({ input: proc.stdout })
    lines.on('line', (line) => {
      const [what, a, , c] = line.split(' ')
      if (what === 'ack') highestAck = Math.max(highestAck, Number(a))
      if (what === 'checkpoint') {
        kinds[a === 'full' ? 'full' : 'delta']++
        if (a === 'delta') deltaBytes += Number(c)
      }
    })
    const exited = new Promise<number | null>((resolve) => {
      proc.on('exit', (code) => {
        resolve(code)
      })
    })
    setTimeout(() => proc.kill('SIGKILL'), RUN_MS)
    const code = await exited
    const runSeconds = (performance.now() - started) / 1000
    if (code !== null)
      throw new Error(`the child exited on its own (code ${String(code)}) before it was killed`)

    const recoverStarted = performance.now()
    const store = await openStore({ dir })
    const { checkpoint, snapshot, records, warnings } = await store.recover()
    if (snapshot === undefined || checkpoint === undefined) throw new Error('no checkpoint recovered')
    const world = await snapshot.read('world.bin')
    let last = checkpoint.lsn
    let replayed = 0
    for await (const record of records) {
      applyRecord(world, record.data)
      last = record.lsn
      replayed++
    }
    const recoverMs = performance.now() - recoverStarted
    // The world rebuilt from the change stream up to the last recovered LSN.
    const expected = initialWorld()
    for (let lsn = 1; lsn <= last; lsn++) {
      const change = changeOf(lsn)
      expected.set(change.row, change.player * ROW)
    }
    const identical = Buffer.compare(Buffer.from(world), Buffer.from(expected)) === 0
    const report = await store.verify({ readData: true })
    await store.close()

    const ok = identical && last >= highestAck && report.ok && warnings.length === 0
    const deltas = Math.max(1, kinds.delta)
    console.log(
      `cairn demo: a ${String((PLAYERS * ROW) / 1024)} KiB game world, killed with SIGKILL after ${runSeconds.toFixed(1)} s`,
    )
    console.log(
      `  changes acknowledged (durable) before the kill  ${String(highestAck)}  (${(highestAck / runSeconds).toFixed(0)}/s, each fsynced)`,
    )
    console.log(
      `  checkpoints committed                           ${String(kinds.full + 1)} full, ${String(kinds.delta)} delta (a delta wrote ${(deltaBytes / deltas / 1024).toFixed(1)} KiB on average)`,
    )
    console.log(
      `  recovered                                       checkpoint at LSN ${String(checkpoint.lsn)} (${checkpoint.kind}) + ${String(replayed)} log records, in ${recoverMs.toFixed(0)} ms`,
    )
    console.log(
      `  last recovered LSN                              ${String(last)} (>= every acknowledged LSN: ${last >= highestAck ? 'yes' : 'NO'})`,
    )
    console.log(`  world byte-exact against the change stream      ${identical ? 'yes' : 'NO'}`)
    console.log(
      `  verify (every chunk read and hashed)            ${report.ok ? 'ok' : 'PROBLEMS'}, ${String(report.chunksChecked)} chunks${warnings.length > 0 ? `; warnings: ${JSON.stringify(warnings)}` : ''}`,
    )
    if (!ok) process.exitCode = 1
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'child') await child(process.argv[3] ?? '')
else await main()
