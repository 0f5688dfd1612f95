/** The deterministic "model" of the training kill test: a tensor and a sparse update per step. */
import { createHash } from 'node:crypto'

export const TRAIN_LENGTH = 256 * 1024 // 1 MiB of float32

export function initialWeights(): Float32Array {
  const w = new Float32Array(TRAIN_LENGTH)
  for (let i = 0; i < w.length; i++) w[i] = ((i * 2654435761) % 1000) / 1000
  return w
}

/** Step `step` changes 16 weights: the state after step n depends on steps 1..n only. */
export function trainStep(w: Float32Array, step: number): void {
  for (let j = 0; j < 16; j++) {
    const at = (step * 2654435761 + j * 40503) % w.length
    w[at] = (w[at] ?? 0) + (((step + j) % 13) - 6) * 0.01
  }
}

/** The state after `steps` steps from the start. */
export function replay(steps: number): Float32Array {
  const w = initialWeights()
  for (let step = 1; step <= steps; step++) trainStep(w, step)
  return w
}

export function digest(w: Float32Array): string {
  return createHash('sha256')
    .update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength))
    .digest('hex')
}
