/**
 * A training loop for the kill test (train-kill.test.ts): resumes from the newest save, updates a
 * tensor deterministically step by step, saves on a cadence (alternately sync and async), and tells
 * the parent over IPC which steps are durable, only once they are. The parent SIGKILLs it.
 */
import { CheckpointManager } from '../../src/training/index.js'
import { TRAIN_LENGTH, digest, initialWeights, trainStep } from './train-model.js'

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: train-worker <dir>')
const send = (message: unknown) => process.send?.(message)

const manager = await CheckpointManager.open({
  dir,
  maxToKeep: 3,
  fullEvery: 4,
  saveEvery: { steps: 5 },
  gcEvery: 5,
})
const { step: start, state } = await manager.restoreOrInit(() => ({ w: initialWeights() }))
const w = state['w']
if (!(w instanceof Float32Array) || w.length !== TRAIN_LENGTH) throw new Error('restored state has no w')
send({ kind: 'resumed', step: start, digest: digest(w) })
let staged: number | undefined
for (let step = start + 1; ; step++) {
  trainStep(w, step)
  if (!manager.shouldSave(step)) continue
  if (step % 10 === 0) {
    await manager.save(step, { w, step }, { metrics: { loss: 1 / step } })
    send({ kind: 'durable', step })
  } else {
    await manager.saveAsync(step, { w, step })
    // saveAsync waited for the one before: it is durable now.
    if (staged !== undefined) send({ kind: 'durable', step: staged })
    staged = step
  }
}
