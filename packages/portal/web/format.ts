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
