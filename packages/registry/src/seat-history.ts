import type { Etcd3 } from 'etcd3'
import { type ListSeatHistoryRequest, type ListSeatHistoryResponse, ReleaseReason, type SeatHistoryRecord } from '@flexseat/proto'
import type { Keys } from './keys'
import { type Op, parseJson, prefixEnd } from './kv'
import { type SeatRecord, seatVia } from './records'
import * as v from './validate'

/**
 * Every worker's seat history (SeatService.ListSeatHistory; the occupancy report reads the
 * per-site index that historyEnd writes beside it, occupancy-report.ts): one record per seat the worker held, keyed by the seat's start,
 * `seat-history/<user>/<13-digit ms of since>-<device>`. The seat's own transaction writes it —
 * the login that creates the seat puts it (no end), and whatever ends the seat (releaseOps:
 * logout, bump, expiry, the directory, deletes; a login that moves the worker or signs them in
 * again at the same desk) puts it again with its end and reason — so at every etcd revision the
 * history agrees with the seats. What a seat's record says is only ever what its seat record
 * said: a pending seat becoming active, a renumbered worker's seat rewritten, change nothing here.
 *
 * Bounded twice: at most `size` records per worker (a login that would go past it deletes the
 * oldest, at most {@link MAX_TRIM} in one transaction) and every record on a retention lease
 * (retention-lease.ts), so etcd deletes it `retention` (to `retention + retention/24`) after its
 * last write; reads skip records older than the retention. A deleted worker's history stays
 * (an audit trail outlives its subject) until the retention ends it.
 */

/** The bound and the retention of every worker's history. */
export interface SeatHistoryPolicy {
  /** Records kept per worker (FLEXSEAT_SEAT_HISTORY_SIZE, default 500). */
  size: number
  /** How long a record is kept after its last change, in seconds (FLEXSEAT_SEAT_HISTORY_RETENTION_SECONDS, default 90 days). */
  retentionSeconds: number
}

/** A quarter's seats of a worker who moves a few times a day; 90 days as the call list. */
export const DEFAULT_SEAT_HISTORY: Readonly<SeatHistoryPolicy> = Object.freeze({ size: 500, retentionSeconds: 90 * 86_400 })

/** The marker of the history's retention lease in `Op.lease` (the fenced writer resolves it). */
export const SEAT_HISTORY_LEASE = 'seat-history'

/** Old records one login deletes at most (a lowered bound is reached over several logins). */
export const MAX_TRIM = 16

/** Stored at `seat-history/<user>/<start>-<device>`. */
export interface SeatHistoryEntry {
  userId: string
  extension: string
  deviceId: string
  siteId: string
  /** ISO time the seat was taken (its `since`). */
  start: string
  /** ISO time it ended; absent while it lasts. */
  end?: string
  /** Why it ended (ReleaseReason); absent while it lasts. */
  reason?: ReleaseReason
  via: SeatRecord['via']
  /** ISO time of the seat's time limit; absent without one. */
  expiresAt?: string
}

/** The key of `seat`'s record. */
export function historyKey(keys: Keys, seat: Pick<SeatRecord, 'userId' | 'since' | 'deviceId'>): string {
  return `${keys.seatHistory(seat.userId)}${String(Date.parse(seat.since)).padStart(13, '0')}-${seat.deviceId}`
}

function entryOf(seat: SeatRecord): SeatHistoryEntry {
  return {
    userId: seat.userId,
    extension: seat.extension,
    deviceId: seat.deviceId,
    siteId: seat.siteId,
    start: seat.since,
    via: seat.via,
    ...(seat.expiresAt === undefined ? {} : { expiresAt: seat.expiresAt }),
  }
}

/** The put of a new seat's record. */
export function historyStart(keys: Keys, seat: SeatRecord): Op {
  return { type: 'put', key: historyKey(keys, seat), value: entryOf(seat), lease: SEAT_HISTORY_LEASE }
}

/**
 * The key of an ended seat in its site's occupancy index: by end, so that a report reads only the
 * seats that ended in or after its period (occupancy-report.ts), keys only.
 */
export function occupancyKey(keys: Keys, seat: Pick<SeatRecord, 'userId' | 'since' | 'deviceId' | 'siteId'>, end: number): string {
  const ms = (t: number): string => String(t).padStart(13, '0')
  return `${keys.occupancy(seat.siteId)}${ms(end)}/${ms(Date.parse(seat.since))}/${seat.deviceId}/${seat.userId}`
}

/**
 * The puts of an ended seat: its history record (the seat as it was, its end at `at` (ms) and
 * why) and its key in the site's occupancy index; both on the history's retention lease. The
 * index key is the report's own: trimming a worker's history (historyTrim) leaves it to expire.
 */
export function historyEnd(keys: Keys, seat: SeatRecord, reason: ReleaseReason, at: number): Op[] {
  const entry: SeatHistoryEntry = { ...entryOf(seat), end: new Date(at).toISOString(), reason }
  return [
    { type: 'put', key: historyKey(keys, seat), value: entry, lease: SEAT_HISTORY_LEASE },
    { type: 'put', key: occupancyKey(keys, seat, at), value: '', lease: SEAT_HISTORY_LEASE },
  ]
}

