/**
 * cairn's own golden plans: a fixed, hand-designed list of 70 checkpoints and 21 (policy, time zone)
 * cases in fixtures/golden/checkpoints.json, and the plan of each, as formatPlan prints it, in
 * fixtures/golden/<case>.txt. The list is built to hit the edges: missing days, an ISO week and
 * months with no checkpoint, both DST changes of 2026 in Europe/Berlin and America/New_York (the
 * instant of a jump, the two passes of a repeated hour), same-second checkpoints (their input order
 * decides), future-dated ones (one exactly at `now`), ISO week 2026-W53 and Dec 31 / Jan 1 in three
 * zones, delta chains (one whose parent is gone), tags and metrics (with ties), pins.
 *
 * The comparison is exact. A change to planning that changes a plan fails here; if the change is
 * meant, regenerate and review the diff of the .txt files:
 *
 *     UPDATE_GOLDEN=1 npx vitest run test/retention/golden.test.ts
 *
 * The goldens were checked by hand against RETENTION.md before they were committed; the reasoning
 * for the trickiest (DST hour, same second, future-dated, ISO week 53) is written out as
 * assertions below, so they do not stand only on "what the code printed".
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { formatPlan, planRetention } from '../../src/retention/plan.js'
import type { RetainedCheckpoint, RetentionPlan, RetentionPolicy } from '../../src/retention/plan.js'

interface Fixture {
  readonly now: string
  readonly checkpoints: readonly {
    readonly id: string
    readonly at: string
    readonly kind: 'full' | 'delta'
    readonly parent?: string
    readonly tags?: string[]
    readonly metrics?: Record<string, number>
  }[]
  readonly cases: readonly {
    readonly name: string
    readonly timeZone: string
    readonly policy: RetentionPolicy
  }[]
}

const dir = new URL('fixtures/golden/', import.meta.url)
const fixture = JSON.parse(readFileSync(new URL('checkpoints.json', dir), 'utf8')) as Fixture
const now = new Date(fixture.now)
const list: RetainedCheckpoint[] = fixture.checkpoints.map((c) => ({
  id: c.id,
  createdAt: new Date(c.at),
  kind: c.kind,
  ...(c.parent === undefined ? {} : { parent: c.parent }),
  tags: c.tags ?? [],
  metrics: c.metrics ?? {},
}))

function plan(name: string): RetentionPlan<RetainedCheckpoint> {
  const c = fixture.cases.find((k) => k.name === name)
  if (c === undefined) throw new Error(`no case ${name}`)
  return planRetention(list, c.policy, { now, timeZone: c.timeZone })
}
/** Reasons by id; an id missing from the map was dropped. */
const kept = (name: string) => new Map(plan(name).keep.map((e) => [e.checkpoint.id, e.reasons]))
const keptIds = (name: string) => plan(name).keep.map((e) => e.checkpoint.id)

function render(c: Fixture['cases'][number]): string {
  return [
    `# ${c.name}: ${JSON.stringify(c.policy)}`,
    `# timeZone ${c.timeZone}, now ${now.toISOString()}`,
    formatPlan(plan(c.name)),
    '',
  ].join('\n')
}

describe('golden plans', () => {
  it('the fixture: 70 checkpoints with unique ids, 21 cases', () => {
    expect(list).toHaveLength(70)
    expect(new Set(list.map((c) => c.id)).size).toBe(70)
    expect(fixture.cases).toHaveLength(21)
  })

  for (const c of fixture.cases) {
    it(`${c.name} matches fixtures/golden/${c.name}.txt`, () => {
      const file = new URL(`${c.name}.txt`, dir)
      const text = render(c)
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text)
      expect(existsSync(file), `missing golden: run with UPDATE_GOLDEN=1`).toBe(true)
      expect(text).toBe(readFileSync(file, 'utf8'))
    })
  }
})

