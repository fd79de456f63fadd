// CallListService.WatchDialogs over real registry processes (etcd, gRPC): the busy lamps' state.
// A node's dialog events (ReportCallActivity, through any instance) reach a stream on another
// instance as whole parties (a worker by user id, a desk by device id): ringing with the caller's
// tag and the other party, answered at the desk that answered, idle once ended; a stream opened
// later starts with a snapshot of what is in progress; a viewer may not watch; a malformed event
// is refused naming the field and nothing of the report is stored. Each case says which guard it
// was seen to fail without.
import t from 'tap'
import { credentials, status } from '@grpc/grpc-js'
import { CallDirection, CallListServiceClient, type DialogEvent, DialogState, serverStream, unary, type WatchDialogsRequest, type WatchDialogsResponse } from '@flexseat/proto'
import { callError, eventually, RegistryCluster } from '../helpers/registry-cluster'

t.setTimeout(60_000)

/** The messages of one stream, collected until `signal` aborts. */
function watch(client: CallListServiceClient, metadata: ReturnType<RegistryCluster['metadata']>, signal: AbortSignal): { messages: WatchDialogsResponse[]; ended: Promise<unknown> } {
  const messages: WatchDialogsResponse[] = []
  const ended = (async () => {
    for await (const message of serverStream<WatchDialogsRequest, WatchDialogsResponse>(client.watchDialogs.bind(client), {}, { metadata, signal })) messages.push(message)
  })().catch((error: unknown) => error)
  return { messages, ended }
}

/** A party's dialogs as text, from the last message naming it: `call state direction desk tag other`. */
function lamp(messages: readonly WatchDialogsResponse[], party: { userId?: string; deviceId?: string }): string[] | undefined {
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const found = messages[i]!.parties.find((p) => (party.userId !== undefined ? p.userId === party.userId : p.deviceId === party.deviceId))
    if (found !== undefined) return found.dialogs.map((d) => `${d.callId} ${DialogState[d.state]} ${CallDirection[d.direction]} ${d.deviceId} ${d.callerTag} ${d.otherParty}/${d.otherPartyName}`)
    if (messages[i]!.snapshot) return []
  }
  return undefined
}

