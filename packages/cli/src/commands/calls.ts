import { CallDirection, type CallRecord, ListCallsResponse } from '@flexseat/proto'
import { formatTable, formatTime } from '../format-table'
import type { CommandSpec } from './command'

/** An extension, as `user create --ext` takes it: a positional of digits names one. */
const EXTENSION = /^[0-9]{2,15}$/

/** `in`, `missed`, `out` or `out, no answer`: the direction and outcome of a call. */
export function callWord(call: CallRecord): string {
  if (call.direction === CallDirection.CALL_DIRECTION_OUTGOING) return call.answered ? 'out' : 'out, no answer'
  return call.answered ? 'in' : 'missed'
}

function formatCalls(calls: readonly CallRecord[]): string {
  return formatTable(
    ['TIME', 'CALL', 'OTHER PARTY', 'NAME', { heading: 'SECONDS', align: 'right' }, 'SITE', 'DEVICE'],
    calls.map((c) => [formatTime(c.startedAt), callWord(c), c.otherParty, c.otherPartyName, c.answered ? String(c.durationSeconds) : '', c.siteId, c.deviceId]),
  )
}

const calls: CommandSpec = {
  path: ['calls'],
  synopsis: '<extension | user-id> [--limit N]',
  summary: 'show a worker\'s central call list, newest first (admin)',
  details:
    'The calls to and from the worker the SIP nodes recorded (missed calls while signed out too),\n' +
    'at most the registry\'s bound per worker, none older than its retention. A positional of 2 to\n' +
    '15 digits is an extension, anything else a user id. Times are UTC.',
  options: ['limit'],
  positionals: { min: 1, max: 1, names: '<extension | user-id>' },
  async run(context) {
    const { input } = context
    const who = input.positionals[0] ?? ''
    const limit = input.integer('limit') ?? 0
    const client = context.client()
    let userId = who
    if (EXTENSION.test(who)) {
      const d = client.directory
      const { user } = await client.call(d.getUser.bind(d), { key: { $case: 'extension', value: who } }, context.signal)
      userId = user?.id ?? ''
    }
    const c = client.calls
    const response = await client.call(c.listCalls.bind(c), { userId, deviceId: '', limit }, context.signal)
    if (context.json) context.printJson(ListCallsResponse.toJSON(response))
    else if (response.calls.length === 0) context.print(`no calls of ${who}\n`)
    else context.print(formatCalls(response.calls))
  },
}

/** The `calls` command (CallListService.ListCalls). */
export const CALLS_COMMANDS: readonly CommandSpec[] = [calls]
