/**
 * A training loop killed mid-run resumes from the right step with identical state: a child process
 * trains, saves (sync and async) and reports each durable save; the parent SIGKILLs it at a random
 * moment, again and again. Every resume must start at or after the newest durable save, with the
 * state a run never interrupted would have at that step. CAIRN_TRAIN_KILLS sets how many kills
 * (default 4).
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { CheckpointManager } from '../../src/training/index.js'
import { makeTempDir } from '../helpers.js'
import { runUntilKilled } from '../kill-harness.js'
import { digest, replay } from './train-model.js'

const WORKER = fileURLToPath(new URL('./train-worker.ts', import.meta.url))
const KILLS = Number(process.env.CAIRN_TRAIN_KILLS ?? 4)

interface Message {
  readonly kind: 'resumed' | 'durable'
  readonly step: number
  readonly digest?: string
}

/** Runs the worker until it is killed `afterMs` after its first durable save; every message it sent first. */
async function runAndKill(dir: string, afterMs: number): Promise<Message[]> {
  const messages: Message[] = []
  await runUntilKilled<Message>(WORKER, [dir], (message, killAfter) => {
    messages.push(message)
    // Killed a random moment after its first durable save of this run: every run makes progress,
    // however loaded the machine.
    if (message.kind === 'durable' && messages.filter((m) => m.kind === 'durable').length === 1)
      killAfter(afterMs)
  })
  return messages
}

describe('a training loop killed with SIGKILL', () => {
  it('resumes from its newest durable save, with the state an uninterrupted run has at that step', async () => {
    const { dir, cleanup } = await makeTempDir()
    try {
      let durable = 0
      let resumes = 0
      for (let kill = 0; kill < KILLS; kill++) {
        const messages = await runAndKill(dir, Math.floor(Math.random() * 600))
        const resumed = messages.find((m) => m.kind === 'resumed')
        expect(resumed, 'the worker resumed').toBeDefined()
        if (resumed === undefined) continue
        expect(resumed.step).toBeGreaterThanOrEqual(durable)
        expect(resumed.digest).toBe(digest(replay(resumed.step)))
        resumes++
        for (const m of messages) if (m.kind === 'durable') durable = Math.max(durable, m.step)
      }
      // The parent resumes too, and checks what is on disk now.
      const manager = await CheckpointManager.open({ dir })
      const latest = await manager.restore('latest')
      expect(latest.step).toBeGreaterThanOrEqual(durable)
      expect(latest.step).toBeGreaterThan(0)
      const w = latest.state['w']
      expect(w instanceof Float32Array && digest(w) === digest(replay(latest.step))).toBe(true)
      await manager.close()
      console.log(
        `training kill test: ${String(KILLS)} SIGKILLs, ${String(resumes)} resumes checked, newest durable step ${String(durable)}, resumed at ${String(latest.step)}`,
      )
    } finally {
      await cleanup()
    }
  })
})