describe('golden plans, reasoned by hand', () => {
  it('DST hour: the two passes of a repeated hour share a wall-clock hour bucket; the newer wins', () => {
    // Berlin 2026-10-25: c24 00:15Z is 02:15 CEST, c25 01:15Z is 02:15 CET, both hour 02 on the
    // wall clock, so one hourly bucket: c25, newer, takes it. c24 stays only as the base of c25.
    const berlin = kept('hourly-all-berlin')
    expect(berlin.get('c25')).toEqual(['hourly snapshot'])
    expect(berlin.get('c24')).toEqual(['base of c25'])
    expect(berlin.get('c26')).toEqual(['hourly snapshot']) // 03:30 CET: the next hour
    // In UTC they are hours 00 and 01: two buckets.
    expect(kept('hourly-all-utc').get('c24')).toEqual(['hourly snapshot'])
    // New York 2026-11-01: c27 05:20Z is 01:20 EDT, c28 06:20Z is 01:20 EST, one bucket; c29 02:20 EST.
    const newYork = kept('hourly-all-newyork')
    expect(newYork.get('c28')).toEqual(['hourly snapshot'])
    expect(newYork.get('c27')).toEqual(['base of c28'])
    expect(newYork.get('c29')).toEqual(['hourly snapshot'])
    // Berlin spring-forward: c18 (01:00Z, the jump itself) is 03:00 CEST and c19 03:30 CEST: one
    // bucket (hour 03); c17 01:30 CET is hour 01. Hour 02 does not exist that day.
    expect(berlin.get('c19')).toEqual(['hourly snapshot'])
    expect(berlin.get('c18')).toEqual(['base of c19'])
    // c17 is the base of c18 and c19 too, but kept for its own hour: a base is named only when
    // it is kept for nothing else.
    expect(berlin.get('c17')).toEqual(['hourly snapshot'])
    // New York spring-forward: c15 01:30 EST and c16 03:30 EDT are hours 01 and 03.
    expect(newYork.get('c16')).toEqual(['hourly snapshot'])
    expect(newYork.get('c15')).toEqual(['hourly snapshot'])
  })

  it('same second: equal times keep their input order, so the one listed first wins the bucket', () => {
    // c49 and c50 are both 2026-12-30T10:00:00Z, c49 listed first: newest-first stable order puts
    // c49 first, it takes the Dec 30 bucket, and c50 (no child) is dropped.
    const daily = kept('daily-14-utc')
    expect(daily.get('c49')).toEqual(['daily snapshot'])
    expect(daily.has('c50')).toBe(false)
    // c59, c60, c61 at 2027-01-05T08:00:00Z: c59 (listed first) takes Jan 5.
    expect(daily.get('c59')).toEqual(['daily snapshot'])
    expect(daily.has('c60') || daily.has('c61')).toBe(false)
    // One millisecond is not a tie: c63 (09:00:00.001) is newer than c62 and takes Jan 6.
    expect(daily.get('c63')).toEqual(['daily snapshot'])
    expect(daily.has('c62')).toBe(false)
    // In the plan itself the tie keeps input order too.
    const order = plan('daily-14-utc').drop.map((e) => e.checkpoint.id)
    expect(order.indexOf('c60')).toBeLessThan(order.indexOf('c61'))
  })

  it('future-dated: they take count slots, and `latest` for within is the newest strictly before now', () => {
    // now = 2027-01-10T12:00:00Z. c69 (2030), c68 (Feb 2027) and c67 (exactly now, not before it)
    // are in the future. keepLast 5 takes them first, then c66 (also the base of the future delta
    // c68, but kept on its own) and c70. Nothing else is kept.
    expect(plan('last-5-utc').keep.map((e) => [e.checkpoint.id, ...e.reasons])).toEqual([
      ['c69', 'newest', 'last snapshot'],
      ['c68', 'last snapshot'],
      ['c67', 'last snapshot'],
      ['c66', 'last snapshot'],
      ['c70', 'last snapshot'],
    ])
    // latest is c66 (11:59:59), not c67: 1h back is 10:59:59, so c70 at 11:00:00 is within. Were
    // latest c67, the cutoff would be 11:00:00 and c70, on the boundary, would go. The future ones
    // are after the cutoff, so restic keeps them as "within" too.
    expect(plan('within-1h-utc').keep.map((e) => [e.checkpoint.id, ...e.reasons])).toEqual([
      ['c69', 'newest', 'within 1h'],
      ['c68', 'within 1h'],
      ['c67', 'within 1h'],
      ['c66', 'within 1h'],
      ['c70', 'within 1h'],
    ])
  })

  it('ISO week 53: 2026-W53 runs Mon Dec 28 to Sun Jan 3, and its newest depends on the zone', () => {
    // UTC, newest first: 2030-W01 c69, 2027-W05 c68, 2027-W01 c67 (Sunday Jan 10), then 2026-W53,
    // whose newest is c57 (Sunday Jan 3 23:30Z), 2026-W52 c46 (Sunday Dec 27), 2026-W51 has none,
    // 2026-W50 c40 (Sunday Dec 13). c66 is kept as the base of c68.
    const weekly = (name: string) =>
      plan(name)
        .keep.filter((e) => e.reasons.includes('weekly snapshot'))
        .map((e) => e.checkpoint.id)
    expect(weekly('weekly-6-utc')).toEqual(['c69', 'c68', 'c67', 'c57', 'c46', 'c40'])
    expect(keptIds('weekly-6-utc')).toEqual(['c69', 'c68', 'c67', 'c66', 'c57', 'c46', 'c40'])
    // Berlin: c57 is Monday Jan 4 00:30, in 2027-W01, whose bucket c67 already took; 2026-W53's
    // newest there is c56 (Jan 3 11:00), a delta, so its chain c55, c54, c53 comes along, each
    // named the base of c56, its nearest kept descendant.
    expect(weekly('weekly-6-berlin')).toEqual(['c69', 'c68', 'c67', 'c56', 'c46', 'c40'])
    expect(kept('weekly-6-berlin').get('c53')).toEqual(['base of c56'])
    expect(kept('weekly-6-berlin').has('c57')).toBe(false)
  })

  it('year boundaries: Dec 31 23:30Z and Jan 1 04:30Z fall in different years by zone', () => {
    // Berlin: c02 (2024-12-31T23:30Z) is Jan 1 2025, so 2024 holds only c01, the oldest; with an
    // unlimited count the oldest is kept as a year of its own.
    const berlin = kept('yearly-all-berlin')
    expect(berlin.get('c01')).toEqual(['yearly snapshot'])
    expect(berlin.has('c02')).toBe(false)
    // New York: c03 (2025-01-01T04:30Z) is Dec 31 2024 23:30, the newest of 2024 there.
    const newYork = kept('yearly-all-newyork')
    expect(newYork.get('c03')).toEqual(['yearly snapshot'])
    expect(newYork.get('c01')).toEqual(['oldest yearly snapshot'])
    // 2026 in New York ends with c53 (Dec 31 19:30 local); in Berlin 2026 ends with c51 (Dec 31 11:00).
    expect(newYork.get('c53')).toEqual(['yearly snapshot'])
    expect(berlin.get('c51')).toEqual(['yearly snapshot'])
  })
})
