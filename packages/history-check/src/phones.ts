/**
 * At the phones (invariant 4, Bounded revocation): never two desks ringing for or presenting the
 * same worker, beyond the published bound.
 *
 * From `phones.jsonl`, per worker and desk:
 * - a desk *presents* the worker from its `presenting` event until its `revoked` event for that
 *   worker, or until it presents another worker, or the end of the record;
 * - a `ringing` for the worker at a desk not presenting them then is an act at that instant.
 *
 * Two desks acting as one worker at once are compared by how far the double act reaches beyond
 * a handover: two presentations by the length of their overlap; a ring at one desk while another
 * presents by the distance from the ring to the nearer end of that presentation (a ring just
 * before the new desk presented, or just before the old desk was told, is the handover seen
 * through two phones' messages; a ring deep inside another desk's presentation is two phones
 * acting as the worker). Two rings at two desks, neither presenting, cannot be told apart from
 * two sequential calls and are not compared.
 *
 * The design's rule is that no instant has two phones acting as the worker (the new seat becomes
 * active only after the old branch acknowledged, or its lease ran out); what the phones record
 * lags what the nodes did by a message each. The default bound is the one README publishes for a
 * takeover at a branch that cannot acknowledge: the confirmation lease (5 s) + 0.25 s; pass the
 * run's own lease, or a tighter bound for runs whose branches all stay connected. The largest
 * double act seen is reported as a figure either way.
 */
import type { PhoneEvent, Violation } from './history'

export const PHONES = 'phones'

/** README, "Published bounds": a takeover waiting on a cut-off branch completes within lease + 0.25 s. */
export const DEFAULT_CONFIRMATION_LEASE_MS = 5_000
export const DEFAULT_PHONE_BOUND_MS = DEFAULT_CONFIRMATION_LEASE_MS + 250

export interface PhoneOptions {
  /** Largest double act allowed, ms (default {@link DEFAULT_PHONE_BOUND_MS}). */
  boundMs?: number
  /** The end of the record (intervals never revoked end here; default: the last event's time). */
  endMs?: number
}

interface Interval { deviceId: string; start: number; end: number; ring: boolean }

export function checkPhones(events: readonly PhoneEvent[], options: PhoneOptions = {}): { violations: Violation[]; checked: number; maxDoubleMs: number } {
  const bound = options.boundMs ?? DEFAULT_PHONE_BOUND_MS
  const sorted = [...events].sort((a, b) => a.atMs - b.atMs)
  const endMs = options.endMs ?? (sorted.length > 0 ? sorted[sorted.length - 1]!.atMs : 0)
  // Presentations per worker.
  const open = new Map<string, { userId: string; start: number }>() // desk → who it presents
  const intervals = new Map<string, Interval[]>() // worker → acts
  const add = (userId: string, iv: Interval) => {
    const list = intervals.get(userId)
    if (list) list.push(iv)
    else intervals.set(userId, [iv])
  }
  const close = (deviceId: string, at: number) => {
    const cur = open.get(deviceId)
    if (!cur) return
    add(cur.userId, { deviceId, start: cur.start, end: at, ring: false })
    open.delete(deviceId)
  }
  const rings: PhoneEvent[] = []
  for (const e of sorted) {
    const cur = open.get(e.deviceId)
    if (e.event === 'presenting') {
      if (cur && cur.userId === e.userId) continue
      close(e.deviceId, e.atMs)
      open.set(e.deviceId, { userId: e.userId, start: e.atMs })
    } else if (e.event === 'revoked') {
      if (cur && cur.userId === e.userId) close(e.deviceId, e.atMs)
    } else {
      rings.push(e)
    }
  }
  for (const deviceId of [...open.keys()]) close(deviceId, Math.max(endMs, open.get(deviceId)!.start))
  // Rings outside a presentation of that worker at that desk.
  for (const r of rings) {
    const own = intervals.get(r.userId)?.some((iv) => !iv.ring && iv.deviceId === r.deviceId && iv.start <= r.atMs && r.atMs <= iv.end)
    if (!own) add(r.userId, { deviceId: r.deviceId, start: r.atMs, end: r.atMs, ring: true })
  }
  const violations: Violation[] = []
  let maxDoubleMs = 0
  for (const [userId, list] of intervals) {
    list.sort((a, b) => a.start - b.start)
    // Pairs that overlap: a sweep over starts (lists per worker are short).
    for (let i = 0; i < list.length; i++) {
      const a = list[i]!
      for (let j = i + 1; j < list.length; j++) {
        const b = list[j]!
        if (b.start > a.end) break
        if (a.deviceId === b.deviceId || (a.ring && b.ring)) continue
        let double: number
        if (!a.ring && !b.ring) double = Math.min(a.end, b.end) - b.start
        else {
          const [ring, shown] = a.ring ? [a, b] : [b, a]
          if (ring.start < shown.start || ring.start > shown.end) continue
          double = Math.min(ring.start - shown.start, shown.end - ring.start)
        }
        if (double <= 0) continue
        maxDoubleMs = Math.max(maxDoubleMs, double)
        if (double > bound) {
          const what = (iv: Interval) => (iv.ring ? `rang at ${iv.deviceId} at ${iv.start}` : `presented at ${iv.deviceId} from ${iv.start} to ${iv.end}`)
          violations.push({ checker: PHONES, message: `${userId}: ${what(a)} and ${what(b)}: two phones acted as the worker for ${double} ms (bound ${bound} ms)`, atMs: b.start })
        }
      }
    }
  }
  return { violations, checked: events.length, maxDoubleMs }
}
