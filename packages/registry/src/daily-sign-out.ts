/**
 * The daily sign-out's instant: a wall-clock time ("19:00") in a site's IANA time zone, turned
 * into absolute instants through `Intl` only (no hand-made offsets).
 *
 * For each local calendar day D, the sign-out happens at the first instant whose local date is D
 * and whose local time is at or after the given time:
 * - an ordinary day: at that time;
 * - a day the clocks go forward over it (02:30 on a spring-forward day in Europe/Berlin, where
 *   02:00 becomes 03:00): when the clocks jump past it, at 03:00 local;
 * - a day it occurs twice (the clocks go back from 03:00 to 02:00): at its first occurrence only.
 * So it happens exactly once per local day, whatever the seat's start.
 */

/** "HH:MM" (00:00 to 23:59), optionally with seconds ("HH:MM:SS"). */
export const DAILY_TIME = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/

/** Whether `zone` is an IANA time zone `Intl` knows. */
export function isTimeZone(zone: string): boolean {
  if (zone === '') return false
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

const formats = new Map<string, Intl.DateTimeFormat>()

function formatOf(zone: string): Intl.DateTimeFormat {
  let format = formats.get(zone)
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
    formats.set(zone, format)
  }
  return format
}

/** The local wall-clock time of `instant` in `zone`, as milliseconds of a UTC date with the same fields. */
export function wallClock(instant: number, zone: string): number {
  const parts: Record<string, number> = {}
  for (const part of formatOf(zone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value)
  }
  // Whole seconds: the milliseconds of `instant` carry over unchanged.
  return Date.UTC(parts['year']!, parts['month']! - 1, parts['day']!, parts['hour']!, parts['minute']!, parts['second']!) + (((instant % 1_000) + 1_000) % 1_000)
}

/** The zone's offset from UTC at `instant`, in ms. */
function offsetAt(instant: number, zone: string): number {
  return wallClock(instant, zone) - instant
}

const HOUR = 3_600_000
const DAY = 24 * HOUR

/**
 * The instant of the sign-out on the local day whose midnight (as a UTC date with the same
 * fields) is `dayStart`, at `seconds` after local midnight (see the file comment).
 */
export function signOutOnDay(dayStart: number, seconds: number, zone: string): number {
  const wall = dayStart + seconds * 1_000
  // The offsets in force around that day: any transition near it lies between the two.
  const before = offsetAt(wall - DAY, zone)
  const after = offsetAt(wall + DAY, zone)
  const exact = [...new Set([before, after])].map((offset) => wall - offset).filter((instant) => wallClock(instant, zone) === wall)
  if (exact.length > 0) return Math.min(...exact)
  // The time does not exist that day (the clocks went forward over it): the first instant whose
  // local time is past it, found by bisection between the two readings (one transition between).
  // In whole seconds: time zone transitions fall on whole seconds.
  let low = (wall - Math.max(before, after)) / 1_000
  let high = (wall - Math.min(before, after)) / 1_000
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2)
    if (wallClock(mid * 1_000, zone) >= wall) high = mid
    else low = mid
  }
  return high * 1_000
}

/**
 * The first daily sign-out after `afterMs` (strictly later) at local time `time` ("HH:MM[:SS]") in
 * `zone`.
 */
export function nextDailySignOut(afterMs: number, time: string, zone: string): number {
  const match = DAILY_TIME.exec(time)
  if (match === null) throw new RangeError(`not a time of day (HH:MM): ${time}`)
  const seconds = Number(match[1]) * 3_600 + Number(match[2]) * 60 + Number(match[3] ?? 0)
  const localNow = wallClock(afterMs, zone)
  const today = localNow - (((localNow % DAY) + DAY) % DAY)
  for (let day = today - DAY; day <= today + 2 * DAY; day += DAY) {
    const at = signOutOnDay(day, seconds, zone)
    if (at > afterMs) return at
  }
  // Unreachable for real zones (offsets are under a day); a safe answer anyway.
  return signOutOnDay(today + 3 * DAY, seconds, zone)
}
