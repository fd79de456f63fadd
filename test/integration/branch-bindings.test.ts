// Phone bindings end to end (real etcd, registry, engine and SIP node processes; sipp phones): a
// phone's REGISTER reaches the cluster (ListBindings, the cluster status); a node killed with
// SIGKILL and started again restores it, so a call to the phone's own extension rings it before
// it registers again; the phone's Expires 0 removes it from the cluster, also after the restart.
// Each case names the guard it was seen to fail without.
import t from 'tap'
import { credentials } from '@grpc/grpc-js'
import { BranchServiceClient, type PhoneBinding, unary } from '@flexseat/proto'
import { Branches, statusLine } from '../helpers/branches'
import { eventually } from '../helpers/registry-cluster'

t.setTimeout(90_000)

const SITE = 'amsterdam'
const LEASE_SECONDS = 3

t.test('phone bindings: reported, restored after a crash, removed', async (t) => {
  const branches = await Branches.start(t, { sites: [SITE], confirmationLeaseSeconds: LEASE_SECONDS })
  const client = new BranchServiceClient(branches.branch(SITE).registryAddress, credentials.createInsecure())
  t.teardown(() => client.close())
  const list = async (): Promise<PhoneBinding[]> =>
    (await unary(client.listBindings.bind(client), { siteId: SITE, pageSize: 0, pageToken: '' }, { metadata: branches.registry.metadata('viewer'), timeoutMs: 3_000 })).bindings
  const listed = async (deviceId: string): Promise<PhoneBinding | undefined> => (await list()).find((b) => b.deviceId === deviceId)
  const desk = branches.phone(SITE, 'ams-desk-1')
  const caller = branches.phone(SITE, 'ams-fixed')

  // Guard tried: BindingReporter.start left out of the SipNode constructor (nothing is listed).
  await t.test('a registered phone is listed with its contact, source, user agent and expiry', async (t) => {
    const before = Date.now()
    await desk.start()
    const after = Date.now()
    await eventually('ams-desk-1 listed', async () => (await listed('ams-desk-1')) !== undefined, 5_000)
    const binding = (await listed('ams-desk-1'))!
    t.match(binding, {
      deviceId: 'ams-desk-1',
      siteId: SITE,
      // Where calls go: the Contact's user at the REGISTER's source.
      contact: `sip:ams-desk-1@127.0.0.1:${desk.port}`,
      source: `udp:127.0.0.1:${desk.port}`,
      userAgent: 'flexseat-test-phone',
    })
    const expiresAt = binding.expiresAt!.getTime()
    t.ok(expiresAt >= before + 3_600_000 - 1_000 && expiresAt <= after + 3_600_000 + 1_000, `expires 3600 s after the REGISTER (${binding.expiresAt!.toISOString()})`)
    t.ok(binding.registeredAt!.getTime() >= before - 1_000 && binding.registeredAt!.getTime() <= after + 1_000, 'registered_at: the REGISTER')
    const status = await branches.registry.status(0)
    t.match(status.branches.find((b) => b.siteId === SITE), { leaseHeld: true, onlinePhones: 1 }, 'the cluster status counts it')
  })

  // Guard tried: the #restoreBindings call left out of SipNode.start (the call gets
  // `480 2101 is unreachable`).
  await t.test('a node killed and started again reaches the phone before it registers again', async (t) => {
    await branches.killNode(SITE)
    const mark = branches.nodeLogMark(SITE)
    // Not waiting for the lease: the killed node's lease still runs; a phone's own extension needs none.
    await branches.startNode(SITE, { waitForLease: false })
    const call = await caller.dial(desk.extension)
    t.ok(call.answered, `a call to ${desk.extension} is answered (${statusLine(call)})`)
    t.ok(desk.invites().some((m) => m.header('call-id') === call.callId), 'by the desk phone')
    t.same(branches.nodeLogsMatching(SITE, (l) => l.msg === 'phone registered', mark), [], 'which did not register again')
    const restored = branches.nodeLogsMatching(SITE, (l) => l.msg === 'phone bindings restored', mark)[0]
    t.equal(restored?.['restored'], 1, 'one binding restored')
    const ready = branches.nodeLogsMatching(SITE, (l) => l.msg === 'sip node ready', mark)[0]
    t.ok(restored !== undefined && ready !== undefined && ready.time >= restored.time, 'before `sip node ready`')
  })

  // Guards tried: the `restored` destination match in the registrar's Expires 0 path removed (the
  // phone's own Contact does not match the restored binding: it stays listed); the `unbound`
  // subscription in BindingReporter.start removed (the removal is never reported).
  await t.test("the phone's Expires 0 removes it from the cluster", async (t) => {
    const mark = branches.nodeLogMark(SITE)
    const unregister = await desk.register({ expires: 0 })
    t.equal(statusLine(unregister), '200 OK')
    await branches.waitForNodeLog(SITE, (l) => l.msg === 'phone unregistered' && l['device'] === 'ams-desk-1', { since: mark, what: '`phone unregistered`' })
    // Reported once the restarted node holds the lease (the killed one's runs out first).
    await eventually('ams-desk-1 no longer listed', async () => (await listed('ams-desk-1')) === undefined, LEASE_SECONDS * 1_000 + 10_000)
    t.pass('no longer listed')
    const status = await branches.registry.status(0)
    t.match(status.branches.find((b) => b.siteId === SITE), { onlinePhones: 0 }, 'nor counted online')
    const call = await caller.dial(desk.extension)
    t.equal(statusLine(call), `480 ${desk.extension} is unreachable`, 'and the node no longer reaches it')
  })
})
