/**
 * Calendar facts for retention, in an explicit time zone (default UTC), so a plan never depends on
 * the machine that makes it: an instant's year, month, day and hour there, its ISO-8601 week, and
 * durations like `2y5m7d3h` (restic's units: years, months, days, hours; no weeks).
 */
import { CairnError } from '../core/errors.js'

export interface WallClock {
  readonly year: number
  readonly month: number
  readonly day: number
  readonly hour: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone)
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
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

/** The wall clock of `date` in `timeZone`. */
export function wallClock(date: Date, timeZone: string): WallClock {
  if (timeZone === 'UTC') {
    return {
      year: date.getUTCFullYear(),
      month: date.getUTCMonth() + 1,
      day: date.getUTCDate(),
      hour: date.getUTCHours(),
    }
  }
  const parts: Record<string, number> = {}
  for (const part of formatter(timeZone).formatToParts(date)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value)
  }
  return { year: parts.year ?? 0, month: parts.month ?? 0, day: parts.day ?? 0, hour: parts.hour ?? 0 }
}

/** The ISO-8601 week (Monday first; week 1 holds the year's first Thursday) of a calendar day. */
export function isoWeek(
  year: number,
  month: number,
  day: number,
): { readonly year: number; readonly week: number } {
  const date = new Date(Date.UTC(year, month - 1, day))
  const weekday = (date.getUTCDay() + 6) % 7 // Monday 0 .. Sunday 6
  date.setUTCDate(date.getUTCDate() - weekday + 3) // the Thursday of this week
  const isoYear = date.getUTCFullYear()
  const firstThursday = new Date(Date.UTC(isoYear, 0, 4))
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

/** Parses `2y5m7d3h` (any of the units, each at most once, in that order). */
export function parseDuration(text: string, option: string): Duration {
  const match = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?$/.exec(text)
  if (match === null || text === '') {
    throw new CairnError(
      'BAD_OPTION',
      `${option} must be a duration like 2y5m7d3h, got ${JSON.stringify(text)}`,
      {
        op: 'retention.plan',
      },
    )
  }
  const [, y, m, d, h] = match
  return { years: Number(y ?? 0), months: Number(m ?? 0), days: Number(d ?? 0), hours: Number(h ?? 0) }
}

/**
 * `date` minus `duration`, with calendar arithmetic on the UTC calendar as Go's AddDate does it
 * (overflow normalised: 31 March minus one month is 3 March, or 2 in a leap year), then hours.
 */
export function subtractDuration(date: Date, duration: Duration): Date {
  const out = new Date(date.getTime())
  out.setUTCFullYear(
    out.getUTCFullYear() - duration.years,
    out.getUTCMonth() - duration.months,
    out.getUTCDate() - duration.days,
  )
  return new Date(out.getTime() - duration.hours * 3_600_000)
}
