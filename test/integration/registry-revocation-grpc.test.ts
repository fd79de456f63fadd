// BranchService over real registry processes: roles (sip-node may call it, viewer may not),
// forwarding from a follower to the leader, error details, reflection and health, and a phone
// login across branches that waits for the old branch's acknowledgement over gRPC.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { credentials, loadPackageDefinition, status } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { BranchServiceClient, ErrorCode, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { callError, eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(60_000)

const PIN = '58203746'

t.test('BranchService over gRPC', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1, env: { FLEXSEAT_CONFIRMATION_LEASE_SECONDS: '3' }, logLevel: 'info' })
  t.teardown(() => cluster.stop())
  const branchClients = new Map<number, BranchServiceClient>()
  t.teardown(() => branchClients.forEach((c) => c.close()))
  const branchOf = (index: number): BranchServiceClient => {
    let client = branchClients.get(index)
    if (!client) branchClients.set(index, (client = new BranchServiceClient(cluster.instances[index]!.address, credentials.createInsecure())))
    return client
  }
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const admin = cluster.metadata('admin')
  const sipNode = cluster.metadata('sip-node')
  const { directory } = cluster.clients(leader)
  await eventually('the sites exist', async () => {
    const { sites } = await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })
    return sites.length === 2
  })
  const sites = cluster.instances.map((i) => i.siteId)
  for (const [id, siteId] of [['desk-a', sites[0]!], ['desk-b', sites[1]!]] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId, extension: '', label: id, model: 'test', flexHost: true, revision: '0' } }, { metadata: admin })
  }
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('7301', { id: 'u7301', homeSiteId: sites[0]! }), pin: PIN }, { metadata: admin })

  // Guard tried: leaving the three RPCs out of SIP_NODE in auth.ts: PERMISSION_DENIED here.
  t.test('a sip-node renews through a follower (forwarded to the leader); a viewer may not', async (t) => {
    const viaFollower = branchOf(follower)
    const viaLeader = branchOf(leader)
    const request = { siteId: sites[0]!, nodeId: `${sites[0]}-n1`, appliedRevision: '0' }
    const denied = await callError(unary(viaFollower.renewLease.bind(viaFollower), request, { metadata: cluster.metadata('viewer') }))
    t.equal(denied.code, status.PERMISSION_DENIED, 'viewer: PERMISSION_DENIED')
    const granted = await unary(viaFollower.renewLease.bind(viaFollower), request, { metadata: sipNode, timeoutMs: 5_000 })
    t.equal(granted.granted, true, 'granted through the follower')
    t.equal(granted.leaseSeconds, 3, 'for FLEXSEAT_CONFIRMATION_LEASE_SECONDS')
    const renewed = await unary(viaLeader.renewLease.bind(viaLeader), request, { metadata: sipNode, timeoutMs: 5_000 })
    t.equal(renewed.granted, false, 'the leader holds the same lease: the follower forwarded the grant')
    t.equal(renewed.grantedRevision, granted.grantedRevision)
    const held = await callError(unary(viaFollower.renewLease.bind(viaFollower), { ...request, nodeId: `${sites[0]}-n2` }, { metadata: sipNode }))
    t.equal(held.code, status.FAILED_PRECONDITION, 'another node: FAILED_PRECONDITION')
    t.equal(errorDetailOf(held)?.code, ErrorCode.ERROR_CODE_LEASE_HELD, 'with LEASE_HELD in the detail')
    t.ok((errorDetailOf(held)?.retryAfterMs ?? 0) > 0, 'and a retry hint')
    const bad = await callError(unary(viaFollower.renewLease.bind(viaFollower), { ...request, nodeId: '' }, { metadata: sipNode }))
    t.equal(bad.code, status.INVALID_ARGUMENT)
    t.equal(errorDetailOf(bad)?.field, 'node_id', 'INVALID_ARGUMENT names the field')
  })

  // Guard tried: writeHandler not passing the call's deadline to login (the wait then runs to
  // lease + 2 s): the short-deadline login below fails with DEADLINE_EXCEEDED instead of
  // returning the pending seat.
  t.test('a phone login across branches waits for the old branch over gRPC', async (t) => {
    const seat = cluster.clients(follower).seat
    const branch = branchOf(follower)
    const node = { siteId: sites[0]!, nodeId: `${sites[0]}-n1` }
    const login = (deviceId: string, timeoutMs: number) =>
      unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId, extension: '7301', pin: PIN, durationHours: 0 }, { metadata: sipNode, timeoutMs })
    const first = await login('desk-a', 5_000)
    t.same(first.seat?.pending, [], 'seated at desk-a')
    await unary(branch.renewLease.bind(branch), { ...node, appliedRevision: first.seat!.epoch }, { metadata: sipNode, timeoutMs: 5_000 })

    const short = await login('desk-b', 1_000)
    t.equal(short.seat?.pending.length, 1, 'with a short deadline login returns the seat pending')
    t.equal(short.seat?.pending[0]?.siteId, sites[0])
    // Back and forth: the next login to desk-b again waits for the same revocation.
    const waiting = login('desk-b', 10_000)
    const watched = await eventually('the seat pending at desk-b', async () => {
      const got = await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'u7301' } }, { metadata: cluster.metadata('viewer') })
      return got.seat?.deviceId === 'desk-b' && got.seat.pending.length === 1 ? got.seat : undefined
    })
    await unary(branch.ackRevocations.bind(branch), { ...node, revocations: [{ userId: 'u7301', epoch: first.seat!.epoch }] }, { metadata: sipNode, timeoutMs: 5_000 })
    const done = await waiting
    t.same(done.seat?.pending, [], 'active after the ack')
    t.ok(BigInt(done.seat!.epoch) > BigInt(watched.epoch), 'at a higher epoch')
    await unary(branch.releaseLease.bind(branch), node, { metadata: sipNode, timeoutMs: 5_000 })
  })

  t.test('reflection lists BranchService', async (t) => {
    const reflectionProto = join(dirname(require.resolve('@grpc/reflection')), '..', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto')
    const ServerReflection = (loadPackageDefinition(loadSync(reflectionProto, { keepCase: false })) as any).grpc.reflection.v1.ServerReflection
    const client = new ServerReflection(cluster.instances[follower]!.address, credentials.createInsecure())
    t.teardown(() => client.close())
    const listed = await new Promise<any>((resolve, reject) => {
      const call = client.serverReflectionInfo()
      call.on('data', (response: unknown) => {
        resolve(response)
        call.end()
      })
      call.on('error', reject)
      call.write({ listServices: '' })
    })
    t.ok(listed.listServicesResponse.service.some((s: { name: string }) => s.name === 'flexseat.v1.BranchService'), 'reflection lists flexseat.v1.BranchService')
  })
})
