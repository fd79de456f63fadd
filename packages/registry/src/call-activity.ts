/**
 * The workers' call activity (CallListService.ReportCallActivity): which calls are in progress
 * and when the last one started or ended, per worker, at `activity/<user>` (records.ts
 * ActivityRecord). The SIP node where a call from a phone is routed reports both ends of it as
 * it goes (EARLY, CONFIRMED, TERMINATED); the leader applies a report in fenced transactions and
 * wakes the seat deadlines (seat-end.ts: idle, and the deferral of an end during a call), which
 * read the record. Kept in etcd, so a new leader knows every call in progress.
 *
 * A call id that ended is remembered (the last {@link ENDED_KEPT} per worker), so a late or
 * repeated EARLY of it does not put it back. The records live on the request records' lease: a
 * day after a worker's last call the record goes, and the seat's start counts as the last
 * activity again (a call left "in progress" by a node that died mid-call is also bounded by the
 * deferral's upper bound).
 *
 * A desk's own extension (an event without a worker, naming the desk) is kept the same way at
 * `desk-activity/<device>`, for the busy lamps only (no sign-out policy reads it). Each call
 * also keeps its state, direction, desk, the caller's From tag and the other party: what a busy
 * lamp's dialog-info shows (WatchDialogs, dialog-watch.ts).
 */
import { CallDirection, DialogState, type DialogEvent, type ReportCallActivityRequest } from '@flexseat/proto'
import type { Caller } from './caller'
import { invalidArgument } from './errors'
import type { FencedWriter } from './fenced-writer'
import type { Keys } from './keys'
import { type Op, REQUEST_LEASE } from './kv'
import type { ActivityCall, ActivityRecord } from './records'
import { mustActFor } from './site-scope'
import * as v from './validate'

/** Events per report at most. */
export const MAX_ACTIVITY_EVENTS = 1_000
/** Ended call ids remembered per worker. */
export const ENDED_KEPT = 16

/** A validated event of a worker's call (`userId`), or of a desk's own (`userId` '' and `deviceId`). */
export interface ActivityEvent {
  userId: string
  siteId: string
  callId: string
  state: DialogState
  at: number
  direction?: CallDirection
  deviceId?: string
  callerTag?: string
  otherParty?: string
  otherPartyName?: string
}

/** Validates a report whole (INVALID_ARGUMENT naming the field); returns the events of workers and desks, in order. */
export function validateActivity(req: ReportCallActivityRequest, caller: Caller): ActivityEvent[] {
  v.id(req.siteId, 'site_id')
  v.id(req.nodeId, 'node_id')
  mustActFor(caller, req.siteId)
  if (req.events.length > MAX_ACTIVITY_EVENTS) throw invalidArgument('events', `at most ${MAX_ACTIVITY_EVENTS} per call`)
  const out: ActivityEvent[] = []
  req.events.forEach((event: DialogEvent, i) => {
    const f = `events[${i}]`
    if (event.callId === '' || event.callId.length > 256 || !/^[\x21-\x7e]+$/.test(event.callId)) throw invalidArgument(`${f}.call_id`, 'must be 1 to 256 printable characters without spaces')
    if (event.extension !== '') v.extension(event.extension, `${f}.extension`)
    if (event.userId !== '') v.id(event.userId, `${f}.user_id`)
    if (event.deviceId !== '') v.id(event.deviceId, `${f}.device_id`)
    if (![DialogState.DIALOG_STATE_EARLY, DialogState.DIALOG_STATE_CONFIRMED, DialogState.DIALOG_STATE_TERMINATED].includes(event.state)) {
      throw invalidArgument(`${f}.state`, 'must be EARLY, CONFIRMED or TERMINATED')
    }
    if (event.direction !== CallDirection.CALL_DIRECTION_INCOMING && event.direction !== CallDirection.CALL_DIRECTION_OUTGOING) throw invalidArgument(`${f}.direction`, 'must be INCOMING or OUTGOING')
    const at = event.at?.getTime()
    if (at === undefined || !Number.isFinite(at) || at < 0) throw invalidArgument(`${f}.at`, 'is required')
    if (event.callerTag.length > 128 || !/^[\x21-\x7e]*$/.test(event.callerTag)) throw invalidArgument(`${f}.caller_tag`, 'must be at most 128 printable characters without spaces')
    if (event.otherParty.length > 64) throw invalidArgument(`${f}.other_party`, 'must be at most 64 characters')
    if (event.otherPartyName.length > 256) throw invalidArgument(`${f}.other_party_name`, 'must be at most 256 characters')
    // A desk's own extension (no worker) is kept for its busy lamp when the event names the desk.
    if (event.userId === '' && event.deviceId === '') return
    out.push({
      userId: event.userId,
      siteId: req.siteId,
      callId: event.callId,
      state: event.state,
      at,
      direction: event.direction,
      deviceId: event.deviceId,
      callerTag: event.callerTag,
      otherParty: event.otherParty,
      otherPartyName: event.otherPartyName,
    })
  })
  return out
}

