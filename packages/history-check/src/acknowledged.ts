/**
 * Invariant 2 (Durability) for sign-ins: every login acknowledged to its client (outcome ok) is in
 * etcd's history, and its seat is not undone except by something that may end it.
 *
 * 1. *Written*: a put of `seats/<user>` at the login's desk that can be this login's. When the
 *    history holds `requests/<op id>` (gRPC logins carry the op id as the registry's request id),
 *    its revision is the login's transaction: the seat must be put there, at that desk. Otherwise
 *    (a `*51` at a phone: the SIP node makes its own request id) any put of the user's seat at that
 *    desk not known to precede the login's call qualifies. "Known to precede" uses the watch
 *    streams: a client that saw revision r' ≥ r at wall time t proves r committed by t, so a put
 *    at r with t < the call is older than the login. Without watch events no put is excluded.
 * 2. *Kept*: from that revision on, the seat stays at the desk (puts at the same desk, such as
 *    the completion of pending revocations or a sign-in again, keep it) until the first revision
 *    that deletes it or puts it elsewhere; that end must be explained by an operation not
 *    completed before the acknowledged login was called (the real-time order: it may be later):
 *    - moved to desk d2: a login of the same worker at d2 (ok or info);
 *    - deleted, `seats-released/<user>` at that revision giving the reason:
 *      LOGOUT / ADMIN → a logout of the worker, or at its desk (ok or info); BUMPED → a login of another worker at
 *      the desk (ok or info); EXPIRED, TIME_LIMIT, DAILY, IDLE (a seat policy), DELETED,
 *      DIRECTORY (the worker or desk removed): documented ends, accepted;
 *    - anything else (no reason, another reason, no such operation): the sign-in was lost.
 */
import type { Operation, Violation, WatchEvent } from './history'
import { describe } from './linearizability'
import { parseValue, REL, type ReleaseValue, type SeatHistory, type SeatValue } from './seat-history'

export const ACKNOWLEDGED = 'acknowledged-sign-ins'

/** proto ReleaseReason values (packages/proto, seat.ts). */
const REASON = { LOGOUT: 1, MOVED: 2, BUMPED: 3, EXPIRED: 4, ADMIN: 5, DELETED: 6, DIRECTORY: 7, SIGNED_IN_AGAIN: 8, TIME_LIMIT: 9, DAILY: 10, IDLE: 11 } as const
const DOCUMENTED_ENDS = new Set<number>([REASON.EXPIRED, REASON.TIME_LIMIT, REASON.DAILY, REASON.IDLE, REASON.DELETED, REASON.DIRECTORY])
const REASON_NAME = new Map<number, string>(Object.entries(REASON).map(([k, v]) => [v, k]))

/** One change of a worker's seat key. */
interface SeatStep {
  revision: number
  /** null: deleted. */
  deviceId: string | null
  /** The release reason written at the same revision (deletions). */
  reason?: number
}

/** The earliest wall time by which each revision had committed, from what the watchers saw. */
export class CommitBound {
  readonly #revisions: number[]
  readonly #minAt: number[]
  constructor(watch: readonly WatchEvent[]) {
    const sorted = [...watch].sort((a, b) => a.revision - b.revision)
    this.#revisions = sorted.map((e) => e.revision)
    // Suffix minimum: seeing any revision ≥ r proves r committed.
    this.#minAt = new Array(sorted.length)
    let min = Number.POSITIVE_INFINITY
    for (let i = sorted.length - 1; i >= 0; i--) {
      min = Math.min(min, sorted[i]!.atMs)
      this.#minAt[i] = min
    }
  }
  /** A wall time by which revision r had committed (+Infinity: not known). */
  by(revision: number): number {
    let lo = 0
    let hi = this.#revisions.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.#revisions[mid]! < revision) lo = mid + 1
      else hi = mid
    }
    return lo < this.#revisions.length ? this.#minAt[lo]! : Number.POSITIVE_INFINITY
  }
}

