/** The README's runnable examples run as written (imported through the `cairn` alias to src). */
import { describe, expect, it, vi } from 'vitest'

describe('examples', () => {
  it('examples/sim-disk.ts (the README example) runs and shows the acknowledged object after every crash', async () => {
    const lines: string[] = []
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '))
    })
    try {
      await import('../examples/sim-disk.js')
    } finally {
      spy.mockRestore()
    }
    for (const model of ['processCrash', 'clearCache', 'prefixPerFile', 'weak']) {
      expect(lines).toContain(`${model} 12 undefined`)
    }
    expect(lines.join('\n')).toContain('power lost as this call started')
  })
})
