import { type Etcd3, GRPCOutOfRangeError, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3'
import {
  ReleaseReason,
  type Seat,
  type SeatEvent,
  SeatEventType,
  SnapshotReason,
  type WatchSeatsRequest,
  type WatchSeatsResponse,
} from '@flexseat/proto'
import type { Logger } from 'pino'
import type { Keys } from './keys'
import { parseJson, prefixEnd, retryRead } from './kv'
import { type ReleaseRecord, type SeatRecord, toSeat } from './records'
import * as v from './validate'

/** What a seat watch needs. */
export interface SeatWatchContext {
  etcd: Etcd3
  keys: Keys
  logger: Logger
  /** Called with every etcd answer (health tracking). */
  onContact?: () => void
}

/** Every seat (at `siteId`, when given) at one revision. */
export async function readSeats(ctx: SeatWatchContext, siteId: string): Promise<{ seats: Seat[]; revision: string }> {
  const res = await retryRead(() => ctx.etcd.kv.range({ key: Buffer.from(ctx.keys.seats), range_end: prefixEnd(ctx.keys.seats) }))
  ctx.onContact?.()
  const seats = res.kvs.map((kv) => toSeat(parseJson<SeatRecord>(kv), kv.mod_revision)).filter((s) => siteId === '' || s.siteId === siteId)
  return { seats, revision: res.header.revision }
}

/** Validates a watch request (INVALID_ARGUMENT naming the field). */
export function validateWatch(req: WatchSeatsRequest): bigint {
  if (req.siteId !== '') v.id(req.siteId, 'site_id')
  return v.revision(req.afterRevision === '' ? '0' : req.afterRevision, 'after_revision')
}

type Item = { kind: 'data'; res: IWatchResponse } | { kind: 'broken'; error: unknown }

/**
 * Streams seat changes in revision order, per the WatchSeats contract:
 *
 * - one `changes` message per etcd revision, holding every seat event of that revision (a
 *   revision with no visible seat change, e.g. filtered out by site, yields nothing);
 * - `after_revision` 0: a snapshot (INITIAL) at revision R, then every change after R;
 * - `after_revision` N: every change after N, with no gap and no duplicate (N being the revision
 *   of the last `changes` or snapshot a client received);
 * - when N (or the point a broken watch must resume from) was compacted: a snapshot with reason
 *   COMPACTED at the current revision, then the changes after it;
 * - when N is ahead of the cluster's revision: a snapshot with reason AHEAD at the current
 *   revision, then the changes after it (etcd would otherwise wait for N in silence).
 *
 * One etcd watch covers `seats/` and `seats-released/` (adjacent key ranges), with previous
 * values, so a deletion comes with the seat as it was and, at the same revision, the reason.
 * etcd never splits a revision across watch responses (the server batches whole revisions and
 * etcd3 does not ask for fragmentation; etcd3 emits one 'data' per response), so grouping one
 * response's events by revision yields complete revisions.
 * With a site filter, a seat that moves away from the site is delivered as RELEASED (MOVED).
 *
 * The stream tracks the last revision it delivered itself and, when etcd's watch breaks,
 * re-creates it from the next revision and drops anything already delivered, rather than
 * trusting etcd3's automatic resume (which advances its start revision to the header revision
 * of the creation response and could skip events).
 */
export async function* watchSeats(ctx: SeatWatchContext, req: WatchSeatsRequest, signal: AbortSignal): AsyncGenerator<WatchSeatsResponse> {
  let after = validateWatch(req)
  const siteId = req.siteId
  if (signal.aborted) return
  if (after === 0n) {
    const snap = await readSeats(ctx, siteId)
    yield { message: { $case: 'snapshot', value: { reason: SnapshotReason.SNAPSHOT_REASON_INITIAL, seats: snap.seats, revision: snap.revision } } }
    after = BigInt(snap.revision)
  }
  const start = Buffer.from(ctx.keys.seatsReleased)
  const end = prefixEnd(ctx.keys.seats)
  while (!signal.aborted) {
    const position = await positionOf(ctx, after)
    if (position !== 'available') {
      // A revision ahead of the cluster's never comes: etcd would wait for it in silence.
      const snap = await readSeats(ctx, siteId)
      const reason = position === 'compacted' ? SnapshotReason.SNAPSHOT_REASON_COMPACTED : SnapshotReason.SNAPSHOT_REASON_AHEAD
      if (position === 'ahead') ctx.logger.warn({ afterRevision: after.toString(), revision: snap.revision }, 'seat watch asked to resume after a revision this cluster has not reached; sending a snapshot')
      yield { message: { $case: 'snapshot', value: { reason, seats: snap.seats, revision: snap.revision } } }
      after = BigInt(snap.revision)
    }
    const queue: Item[] = []
    let wake: (() => void) | undefined
    const push = (item: Item) => {
      queue.push(item)
      wake?.()
    }
    const onAbort = () => wake?.()
    signal.addEventListener('abort', onAbort)
    const watcher: Watcher = ctx.etcd
      .watch()
      .inRange({ start, end })
      .withPreviousKV()
      .startRevision((after + 1n).toString())
      .watcher()
    watcher.on('data', (res) => push({ kind: 'data', res }))
    watcher.on('disconnected', (error) => push({ kind: 'broken', error }))
    watcher.on('error', (error) => push({ kind: 'broken', error }))
    try {
      for (;;) {
        if (signal.aborted) return
        const item = queue.shift()
        if (!item) {
          await new Promise<void>((resolve) => (wake = resolve))
          wake = undefined
          continue
        }
        if (item.kind === 'broken') {
          ctx.logger.debug({ err: item.error }, 'seat watch broke; resuming')
          break
        }
        ctx.onContact?.()
        for (const [revision, events] of byRevision(item.res)) {
          if (revision <= after) continue
          const changes = translate(ctx.keys, events, revision, siteId)
          if (changes.length > 0) yield { message: { $case: 'changes', value: { revision: revision.toString(), events: changes } } }
          after = revision
        }
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
      await watcher.cancel().catch(() => undefined)
    }
    // Resuming: a short pause keeps a flapping connection from spinning.
    await new Promise((resolve) => setTimeout(resolve, 100).unref())
  }
}

/**
 * Whether a watch can resume after `after`: `compacted` when the history after it is gone,
 * `ahead` when the cluster has not reached `after` (a revision a client can only have from
 * another history: etcd restored from a backup, or rebuilt), else `available`. A client that
 * got `after` from this cluster's stream never sees `ahead`: the read is linearizable, so the
 * cluster's revision is at least any revision an instance delivered.
 */
async function positionOf(ctx: SeatWatchContext, after: bigint): Promise<'available' | 'compacted' | 'ahead'> {
  const head = await retryRead(() => ctx.etcd.kv.range({ key: Buffer.from(ctx.keys.seats), range_end: prefixEnd(ctx.keys.seats), count_only: true }))
  const current = BigInt(head.header.revision)
  if (after > current) return 'ahead'
  if (after + 1n > current) return 'available'
  try {
    await retryRead(() => ctx.etcd.kv.range({ key: Buffer.from(ctx.keys.seats), range_end: prefixEnd(ctx.keys.seats), count_only: true, revision: (after + 1n).toString() }))
    return 'available'
  } catch (error) {
    if (error instanceof GRPCOutOfRangeError) return 'compacted'
    throw error
  }
}

type WatchEvent = IWatchResponse['events'][number]

function byRevision(res: IWatchResponse): Map<bigint, WatchEvent[]> {
  const groups = new Map<bigint, WatchEvent[]>()
  for (const event of res.events) {
    const revision = BigInt(event.kv.mod_revision)
    const group = groups.get(revision)
    if (group) group.push(event)
    else groups.set(revision, [event])
  }
  return groups
}

/** The seat events of one revision's etcd events, in etcd's order. */
function translate(keys: Keys, events: WatchEvent[], revision: bigint, siteId: string): SeatEvent[] {
  const rev = revision.toString()
  const reasons = new Map<string, ReleaseRecord>()
  for (const e of events) {
    const key = e.kv.key.toString('utf8')
    if (e.type === 'Put' && key.startsWith(keys.seatsReleased)) reasons.set(key.slice(keys.seatsReleased.length), parseJson<ReleaseRecord>(e.kv))
  }
  const out: SeatEvent[] = []
  const event = (type: SeatEventType, seat: Seat, reason = ReleaseReason.RELEASE_REASON_UNSPECIFIED): SeatEvent => ({
    type,
    seat,
    reason,
    revision: rev,
  })
  for (const e of events) {
    const key = e.kv.key.toString('utf8')
    if (!key.startsWith(keys.seats)) continue
    const userId = key.slice(keys.seats.length)
    const previous = e.prev_kv ? toSeat(parseJson<SeatRecord>(e.prev_kv as IKeyValue), e.prev_kv.mod_revision) : undefined
    if (e.type === 'Put') {
      const seat = toSeat(parseJson<SeatRecord>(e.kv), e.kv.mod_revision)
      if (siteId === '' || seat.siteId === siteId) out.push(event(SeatEventType.SEAT_EVENT_TYPE_SEATED, seat))
      else if (previous && previous.siteId === siteId) out.push(event(SeatEventType.SEAT_EVENT_TYPE_RELEASED, previous, ReleaseReason.RELEASE_REASON_MOVED))
    } else {
      const record = reasons.get(userId)
      const seat = previous ?? (record ? toSeat(record.seat, record.epoch) : undefined)
      if (!seat || (siteId !== '' && seat.siteId !== siteId)) continue
      out.push(event(SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat, record?.reason ?? ReleaseReason.RELEASE_REASON_LOGOUT))
    }
  }
  return out
}
