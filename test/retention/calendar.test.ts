/**
 * keepWithin arithmetic in the plan's time zone, as restic does it in the snapshot's location:
 * `latest.AddDate(-y, -m, -d).Add(-h hours)`. The years, months and days come off the zone's wall
 * clock (so "1d" across a DST change is 23 or 25 hours, "24h" always 24), the wall time goes back to
 * an instant as Go's time.Date resolves it (a skipped or repeated local time takes the offset found
 * by looking up the wall time read as UTC, then the instant that gives), and the hours come off as
 * absolute time. In UTC nothing changes. Zone facts used below (tzdata):
 * - Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST at 01:00Z; 2026-10-25 03:00 CEST -> 02:00 CET at 01:00Z.
 * - America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT at 07:00Z; 2026-11-01 02:00 EDT -> 01:00 EST at 06:00Z.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatDuration, parseDuration, subtractDuration, wallClock } from '../../src/retention/calendar.js'
import type { Duration } from '../../src/retention/calendar.js'
import { planRetention } from '../../src/retention/plan.js'
import type { RetainedCheckpoint, RetentionPolicy } from '../../src/retention/plan.js'

const minus = (iso: string, text: string, timeZone?: string) =>
  subtractDuration(new Date(iso), parseDuration(text, 't'), timeZone).toISOString()

const checkpoints = (...isos: string[]): RetainedCheckpoint[] =>
  isos.map((iso, i) => ({
    id: `c${String(i)}`,
    createdAt: new Date(iso),
    kind: 'full',
    tags: [],
    metrics: {},
  }))

const kept = (list: RetainedCheckpoint[], policy: RetentionPolicy, timeZone: string) =>
  planRetention(list, policy, { now: new Date('2027-01-01T00:00:00Z'), timeZone }).keep.map((e) =>
    e.checkpoint.createdAt.toISOString(),
  )

/** The old (UTC-only) arithmetic, kept here as the reference for the UTC case. */
function utcReference(date: Date, d: Duration): Date {
  const out = new Date(date.getTime())
  out.setUTCFullYear(out.getUTCFullYear() - d.years, out.getUTCMonth() - d.months, out.getUTCDate() - d.days)
  return new Date(out.getTime() - d.hours * 3_600_000)
}

const wallMs = (date: Date, timeZone: string) => {
  const w = wallClock(date, timeZone)
  const out = new Date(0)
  out.setUTCFullYear(w.year, w.month - 1, w.day)
  out.setUTCHours(w.hour, w.minute, w.second, w.millisecond)
  return out.getTime()
}