/**
 * How many history records a worker has and the keys of the oldest (at most {@link HISTORY_PAGE},
 * oldest first): what a login's trim needs, read keys only with a limit (etcd counts the whole
 * prefix but reads and sends only the page), so a worker with the full `size` of records costs a
 * login no more than one with a few.
 */
export interface HistoryPage {
  count: number
  oldest: string[]
}

/** Keys of the oldest records a login reads: the most it trims, and the two records it writes itself. */
export const HISTORY_PAGE = MAX_TRIM + 2

/**
 * The deletions that keep a user's history within `size` once the plan's records are put: the
 * oldest keys of `history` (the user's count and oldest keys) that are not being written, at most
 * {@link MAX_TRIM}. `ending`: keys of records the plan rewrites with their seat's end (their seat
 * put them when it started); `starting`: keys of records it puts for new seats. A written key
 * adds to the count unless it exists: known for a key within the page read (in it or not), and
 * for every key when the page holds the whole history; past the page an ending key is taken to
 * exist (its seat's start wrote it and the seat still holds it: newer than every trimmed key) and
 * a starting one not to (it names this moment).
 */
export function historyTrim(history: HistoryPage, size: number, ending: readonly string[], starting: readonly string[] = []): Op[] {
  const { count, oldest } = history
  const page = new Set(oldest)
  const whole = count <= oldest.length
  const last = oldest.at(-1)
  const exists = (key: string, ends: boolean): boolean => page.has(key) || (!whole && last !== undefined && key > last && ends)
  const writing = new Set([...ending, ...starting])
  let added = 0
  for (const key of writing) if (!exists(key, ending.includes(key))) added += 1
  const excess = Math.min(MAX_TRIM, count + added - size)
  if (excess <= 0) return []
  return oldest.filter((key) => !writing.has(key)).slice(0, excess).map((key) => ({ type: 'delete', key }))
}

/**
 * The range of a user's {@link HistoryPage}: their history's prefix, keys only, the oldest
 * {@link HISTORY_PAGE} (etcd's key order is oldest first). Not compared at commit: every write of
 * a user's history also writes `seats/<user>`, which a login compares, so a concurrent change
 * fails one of the two (records expiring by their retention lease change nothing the login
 * relies on: it deletes keys that may be gone already).
 */
export function historyPageRead(keys: Keys, userId: string): { key: Buffer; range_end: Buffer; keys_only: true; limit: string } {
  const prefix = keys.seatHistory(userId)
  return { key: Buffer.from(prefix), range_end: prefixEnd(prefix), keys_only: true, limit: String(HISTORY_PAGE) }
}

/** The {@link HistoryPage} of a range response of {@link historyPageRead} (etcd's `count` is the whole prefix's). */
export function historyPageOf(res: { count: string; kvs: readonly { key: Buffer }[] }): HistoryPage {
  return { count: Number(res.count), oldest: res.kvs.map((kv) => kv.key.toString('utf8')) }
}

/** The API view of a stored record. */
export function toSeatHistoryRecord(entry: SeatHistoryEntry): SeatHistoryRecord {
  return {
    userId: entry.userId,
    extension: entry.extension,
    deviceId: entry.deviceId,
    siteId: entry.siteId,
    start: new Date(entry.start),
    end: entry.end === undefined ? undefined : new Date(entry.end),
    reason: entry.reason ?? ReleaseReason.RELEASE_REASON_UNSPECIFIED,
    via: seatVia(entry.via),
    expiresAt: entry.expiresAt === undefined ? undefined : new Date(entry.expiresAt),
  }
}

/** Options of {@link SeatHistory}. */
export interface SeatHistoryOptions {
  etcd: Etcd3
  keys: Keys
  policy: SeatHistoryPolicy
  clock: () => number
}

/** Reads of the history (any instance); the writes are the seat plans' (seats.ts). */
export class SeatHistory {
  readonly #o: SeatHistoryOptions

  constructor(options: SeatHistoryOptions) {
    const { size, retentionSeconds } = options.policy
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`seat history size must be a whole number >= 1: ${size}`)
    if (!Number.isInteger(retentionSeconds) || retentionSeconds < 2) throw new RangeError(`seat history retention must be a whole number of seconds >= 2: ${retentionSeconds}`)
    this.#o = options
  }

  get policy(): SeatHistoryPolicy {
    return this.#o.policy
  }

  /** A user's records, newest first (at most `limit`; 0: all kept), none older than the retention. */
  async list(req: ListSeatHistoryRequest): Promise<ListSeatHistoryResponse> {
    v.id(req.userId, 'user_id')
    const { etcd, keys, policy } = this.#o
    const limit = req.limit === 0 ? policy.size : Math.min(req.limit, policy.size)
    const prefix = keys.seatHistory(req.userId)
    const res = await etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), sort_order: 'Descend', sort_target: 'Key', limit: String(limit + MAX_TRIM) })
    const cutoff = this.#o.clock() - policy.retentionSeconds * 1_000
    const records: SeatHistoryRecord[] = []
    for (const kv of res.kvs) {
      const entry = parseJson<SeatHistoryEntry>(kv)
      // A record lives a retention after its last change: its end, or its start while it lasts.
      if (Date.parse(entry.end ?? entry.start) <= cutoff && entry.end !== undefined) continue
      records.push(toSeatHistoryRecord(entry))
      if (records.length >= limit) break
    }
    return { records }
  }
}
