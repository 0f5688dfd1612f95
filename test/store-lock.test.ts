/**
 * One writer across processes: while another process holds the store, openStore is LOCKED; once
 * that process is killed (SIGKILL: it never releases), its lock is stale and is taken over.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { once } from 'node:events'
import { afterAll, describe, expect, it } from 'vitest'
import { openStore } from '../src/store.js'
import { expectCairnError, makeTempDir } from './helpers.js'

const cleanups: (() => Promise<void>)[] = []
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup()
})

describe('store lock across processes', () => {
  it('a second process gets LOCKED while the first lives, and takes over once it is killed', async () => {
    const { dir, cleanup } = await makeTempDir()
    cleanups.push(cleanup)
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'store-lock-child.ts'), dir],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer]
      expect(line.toString()).toContain('open')
      const error = await expectCairnError(openStore({ dir, workers: 0 }), 'LOCKED')
      expect(error.message).toContain(`pid ${String(child.pid)}`)
    } finally {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
    const store = await openStore({ dir, workers: 0 })
    expect(await store.checkpoints()).toEqual([])
    await store.close()
  }, 30_000)
})
