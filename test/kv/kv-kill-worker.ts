/**
 * The worker of the key-value kill loop (kv-kill.test.ts): opens the store in <dir>, then writes
 * as fast as it can, 64 writes in flight (puts, deletes, every 40th a batch), checkpointing in the
 * background, and reports each acknowledgement over IPC only after the write's promise resolved.
 * It runs until it is killed.
 * Usage: node --import tsx test/kv/kv-kill-worker.ts <dir> <iteration>
 */
import { openKv } from '../../src/kv/index.js'
import type { Kv } from '../../src/kv/index.js'
import { killWrite } from './kv-kill-protocol.js'
import type { KvKillMessage } from './kv-kill-protocol.js'

const IN_FLIGHT = 64

function issue(kv: Kv, iteration: number, index: number): Promise<number> {
  const changes = killWrite(iteration, index)
  const [only] = changes
  if (changes.length === 1 && only !== undefined) {
    const [key, value] = only
    return value === undefined ? kv.delete(key) : kv.put(key, value)
  }
  return kv.batch(
    changes.map(([key, value]) =>
      value === undefined ? { type: 'delete', key } : { type: 'put', key, value },
    ),
  )
}

async function main(dir: string, iteration: number): Promise<void> {
  const send = (message: KvKillMessage) => process.send?.(message)
  const kv = await openKv({
    dir,
    checkpointEvery: { records: 500, ms: 50 },
    retention: { keepLast: 2, gcEvery: 2 },
    store: { workers: 0, wal: { segmentBytes: 1024 * 1024 } },
    onCheckpoint: (info) => send({ kind: 'checkpoint', lsn: info.lsn }),
    onError: (error) => {
      throw error
    },
  })
  send({ kind: 'opened', lsn: kv.lsn })
  // Acknowledgements resolve in call order; they are sent in batches, once a turn.
  let upTo = -1
  let scheduled = false
  const acked = (index: number) => {
    if (index !== upTo + 1) throw new Error(`write ${String(index)} acknowledged after ${String(upTo)}`)
    upTo = index
    if (scheduled) return
    scheduled = true
    setImmediate(() => {
      scheduled = false
      send({ kind: 'acked', upTo })
    })
  }
  const inFlight = new Set<Promise<void>>()
  for (let index = 0; ; index++) {
    const done = issue(kv, iteration, index).then(() => {
      acked(index)
    })
    inFlight.add(done)
    void done.finally(() => inFlight.delete(done))
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight)
  }
}

const [dir, iteration] = process.argv.slice(2)
if (dir === undefined || iteration === undefined || process.send === undefined) {
  throw new Error('usage: kv-kill-worker <dir> <iteration> (as a forked child)')
}
await main(dir, Number(iteration))
