/**
 * The bench's command helper (bench/commands.ts) must not keep the bench process alive: a bench
 * that has printed its figures exits. (It did not: the helper's process handle held the bench,
 * the helper waited for the bench's channel to close, and `npm run bench` never returned.)
 */
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

describe('bench command helper', () => {
  it('runs a command in the helper, then lets the process exit', () => {
    // A hang is killed by the timeout and fails the test (execFileSync throws).
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'commands-child.ts')],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    )
    expect(JSON.parse(out.trim())).toEqual({ stdout: 'hi', timed: true })
  })
})
