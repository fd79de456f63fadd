// A call's dialog events (call-log.ts) and their reporting (activity-reporter.ts): EARLY when the
// call is routed, CONFIRMED when answered, TERMINATED once, for the calling worker and the worker
// called; sent in order, retried after a failure, dropped only when refused as malformed.
import t from 'tap'
import { pino } from 'pino'
import { CallDirection, type DialogEvent, DialogState, ErrorCode, type ReportCallActivityRequest } from '@flexseat/proto'
import { ActivityReporter, CallLog, RegistryCallError } from '@flexseat/sip-node'

const start = { siteId: 'chicago', callId: 'call-1', fromTag: 'tag', startedAt: 1_000, phone: { number: '2303', name: 'reception' } }
const facts = {
  caller: { userId: 'edsger', extension: '1004', displayName: 'Edsger', siteId: 'chicago', deviceId: 'chi-desk-1' },
  callee: { userId: 'ada', extension: '1001', displayName: 'Ada' },
  called: { number: '1001', name: 'Ada' },
  desk: { siteId: 'amsterdam', deviceId: 'ams-desk-1' },
}

t.test('a call reports EARLY, CONFIRMED, TERMINATED for both workers and the desk that rings, each once', async (t) => {
  const events: DialogEvent[] = []
  let clock = 1_000
  const log = new CallLog({ add: () => undefined }, start, facts, () => clock, { activity: (e) => events.push(...e) })
  clock = 2_000
  log.answered()
  clock = 9_000
  log.ended()
  log.ended()
  const seen = events.map((e) => `${DialogState[e.state]} ${e.userId} ${CallDirection[e.direction]} ${e.deviceId} ${e.at!.getTime()}`)
  t.same(seen, [
    'DIALOG_STATE_EARLY edsger CALL_DIRECTION_OUTGOING chi-desk-1 1000',
    'DIALOG_STATE_EARLY ada CALL_DIRECTION_INCOMING ams-desk-1 1000',
    'DIALOG_STATE_EARLY  CALL_DIRECTION_INCOMING ams-desk-1 1000',
    'DIALOG_STATE_CONFIRMED edsger CALL_DIRECTION_OUTGOING chi-desk-1 2000',
    'DIALOG_STATE_CONFIRMED ada CALL_DIRECTION_INCOMING ams-desk-1 2000',
    'DIALOG_STATE_CONFIRMED  CALL_DIRECTION_INCOMING ams-desk-1 2000',
    'DIALOG_STATE_TERMINATED edsger CALL_DIRECTION_OUTGOING chi-desk-1 9000',
    'DIALOG_STATE_TERMINATED ada CALL_DIRECTION_INCOMING ams-desk-1 9000',
    'DIALOG_STATE_TERMINATED  CALL_DIRECTION_INCOMING ams-desk-1 9000',
  ])
  t.ok(events.every((e) => e.callId === 'call-1' && e.callerTag === 'tag'))
  t.same(events.slice(0, 2).map((e) => [e.otherParty, e.otherPartyName]), [['1001', 'Ada'], ['1004', 'Edsger']], 'each end sees the other party')
})

t.test("a call between phones reports the desks' own extensions only", async (t) => {
  const events: DialogEvent[] = []
  const log = new CallLog({ add: () => undefined }, { ...start, deviceId: 'chi-desk-2' }, { called: { number: '3001', name: 'lobby' }, desk: { siteId: 'berlin', deviceId: 'ber-1' } }, () => 1_000, { activity: (e) => events.push(...e) })
  log.ended()
  t.same(events.map((e) => `${DialogState[e.state]} ${e.userId}/${e.deviceId} ${CallDirection[e.direction]} ${e.otherParty}`), [
    'DIALOG_STATE_EARLY /chi-desk-2 CALL_DIRECTION_OUTGOING 3001',
    'DIALOG_STATE_EARLY /ber-1 CALL_DIRECTION_INCOMING 2303',
    'DIALOG_STATE_TERMINATED /chi-desk-2 CALL_DIRECTION_OUTGOING 3001',
    'DIALOG_STATE_TERMINATED /ber-1 CALL_DIRECTION_INCOMING 2303',
  ])
})

t.test('the reporter sends in order, retries a failure, drops a malformed report', async (t) => {
  const sent: ReportCallActivityRequest[] = []
  let fail: 'transient' | 'malformed' | undefined = 'transient'
  const reporter = ActivityReporter.start({
    siteId: 'chicago',
    nodeId: 'chicago-1',
    logger: pino({ level: 'silent' }),
    client: {
      reportCallActivity: async (req) => {
        if (fail === 'transient') {
          fail = undefined
          throw new Error('registry down')
        }
        if (fail === 'malformed') {
          fail = undefined
          throw new RegistryCallError('bad', { code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT, grpcCode: 3 })
        }
        sent.push(req)
      },
    },
  })
  const event = (callId: string, state: DialogState): DialogEvent => ({ callId, extension: '1001', userId: 'ada', deviceId: 'd', state, direction: CallDirection.CALL_DIRECTION_INCOMING, at: new Date(0), callerTag: '', otherParty: '', otherPartyName: '' })
  reporter.activity([event('c1', DialogState.DIALOG_STATE_EARLY)])
  reporter.activity([event('c1', DialogState.DIALOG_STATE_TERMINATED)])
  const deadline = Date.now() + 5_000
  while (sent.flatMap((r) => r.events).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(sent.flatMap((r) => r.events.map((e) => `${e.callId} ${DialogState[e.state]}`)), ['c1 DIALOG_STATE_EARLY', 'c1 DIALOG_STATE_TERMINATED'], 'after the failure, both, in order')
  fail = 'malformed'
  reporter.activity([event('c2', DialogState.DIALOG_STATE_EARLY)])
  await reporter.stop()
  t.equal(sent.flatMap((r) => r.events).length, 2, 'the refused report is not repeated')
})
