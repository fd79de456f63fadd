// Times and words as a person reads them, in the browser's language and time zone.

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
const clockFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' })

export function when(iso: string | null | undefined): string {
  return iso === null || iso === undefined ? '' : timeFormat.format(new Date(iso))
}

export function clock(date: Date): string {
  return clockFormat.format(date)
}

const VIA: Record<string, string> = { phone: 'at the phone (*51)', softkey: 'at the phone (Login key)', portal: 'in the portal', admin: 'by an administrator' }
export function viaWords(via: string): string {
  return VIA[via] ?? via
}

/**
 * Why a seat ended, the one table of the pages (the portal sends the registry's ReleaseReason as
 * a word: RELEASE_REASON_TIME_LIMIT → `time-limit`). The sign-out policies' reasons are keyed by
 * their names already, so they read right as soon as the registry's enum has them; any other
 * word (a reason newer than this table, `reason-<n>` for a value the portal's build does not
 * know) is shown with its dashes as spaces.
 */
export const REASONS: Readonly<Record<string, string>> = {
  logout: 'signed out',
  moved: 'signed in elsewhere',
  bumped: 'someone else took the desk',
  expired: 'time ran out',
  admin: 'signed out by an administrator',
  deleted: 'deleted',
  directory: 'removed by the directory',
  'signed-in-again': 'signed in again at the same desk',
  'time-limit': 'time limit',
  daily: 'daily sign-out',
  idle: 'idle',
}
export function reasonWords(reason: string): string {
  return reason === '' ? 'still seated' : (REASONS[reason] ?? reason.replace(/-/g, ' '))
}

/** A call in the worker's list: incoming (answered), missed (incoming, not answered), outgoing. */
export function callWords(direction: 'incoming' | 'outgoing', answered: boolean): string {
  return direction === 'outgoing' ? 'outgoing' : answered ? 'incoming' : 'missed'
}

/** A call's length as m:ss (h:mm:ss from an hour on). */
export function duration(seconds: number): string {
  const h = Math.floor(seconds / 3_600)
  const m = Math.floor((seconds % 3_600) / 60)
  const s = String(seconds % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`
}

/** What {@link seatEndWords} reads of a seat (the portal's SeatView). */
export interface SeatEnds {
  since: string
  /** The time limit: the seat ends then with `time-limit`. */
  expiresAt: string | null
  /** The daily sign-out: the seat ends then with `daily`. */
  dailySignOutAt: string | null
  /** No call for this long ends the seat (`idle`); 0: no idle limit. */
  idleSeconds: number
  /** The last renewal at the desk (RenewSeat): the time limit runs from it; null if never. */
  renewedAt?: string | null
}

/** A time of day in `timeZone` ("19:00"), with its day when that is not today there ("Tue 8 Dec, 19:00"). */
export function localTime(iso: string, timeZone: string, now: Date = new Date()): string {
  const at = new Date(iso)
  const zone = timeZone === '' ? 'UTC' : timeZone
  const hm = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(at)
  const day = new Intl.DateTimeFormat('en-GB', { timeZone: zone, weekday: 'short', day: 'numeric', month: 'short' })
  return day.format(at) === day.format(now) ? hm : `${day.format(at)}, ${hm}`
}

/** An idle limit as "30 min" ("45 s" below a minute, "2 h" on whole hours). */
function idleWords(seconds: number): string {
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.round(seconds / 60)
  return minutes >= 60 && minutes % 60 === 0 ? `${minutes / 60} h` : `${minutes} min`
}

/**
 * When the seat ends by itself and which rule of its sign-out policy ends it, from the deadlines
 * the registry stored with the seat (never inferred): the earlier of the time limit and the daily
 * sign-out, in the site's time zone ("until 19:00 — daily sign-out", "until 17:30 — time limit
 * 8 h"), and the idle limit ("ends after 30 min without calls"). Empty when nothing ends it.
 */
export function seatEndWords(seat: SeatEnds, timeZone: string, now: Date = new Date()): string {
  const parts: string[] = []
  const limit = seat.expiresAt === null ? undefined : Date.parse(seat.expiresAt)
  const daily = seat.dailySignOutAt === null ? undefined : Date.parse(seat.dailySignOutAt)
  if (daily !== undefined && (limit === undefined || daily <= limit)) {
    parts.push(`until ${localTime(seat.dailySignOutAt!, timeZone, now)} — daily sign-out`)
  } else if (limit !== undefined) {
    // A renewed seat's limit runs from the renewal, not from the sign-in.
    const from = seat.renewedAt === undefined || seat.renewedAt === null ? seat.since : seat.renewedAt
    const hours = (limit - Date.parse(from)) / 3_600_000
    const length = hours >= 1 ? `${Number.isInteger(hours) ? hours : hours.toFixed(1)} h` : `${Math.max(1, Math.round(hours * 60))} min`
    parts.push(`until ${localTime(seat.expiresAt!, timeZone, now)} — time limit ${length}`)
  }
  if (seat.idleSeconds > 0) parts.push(`ends after ${idleWords(seat.idleSeconds)} without calls`)
  return parts.join('; ')
}
