import { describe, expect, it } from 'vitest'
import { roundFigures } from '../../bench/rounds.js'

describe('figures measured in rounds', () => {
  it("give the median time and the median and range of the rounds' own speed ratios", () => {
    // cairn's rounds, and restic's in the same rounds: ratios 1000/400, 900/300, 1200/600.
    const rounds = new Map([
      ['cairn', [400, 300, 600]],
      ['restic', [1000, 900, 1200]],
    ])
    const figures = roundFigures(rounds, 'cairn', 'restic')
    expect(figures.ms).toBe(400)
    expect(figures.ratio).toEqual({ median: 2.5, min: 2, max: 3 })
    // The median of the rounds' ratios (3, 2, 1.25), not the ratio of the medians (900 / 400):
    // each ratio compares two runs that met the same state of the machine.
    const paired = roundFigures(
      new Map([
        ['cairn', [300, 400, 800]],
        ['restic', [900, 800, 1000]],
      ]),
      'cairn',
      'restic',
    )
    expect(paired.ms).toBe(400)
    expect(paired.ratio).toEqual({ median: 2, min: 1.25, max: 3 })
  })

  it('give no ratio when the peer did not run every round', () => {
    const rounds = new Map([
      ['cairn', [400, 300]],
      ['restic', [1000]],
    ])
    expect(roundFigures(rounds, 'cairn', 'restic')).toEqual({ ms: 350 })
    expect(roundFigures(rounds, 'cairn', 'borg')).toEqual({ ms: 350 })
  })
})