t.test('dialog state streamed to every instance', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1 })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const clients = [0, 1].map((i) => new CallListServiceClient(cluster.instances[i]!.address, credentials.createInsecure()))
  t.teardown(() => clients.forEach((c) => c.close()))
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const site = cluster.instances[follower]!.siteId
  const event = (e: Partial<DialogEvent> & Pick<DialogEvent, 'callId' | 'state' | 'direction'>): DialogEvent => ({ extension: '', userId: '', deviceId: '', at: new Date(), callerTag: '', otherParty: '', otherPartyName: '', ...e })
  const report = (events: DialogEvent[]) => unary(clients[follower]!.reportCallActivity.bind(clients[follower]!), { siteId: site, nodeId: `${site}-node`, events }, { metadata: cluster.metadata('sip-node', site), timeoutMs: 10_000 })

  const first = watch(clients[leader]!, cluster.metadata('sip-node', site), stop.signal)
  await eventually('the first snapshot', () => first.messages[0]?.snapshot === true)
  t.same(first.messages[0]!.parties, [], 'nothing in progress yet')

  // Guards tried: desk events dropped in validateActivity as before (the desk never shows); the
  // CONFIRMED update in applyActivity (the call stays EARLY).
  const ring = [
    event({ callId: 'c1', state: DialogState.DIALOG_STATE_EARLY, direction: CallDirection.CALL_DIRECTION_INCOMING, userId: 'ada', extension: '1001', deviceId: 'ber-desk-1', callerTag: 'ft1', otherParty: '2002', otherPartyName: 'Grace' }),
    event({ callId: 'c1', state: DialogState.DIALOG_STATE_EARLY, direction: CallDirection.CALL_DIRECTION_INCOMING, deviceId: 'ber-desk-1', callerTag: 'ft1', otherParty: '2002', otherPartyName: 'Grace' }),
    event({ callId: 'c1', state: DialogState.DIALOG_STATE_EARLY, direction: CallDirection.CALL_DIRECTION_OUTGOING, deviceId: 'ams-desk-2', callerTag: 'ft1', otherParty: '1001', otherPartyName: 'Ada' }),
  ]
  await report(ring)
  await eventually('the ringing call on the stream', () => lamp(first.messages, { userId: 'ada' })?.length === 1 && lamp(first.messages, { deviceId: 'ams-desk-2' })?.length === 1)
  t.same(lamp(first.messages, { userId: 'ada' }), ['c1 DIALOG_STATE_EARLY CALL_DIRECTION_INCOMING ber-desk-1 ft1 2002/Grace'], 'the worker: ringing, with the caller')
  t.same(lamp(first.messages, { deviceId: 'ber-desk-1' }), ['c1 DIALOG_STATE_EARLY CALL_DIRECTION_INCOMING ber-desk-1 ft1 2002/Grace'], 'the desk that rings')
  t.same(lamp(first.messages, { deviceId: 'ams-desk-2' }), ['c1 DIALOG_STATE_EARLY CALL_DIRECTION_OUTGOING ams-desk-2 ft1 1001/Ada'], 'the calling desk')

  await report(ring.map((e) => ({ ...e, state: DialogState.DIALOG_STATE_CONFIRMED })))
  await eventually('answered', () => lamp(first.messages, { userId: 'ada' })?.[0]?.includes('CONFIRMED'))
  t.same(lamp(first.messages, { userId: 'ada' }), ['c1 DIALOG_STATE_CONFIRMED CALL_DIRECTION_INCOMING ber-desk-1 ft1 2002/Grace'], 'answered')

  // A stream opened now starts with what is in progress.
  const later = watch(clients[follower]!, cluster.metadata('admin'), stop.signal)
  await eventually('the later snapshot', () => later.messages[0]?.snapshot === true)
  t.same(later.messages[0]!.parties.map((p) => `${p.userId}/${p.deviceId} ${p.dialogs.length}`).sort(), ['/ams-desk-2 1', '/ber-desk-1 1', 'ada/ 1'], 'the snapshot: the worker and both desks in the call')
  t.equal(later.messages[0]!.parties.find((p) => p.userId === 'ada')!.dialogs[0]!.state, DialogState.DIALOG_STATE_CONFIRMED)

  await report(ring.map((e) => ({ ...e, state: DialogState.DIALOG_STATE_TERMINATED })))
  await eventually('idle on both streams', () => [first, later].every((s) => lamp(s.messages, { userId: 'ada' })?.length === 0 && lamp(s.messages, { deviceId: 'ber-desk-1' })?.length === 0))
  t.pass('ended: every party idle on both streams')

  // Guard tried: WatchDialogs added to READS (a viewer could follow everyone's calls: the stream
  // stayed open and the file timed out).
  const refused = watch(clients[follower]!, cluster.metadata('viewer'), stop.signal)
  const error = (await refused.ended) as { code?: number }
  t.equal(error?.code, status.PERMISSION_DENIED, 'a viewer may not watch the dialogs')

  const bad = await callError(report([event({ callId: 'c2', state: DialogState.DIALOG_STATE_EARLY, direction: CallDirection.CALL_DIRECTION_INCOMING, userId: 'ada', deviceId: 'x', callerTag: 'a b' })]))
  t.equal(bad.code, status.INVALID_ARGUMENT)
  t.match(bad.details, /events\[0\]\.caller_tag/, 'names the field')
  await report([event({ callId: 'c3', state: DialogState.DIALOG_STATE_EARLY, direction: CallDirection.CALL_DIRECTION_INCOMING, userId: 'grace', deviceId: 'x' })])
  await eventually('the next report on the stream', () => lamp(first.messages, { userId: 'grace' })?.length === 1)
  t.equal(lamp(first.messages, { userId: 'ada' })?.length, 0, 'the refused report stored nothing')
})