/** `record` with `events` (of its worker, in order) applied. */
export function applyActivity(record: (ActivityRecord & { ended?: string[] }) | undefined, events: readonly ActivityEvent[], now: number): ActivityRecord & { ended?: string[] } {
  const calls = { ...(record?.calls ?? {}) }
  const ended = [...(record?.ended ?? [])]
  let last = record === undefined ? 0 : Date.parse(record.lastActivity)
  for (const event of events) {
    const key = event.callId
    if (event.state === DialogState.DIALOG_STATE_TERMINATED) {
      delete calls[key]
      if (!ended.includes(key)) ended.push(key)
    } else if (!ended.includes(key)) {
      const confirmed = event.state === DialogState.DIALOG_STATE_CONFIRMED
      const known = calls[key]
      if (known === undefined) calls[key] = { siteId: event.siteId, since: new Date(event.at).toISOString(), ...details(event), state: confirmed ? 'confirmed' : 'early' }
      // Answered: the desk that answered (ring-both) and the state; never back to early.
      else if (confirmed) calls[key] = { ...known, state: 'confirmed', ...(event.deviceId ? { deviceId: event.deviceId } : {}) }
    }
    // The node's clock, capped by the leader's: activity is never in the future.
    last = Math.max(last, Math.min(event.at, now))
  }
  return { calls, lastActivity: new Date(last).toISOString(), ended: ended.slice(-ENDED_KEPT) }
}

/** What a call keeps of its first event besides site and start (empty fields left out). */
function details(event: ActivityEvent): Partial<ActivityCall> {
  return {
    ...(event.direction === CallDirection.CALL_DIRECTION_INCOMING ? { direction: 'in' as const } : event.direction === CallDirection.CALL_DIRECTION_OUTGOING ? { direction: 'out' as const } : {}),
    ...(event.deviceId ? { deviceId: event.deviceId } : {}),
    ...(event.callerTag ? { callerTag: event.callerTag } : {}),
    ...(event.otherParty ? { otherParty: event.otherParty } : {}),
    ...(event.otherPartyName ? { otherPartyName: event.otherPartyName } : {}),
  }
}

/** The etcd key an event is kept under: the worker's activity, else the desk's. */
function activityKey(keys: Keys, event: ActivityEvent): string {
  return event.userId !== '' ? keys.activity(event.userId) : keys.deskActivity(event.deviceId ?? '')
}

/**
 * Applies validated events: per worker (or desk), read `activity/<user>` (`desk-activity/<device>`) and write it back, in fenced
 * transactions cut to etcd's limits by the shared splitter (applyInParts: one compare and one put
 * per worker).
 */
export async function reportActivity(writer: FencedWriter, keys: Keys, events: readonly ActivityEvent[], now: () => number): Promise<void> {
  const byKey = new Map<string, ActivityEvent[]>()
  for (const event of events) {
    const key = activityKey(keys, event)
    byKey.set(key, [...(byKey.get(key) ?? []), event])
  }
  await writer.applyInParts('call activity', [...byKey.keys()], { perItem: { compares: 1, success: 1 } }, async (read, part) => {
    await read.prefetch(part)
    const ops: Op[] = []
    for (const key of part) {
      const current = await read.json<ActivityRecord & { ended?: string[] }>(key)
      ops.push({ type: 'put', key, value: applyActivity(current?.value, byKey.get(key)!, now()), lease: REQUEST_LEASE })
    }
    return { ops, outcome: undefined }
  })
}
