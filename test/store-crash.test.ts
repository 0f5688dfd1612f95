/**
 * A crash before every I/O index of a checkpoint commit (a delta with entries and patches, and a
 * full one), under
 * every crash model: afterwards recover() gives either the old or the new checkpoint (the new one
 * whenever its commit resolved), its state byte-exact, and every acknowledged log record after
 * it (I1, I6, I8).
 */
import { describe, expect, it } from 'vitest'
import { CRASH_MODELS } from '../src/adapters/sim/crash.js'
import { createRng } from '../src/adapters/sim/rng.js'
import { SimDisk } from '../src/adapters/sim/sim-disk.js'
import { isCairnError } from '../src/core/errors.js'
import type { Store } from '../src/store.js'
import { collect, expectBytes, openSimStore } from './helpers.js'

const encode = (text: string) => new TextEncoder().encode(text)
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
const base = createRng(1).bytes(60_000)
const patched = base.slice()
patched.set(encode('PATCH'), 30_000)

const open = (disk: SimDisk): Promise<Store> => openSimStore(disk, { wal: { sync: 'always' } })

/** Before the crash: a full checkpoint at LSN 3, then two more records, acknowledged. */
async function setup(disk: SimDisk): Promise<Store> {
  const store = await open(disk)
  for (let i = 1; i <= 3; i++) await store.append(encode(`r${String(i)}`))
  await store.checkpoint({ lsn: 3, entries: { 'state.bin': base } })
  for (let i = 4; i <= 5; i++) await store.append(encode(`r${String(i)}`))
  return store
}

/** The operation crashed at every I/O: a checkpoint at LSN 5, a delta or a full one. */
function commit(store: Store, kind: 'delta' | 'full') {
  return kind === 'delta'
    ? store.checkpoint({
        lsn: 5,
        parent: 'latest',
        entries: { 'extra.bin': createRng(2).bytes(20_000) },
        patches: { 'state.bin': [{ offset: 30_000, data: encode('PATCH') }] },
      })
    : store.checkpoint({ lsn: 5, entries: { 'state.bin': patched, 'extra.bin': createRng(2).bytes(20_000) } })
}

describe('store crash', () => {
  it.each(['delta', 'full'] as const)(
    'a crash before every I/O of a %s checkpoint leaves the old or the new one, and no acknowledged record lost',
    async (kind) => {
      const probe = new SimDisk({ seed: 1 })
      const probeStore = await setup(probe)
      const before = probe.ioCount
      await commit(probeStore, kind)
      const commitIo = probe.ioCount - before
      await probeStore.close()
      let states = 0
      const seen = { old: 0, new: 0 }
      for (let k = 1; k <= commitIo + 1; k++) {
        const disk = new SimDisk({ seed: k })
        const store = await setup(disk)
        disk.haltAtIo(disk.ioCount + k)
        let resolved = true
        try {
          await commit(store, kind)
        } catch (error) {
          if (!disk.halted || !isCairnError(error)) throw error
          resolved = false
        }
        for (const model of CRASH_MODELS) {
          const booted = await open(disk.crash(model, createRng(k)))
          const { checkpoint, snapshot, records, warnings } = await booted.recover()
          expect(warnings).toEqual([])
          const isNew = checkpoint?.lsn === 5
          if (resolved) expect(isNew, `k=${String(k)} ${model}: a resolved commit survives`).toBe(true)
          expectBytes(await snapshot!.read('state.bin'), isNew ? patched : base, `k=${String(k)} ${model}`)
          const replayed = (await collect(records)).map((r) => decode(r.data))
          expect(replayed).toEqual(isNew ? [] : ['r4', 'r5'])
          seen[isNew ? 'new' : 'old']++
          expect((await booted.verify({ readData: true })).problems).toEqual([])
          await booted.close()
          states++
        }
      }
      expect(commitIo).toBeGreaterThan(10)
      expect(states).toBe((commitIo + 1) * CRASH_MODELS.length)
      expect(seen.old).toBeGreaterThan(0)
      expect(seen.new).toBeGreaterThan(0)
    },
  )
})
