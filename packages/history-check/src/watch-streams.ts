/**
 * The seat watch streams (WatchSeats, docs/OPERATIONS.md "Seat epochs"): per client, in the order
 * the client received them, checked against etcd's history of `seats/`:
 *
 * - `order`: the revisions never go back; events of one revision come together (one message), and
 *   a revision already delivered never comes again (`duplicate`), nor does one worker twice in one
 *   revision;
 * - `gap`: between the client's first and last revision (within the run), every revision that
 *   changed a seat the stream covers was delivered, with every worker it changed; a revision
 *   whose events are missing right at a reconnect is reported as a resume that lost changes;
 * - `phantom`: no event names a revision (within the run) at which etcd changed no such seat;
 * - `seat`: a SEATED event of an unscoped stream names the desk etcd put.
 *
 * Coverage: a stream covers every seat (WatchSeats with no site), unless `sites` gives the
 * client's site; then it covers a seat put at a desk of that site, or moved or released from it
 * (the registry's site filter, seat-watch.ts). Events whose `type` contains "snapshot" (the
 * initial one, or one after a compaction) restart the stream: nothing is compared across them, and
 * after a snapshot at revision R every change after R is owed.
 */
import type { Violation, WatchEvent } from './history'
import { parseValue, REL, type SeatHistory, type SeatValue } from './seat-history'

export const WATCH = 'watch-streams'

export interface WatchOptions {
  /** The site a client's stream is scoped to (absent or "": every seat). */
  sites?: Readonly<Record<string, string>>
}

/** What etcd says changed at one revision: worker → the desk put (null: deleted), with the sites touched. */
interface Expected {
  revision: number
  users: Map<string, { deviceId: string | null; sites: Set<string> }>
}

/** The seat changes per revision, from the replay. */
export function seatChanges(history: SeatHistory): Expected[] {
  const seats = new Map<string, SeatValue>()
  for (const [k, v] of history.initial) {
    if (!k.startsWith(REL.seats)) continue
    const seat = parseValue<SeatValue>(v)
    if (seat) seats.set(k.slice(REL.seats.length), seat)
  }
  const out: Expected[] = []
  for (const { revision, changes } of history.revisions) {
    const users = new Map<string, { deviceId: string | null; sites: Set<string> }>()
    for (const c of changes) {
      if (!c.key.startsWith(REL.seats)) continue
      const user = c.key.slice(REL.seats.length)
      const prev = seats.get(user)
      const seat = c.value === null ? undefined : parseValue<SeatValue>(c.value)
      if (seat) seats.set(user, seat)
      else seats.delete(user)
      const sites = new Set<string>()
      if (seat) sites.add(seat.siteId)
      if (prev) sites.add(prev.siteId)
      users.set(user, { deviceId: seat ? seat.deviceId : null, sites })
    }
    if (users.size > 0) out.push({ revision, users })
  }
  return out
}

/** Checks every client's stream; `checked` counts events. */
export function checkWatchStreams(events: readonly WatchEvent[], history: SeatHistory, options: WatchOptions = {}): { violations: Violation[]; checked: number } {
  const violations: Violation[] = []
  const all = seatChanges(history)
  const byClient = new Map<string, WatchEvent[]>()
  for (const e of events) {
    const list = byClient.get(e.client)
    if (list) list.push(e)
    else byClient.set(e.client, [e])
  }
  const lo = history.fromRevision - 1
  const hi = history.toRevision
  for (const [client, list] of byClient) {
    const site = options.sites?.[client] ?? ''
    const expected = new Map<number, Map<string, { deviceId: string | null }>>()
    for (const x of all) {
      const users = new Map<string, { deviceId: string | null }>()
      for (const [u, c] of x.users) if (site === '' || c.sites.has(site)) users.set(u, c)
      if (users.size > 0) expected.set(x.revision, users)
    }
    const expectedRevisions = [...expected.keys()]
    const v = (message: string, atMs: number) => violations.push({ checker: WATCH, message: `${client}: ${message}`, atMs })
    // Segments: runs of events between snapshots; after a snapshot at revision R the stream owes
    // every change after R.
    let segment: WatchEvent[] = []
    let after: number | undefined
    const segments: { events: WatchEvent[]; after: number | undefined }[] = []
    for (const e of list) {
      if (/snapshot/i.test(e.type)) {
        if (segment.length > 0) segments.push({ events: segment, after })
        segment = []
        after = e.revision
        continue
      }
      segment.push(e)
    }
    if (segment.length > 0) segments.push({ events: segment, after })
    for (const { events: seg, after: snapshotAt } of segments) {
      // Messages: consecutive events of one revision.
      const messages: { revision: number; events: WatchEvent[]; reconnect: boolean }[] = []
      for (const e of seg) {
        const last = messages[messages.length - 1]
        if (last && last.revision === e.revision && !e.reconnect) last.events.push(e)
        else messages.push({ revision: e.revision, events: [e], reconnect: e.reconnect === true })
      }
      const delivered = new Set<number>()
      let previous: number | undefined
      for (const m of messages) {
        const at = m.events[0]!.atMs
        if (delivered.has(m.revision)) v(`revision ${m.revision} delivered again${m.reconnect ? ' after a reconnect (the resume did not start after the last revision received)' : ''} (duplicate)`, at)
        else if (previous !== undefined && m.revision < previous) v(`revision ${m.revision} after revision ${previous}: out of order`, at)
        const users = new Set<string>()
        for (const e of m.events) {
          if (users.has(e.userId)) v(`revision ${m.revision} names ${e.userId} twice (duplicate)`, at)
          users.add(e.userId)
        }
        if (m.revision > lo && m.revision <= hi && !delivered.has(m.revision)) {
          const want = expected.get(m.revision)
          if (!want) v(`revision ${m.revision}: etcd changed no seat the stream covers at that revision (phantom event)`, at)
          else {
            for (const u of want.keys()) if (!users.has(u)) v(`revision ${m.revision}: the change of ${u}'s seat is missing (gap)`, at)
            for (const e of m.events) {
              const c = want.get(e.userId)
              if (!c) v(`revision ${m.revision}: etcd did not change ${e.userId}'s seat there (phantom event)`, at)
              else if (site === '' && c.deviceId !== null && e.deviceId !== c.deviceId) v(`revision ${m.revision}: ${e.userId} seated at ${e.deviceId ?? 'nothing'}, etcd put ${c.deviceId}`, at)
            }
          }
        }
        delivered.add(m.revision)
        previous = previous === undefined ? m.revision : Math.max(previous, m.revision)
      }
      // Gaps: expected revisions between the segment's first and last message, never delivered.
      const first = Math.max(snapshotAt ?? messages[0]!.revision, lo)
      const last = Math.min(previous!, hi)
      for (const r of expectedRevisions) {
        if (r <= first || r > last || delivered.has(r)) continue
        const at = messages.findIndex((m) => m.revision > r)
        const next = at < 0 ? undefined : messages[at]
        const atReconnect = next?.reconnect === true && (at === 0 || messages[at - 1]!.revision < r)
        v(`revision ${r} (${[...expected.get(r)!.keys()].join(', ')}) never delivered (gap${atReconnect ? `: the stream resumed at ${next.revision} after a reconnect and lost it` : ''})`, next?.events[0]!.atMs ?? seg[seg.length - 1]!.atMs)
      }
    }
  }
  return { violations, checked: events.length }
}
