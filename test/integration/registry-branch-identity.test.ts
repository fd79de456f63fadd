// One branch's credential against another branch, over real registry processes and real gRPC:
// every BranchService call, GetDeviceCredentials and a sign-out with Amsterdam's sip-node token
// for Berlin are refused with PERMISSION_DENIED — sent to the leader and to a follower (which
// forwards the caller with its site) — and change nothing; Berlin's own token does each of them.
// Within a branch, only the node holding the lease may release or acknowledge.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { credentials, type Metadata, status } from '@grpc/grpc-js'
import { BranchServiceClient, ErrorCode, MAX_ACKS, type PhoneBinding, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { callError, eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(60_000)

const PIN = '40417294'
const binding = (deviceId: string, host: string): PhoneBinding => ({
  deviceId,
  siteId: '',
  contact: `sip:${deviceId}@${host}:5060`,
  source: `udp:${host}:5060`,
  userAgent: 'test phone',
  expiresAt: new Date(Date.now() + 60_000),
  registeredAt: new Date(),
})

t.test('a branch node acts for its own branch only', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 3, etcdMembers: 1, logLevel: 'info' })
  t.teardown(() => cluster.stop())
  const clients = new Map<number, BranchServiceClient>()
  t.teardown(() => clients.forEach((c) => c.close()))
  const branchOf = (index: number): BranchServiceClient => {
    let client = clients.get(index)
    if (!client) clients.set(index, (client = new BranchServiceClient(cluster.instances[index]!.address, credentials.createInsecure())))
    return client
  }
  const leader = await cluster.leader()
  const follower = [0, 1, 2].find((i) => i !== leader)!
  const admin = cluster.metadata('admin')
  const amsterdam = cluster.metadata('sip-node', 'amsterdam')
  const berlin = cluster.metadata('sip-node', 'berlin')
  const { directory, seat } = cluster.clients(leader)
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 3)
  for (const [id, siteId] of [['ams-desk', 'amsterdam'], ['ber-desk', 'berlin']] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId, extension: '', label: id, model: 'test', flexHost: true, revision: '0', sipPassword: `${id}-password` } }, { metadata: admin })
  }
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('8101'), pin: PIN }, { metadata: admin })

  // Berlin's node holds Berlin's lease; the worker sits at a Berlin desk.
  const berlinNode = { siteId: 'berlin', nodeId: 'berlin-n1' }
  const granted = await unary(branchOf(leader).renewLease.bind(branchOf(leader)), { ...berlinNode, appliedRevision: '0' }, { metadata: berlin, timeoutMs: 5_000 })
  t.ok(granted.granted, "Berlin's own token gets Berlin's lease")
  const seated = await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ber-desk', extension: '8101', pin: PIN, durationHours: 0 }, { metadata: berlin, timeoutMs: 5_000 })
  t.same(seated.seat?.pending, [], 'seated at ber-desk')

  const branchStatus = async (): Promise<unknown> => (await cluster.status(leader)).branches.find((b) => b.siteId === 'berlin')
  const before = await branchStatus()
  t.match(before, { nodeId: 'berlin-n1', leaseHeld: true, onlinePhones: 0 })

  // Guards tried: each mustActFor line in branch-service.ts / directory-service.ts, and mayLogout
  // in seat-service.ts, removed in turn: the call it guards is then accepted here (for
  // ListBindings, both of its attempts).
  t.test("Amsterdam's token is refused each call for Berlin, at the leader and through a follower", async (t) => {
    const attempts: [string, (client: BranchServiceClient, via: number) => Promise<unknown>][] = [
      ['RenewLease', (c) => unary(c.renewLease.bind(c), { ...berlinNode, appliedRevision: '0' }, { metadata: amsterdam, timeoutMs: 5_000 })],
      ['RenewLease under a new node id', (c) => unary(c.renewLease.bind(c), { siteId: 'berlin', nodeId: 'berlin-evil', appliedRevision: '0' }, { metadata: amsterdam, timeoutMs: 5_000 })],
      ['ReleaseLease', (c) => unary(c.releaseLease.bind(c), berlinNode, { metadata: amsterdam, timeoutMs: 5_000 })],
      ['AckRevocations', (c) => unary(c.ackRevocations.bind(c), { ...berlinNode, revocations: [{ userId: 'u8101', epoch: seated.seat!.epoch }] }, { metadata: amsterdam, timeoutMs: 5_000 })],
      ['ReportBindings', (c) => unary(c.reportBindings.bind(c), { ...berlinNode, bindings: [binding('ber-desk', '198.51.100.66')], removedDeviceIds: [] }, { metadata: amsterdam, timeoutMs: 5_000 })],
      ['ListBindings of Berlin', (c) => unary(c.listBindings.bind(c), { siteId: 'berlin', pageSize: 0, pageToken: '' }, { metadata: amsterdam, timeoutMs: 5_000 })],
      ['ListBindings of every site', (c) => unary(c.listBindings.bind(c), { siteId: '', pageSize: 0, pageToken: '' }, { metadata: amsterdam, timeoutMs: 5_000 })],
      ['GetDeviceCredentials', (_c, via) => {
        const d = cluster.clients(via).directory
        return unary(d.getDeviceCredentials.bind(d), { deviceId: 'ber-desk' }, { metadata: amsterdam, timeoutMs: 5_000 })
      }],
      ['Logout at a Berlin phone', (_c, via) => {
        const s = cluster.clients(via).seat
        return unary(s.logout.bind(s), { requestId: randomUUID(), target: { $case: 'deviceId', value: 'ber-desk' }, reason: 0 }, { metadata: amsterdam, timeoutMs: 5_000 })
      }],
      ['Logout by user id', (_c, via) => {
        const s = cluster.clients(via).seat
        return unary(s.logout.bind(s), { requestId: randomUUID(), target: { $case: 'userId', value: 'u8101' }, reason: 0 }, { metadata: amsterdam, timeoutMs: 5_000 })
      }],
    ]
    for (const via of [leader, follower]) {
      for (const [name, attempt] of attempts) {
        const error = await callError(attempt(branchOf(via), via))
        t.equal(error.code, status.PERMISSION_DENIED, `${name} via the ${via === leader ? 'leader' : 'follower'}: PERMISSION_DENIED`)
        t.equal(errorDetailOf(error)?.code, ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'with the detail')
      }
    }
    t.same(await branchStatus(), before, "Berlin's lease is still held by Berlin's node, no phone planted")
    const still = await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'u8101' } }, { metadata: admin })
    t.equal(still.seat?.epoch, seated.seat?.epoch, 'the worker is still seated in Berlin')
  })

  t.test("Berlin's token does each of them for Berlin; Amsterdam's for Amsterdam", async (t) => {
    const viaFollower = branchOf(follower)
    const renewed = await unary(viaFollower.renewLease.bind(viaFollower), { ...berlinNode, appliedRevision: seated.seat!.epoch }, { metadata: berlin, timeoutMs: 5_000 })
    t.equal(renewed.grantedRevision, granted.grantedRevision, 'RenewLease')
    await unary(viaFollower.reportBindings.bind(viaFollower), { ...berlinNode, bindings: [binding('ber-desk', '192.0.2.20')], removedDeviceIds: [] }, { metadata: berlin, timeoutMs: 5_000 })
    t.match(await branchStatus(), { onlinePhones: 1 }, 'ReportBindings')
    const listed = await unary(viaFollower.listBindings.bind(viaFollower), { siteId: 'berlin', pageSize: 0, pageToken: '' }, { metadata: berlin, timeoutMs: 5_000 })
    t.same(listed.bindings.map((b) => b.deviceId), ['ber-desk'], "ListBindings of Berlin's phones")
    const { directory: d } = cluster.clients(follower)
    const credentialsOf = (deviceId: string, metadata: Metadata) => unary(d.getDeviceCredentials.bind(d), { deviceId }, { metadata, timeoutMs: 5_000 })
    t.match(await credentialsOf('ber-desk', berlin), { siteId: 'berlin', realm: 'berlin.flexseat.test' }, "GetDeviceCredentials of Berlin's phone")
    t.match(await credentialsOf('ams-desk', amsterdam), { siteId: 'amsterdam' }, "and Amsterdam's of its own")
    t.equal((await callError(credentialsOf('ams-desk', berlin))).code, status.PERMISSION_DENIED, 'but not of each other')
  })

  // Guard tried: the holder check of ConfirmationLeases.ack removed: the impostor's ack below
  // completes the move.
  t.test('within Berlin, only the holder of the lease acknowledges or releases', async (t) => {
    const viaFollower = branchOf(follower)
    // The worker moves to Amsterdam: the new seat waits for Berlin's node.
    const moved = await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ams-desk', extension: '8101', pin: PIN, durationHours: 0 }, { metadata: amsterdam, timeoutMs: 1_000 })
    t.equal(moved.seat?.pending[0]?.siteId, 'berlin', 'pending on Berlin')
    const impostor = { siteId: 'berlin', nodeId: 'berlin-n2' }
    await unary(viaFollower.ackRevocations.bind(viaFollower), { ...impostor, revocations: [{ userId: 'u8101', epoch: seated.seat!.epoch }] }, { metadata: berlin, timeoutMs: 5_000 })
    await unary(viaFollower.releaseLease.bind(viaFollower), impostor, { metadata: berlin, timeoutMs: 5_000 })
    const pending = await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'u8101' } }, { metadata: admin })
    t.equal(pending.seat?.pending.length, 1, "another node's ack and release leave the move pending")
    t.match(await branchStatus(), { nodeId: 'berlin-n1', leaseHeld: true }, 'and the lease with its holder')
    // One more than a call may carry, the real one among them: refused whole, nothing acknowledged.
    // Guard tried: the registry's MAX_ACKS check dropped: the move completes here.
    const tooMany = [{ userId: 'u8101', epoch: seated.seat!.epoch }, ...Array.from({ length: MAX_ACKS }, (_, i) => ({ userId: `u9${i}`, epoch: '1' }))]
    const refused = await callError(unary(viaFollower.ackRevocations.bind(viaFollower), { ...berlinNode, revocations: tooMany }, { metadata: berlin, timeoutMs: 5_000 }))
    t.equal(refused.code, status.INVALID_ARGUMENT, `more than ${MAX_ACKS} revocations in one call: INVALID_ARGUMENT`)
    const still = await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'u8101' } }, { metadata: admin })
    t.equal(still.seat?.pending.length, 1, 'and the move still waits')
    await unary(viaFollower.ackRevocations.bind(viaFollower), { ...berlinNode, revocations: [{ userId: 'u8101', epoch: seated.seat!.epoch }] }, { metadata: berlin, timeoutMs: 5_000 })
    const active = await eventually('the move completes on the holder\'s ack', async () => {
      const got = await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'u8101' } }, { metadata: admin })
      return got.seat?.pending.length === 0 ? got.seat : undefined
    })
    t.equal(active.deviceId, 'ams-desk', "the holder's ack completes it")
    // Amsterdam's token signs the worker out at its own phone.
    const out = await unary(seat.logout.bind(seat), { requestId: randomUUID(), target: { $case: 'deviceId', value: 'ams-desk' }, reason: 0 }, { metadata: amsterdam, timeoutMs: 5_000 })
    t.equal(out.released?.userId, 'u8101', 'a node signs out at its own phone')
    await unary(viaFollower.releaseLease.bind(viaFollower), berlinNode, { metadata: berlin, timeoutMs: 5_000 })
    t.match(await branchStatus(), { leaseHeld: false }, 'the holder releases')
  })
})