describe('keepWithin in the plan time zone', () => {
  it('"1d" back from just after the spring-forward in Berlin is 23 hours; the boundary is strict', () => {
    // latest 03:30 CEST on 29 March (01:30Z). One wall-clock day back: 03:30 CET on the 28th, 02:30Z.
    expect(minus('2026-03-29T01:30:00Z', '1d', 'Europe/Berlin')).toBe('2026-03-28T02:30:00.000Z')
    expect(minus('2026-03-29T01:30:00Z', '1d', 'UTC')).toBe('2026-03-28T01:30:00.000Z')
    expect(minus('2026-03-29T01:30:00Z', '24h', 'Europe/Berlin')).toBe('2026-03-28T01:30:00.000Z')
    const list = checkpoints(
      '2026-03-28T01:30:00Z', // 02:30 CET: on the UTC boundary, 1 hour outside Berlin's
      '2026-03-28T02:00:00Z', // 03:00 CET: inside the UTC day, outside Berlin's
      '2026-03-28T02:30:00Z', // 03:30 CET: exactly on Berlin's boundary, so dropped there
      '2026-03-28T02:30:00.001Z', // one millisecond inside Berlin's
      '2026-03-29T01:30:00Z', // latest
    )
    expect(kept(list, { keepWithin: '1d' }, 'Europe/Berlin')).toEqual([
      '2026-03-29T01:30:00.000Z',
      '2026-03-28T02:30:00.001Z',
    ])
    expect(kept(list, { keepWithin: '1d' }, 'UTC')).toEqual([
      '2026-03-29T01:30:00.000Z',
      '2026-03-28T02:30:00.001Z',
      '2026-03-28T02:30:00.000Z',
      '2026-03-28T02:00:00.000Z',
    ])
    // Hours are absolute time, so "24h" in Berlin is the UTC day.
    expect(kept(list, { keepWithin: '24h' }, 'Europe/Berlin')).toEqual(
      kept(list, { keepWithin: '1d' }, 'UTC'),
    )
    // Within buckets use the same cutoff: the daily bucket of the 28th holds only the 02:30:00.001Z one.
    expect(
      planRetention(
        list,
        { keepWithinDaily: '1d' },
        { now: new Date('2027-01-01'), timeZone: 'Europe/Berlin' },
      ).keep.map((e) => [e.checkpoint.createdAt.toISOString(), ...e.reasons]),
    ).toEqual([
      ['2026-03-29T01:30:00.000Z', 'newest', 'daily within 1d'],
      ['2026-03-28T02:30:00.001Z', 'daily within 1d'],
    ])
  })

  it('"1d" back from just after the fall-back in Berlin is 25 hours', () => {
    // latest 12:00 CET on 25 October (11:00Z); a day back is 12:00 CEST on the 24th, 10:00Z.
    expect(minus('2026-10-25T11:00:00Z', '1d', 'Europe/Berlin')).toBe('2026-10-24T10:00:00.000Z')
    const list = checkpoints('2026-10-24T10:00:00Z', '2026-10-24T10:30:00Z', '2026-10-25T11:00:00Z')
    expect(kept(list, { keepWithin: '1d' }, 'Europe/Berlin')).toEqual([
      '2026-10-25T11:00:00.000Z',
      '2026-10-24T10:30:00.000Z',
    ])
    expect(kept(list, { keepWithin: '1d' }, 'UTC')).toEqual(['2026-10-25T11:00:00.000Z'])
  })

  it('"1d" back across New York\'s spring-forward is 23 hours', () => {
    // latest 12:00 EDT on 8 March (16:00Z); a day back is 12:00 EST on the 7th, 17:00Z.
    expect(minus('2026-03-08T16:00:00Z', '1d', 'America/New_York')).toBe('2026-03-07T17:00:00.000Z')
    const list = checkpoints('2026-03-07T16:30:00Z', '2026-03-07T17:00:00Z', '2026-03-08T16:00:00Z')
    expect(kept(list, { keepWithin: '1d' }, 'America/New_York')).toEqual(['2026-03-08T16:00:00.000Z'])
    expect(kept(list, { keepWithin: '1d' }, 'UTC')).toEqual([
      '2026-03-08T16:00:00.000Z',
      '2026-03-07T17:00:00.000Z',
      '2026-03-07T16:30:00.000Z',
    ])
  })

  it("skipped and repeated wall times resolve as Go's time.Date does", () => {
    // Berlin, skipped: 02:30 on 29 March does not exist; Go's lookup lands on CET, giving 03:30 CEST.
    expect(minus('2026-03-30T00:30:00Z', '1d', 'Europe/Berlin')).toBe('2026-03-29T01:30:00.000Z')
    // Berlin, repeated: 02:30 on 25 October is 00:30Z (CEST) or 01:30Z (CET); Go takes the second.
    expect(minus('2026-10-26T01:30:00Z', '1d', 'Europe/Berlin')).toBe('2026-10-25T01:30:00.000Z')
    // New York, skipped: 02:30 on 8 March does not exist; Go lands on EST, giving 01:30 EST.
    expect(minus('2026-03-09T06:30:00Z', '1d', 'America/New_York')).toBe('2026-03-08T06:30:00.000Z')
    // New York, repeated: 01:30 on 1 November is 05:30Z (EDT) or 06:30Z (EST); Go takes the first.
    expect(minus('2026-11-02T06:30:00Z', '1d', 'America/New_York')).toBe('2026-11-01T05:30:00.000Z')
  })

  it("months overflow like Go's AddDate on the zone's wall clock, time of day kept", () => {
    // 31 March 2024 12:00 CEST minus a month: "31 February" is 2 March (leap year), 12:00 CET.
    expect(minus('2024-03-31T10:00:00Z', '1m', 'Europe/Berlin')).toBe('2024-03-02T11:00:00.000Z')
    expect(minus('2026-03-31T10:00:00Z', '1m', 'Europe/Berlin')).toBe('2026-03-03T11:00:00.000Z')
    // 23:30 UTC on 31 March is 1 April in Tokyo: a month back is 1 March there, not 3 March.
    expect(minus('2026-03-31T23:30:00Z', '1m', 'Asia/Tokyo')).toBe('2026-02-28T23:30:00.000Z')
    expect(minus('2026-03-31T23:30:00Z', '1m', 'UTC')).toBe('2026-03-03T23:30:00.000Z')
    // Years far back keep working (before 1893 Berlin is on local mean time, +00:53:28).
    expect(minus('2016-01-18T12:02:03Z', '9999y', 'Europe/Berlin')).toBe('-007983-01-18T12:08:35.000Z')
    // Beyond a Date's range: an Invalid Date, which the plan reads as "everything is within".
    expect(Number.isNaN(subtractDuration(new Date(0), parseDuration('300000y', 't'), 'UTC').getTime())).toBe(
      true,
    )
  })

  it('property: in UTC, and in any zone without DST, it is the plain UTC calendar arithmetic', () => {
    const instant = fc
      .integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2100, 0, 1) })
      .map((t) => new Date(t))
    const duration = fc.record({
      years: fc.nat(30),
      months: fc.nat(30),
      days: fc.nat(400),
      hours: fc.nat(100),
    })
    fc.assert(
      fc.property(instant, duration, (date, d) => {
        const reference = utcReference(date, d).getTime()
        expect(subtractDuration(date, d).getTime()).toBe(reference)
        expect(subtractDuration(date, d, 'UTC').getTime()).toBe(reference)
        // Asia/Kolkata has been +05:30 since 1945: wall arithmetic there is the UTC one, shifted.
        if (date.getTime() > Date.UTC(1946, 0, 1) && reference > Date.UTC(1946, 0, 1)) {
          const shift = 5.5 * 3_600_000
          const kolkata = subtractDuration(date, d, 'Asia/Kolkata').getTime()
          expect(kolkata).toBe(utcReference(new Date(date.getTime() + shift), d).getTime() - shift)
        }
      }),
      { numRuns: Number(process.env.FC_NUM_RUNS ?? 200) },
    )
  })

  it('property: in Berlin and New York the wall clock lands where asked, or an hour off in a gap', () => {
    const instant = fc
      .integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2030, 0, 1) })
      .map((t) => new Date(Math.floor(t / 60_000) * 60_000))
    const duration = fc.record({
      years: fc.nat(3),
      months: fc.nat(14),
      days: fc.nat(40),
      hours: fc.constant(0),
    })
    for (const [timeZone, gapShift] of [
      ['Europe/Berlin', 3_600_000],
      ['America/New_York', -3_600_000],
    ] as const) {
      fc.assert(
        fc.property(instant, duration, (date, d) => {
          const w = wallClock(date, timeZone)
          const want = new Date(0)
          want.setUTCFullYear(w.year - d.years, w.month - 1 - d.months, w.day - d.days)
          want.setUTCHours(w.hour, w.minute, w.second, w.millisecond)
          const got = wallMs(subtractDuration(date, d, timeZone), timeZone) - want.getTime()
          // Exactly the wall time asked for, unless it was skipped: then Berlin moves forward an
          // hour and New York back one, as Go does.
          expect([0, gapShift]).toContain(got)
        }),
        { numRuns: Number(process.env.FC_NUM_RUNS ?? 200) },
      )
    }
    // The gap cases do occur: the property is not vacuous.
    expect(
      wallMs(
        subtractDuration(new Date('2026-03-30T00:30:00Z'), parseDuration('1d', 't'), 'Europe/Berlin'),
        'Europe/Berlin',
      ),
    ).toBe(Date.UTC(2026, 2, 29, 3, 30))
  })

  it('durations: any unit order, each once; printed as restic prints them', () => {
    expect(parseDuration('1y1d1m', 't')).toEqual({ years: 1, months: 1, days: 1, hours: 0 })
    expect(formatDuration(parseDuration('1y1d1m', 't'))).toBe('1y1m1d')
    expect(formatDuration(parseDuration('0y14d', 't'))).toBe('14d')
    for (const bad of ['', '1d1d', '3w', '-1d', ' 1d', '1.5d', 'd', '1'])
      expect(() => parseDuration(bad, 't'), bad).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }))
  })
})
