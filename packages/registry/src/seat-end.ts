import { ReleaseReason } from '@flexseat/proto'
import type { ActivityRecord, SeatRecord } from './records'

/** When a seat ends by itself, and why. */
export interface SeatEnd {
  /** ms since epoch. */
  at: number
  reason: ReleaseReason
  /** When the end fell (or falls) due before any deferral for a call (ms). */
  dueAt: number
  /** The end waits for a call in progress (at is then the deferral's bound). */
  deferred: boolean
}

/**
 * The next end of a seat from its stored deadlines (seat-policy.ts) and the worker's call
 * activity: the earliest of its time limit (TIME_LIMIT), daily sign-out (DAILY) and idle limit
 * (IDLE: the latest of the seat's start, its renewal and the last call activity, plus the limit; never while a
 * call is in progress). When the worker is in a call and the seat defers (`deferSeconds`), the end
 * waits for the call: it is then at most `deferSeconds` after it fell due, and the call's end
 * (a change of `activity/<user>`) ends the seat at once. Undefined when the seat has no deadline.
 *
 * A pure function of the stored data, so any leader (a new one after a failover included)
 * computes the same end: a deadline is never lost, and the release's transaction (compared on
 * the seat's revision) happens once.
 */
export function seatEnd(seat: SeatRecord, activity: ActivityRecord | undefined): SeatEnd | undefined {
  const inCall = activity !== undefined && Object.keys(activity.calls).length > 0
  const candidates: { at: number; reason: ReleaseReason }[] = []
  if (seat.expiresAt !== undefined) candidates.push({ at: Date.parse(seat.expiresAt), reason: ReleaseReason.RELEASE_REASON_TIME_LIMIT })
  if (seat.dailyAt !== undefined) candidates.push({ at: Date.parse(seat.dailyAt), reason: ReleaseReason.RELEASE_REASON_DAILY })
  if (seat.idleSeconds !== undefined && seat.idleSeconds > 0 && !inCall) {
    // A renewal at the desk (seat-renewal.ts) restarts the idle clock like a call.
    const since = Math.max(Date.parse(seat.since), seat.renewedAt === undefined ? 0 : Date.parse(seat.renewedAt))
    const last = activity === undefined ? since : Math.max(since, Date.parse(activity.lastActivity))
    candidates.push({ at: last + seat.idleSeconds * 1_000, reason: ReleaseReason.RELEASE_REASON_IDLE })
  }
  if (candidates.length === 0) return undefined
  // The earliest; on a tie the order above (time limit, daily, idle).
  const first = candidates.reduce((a, b) => (b.at < a.at ? b : a))
  if (inCall && seat.deferSeconds !== undefined) {
    return { at: first.at + seat.deferSeconds * 1_000, reason: first.reason, dueAt: first.at, deferred: true }
  }
  return { ...first, dueAt: first.at, deferred: false }
}
