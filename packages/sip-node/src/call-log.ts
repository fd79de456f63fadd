/**
 * What the call list records of one call (the workers' central call list, COMtrexx's call lists
 * that follow the user): the node where a call from a phone was routed writes up to two records
 * once the call ends, from the router's {@link CallFacts} and how the call went:
 *
 * - OUTGOING for the worker the call went out as (seated at the calling phone): the number
 *   dialled, answered or not, the duration, the desk they sat at;
 * - INCOMING for the worker called: the caller (the worker acting at the calling phone, else the
 *   phone's own extension and label), answered (by which desk) or missed (the desk that rang, or
 *   none when the worker was not signed in and nothing rang), the duration.
 *
 * Calls that come over the trunk are not recorded where they arrive: the branch they came from
 * recorded them. A record's id is a hash of the site, the Call-ID, the caller's From tag, the
 * direction and the worker, so it is the same every time this call is recorded.
 */
import { createHash } from 'node:crypto'
import { CallDirection, type CallRecord, type DialogEvent, DialogState } from '@flexseat/proto'
import type { ActivitySink } from './activity-reporter'
import type { CallDesk, CallFacts } from './call-router'

/** Where the records of ended calls go (call-reporter.ts). */
export interface CallSink {
  add(records: readonly CallRecord[]): void
}

/** What the node knows of the call besides the router's facts. */
export interface CallStart {
  siteId: string
  callId: string
  /** The caller's From tag (with the Call-ID, what names the call). */
  fromTag: string
  /** When the INVITE reached the node (ms). */
  startedAt: number
  /** The calling phone as the callee's list shows it when no worker acts at it. */
  phone: { number: string; name: string }
  /** The calling phone's device id: its own extension's busy lamp follows the call (absent: no desk events). */
  deviceId?: string
}

/** One call's record keeping (see the file comment): {@link answered}, then {@link ended} once. */
export class CallLog {
  readonly #sink: CallSink
  readonly #start: CallStart
  readonly #facts: CallFacts
  readonly #now: () => number
  #answeredAt: number | undefined
  #answeredBy: CallDesk | undefined
  #done = false
  readonly #activity: ActivitySink | undefined

  /**
   * `activity`: where the call's dialog events go as it happens (activity-reporter.ts): EARLY now,
   * CONFIRMED when answered, TERMINATED when it ends, for the calling worker and the worker called.
   */
  constructor(sink: CallSink, start: CallStart, facts: CallFacts, now: () => number = Date.now, activity?: ActivitySink) {
    this.#sink = sink
    this.#start = start
    this.#facts = facts
    this.#now = now
    this.#activity = activity
    this.#report(DialogState.DIALOG_STATE_EARLY)
  }

  /** The callee answered (at `desk`, when the call rang several). */
  answered(desk?: CallDesk): void {
    if (this.#answeredAt !== undefined) return
    this.#answeredAt = this.#now()
    this.#answeredBy = desk ?? this.#facts.desk
    this.#report(DialogState.DIALOG_STATE_CONFIRMED)
  }

  /** The call ended (answered or not): the records go to the sink. Later calls do nothing. */
  ended(): void {
    if (this.#done) return
    this.#done = true
    this.#report(DialogState.DIALOG_STATE_TERMINATED)
    this.#sink.add(this.records(this.#now()))
  }

  /**
   * The dialog events of this call in `state`, for the calling worker and the worker called, and
   * for the desks' own extensions (busy lamps): the calling phone, and the desk that rings (or
   * answered). Each carries the caller's From tag and the other party as the lamp shows it.
   */
  dialogEvents(state: DialogState, at: number): DialogEvent[] {
    const { caller, callee, called } = this.#facts
    const { callId, fromTag, phone, deviceId } = this.#start
    const when = new Date(at)
    const outgoing = { callId, state, direction: CallDirection.CALL_DIRECTION_OUTGOING, at: when, callerTag: fromTag, otherParty: called.number.slice(0, 64), otherPartyName: called.name.slice(0, 256) }
    const incoming = { callId, state, direction: CallDirection.CALL_DIRECTION_INCOMING, at: when, callerTag: fromTag, otherParty: (caller?.extension ?? phone.number).slice(0, 64), otherPartyName: (caller?.displayName ?? phone.name).slice(0, 256) }
    const desk = this.#answeredBy ?? this.#facts.desk
    const events: DialogEvent[] = []
    if (caller !== undefined) events.push({ ...outgoing, extension: caller.extension, userId: caller.userId, deviceId: caller.deviceId })
    if (callee !== undefined) events.push({ ...incoming, extension: callee.extension, userId: callee.userId, deviceId: desk?.deviceId ?? '' })
    if (deviceId !== undefined) events.push({ ...outgoing, extension: '', userId: '', deviceId })
    if (desk !== undefined && desk.deviceId !== deviceId) events.push({ ...incoming, extension: '', userId: '', deviceId: desk.deviceId })
    return events
  }

  #report(state: DialogState): void {
    if (this.#activity !== undefined) this.#activity.activity(this.dialogEvents(state, this.#now()))
  }

  /** The records of the call as it went, if it ended at `endedAt`. */
  records(endedAt: number): CallRecord[] {
    const { caller, callee, called } = this.#facts
    const answered = this.#answeredAt !== undefined
    const durationSeconds = answered ? Math.max(0, Math.round((endedAt - this.#answeredAt!) / 1_000)) : 0
    const startedAt = new Date(this.#start.startedAt)
    const records: CallRecord[] = []
    if (caller !== undefined) {
      records.push({
        recordId: this.#recordId('out', caller.userId),
        userId: caller.userId,
        direction: CallDirection.CALL_DIRECTION_OUTGOING,
        startedAt,
        otherParty: called.number.slice(0, 64),
        otherPartyName: called.name.slice(0, 256),
        answered,
        durationSeconds,
        siteId: caller.siteId,
        deviceId: caller.deviceId,
      })
    }
    if (callee !== undefined) {
      const desk = this.#answeredBy ?? this.#facts.desk
      records.push({
        recordId: this.#recordId('in', callee.userId),
        userId: callee.userId,
        direction: CallDirection.CALL_DIRECTION_INCOMING,
        startedAt,
        otherParty: (caller?.extension ?? this.#start.phone.number).slice(0, 64),
        otherPartyName: (caller?.displayName ?? this.#start.phone.name).slice(0, 256),
        answered,
        durationSeconds,
        siteId: desk?.siteId ?? '',
        deviceId: desk?.deviceId ?? '',
      })
    }
    return records
  }

  #recordId(direction: 'in' | 'out', userId: string): string {
    const { siteId, callId, fromTag } = this.#start
    return createHash('sha256').update([siteId, callId, fromTag, direction, userId].join('\n')).digest('hex')
  }
}
