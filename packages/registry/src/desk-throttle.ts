import { ErrorCode } from '@flexseat/proto'
import { RegistryError } from './errors'

/**
 * The desk throttle: wrong PINs entered at one desk (device), whatever workers they were for,
 * pause PIN sign-ins at that desk. The worker lockout (lockout.ts) alone lets anyone at any desk
 * lock any worker out with five wrong PINs, and move on to the next worker; the throttle bounds
 * how many workers one desk can do that to (with the defaults, two per quarter of an hour),
 * while the same worker signs in at every other desk. A paused desk is refused before any PIN is
 * checked: the attempt neither counts towards a worker's lockout nor tells anything about one.
 * A right PIN does not clear the desk's count (else one worker's own PIN would reset it between
 * guesses at others'); the count ages out with the window. A separate mechanism from the
 * worker lockout, stored beside it at `desk-throttle/<device>`.
 */
export interface DeskThrottlePolicy {
  /** Wrong PINs at one desk within `windowMs` that pause it (default 10). */
  maxFailures: number
  /** The window, in ms (default 15 min; at most 12 h: the records expire a day after their last write). */
  windowMs: number
  /** How long the pause lasts, in ms (default 15 min; at most 12 h). */
  pauseMs: number
}

/** 10 wrong PINs at one desk within 15 minutes pause it for 15 minutes. */
export const DEFAULT_DESK_THROTTLE: Readonly<DeskThrottlePolicy> = { maxFailures: 10, windowMs: 15 * 60_000, pauseMs: 15 * 60_000 }

/** Stored at `desk-throttle/<device>` (on the request records' lease: gone a day after its last write). */
export interface DeskThrottleRecord {
  /** Times of recent wrong PINs at the desk (ms since epoch). */
  failures: number[]
  pausedUntil?: number
}

/** Until when PIN sign-ins at the desk are paused at `now`, if they are. */
export function deskPausedUntil(record: DeskThrottleRecord | undefined, now: number): Date | undefined {
  return record?.pausedUntil !== undefined && record.pausedUntil > now ? new Date(record.pausedUntil) : undefined
}

/** The desk's record after one more wrong PIN at `now`, and the pause it starts, if it does. */
export function recordDeskFailure(record: DeskThrottleRecord | undefined, now: number, policy: DeskThrottlePolicy): { record: DeskThrottleRecord; pausedUntil?: Date } {
  const failures = (record?.failures ?? []).filter((at) => at > now - policy.windowMs)
  failures.push(now)
  if (failures.length >= policy.maxFailures) {
    const until = now + policy.pauseMs
    return { record: { failures: [], pausedUntil: until }, pausedUntil: new Date(until) }
  }
  return { record: { failures } }
}

/** DESK_THROTTLED with the end of the pause (ErrorDetail.locked_until and retry_after_ms). */
export function deskThrottled(until: Date, now: number): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_DESK_THROTTLED, `too many wrong PINs at this desk; PIN sign-ins paused until ${until.toISOString()}`, {
    lockedUntil: until,
    retryAfterMs: Math.max(0, until.getTime() - now),
  })
}