/** Checks acknowledged logins against the seat history; `checked` counts acknowledged logins. */
export function checkAcknowledgedSignIns(ops: readonly Operation[], history: SeatHistory, watch: readonly WatchEvent[] = []): { violations: Violation[]; checked: number } {
  const violations: Violation[] = []
  const bound = new CommitBound(watch)
  const steps = new Map<string, SeatStep[]>()
  const requestAt = new Map<string, number>()
  for (const { revision, changes } of history.revisions) {
    const reasons = new Map<string, number>()
    for (const c of changes) {
      if (c.key.startsWith(REL.seatsReleased) && c.value !== null) {
        const record = parseValue<ReleaseValue>(c.value)
        if (record && typeof record.reason === 'number') reasons.set(c.key.slice(REL.seatsReleased.length), record.reason)
      } else if (c.key.startsWith('requests/') && c.value !== null) {
        const id = c.key.slice('requests/'.length)
        if (!requestAt.has(id)) requestAt.set(id, revision)
      }
    }
    for (const c of changes) {
      if (!c.key.startsWith(REL.seats)) continue
      const user = c.key.slice(REL.seats.length)
      const seat = c.value === null ? undefined : parseValue<SeatValue>(c.value)
      const step: SeatStep = { revision, deviceId: seat?.deviceId ?? null }
      if (c.value === null && reasons.has(user)) step.reason = reasons.get(user)!
      const list = steps.get(user)
      if (list) list.push(step)
      else steps.set(user, [step])
    }
  }
  const notBefore = (other: Operation, op: Operation) => other.outcome !== 'fail' && !(other.completeMs !== null && other.outcome === 'ok' && other.completeMs < op.invokeMs)
  const acked = ops.filter((op) => op.kind === 'login' && op.outcome === 'ok')
  for (const op of acked) {
    const list = steps.get(op.userId) ?? []
    let start: number | undefined
    const exact = requestAt.get(op.id)
    if (exact !== undefined) {
      const at = list.findIndex((s) => s.revision === exact)
      if (at < 0 || list[at]!.deviceId !== op.deviceId) {
        violations.push({ checker: ACKNOWLEDGED, message: `${describe(op)}: its request record was written at revision ${exact}, but the seat was not put at ${op.deviceId} there`, atMs: op.completeMs ?? op.invokeMs, ops: [op.id] })
        continue
      }
      start = at
    } else {
      const at = list.findIndex((s) => s.deviceId === op.deviceId && !(bound.by(s.revision) < op.invokeMs))
      if (at >= 0) start = at
    }
    if (start === undefined) {
      violations.push({ checker: ACKNOWLEDGED, message: `${describe(op)}: acknowledged, but no seat of ${op.userId} at ${op.deviceId} was written in etcd after its call (revisions ${history.fromRevision}–${history.toRevision})`, atMs: op.completeMs ?? op.invokeMs, ops: [op.id] })
      continue
    }
    let end = start + 1
    while (end < list.length && list[end]!.deviceId === op.deviceId) end++
    if (end >= list.length) continue
    const step = list[end]!
    let explained: Operation[] = []
    let why: string
    if (step.deviceId !== null) {
      why = `moved to ${step.deviceId}`
      explained = ops.filter((o) => o.kind === 'login' && o.userId === op.userId && o.deviceId === step.deviceId && notBefore(o, op))
    } else if (step.reason === undefined) {
      why = 'deleted with no release reason'
    } else if (DOCUMENTED_ENDS.has(step.reason)) {
      continue
    } else if (step.reason === REASON.LOGOUT || step.reason === REASON.ADMIN) {
      why = `released (${REASON_NAME.get(step.reason)})`
      // A logout of the worker, or one at the desk (`*51` at the phone logs out whoever sits there).
      explained = ops.filter((o) => o.kind === 'logout' && (o.userId === op.userId || o.deviceId === op.deviceId) && notBefore(o, op))
    } else if (step.reason === REASON.BUMPED) {
      why = 'released (BUMPED)'
      explained = ops.filter((o) => o.kind === 'login' && o.userId !== op.userId && o.deviceId === op.deviceId && notBefore(o, op))
    } else {
      why = `released with reason ${REASON_NAME.get(step.reason) ?? step.reason}`
    }
    if (explained.length === 0) {
      violations.push({
        checker: ACKNOWLEDGED,
        message: `${describe(op)}: the seat written at revision ${list[start]!.revision} was ${why} at revision ${step.revision}, and no operation that may follow the login explains it: the acknowledged sign-in was lost`,
        atMs: op.completeMs ?? op.invokeMs,
        ops: [op.id],
      })
    }
  }
  return { violations, checked: acked.length }
}
