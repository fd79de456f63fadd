// A worker's call list in the portal, over real HTTP against a real registry (etcd, a registry
// process, the portal as a process): the calls a branch's node reported for Ada are hers to read
// in the portal (newest first, whatever desk she sat at, seated or not); Alan's are never in her
// answer, and her session cannot read his list at the registry either (ListCalls over gRPC with
// her session: PERMISSION_DENIED); without a session the portal refuses.
import t from 'tap'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { credentials, status } from '@grpc/grpc-js'
import { CallDirection, CallListServiceClient, type CallRecord, Device, SessionScope, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { ErrorCode } from '@flexseat/proto'
import { callError, eventually, RegistryCluster, REPO_ROOT, worker } from '../helpers/registry-cluster'
import { PortalClient, PortalServices } from '../helpers/portal'

t.setTimeout(60_000)

const PINS = { '1001': '73519', '1002': '24680' }

/** A call of `userId` as a node reports it, `agoMs` ago. */
function call(userId: string, agoMs: number, overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    recordId: randomUUID(),
    userId,
    direction: CallDirection.CALL_DIRECTION_INCOMING,
    startedAt: new Date(Date.now() - agoMs),
    otherParty: '2103',
    otherPartyName: 'Reception',
    answered: false,
    durationSeconds: 0,
    siteId: 'amsterdam',
    deviceId: 'desk-1',
    ...overrides,
  }
}

t.test("a worker's call list in the portal: hers, nobody else's", async (t) => {
  const cluster = await RegistryCluster.start({ instances: 1, sites: ['amsterdam'], etcdMembers: 1, logLevel: 'info' })
  t.teardown(() => cluster.stop())
  const { directory, session } = cluster.clients(0)
  const admin = { metadata: cluster.metadata('admin'), timeoutMs: 5_000 }
  await eventually('the site exists', async () => (await unary(directory.getSite.bind(directory), { siteId: 'amsterdam' }, admin)).site !== undefined)
  await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: Device.fromPartial({ id: 'desk-1', siteId: 'amsterdam', extension: '2101', label: 'desk 1', flexHost: true }) }, admin)
  for (const [ext, pin] of Object.entries(PINS)) await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker(ext), pin }, admin)
  const calls = new CallListServiceClient(cluster.instances[0]!.address, credentials.createInsecure())
  t.teardown(() => calls.close())
  // Amsterdam's node reports: Ada's three calls (a missed one, an answered one, one she placed),
  // Alan's one.
  await unary(calls.reportCalls.bind(calls), {
    siteId: 'amsterdam',
    nodeId: 'amsterdam-1a2b3c4d',
    calls: [
      call('u1001', 30_000),
      call('u1001', 20_000, { answered: true, durationSeconds: 75, otherParty: '+31205550100', otherPartyName: '' }),
      call('u1001', 10_000, { direction: CallDirection.CALL_DIRECTION_OUTGOING, answered: true, durationSeconds: 3_725, otherParty: '1002', otherPartyName: 'Worker 1002' }),
      call('u1002', 5_000, { otherParty: '4711', otherPartyName: 'Alan only' }),
    ],
  }, { metadata: cluster.metadata('sip-node', 'amsterdam'), timeoutMs: 10_000 })

  const dir = await mkdtemp(join(tmpdir(), 'flexseat-portal-calls-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const portals = await PortalServices.startWith(t, { dir, sitesDir: join(REPO_ROOT, 'sites'), token: cluster.tokens.portal, addressOf: () => cluster.instances[0]!.address }, ['amsterdam'])
  const base = portals.url('amsterdam')

  await t.test('Ada reads her calls, newest first, and only hers', async (t) => {
    const ada = new PortalClient(base)
    await ada.token()
    t.equal((await ada.send('GET', '/api/calls')).status, 401, 'not signed in: refused')
    t.equal((await ada.send('POST', '/api/session', { body: { method: 'pin', extension: '1001', pin: PINS['1001'] } })).status, 200, 'signed in with her PIN')
    // Guard tried: the route asking for any user id but the session's (u1002): Alan's call came
    // back (and, with the registry's check removed too, the PERMISSION_DENIED below failed).
    const res = await ada.send('GET', '/api/calls')
    t.equal(res.status, 200)
    const list = res.body['calls'] as { direction: string; otherParty: string; otherPartyName: string; answered: boolean; durationSeconds: number; deviceId: string; siteId: string; startedAt: string }[]
    t.same(list.map((c) => [c.direction, c.otherParty, c.answered, c.durationSeconds]), [
      ['outgoing', '1002', true, 3_725],
      ['incoming', '+31205550100', true, 75],
      ['incoming', '2103', false, 0],
    ], 'her three calls, newest first; not seated anywhere, she reads them still')
    t.same(Object.keys(list[0]!).sort(), ['answered', 'deviceId', 'direction', 'durationSeconds', 'otherParty', 'otherPartyName', 'siteId', 'startedAt'], 'what the page reads (the record id and user id stay behind)')
    t.equal(list.some((c) => c.otherPartyName === 'Alan only'), false, "Alan's call is not in her list")
  })

  await t.test("her session reads no one else's list at the registry", async (t) => {
    const token = randomBytes(32).toString('base64url')
    await unary(session.createSession.bind(session), { requestId: randomUUID(), scope: SessionScope.SESSION_SCOPE_WORKER, tokenSha256: createHash('sha256').update(token).digest('hex'), credential: { $case: 'pin', value: { extension: '1001', pin: PINS['1001'] } } }, { metadata: cluster.metadata('portal') })
    const me = cluster.metadata('portal')
    me.set('x-flexseat-session', token)
    const own = await unary(calls.listCalls.bind(calls), { userId: 'u1001', deviceId: '', limit: 0 }, { metadata: me, timeoutMs: 5_000 })
    t.equal(own.calls.length, 3, 'her own list: yes')
    // Guard tried: ListCalls taken out of the worker role's RPCs (auth.ts): her own list refused.
    const other = await callError(unary(calls.listCalls.bind(calls), { userId: 'u1002', deviceId: '', limit: 0 }, { metadata: me, timeoutMs: 5_000 }))
    t.equal(other.code, status.PERMISSION_DENIED, "Alan's list: PERMISSION_DENIED")
    t.equal(errorDetailOf(other)?.code, ErrorCode.ERROR_CODE_PERMISSION_DENIED)
    const desk = await callError(unary(calls.listCalls.bind(calls), { userId: 'u1002', deviceId: 'desk-1', limit: 0 }, { metadata: me, timeoutMs: 5_000 }))
    t.equal(desk.code, status.PERMISSION_DENIED, 'naming a desk changes nothing')
  })
})
