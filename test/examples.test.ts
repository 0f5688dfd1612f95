/** The README's runnable examples run as written (imported through the `cairn` alias to src). */
import { describe, expect, it, vi } from 'vitest'

/** Runs `body` and returns what it printed with console.log, one string a call. */
async function captureLog(body: () => Promise<unknown>): Promise<string[]> {
  const lines: string[] = []
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(args.map(String).join(' '))
  })
  try {
    await body()
  } finally {
    spy.mockRestore()
  }
  return lines
}

describe('examples', () => {
  it('examples/sim-disk.ts (the README example) runs and shows the acknowledged object after every crash', async () => {
    const lines = await captureLog(() => import('../examples/sim-disk.js'))
    for (const model of ['processCrash', 'clearCache', 'prefixPerFile', 'weak']) {
      expect(lines).toContain(`${model} 12 undefined`)
    }
    expect(lines.join('\n')).toContain('power lost as this call started')
  })

  it('examples/wal.ts (the README log example) replays the six records it appended', async () => {
    const lines = await captureLog(() => import('../examples/wal.js'))
    expect(lines[0]).toBe('recovered LSNs 1 .. 6')
    expect(lines.slice(1).map((l) => l.split(' ')[0])).toEqual(['1', '2', '3', '4', '5', '6'])
    expect(lines.at(-1)).toBe('6 {"op":"put","key":"hp","value":90}')
  })
})
