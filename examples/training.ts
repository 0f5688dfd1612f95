// The README's training-loop example: save every 50 steps, keep the 3 newest and the 2 best by
// loss, resume where a killed run stopped. Run: npm run build && npx tsx examples/training.ts
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CheckpointManager } from 'cairn'

const dir = await mkdtemp(join(tmpdir(), 'cairn-train-'))
const options = {
  dir,
  maxToKeep: 3,
  best: { metric: 'loss', mode: 'min' as const, k: 2 },
  saveEvery: { steps: 50 },
  fullEvery: 4,
}
let manager = await CheckpointManager.open(options)
const start = await manager.restoreOrInit(() => ({ w: new Float32Array(1 << 20), lr: 0.01 }))
const w = start.state['w'] as Float32Array
let step = start.step
for (step += 1; step <= 400; step++) {
  const at = (step * 7919) % w.length
  w[at] = (w[at] ?? 0) + 0.001 // a sparse update: increments store the changed rows only
  const loss = 1 / step + (step % 100 === 0 ? 0 : 0.01)
  if (manager.shouldSave(step)) await manager.saveAsync(step, { w, lr: 0.01 }, { metrics: { loss } })
}
await manager.close() // waits for the last background save; throws if it failed
manager = await CheckpointManager.open(options) // a new run resumes here
console.log('kept steps', (await manager.saved()).map((s) => `${String(s.step)}:${s.kind}`).join(' '))
const resumed = await manager.restoreOrInit(() => ({ w: new Float32Array(1 << 20) }))
console.log(
  'resumed at step',
  resumed.step,
  'identical',
  Buffer.compare(Buffer.from((resumed.state['w'] as Float32Array).buffer), Buffer.from(w.buffer)) === 0,
)
await manager.close()
await rm(dir, { recursive: true, force: true })
