/**
 * Invariant 1 (DESIGN.md, Uniqueness) at EVERY etcd revision of the run, by replaying the seat
 * keys' history: the state before the run, then each revision's changes in order, checking what
 * each revision touched.
 *
 * What is checked, after each revision (and of the state before the run):
 * - `two-workers-at-desk`: no desk carries two workers (two `seats/<user>` name one device);
 * - `host-mismatch`: `hosts/<device>` mirrors `seats/` exactly: a host key names a worker whose
 *   seat is at that device, and every seat's device names its worker (a stale host key is a
 *   worker shown at a second desk);
 * - the revocation states (docs/OPERATIONS.md, "Bounded revocation"), which decide whether a
 *   branch may still act as a worker: `revoking/<user>` exists only while the user has no seat
 *   (`revoking-with-seat`); a seat is never pending on its own branch (`pending-own-site`: that
 *   branch's node applies both in revision order, so the entry is dropped at the login); every
 *   pending entry, in a seat or in `revoking/<user>`, has its index key
 *   `revocations/<site>/<user>` (`pending-unindexed`: without it no sweep ever completes it and
 *   the worker's next seat waits forever).
 * A worker cannot have two `seats/` keys: one key per worker is the layout.
 */
import type { Violation } from './history'
import { KeyState, parseValue, REL, type SeatHistory, type SeatValue } from './seat-history'

export const UNIQUENESS = 'uniqueness'

interface Pending { siteId: string; deviceId: string }

/** Checks the uniqueness invariants at every revision; `checked` counts revisions. */
export function checkUniqueness(history: SeatHistory): { violations: Violation[]; checked: number } {
  const violations: Violation[] = []
  const state = new KeyState(history.initial)
  const seats = new Map<string, SeatValue>()
  const atDesk = new Map<string, Set<string>>()
  const add = (user: string, seat: SeatValue) => {
    seats.set(user, seat)
    const set = atDesk.get(seat.deviceId) ?? new Set<string>()
    set.add(user)
    atDesk.set(seat.deviceId, set)
  }
  const remove = (user: string) => {
    const old = seats.get(user)
    if (!old) return
    seats.delete(user)
    const set = atDesk.get(old.deviceId)
    set?.delete(user)
    if (set && set.size === 0) atDesk.delete(old.deviceId)
  }
  const seatOf = (user: string, text: string, revision: number): SeatValue | undefined => {
    const seat = parseValue<SeatValue>(text)
    if (!seat || typeof seat.deviceId !== 'string') {
      violations.push({ checker: UNIQUENESS, message: `revision ${revision}: seats/${user} is not a seat record` })
      return undefined
    }
    return seat
  }
  for (const [key, value] of history.initial) {
    if (!key.startsWith(REL.seats)) continue
    const user = key.slice(REL.seats.length)
    const seat = seatOf(user, value, history.fromRevision - 1)
    if (seat) add(user, seat)
  }

  const checkAt = (revision: number, users: Set<string>, devices: Set<string>) => {
    const v = (message: string) => violations.push({ checker: UNIQUENESS, message: `revision ${revision}: ${message}` })
    for (const user of users) {
      const seat = seats.get(user)
      if (seat) devices.add(seat.deviceId)
    }
    for (const device of devices) {
      const holders = atDesk.get(device)
      if (holders && holders.size > 1) v(`desk ${device} carries ${holders.size} workers (${[...holders].sort().join(', ')})`)
      const host = state.values.get(REL.host(device))
      if (host !== undefined) {
        const seat = seats.get(host)
        if (!seat) v(`hosts/${device} names ${host}, who has no seat`)
        else if (seat.deviceId !== device) v(`hosts/${device} names ${host}, whose seat is at ${seat.deviceId}: the worker shows at two desks`)
      }
      for (const holder of holders ?? []) if (host !== holder) v(`seats/${holder} is at ${device} but hosts/${device} is ${host === undefined ? 'absent' : host}`)
    }
    for (const user of users) {
      const seat = seats.get(user)
      const revokingText = state.values.get(REL.revoking(user))
      if (seat && revokingText !== undefined) v(`revoking/${user} exists beside the worker's seat (it may exist only while the worker has no seat)`)
      const entries: Pending[] = [...(seat?.pending ?? [])]
      if (revokingText !== undefined) {
        const left = parseValue<Pending[]>(revokingText)
        if (!Array.isArray(left)) v(`revoking/${user} is not a list of pending entries`)
        else entries.push(...left)
      }
      for (const p of seat?.pending ?? []) if (p.siteId === seat!.siteId) v(`the seat of ${user} at ${seat!.deviceId} is pending on its own site ${p.siteId}`)
      for (const p of entries) {
        if (!state.values.has(REL.revocation(p.siteId, user))) v(`${user} has a pending revocation at ${p.siteId} (desk ${p.deviceId}) without its index key revocations/${p.siteId}/${user}`)
      }
    }
  }

  const allUsers = new Set<string>()
  const allDevices = new Set<string>()
  for (const key of history.initial.keys()) touch(key, allUsers, allDevices)
  checkAt(history.fromRevision - 1, allUsers, allDevices)
  let checked = 1
  for (const { revision, changes } of history.revisions) {
    state.apply(changes)
    const users = new Set<string>()
    const devices = new Set<string>()
    for (const c of changes) {
      touch(c.key, users, devices)
      if (!c.key.startsWith(REL.seats)) continue
      const user = c.key.slice(REL.seats.length)
      const old = seats.get(user)
      if (old) devices.add(old.deviceId)
      remove(user)
      if (c.value !== null) {
        const seat = seatOf(user, c.value, revision)
        if (seat) add(user, seat)
      }
    }
    checkAt(revision, users, devices)
    checked++
  }
  // Revisions that changed none of the seat keys cannot break the invariants: count them as
  // checked too (the state there is the previous revision's).
  return { violations, checked: Math.max(checked, history.toRevision - history.fromRevision + 2) }
}

/** Notes the user or device a key is about. */
function touch(key: string, users: Set<string>, devices: Set<string>): void {
  if (key.startsWith(REL.seats)) users.add(key.slice(REL.seats.length))
  else if (key.startsWith(REL.hosts)) devices.add(key.slice(REL.hosts.length))
  else if (key.startsWith(REL.revoking(''))) users.add(key.slice(REL.revoking('').length))
  else if (key.startsWith(REL.revocations)) users.add(key.slice(REL.revocations.length).split('/').slice(1).join('/'))
}
