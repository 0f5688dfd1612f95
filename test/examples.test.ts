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

  it('examples/chunkstore.ts (the README chunk store example) stores the second version as one new chunk', async () => {
    const lines = await captureLog(() => import('../examples/chunkstore.js'))
    expect(lines[0]).toMatch(/^v1 \d+ bytes, \d+ chunks, \d+ stored$/)
    expect(lines[1]).toMatch(/^v2 \d+ bytes, 1 new chunk\(s\), \d+ stored$/)
    expect(lines[2]).toBe('v2 reads back true')
    expect(lines[3]).toMatch(/^verify true \d+ chunks$/)
    const [, v1Bytes, , , , v1Stored] = lines[0]!.split(' ')
    expect(Number(v1Stored)).toBeLessThan(Number(v1Bytes) / 4)
  })
  it('examples/training.ts (the README training loop) keeps the newest, the best and their base, and resumes identical', async () => {
    const lines = await captureLog(() => import('../examples/training.js'))
    expect(lines).toEqual([
      'kept steps 250:full 300:delta 350:delta 400:delta',
      'resumed at step 400 identical true',
    ])
  })
  it('examples/saves.ts (the README save-game example) saves two slots, loads one, and shows its history newest first', async () => {
    const lines = await captureLog(() => import('../examples/saves.js'))
    expect(lines[0]).toBe('slot-1 loads {"level":2,"hp":64,"inventory":["sword","map"]}')
    expect(lines.slice(1, 3)).toEqual([
      'slot slot-2 1 save(s), newest 4 bytes',
      'slot slot-1 2 save(s), newest 47 bytes',
    ])
    expect(lines[3]).toMatch(/^history [0-9a-f]{8} \d{4}-\d\d-\d\dT[\d:.]+Z 47 bytes \["boss-beaten"\]$/)
    expect(lines[4]).toMatch(/^history [0-9a-f]{8} \d{4}-\d\d-\d\dT[\d:.]+Z 42 bytes \[\]$/)
    expect(lines[5]).toBe('first save loads {"level":1,"hp":100,"inventory":["sword"]}')
    expect(lines).toHaveLength(6)
  })
  it('examples/kv.ts (the README key-value example) writes, reads, scans a prefix in key order, and finds every write after a reopen', async () => {
    const lines = await captureLog(() => import('../examples/kv.js'))
    expect(lines).toEqual([
      'get user:1 ada',
      'scan user:1 ada',
      'scan user:2 grace',
      'scan user:4 barbara',
      'reopened 4 keys: config:theme user:1 user:2 user:4',
    ])
  })
})
