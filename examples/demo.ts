/**
 * The foundation demo: durable objects on the real disk, then power loss on the simulated disk.
 *
 *   npm run demo            (builds, then runs this file against the built package)
 *
 * 1. Puts objects durably into a store directory on the real disk (temp file, fdatasync, rename,
 *    directory fsync), reads every one back and checks it, and prints the rate.
 * 2. Runs the same puts on the simulated disk, cuts the power at random I/O calls, boots the
 *    disk under each crash model, and checks that every acknowledged put survived byte-exact
 *    and that no object is ever partial.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CRASH_MODELS, SimDisk, createFsBlobStore, createNodeVfs, createRng, isCairnError } from 'cairn'
import type { BlobStore } from 'cairn'

const OBJECTS = 200
const OBJECT_BYTES = 64 * 1024

function makeObject(index: number): Uint8Array {
  const rng = createRng(index + 1)
  return rng.bytes(OBJECT_BYTES)
}

function keyOf(index: number): string {
  const digest = createHash('sha256').update(String(index)).digest('hex')
  return `objects/${digest.slice(0, 2)}/${digest}`
}

async function realDisk(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-demo-'))
  try {
    const store = await createFsBlobStore({ vfs: createNodeVfs({ root: dir }), root: 'store' })
    const started = performance.now()
    for (let i = 0; i < OBJECTS; i++) await store.put(keyOf(i), makeObject(i))
    const seconds = (performance.now() - started) / 1000
    let verified = 0
    for (let i = 0; i < OBJECTS; i++) {
      const back = await store.get(keyOf(i))
      if (Buffer.compare(back, makeObject(i)) !== 0)
        throw new Error(`object ${String(i)} came back different`)
      verified += 1
    }
    const mb = (OBJECTS * OBJECT_BYTES) / 1e6
    console.log(`real disk (${dir})`)
    console.log(
      `  ${String(OBJECTS)} durable puts of 64 KiB: ${(OBJECTS / seconds).toFixed(0)} puts/s, ${(mb / seconds).toFixed(1)} MB/s`,
    )
    console.log(`  read back and verified: ${String(verified)}/${String(OBJECTS)}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Puts objects until the power goes; returns the indexes whose put resolved. */
async function putUntilPowerLoss(disk: SimDisk, store: BlobStore): Promise<number[]> {
  const acknowledged: number[] = []
  for (let i = 0; i < 40; i++) {
    try {
      await store.put(keyOf(i), makeObject(i))
      acknowledged.push(i)
    } catch (error) {
      if (disk.halted && isCairnError(error, 'IO')) break
      throw error
    }
  }
  return acknowledged
}

async function simulatedPowerLoss(): Promise<void> {
  const rng = createRng(2026)
  let states = 0
  let acknowledgedChecked = 0
  let unacknowledgedSurvived = 0
  let lost = 0
  let partial = 0
  for (let round = 0; round < 30; round++) {
    const disk = new SimDisk({ seed: round })
    disk.haltAtIo(1 + rng.int(400))
    const acknowledged = await putUntilPowerLoss(disk, await createFsBlobStore({ vfs: disk }))
    for (const model of CRASH_MODELS) {
      const booted = disk.crash(model, rng.fork())
      const store = await createFsBlobStore({ vfs: booted })
      for (let i = 0; i < 40; i++) {
        const found = await store.get(keyOf(i)).catch((error: unknown) => {
          if (isCairnError(error, 'NOT_FOUND')) return undefined
          throw error
        })
        if (found !== undefined && Buffer.compare(found, makeObject(i)) !== 0) {
          partial += 1
        } else if (acknowledged.includes(i)) {
          if (found === undefined) lost += 1
          acknowledgedChecked += 1
        } else if (found !== undefined) {
          unacknowledgedSurvived += 1
        }
      }
      states += 1
    }
  }
  console.log('simulated disk: 30 power losses at random I/O calls, each booted under 4 crash models')
  console.log(`  crash states checked: ${String(states)}`)
  console.log(`  acknowledged puts checked: ${String(acknowledgedChecked)}, lost: ${String(lost)}`)
  console.log(`  objects found partial or wrong: ${String(partial)}`)
  console.log(`  unacknowledged puts that happened to survive whole: ${String(unacknowledgedSurvived)}`)
  if (lost > 0 || partial > 0) {
    console.error('FAILED: the store lost or corrupted data')
    process.exitCode = 1
  }
}

await realDisk()
await simulatedPowerLoss()
