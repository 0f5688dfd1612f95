/**
 * restic's own golden cases for `forget`, verbatim. Cases and expected outputs are from restic
 * (BSD-2-Clause): the 103 snapshots and the policies of TestApplyPolicy
 * (internal/data/snapshot_policy_test.go) and the keep lists and reasons of its golden files
 * (internal/data/testdata/policy_keep_snapshots_N, the ones available), translated once into
 * cairn's shape in fixtures/restic-policy.json: the snapshot list in restic's input order (equal
 * times keep it), and per case restic's policy, the same policy as a RetentionPolicy, and the kept
 * snapshots newest first (index into the list, time, reasons).
 *
 * Translation: restic parses the times as UTC, so the plan's zone is UTC; its test plans with
 * now = time.Now(), after every snapshot, so any `now` after the newest gives the same plan (checked
 * with two); ApplyPolicy runs on the whole list, without --group-by, so paths play no part (cairn
 * has none); a restic TagList is one keepTags item (AND), several TagLists several items (OR), so
 * `{{"foo", "bar"}}` is `[["foo", "bar"]]` and `{{"foo"}, {"bar"}}` is `["foo", "bar"]`; restic's
 * `1y1d1m` is passed as written and printed as restic prints it, `1y1m1d`.
 *
 * The comparison is exact, on ids (so on the order of equal times) and on every reason. The two
 * differences cairn has by design are asserted as such and nothing else is allowed to differ: the
 * newest snapshot is always kept, with `newest` as its first reason (alone where restic drops it,
 * as the tag-only cases do), and the empty policy (case 0: restic's ApplyPolicy keeps nothing and
 * its CLI refuses "no policy was specified") is refused with BAD_OPTION.
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { planRetention } from '../../src/retention/plan.js'
import type { RetainedCheckpoint, RetentionPolicy } from '../../src/retention/plan.js'

interface Fixture {
  readonly timeZone: string
  readonly now: string
  readonly snapshots: readonly {
    readonly time: string
    readonly tags?: string[]
    readonly paths?: string[]
  }[]
  readonly cases: readonly {
    readonly n: number
    readonly restic: string
    readonly policy: RetentionPolicy
    readonly keep: readonly { readonly i: number; readonly time: string; readonly reasons: string[] }[]
  }[]
}

const fixture = JSON.parse(
  readFileSync(new URL('fixtures/restic-policy.json', import.meta.url), 'utf8'),
) as Fixture
const id = (i: number) => `r${String(i).padStart(3, '0')}`
const snapshots: RetainedCheckpoint[] = fixture.snapshots.map((s, i) => ({
  id: id(i),
  createdAt: new Date(s.time),
  kind: 'full',
  tags: s.tags ?? [],
  metrics: {},
}))
// restic's sort: newest first, stable.
const newestFirst = snapshots
  .map((s, i) => ({ s, i }))
  .sort((a, b) => b.s.createdAt.getTime() - a.s.createdAt.getTime() || a.i - b.i)
  .map(({ s }) => s)
const newest = newestFirst[0]!
const nows = [new Date(fixture.now), new Date(newest.createdAt.getTime() + 1)]

describe("restic's golden cases (TestApplyPolicy)", () => {
  it('the fixture is what it says: 103 snapshots, indices and times agree, keep lists newest first', () => {
    expect(snapshots).toHaveLength(103)
    expect(newest.createdAt.toISOString()).toBe('2016-01-18T12:02:03.000Z')
    expect(fixture.timeZone).toBe('UTC')
    expect(fixture.cases.map((c) => c.n)).toEqual([
      0, 1, 2, 3, 5, 7, 8, 14, 15, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29, 30, 32, 33, 37, 38, 39,
    ])
    for (const c of fixture.cases) {
      const order = c.keep.map((k) => newestFirst.indexOf(snapshots[k.i]!))
      expect(order, `case ${String(c.n)}`).toEqual([...order].sort((a, b) => a - b))
      expect(new Set(order).size).toBe(order.length)
      for (const k of c.keep)
        expect(Date.parse(k.time), `case ${String(c.n)}`).toBe(Date.parse(fixture.snapshots[k.i]!.time))
    }
  })

  it('case 0, the empty policy: restic keeps nothing and its CLI refuses; cairn refuses', () => {
    const empty = fixture.cases.find((c) => c.n === 0)!
    expect(empty.keep).toEqual([])
    expect(() => planRetention(snapshots, empty.policy, { now: nows[0]! })).toThrow(
      expect.objectContaining({ code: 'BAD_OPTION' }),
    )
  })

  for (const c of fixture.cases.filter((c) => c.n !== 0)) {
    it(`case ${String(c.n)}: ${c.restic}`, () => {
      const restic = c.keep.map((k) => ({ id: id(k.i), reasons: k.reasons }))
      // cairn = restic, except that the newest is kept with "newest" first (alone if restic drops it).
      const resticKeepsNewest = restic[0]?.id === newest.id
      const expected = resticKeepsNewest
        ? restic.map((k, n) => (n === 0 ? { id: k.id, reasons: ['newest', ...k.reasons] } : k))
        : [{ id: newest.id, reasons: ['newest'] }, ...restic]
      const kept = new Set(expected.map((k) => k.id))
      for (const now of nows) {
        const plan = planRetention(snapshots, c.policy, { now, timeZone: fixture.timeZone })
        expect(plan.keep.map((e) => ({ id: e.checkpoint.id, reasons: e.reasons }))).toEqual(expected)
        expect(plan.drop.map((e) => e.checkpoint.id)).toEqual(
          newestFirst.filter((s) => !kept.has(s.id)).map((s) => s.id),
        )
        expect(plan.drop.every((e) => e.reasons.length === 0)).toBe(true)
      }
    })
  }

  it('restic drops the newest only in the tag-only cases', () => {
    const dropsNewest = fixture.cases.filter((c) => c.n !== 0 && c.keep[0]?.i !== snapshots.indexOf(newest))
    expect(dropsNewest.map((c) => c.n)).toEqual([19, 20])
  })
})
