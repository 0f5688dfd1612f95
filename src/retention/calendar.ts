/**
 * Calendar facts for retention, in an explicit time zone (default UTC), so a plan never depends on
 * the machine that makes it: an instant's wall clock there, its ISO-8601 week, durations like
 * `2y5m7d3h` (restic's units: years, months, days, hours; no weeks), and restic's within cutoff,
 * `latest.AddDate(-y, -m, -d).Add(-h hours)`, done on the zone's wall clock as Go does it in the
 * snapshot's location. Intl only: no time-zone library.
 */
import { CairnError } from '../core/errors.js'

export interface WallClock {
  readonly year: number
  readonly month: number
  readonly day: number
  readonly hour: number
  readonly minute: number
  readonly second: number
  readonly millisecond: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone)
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        era: 'short',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
        hourCycle: 'h23',
      })
    } catch (error) {
      throw new CairnError('BAD_OPTION', `unknown time zone ${JSON.stringify(timeZone)}`, {
        op: 'retention.plan',
        cause: error,
      })
    }
    formatters.set(timeZone, format)
  }
  return format
}

/** The wall clock of `date` in `timeZone` (proleptic Gregorian; year 0 is 1 BC). */
export function wallClock(date: Date, timeZone: string): WallClock {
  if (timeZone === 'UTC') {
    return {
      year: date.getUTCFullYear(),
      month: date.getUTCMonth() + 1,
      day: date.getUTCDate(),
      hour: date.getUTCHours(),
      minute: date.getUTCMinutes(),
      second: date.getUTCSeconds(),
      millisecond: date.getUTCMilliseconds(),
    }
  }
  let year = 0
  let bc = false
  const parts: Record<string, number> = {}
  for (const part of formatter(timeZone).formatToParts(date)) {
    if (part.type === 'era') bc = part.value === 'BC'
    else if (part.type === 'year') year = Number(part.value)
    else if (part.type !== 'literal') parts[part.type] = Number(part.value)
  }
  return {
    year: bc ? 1 - year : year,
    month: parts.month ?? 0,
    day: parts.day ?? 0,
    hour: parts.hour ?? 0,
    minute: parts.minute ?? 0,
    second: parts.second ?? 0,
    // Zone offsets are whole seconds, so the milliseconds are the same on every wall clock.
    millisecond: date.getUTCMilliseconds(),
  }
}

/** The ISO-8601 week (Monday first; week 1 holds the year's first Thursday) of a calendar day. */
export function isoWeek(
  year: number,
  month: number,
  day: number,
): { readonly year: number; readonly week: number } {
  const date = new Date(utcFields(year, month - 1, day, 0, 0, 0, 0))
  const weekday = (date.getUTCDay() + 6) % 7 // Monday 0 .. Sunday 6
  date.setUTCDate(date.getUTCDate() - weekday + 3) // the Thursday of this week
  const isoYear = date.getUTCFullYear()
  const firstThursday = new Date(utcFields(isoYear, 0, 4, 0, 0, 0, 0))
  firstThursday.setUTCDate(firstThursday.getUTCDate() - ((firstThursday.getUTCDay() + 6) % 7) + 3)
  return {
    year: isoYear,
    week: 1 + Math.round((date.getTime() - firstThursday.getTime()) / (7 * 86_400_000)),
  }
}

export interface Duration {
  readonly years: number
  readonly months: number
  readonly days: number
  readonly hours: number
}

const UNITS = { y: 'years', m: 'months', d: 'days', h: 'hours' } as const

/**
 * Parses `2y5m7d3h`: each unit at most once, in any order (restic takes `1y1d1m` too), at least one.
 * Zero is allowed (`0d`); restic treats an all-zero duration as "rule off", and so does the plan.
 */
