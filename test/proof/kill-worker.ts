/**
 * The worker of the real-process kill loop (kill.test.ts): a mixed workload on the real disk
 * (appends, full and delta checkpoints, retention + GC) that reports every acknowledgement to the
 * parent over IPC only after its promise resolved, and a phase marker just before each
 * checkpoint and GC (written to the pipe before the work starts), so the parent can kill it
 * inside them and knows what may have happened. It runs until it is killed.
 * Usage: node --import tsx test/proof/kill-worker.ts <dir> <iteration>
 */
import { createRng } from '../../src/adapters/sim/rng.js'
import { openStore } from '../../src/store.js'
import { digest, killPayload } from './kill-protocol.js'
import type { KillMessage } from './kill-protocol.js'

async function main(dir: string, iteration: number): Promise<void> {
  const send = (message: KillMessage) => process.send?.(message)
  // A phase marker is in the pipe before the work it announces starts: queued in this process
  // (a full pipe), a kill would take it along while the checkpoint it names committed.
  const announce = (message: KillMessage) =>
    new Promise<void>((resolve, reject) => {
      process.send?.(message, undefined, {}, (error) => {
        if (error === null) resolve()
        else reject(error)
      })
    })
  const rng = createRng(iteration * 104_729 + 1)
  const store = await openStore({ dir, workers: 0, wal: { sync: 'always', segmentBytes: 64 * 1024 } })
  // The state goes on from the newest checkpoint.
  const recovered = await store.recover()
  const state = new Map<string, Uint8Array>()
  for (const name of (await recovered.snapshot?.entries()) ?? [])
    state.set(name, (await recovered.snapshot?.read(name)) ?? new Uint8Array())
  let lsn = recovered.checkpoint?.lsn ?? 0
  for await (const record of recovered.records) lsn = record.lsn
  send({ kind: 'opened' })
  let n = 0
  for (let step = 0; ; step++) {
    const count = 1 + rng.int(3)
    const payloads = Array.from({ length: count }, () => `k${String(iteration)}-${String(n++)}`)
    const lsns = await store.appendMany(payloads.map(killPayload))
    lsn = lsns.at(-1) ?? lsn
    send({ kind: 'acked', lsns, payloads })
    if (step % 15 === 14) {
      const full = state.size === 0 || rng.chance(0.25)
      if (full) {
        state.clear()
        state.set('world.bin', rng.bytes(20_000 + rng.int(40_000)))
        state.set('meta.json', new TextEncoder().encode(JSON.stringify({ iteration, step })))
      } else {
        const world = state.get('world.bin') ?? new Uint8Array()
        const at = rng.int(Math.max(1, world.length - 500))
        const patch = rng.bytes(1 + rng.int(500))
        const next = new Uint8Array(Math.max(world.length, at + patch.length))
        next.set(world)
        next.set(patch, at)
        state.set('world.bin', next)
      }
      const digests = Object.fromEntries([...state].map(([name, bytes]) => [name, digest(bytes)]))
      await announce({ kind: 'phase', phase: 'checkpoint', lsn, digests })
      const info = await store.checkpoint({
        lsn,
        entries: Object.fromEntries(state),
        ...(full ? {} : { parent: 'latest' as const }),
      })
      send({ kind: 'checkpoint', id: info.id, lsn, digests })
      if (rng.chance(0.3)) {
        await announce({ kind: 'phase', phase: 'gc', lsn })
        const plan = await store.retain({ keepLast: 2 })
        await store.gc({ graceMs: 0 })
        send({ kind: 'retained', dropped: plan.drop.map((entry) => entry.checkpoint.id) })
      }
    }
  }
}

const [dir, iteration] = process.argv.slice(2)
if (dir === undefined || iteration === undefined || process.send === undefined) {
  throw new Error('usage: kill-worker <dir> <iteration> (as a forked child)')
}
await main(dir, Number(iteration))
