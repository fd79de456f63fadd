// The node's side of the call list: what a call's records say (call-log.ts) and how they reach
// the registry (call-reporter.ts): batched off the call path, repeated unchanged after a failure
// (the same record ids: the registry stores each once), dropped when refused as malformed, the
// queue bounded, flushed on stop. A fake client stands in for the registry; the registry side is
// tested over real gRPC in registry-call-list.test.ts.
import t from 'tap'
import { status as GrpcStatus } from '@grpc/grpc-js'
import pino from 'pino'
import { CallDirection, type CallRecord, ErrorCode, type ReportCallsRequest } from '@flexseat/proto'
import { CallLog, CallReporter, RegistryCallError } from '@flexseat/sip-node'

const logger = pino({ level: 'silent' })
const START = { siteId: 'amsterdam', callId: 'call-1@phone', fromTag: 'tag-1', startedAt: Date.parse('2026-12-01T10:00:00Z'), phone: { number: '2004', name: 'reception' } }
const CALLER = { userId: 'ada', extension: '1001', displayName: 'Ada Lovelace', siteId: 'amsterdam', deviceId: 'ams-desk-1' }
const CALLEE = { userId: 'alan', extension: '1002', displayName: 'Alan Turing' }

/** Waits until `check` holds (polling; every wait here is bounded). */
async function until(check: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

t.test('a call between two workers: an outgoing and an incoming record, stable ids', async (t) => {
  const sink: CallRecord[] = []
  let clock = START.startedAt + 1_000
  const log = new CallLog({ add: (records) => sink.push(...records) }, START, { caller: CALLER, callee: CALLEE, called: { number: '1002', name: 'Alan Turing' }, desk: { siteId: 'berlin', deviceId: 'ber-desk-1' } }, () => clock)
  log.answered({ siteId: 'berlin', deviceId: 'ber-home' })
  clock += 61_400
  log.ended()
  log.ended()
  t.equal(sink.length, 2, 'two records, once')
  t.match(sink[0], { userId: 'ada', direction: CallDirection.CALL_DIRECTION_OUTGOING, otherParty: '1002', otherPartyName: 'Alan Turing', answered: true, durationSeconds: 61, siteId: 'amsterdam', deviceId: 'ams-desk-1' })
  t.match(sink[1], { userId: 'alan', direction: CallDirection.CALL_DIRECTION_INCOMING, otherParty: '1001', otherPartyName: 'Ada Lovelace', answered: true, durationSeconds: 61, siteId: 'berlin', deviceId: 'ber-home' }, 'the desk that answered')
  t.same(sink[0]!.startedAt, new Date(START.startedAt))
  // Guard tried: a random record id (a record built again for the same call would be stored twice).
  const again = new CallLog({ add: () => undefined }, START, { caller: CALLER, callee: CALLEE, called: { number: '1002', name: '' } }).records(START.startedAt)
  t.same(again.map((r) => r.recordId), sink.map((r) => r.recordId), 'the same call, the same ids')
  t.not(sink[0]!.recordId, sink[1]!.recordId)
  t.match(sink[0]!.recordId, /^[0-9a-f]{64}$/)
})

t.test('a missed call from a phone nobody sits at: incoming only, the phone as the other party', async (t) => {
  const sink: CallRecord[] = []
  new CallLog({ add: (records) => sink.push(...records) }, START, { callee: CALLEE, called: { number: '1002', name: 'Alan Turing' } }).ended()
  t.equal(sink.length, 1)
  t.match(sink[0], { userId: 'alan', direction: CallDirection.CALL_DIRECTION_INCOMING, otherParty: '2004', otherPartyName: 'reception', answered: false, durationSeconds: 0, siteId: '', deviceId: '' }, 'no desk rang: the worker was not signed in')
})

t.test('records are batched, repeated unchanged after a failure, and flushed on stop', async (t) => {
  const requests: ReportCallsRequest[] = []
  let failNext = 1
  const client = {
    async reportCalls(req: ReportCallsRequest): Promise<unknown> {
      requests.push(structuredClone(req))
      if (failNext > 0) {
        failNext -= 1
        // The registry may well have stored them: the answer is what was lost.
        throw new RegistryCallError('unavailable', { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpcCode: GrpcStatus.UNAVAILABLE })
      }
      return { stored: req.calls.length }
    },
  }
  const reporter = CallReporter.start({ client, siteId: 'amsterdam', nodeId: 'amsterdam-1', logger, debounceMs: 20, retry: { initialMs: 30, maxMs: 60 } })
  const records = (n: number, from = 0): CallRecord[] => new CallLog({ add: () => undefined }, START, { callee: CALLEE, called: { number: '1002', name: '' } }).records(0).flatMap((r) => Array.from({ length: n }, (_, i) => ({ ...r, recordId: `r${from + i}` })))
  reporter.add(records(3))
  reporter.add(records(2, 3))
  await until(() => requests.length >= 2, 'a report and its repeat')
  t.same(requests[0]!.calls.map((c) => c.recordId), ['r0', 'r1', 'r2', 'r3', 'r4'], 'one report for records added together')
  // Guard tried: the queue cleared before the answer (the repeat would be empty).
  t.same(requests[1]!.calls, requests[0]!.calls, 'the failed report is repeated with the same records')
  await until(() => reporter.pending === 0, 'acknowledged')
  reporter.add(records(2, 10))
  await reporter.stop()
  t.same(requests.at(-1)!.calls.map((c) => c.recordId), ['r10', 'r11'], 'what was queued goes out on stop')
  t.equal(reporter.pending, 0)
})

t.test('a malformed report is dropped; a full queue drops the oldest', async (t) => {
  const requests: ReportCallsRequest[] = []
  let refuse = true
  const client = {
    async reportCalls(req: ReportCallsRequest): Promise<unknown> {
      requests.push(req)
      if (refuse) throw new RegistryCallError('bad', { code: ErrorCode.ERROR_CODE_INVALID_ARGUMENT, grpcCode: GrpcStatus.INVALID_ARGUMENT })
      return {}
    },
  }
  const reporter = CallReporter.start({ client, siteId: 'amsterdam', nodeId: 'amsterdam-1', logger, debounceMs: 10, maxQueued: 3, retry: { initialMs: 10, maxMs: 10 } })
  const record = (id: string): CallRecord => ({ recordId: id, userId: 'alan', direction: CallDirection.CALL_DIRECTION_INCOMING, startedAt: new Date(), otherParty: '1', otherPartyName: '', answered: false, durationSeconds: 0, siteId: '', deviceId: '' })
  reporter.add([record('bad')])
  await until(() => reporter.pending === 0, 'the malformed report dropped')
  t.equal(requests.length, 1, 'not repeated')
  refuse = false
  reporter.add([record('a'), record('b'), record('c'), record('d'), record('e')])
  t.equal(reporter.pending, 3, 'bounded')
  await reporter.stop()
  t.same(requests.at(-1)!.calls.map((c) => c.recordId), ['c', 'd', 'e'], 'the newest kept')
})

t.test('the registry unreachable: the queue stays bounded, the report under way is kept whole, the oldest behind it are dropped and counted', async (t) => {
  const requests: ReportCallsRequest[] = []
  let answer: (() => void) | undefined
  let reachable = false
  const client = {
    reportCalls(req: ReportCallsRequest): Promise<unknown> {
      requests.push(structuredClone(req))
      if (reachable) return Promise.resolve({})
      // A registry that does not answer until the deadline, then fails.
      return new Promise((_, reject) => {
        answer = () => reject(new RegistryCallError('unavailable', { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpcCode: GrpcStatus.UNAVAILABLE }))
      })
    },
  }
  const reporter = CallReporter.start({ client, siteId: 'amsterdam', nodeId: 'amsterdam-1', logger, debounceMs: 5, maxBatch: 2, maxQueued: 4, retry: { initialMs: 10, maxMs: 10 } })
  const record = (id: string): CallRecord => ({ recordId: id, userId: 'alan', direction: CallDirection.CALL_DIRECTION_INCOMING, startedAt: new Date(), otherParty: '1', otherPartyName: '', answered: false, durationSeconds: 0, siteId: '', deviceId: '' })
  reporter.add([record('a'), record('b'), record('c')])
  await until(() => requests.length === 1, 'a report under way')
  t.same(requests[0]!.calls.map((c) => c.recordId), ['a', 'b'], 'a batch of two')
  // Guard tried: dropping from the head of the queue (the batch under way lost a and b).
  for (const id of ['d', 'e', 'f', 'g']) reporter.add([record(id)])
  t.equal(reporter.pending, 4, 'bounded while the registry does not answer')
  t.equal(reporter.dropped, 3, 'every record dropped is counted')
  answer?.()
  await until(() => requests.length === 2, 'the report repeated')
  t.same(requests[1]!.calls.map((c) => c.recordId), ['a', 'b'], 'the report under way was kept whole and is repeated unchanged')
  reachable = true
  answer?.()
  await until(() => reporter.pending === 0, 'all reported once the registry answers')
  t.same(requests.flatMap((r) => r.calls.map((c) => c.recordId)).slice(-4), ['a', 'b', 'f', 'g'], 'the oldest behind it (c, d, e) were dropped, the newest kept')
  await reporter.stop()
})
