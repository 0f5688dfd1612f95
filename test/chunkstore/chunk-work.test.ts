/**
 * The worker pool's node flags: inherited untouched (node then checks nothing more), except that
 * `--input-type`, which node refuses for a worker, is left out when the host runs with it
 * (review found that passing flags explicitly broke --max-old-space-size and friends).
 */
import { describe, expect, it } from 'vitest'
import { workerExecArgv } from '../../src/chunkstore/chunk-work.js'

describe('chunk worker flags', () => {
  it('inherits flags as they are unless --input-type is among them, and then drops only it', () => {
    expect(workerExecArgv([])).toBeUndefined()
    expect(workerExecArgv(['--max-old-space-size=4096', '--expose-gc'])).toBeUndefined()
    expect(workerExecArgv(['--max-old-space-size=4096', '--input-type=module'])).toEqual([
      '--max-old-space-size=4096',
    ])
    expect(workerExecArgv(['--input-type', 'module', '--stack-size=2000'])).toEqual(['--stack-size=2000'])
  })
})