export function parseDuration(text: string, option: string): Duration {
  const out = { years: 0, months: 0, days: 0, hours: 0 }
  const seen = new Set<string>()
  const ok =
    /^(?:\d+[ymdh])+$/.test(text) &&
    [...text.matchAll(/(\d+)([ymdh])/g)].every(([, n, unit]) => {
      const key = UNITS[unit as keyof typeof UNITS]
      if (seen.has(key)) return false
      seen.add(key)
      out[key] = Number(n)
      return Number.isSafeInteger(out[key])
    })
  if (!ok) {
    throw new CairnError(
      'BAD_OPTION',
      `${option} must be a duration like 2y5m7d3h, got ${JSON.stringify(text)}`,
      { op: 'retention.plan' },
    )
  }
  return out
}

/** restic's spelling of a duration (Go's `Duration.String`): `1y1m1d` for `1y1d1m`, zero units left out. */
export function formatDuration(duration: Duration): string {
  return (
    (duration.years === 0 ? '' : `${String(duration.years)}y`) +
    (duration.months === 0 ? '' : `${String(duration.months)}m`) +
    (duration.days === 0 ? '' : `${String(duration.days)}d`) +
    (duration.hours === 0 ? '' : `${String(duration.hours)}h`)
  )
}

/** True for `0y0m0d0h`, which restic reads as "no rule". */
export function isZeroDuration(duration: Duration): boolean {
  return duration.years === 0 && duration.months === 0 && duration.days === 0 && duration.hours === 0
}

/**
 * Epoch milliseconds of a wall time read as if it were UTC, with overflow normalised (month 13,
 * day 0, ...) and no two-digit-year mapping (Date.UTC would read year 50 as 1950). NaN out of range.
 */
function utcFields(
  year: number,
  month0: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millisecond: number,
): number {
  const date = new Date(0)
  date.setUTCFullYear(year, month0, day)
  date.setUTCHours(hour, minute, second, millisecond)
  return date.getTime()
}

/** `timeZone`'s offset from UTC at an instant, in ms (east positive). */
function offsetAt(instant: number, timeZone: string): number {
  if (!Number.isFinite(instant) || Math.abs(instant) > 8.64e15) return Number.NaN
  const w = wallClock(new Date(instant), timeZone)
  return utcFields(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.millisecond) - instant
}

/**
 * The instant a wall time in `timeZone` names (`local`: the wall time read as UTC), resolved as Go's
 * `time.Date` resolves it: take the offset in effect at `local` read as an instant, then the offset
 * in effect at the instant that gives, and use that. Times that exist once get their one instant.
 * A time skipped by a jump forward, or repeated by a jump back, gets the offset of the side of the
 * jump that this lands on: east of UTC (Europe/Berlin) a skipped 02:30 becomes 03:30 summer time
 * and a repeated 02:30 the second one (winter time); west of UTC (America/New_York) a skipped 02:30
 * becomes 01:30 standard time and a repeated 01:30 the first one (summer time).
 */
function resolveWallTime(local: number, timeZone: string): number {
  return local - offsetAt(local - offsetAt(local, timeZone), timeZone)
}

/**
 * restic's within cutoff, `date.AddDate(-years, -months, -days).Add(-hours)`: the years, months and
 * days come off `date`'s wall clock in `timeZone` with overflow normalised like Go's AddDate (31
 * March minus one month is 3 March, or 2 in a leap year), the time of day is kept, the wall time is
 * turned back into an instant as Go does (see resolveWallTime), and then the hours come off as
 * absolute time. So across a DST change "1d" is 23 or 25 hours, and "24h" always 24. In UTC this is
 * plain calendar arithmetic. An Invalid Date if the result is beyond what a Date can hold.
 */
export function subtractDuration(date: Date, duration: Duration, timeZone = 'UTC'): Date {
  const w = wallClock(date, timeZone)
  const local = utcFields(
    w.year - duration.years,
    w.month - 1 - duration.months,
    w.day - duration.days,
    w.hour,
    w.minute,
    w.second,
    w.millisecond,
  )
  const instant = timeZone === 'UTC' || Number.isNaN(local) ? local : resolveWallTime(local, timeZone)
  return new Date(instant - duration.hours * 3_600_000)
}
