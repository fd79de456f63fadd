/**
 * The central call list at the desk (Auerswald COMtrexx: "the call lists follow the user"): the
 * Calls key of a seated desk opens `call-list`, the newest calls of the worker seated at THIS
 * phone (CallListService.ListCalls naming the phone: the registry lets a branch's provisioning
 * service read the list of a worker seated at one of its own desks only), missed calls while
 * signed out included (the SIP nodes record them too). Each entry shows the time in the branch's
 * time zone, the direction (In, Missed, Out, Out unanswered) and the other party, and dials the
 * other party's number where the family can (pages.ts). An idle desk gets "sign in first".
 */
import { CallDirection, type CallRecord, ErrorCode } from '@flexseat/proto'
import { RegistryCallError } from '@flexseat/sip-node'
import type { ListEntry, Page } from './pages'
import type { AppRequest, XmlApp } from './xml-app'

/** Entries on the page: a Yealink XML object stays under its 10 kB limit with 30 long entries. */
export const CALL_LIST_ENTRIES = 30
const TITLE = 'Calls'
/** What a party's name is cut to on a phone's line. */
const NAME_CHARS = 24

export const SIGN_IN_FIRST = 'Sign in first to see your calls'
export const NO_CALLS = 'No calls'

/** "In", "Missed", "Out" or "Out, no answer": the direction and outcome of `call`. */
export function callMark(call: CallRecord): string {
  if (call.direction === CallDirection.CALL_DIRECTION_OUTGOING) return call.answered ? 'Out' : 'Out, no answer'
  return call.answered ? 'In' : 'Missed'
}

/** `dd.mm. HH:MM` of `at` in the IANA zone `timezone`. */
export function localTime(at: Date, timezone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone: timezone, day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at).map((p) => [p.type, p.value]),
  )
  return `${parts['day']}.${parts['month']}. ${parts['hour']}:${parts['minute']}`
}

/** The entry of one call: `07.12. 14:05 Missed Reception (2103)`, dialling 2103. */
export function callEntry(call: CallRecord, timezone: string): ListEntry {
  const name = call.otherPartyName.length > NAME_CHARS ? `${call.otherPartyName.slice(0, NAME_CHARS - 1)}…` : call.otherPartyName
  const party = call.otherParty === '' ? (name === '' ? 'Anonymous' : name) : name === '' ? call.otherParty : `${name} (${call.otherParty})`
  const time = call.startedAt === undefined ? '' : `${localTime(call.startedAt, timezone)} `
  return { label: `${time}${callMark(call)} ${party}`, number: call.otherParty }
}

export const callList: XmlApp = {
  name: 'call-list',
  async handle(request: AppRequest): Promise<Page> {
    const seat = await request.registry.getSeatAt(request.device.id)
    // A pending seat does not act at the desk yet (as in the desk's file).
    if (seat === undefined || seat.pending.length > 0) return { kind: 'text', title: TITLE, text: SIGN_IN_FIRST }
    try {
      const { calls } = await request.registry.listCalls({ userId: seat.userId, deviceId: request.device.id, limit: CALL_LIST_ENTRIES })
      request.logger.info({ device: request.device.id, user: seat.userId, calls: calls.length }, 'call list shown')
      return { kind: 'list', title: `${TITLE} ${seat.extension}`.trim(), entries: calls.map((c) => callEntry(c, request.timezone)), empty: NO_CALLS }
    } catch (error) {
      // The worker left between the two reads: the registry refuses; the desk is idle now.
      if (error instanceof RegistryCallError && error.code === ErrorCode.ERROR_CODE_PERMISSION_DENIED) return { kind: 'text', title: TITLE, text: SIGN_IN_FIRST }
      throw error
    }
  },
}
