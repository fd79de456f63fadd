// The central call list end to end: real etcd, registries, SIP engines and nodes, sipp phones, the
// list read over real gRPC as the desk's node (or an administrator) would. A call that rang the
// worker at desk A is in their list when they sit at B; a call they place is there too; a call
// while they are signed out is a missed call; the list keeps its bound; a node stopped right after
// a call (its report still queued) loses nothing and, restarted, doubles nothing. Each case names
// the guard it was seen to fail without.
import t from 'tap'
import { credentials } from '@grpc/grpc-js'
import { CallDirection, CallListServiceClient, type CallRecord, unary } from '@flexseat/proto'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { eventually } from '../helpers/registry-cluster'

t.setTimeout(150_000)

const SIZE = 4

t.test('call lists over real SIP', async (t) => {
  const branches = await Branches.start(t, { confirmationLeaseSeconds: 3, registryEnv: { FLEXSEAT_CALL_LIST_SIZE: String(SIZE) } })
  const client = new CallListServiceClient(branches.branch('berlin').registryAddress, credentials.createInsecure())
  t.teardown(() => client.close())
  /** Ada's list as the node of the desk she sits at reads it (or as an administrator, without a desk). */
  const list = async (deviceId = ''): Promise<CallRecord[]> =>
    (await unary(client.listCalls.bind(client), { userId: 'ada', deviceId, limit: 0 }, { metadata: branches.registry.metadata(deviceId === '' ? 'admin' : 'sip-node', 'berlin'), timeoutMs: 5_000 })).calls
  const [amsDesk1, berDesk1, chiFixed, amsFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start(),
    branches.phone('berlin', 'ber-desk-1').start(),
    branches.phone('chicago', 'chi-fixed').start(),
    branches.phone('amsterdam', 'ams-fixed').start(),
  ])
  const chiExt = branches.device('chi-fixed').extension
  const amsFixedExt = branches.device('ams-fixed').extension

  // Guards tried: the CallLog left out of #dispatch (nothing is recorded); the answering desk in
  // the incoming record replaced by the desk the worker sits at now (ber-desk-1).
  await t.test('a call that rang desk A is in the list at desk B', async (t) => {
    t.equal(statusLine(await amsDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001', '1001 signs in at Amsterdam')
    const call = await chiFixed.dial('1001', { holdMs: 1_300 })
    t.ok(call.answered, `Chicago calls 1001, the Amsterdam desk answers (${statusLine(call)})`)
    t.equal(statusLine(await berDesk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001', '1001 moves to Berlin')
    const calls = await eventually('the call is in the list', async () => {
      const found = await list('ber-desk-1')
      return found.length > 0 ? found : undefined
    })
    t.equal(calls.length, 1)
    t.match(calls[0], { direction: CallDirection.CALL_DIRECTION_INCOMING, otherParty: chiExt, otherPartyName: 'reception', answered: true, siteId: 'amsterdam', deviceId: 'ams-desk-1' }, 'Berlin reads it: answered at Amsterdam desk 1, from the Chicago reception')
    t.ok(calls[0]!.durationSeconds >= 1, `with its duration (${calls[0]!.durationSeconds} s)`)
    t.ok(Math.abs(calls[0]!.startedAt!.getTime() - call.started) < 5_000, 'and when')
  })

  await t.test('a call the worker places is in the list', async (t) => {
    const call = await berDesk1.dial(chiExt)
    t.ok(call.answered, `1001 calls the Chicago reception from Berlin (${statusLine(call)})`)
    const calls = await eventually('two calls', async () => {
      const found = await list('ber-desk-1')
      return found.length === 2 ? found : undefined
    })
    t.match(calls[0], { direction: CallDirection.CALL_DIRECTION_OUTGOING, otherParty: chiExt, otherPartyName: 'reception', answered: true, siteId: 'berlin', deviceId: 'ber-desk-1' }, 'outgoing, newest first, from the desk she sat at')
  })

  // Guard tried: call facts left off the router's 480 for a worker not signed in (no record).
  await t.test('a call while signed out is a missed call; the list keeps its bound', async (t) => {
    t.equal(statusLine(await berDesk1.dial('*51')), '480 Signed out 1001', '1001 signs out')
    for (let i = 0; i < 3; i += 1) t.equal(statusLine(await amsFixed.dial('1001')), '480 1001 is not signed in', `missed call ${i + 1}`)
    const calls = await eventually(`the newest ${SIZE}`, async () => {
      const found = await list()
      return found.filter((c) => c.direction === CallDirection.CALL_DIRECTION_INCOMING && !c.answered).length === 3 ? found : undefined
    })
    t.equal(calls.length, SIZE, `${SIZE} calls kept`)
    t.match(calls.slice(0, 3), Array(3).fill({ direction: CallDirection.CALL_DIRECTION_INCOMING, otherParty: amsFixedExt, answered: false, durationSeconds: 0, siteId: '', deviceId: '' }), 'missed, no desk rang')
    t.equal(calls[3]!.direction, CallDirection.CALL_DIRECTION_OUTGOING, 'the oldest call (Chicago → Amsterdam desk) dropped out')
  })

  // Guard tried: CallReporter.stop not called from SipNode.stop (the queued record is lost).
  await t.test('a node stopped right after a call loses nothing, and restarted doubles nothing', async (t) => {
    const before = await list()
    const missed = await amsFixed.dial('1001')
    t.equal(statusLine(missed), '480 1001 is not signed in')
    await branches.stopNode('amsterdam')
    await branches.startNode('amsterdam')
    const after = await eventually('the call reported before the stop is listed', async () => {
      const found = await list()
      return found[0]?.recordId !== before[0]?.recordId ? found : undefined
    }, 5_000)
    t.equal(after.filter((c) => c.recordId === after[0]!.recordId).length, 1, 'once')
    t.ok(Math.abs(after[0]!.startedAt!.getTime() - missed.started) < 5_000, 'it is the call made just before the stop')
    const again = await amsFixed.dial('1001')
    t.equal(statusLine(again), '480 1001 is not signed in', 'a call after the restart')
    const latest = await eventually('the new call', async () => {
      const found = await list()
      return found[1]?.recordId === after[0]!.recordId ? found : undefined
    })
    t.equal(new Set(latest.map((c) => c.recordId)).size, latest.length, 'no record twice')
  })
})
