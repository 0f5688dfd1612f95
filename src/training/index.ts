/** The checkpoint manager for training loops (checkpoint-manager.ts). */
export { CheckpointManager } from './checkpoint-manager.js'
export type { CheckpointManagerOptions, Restored, SavedStep } from './checkpoint-manager.js'
export type { KeepEvery } from './keep-every.js'
export type { Dtype, Tensor, TrainingState } from './state-codec.js'
