// A Login sent to a follower waits for its pending seat as long as one sent to the leader
// (seat.proto, SeatService.Login): until the seat is active, or until the caller's own deadline
// comes first. Before, the follower forwarded it with at most 10 s, so with a confirmation lease
// past about 9 s a Login with a 30 s deadline came back pending at 9.5 s though its takeover
// completed at the lease. Real registry processes and gRPC; the old branch's node is played by
// RenewLease calls, cut off (it stops renewing) right before the move.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { credentials } from '@grpc/grpc-js'
import { BranchServiceClient, unary } from '@flexseat/proto'
import { eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

// Longer than the forwarder's old 10 s less the leader's answer margin.
const LEASE = 11

t.setTimeout(60_000)

// Guard tried: #forward capping the caller's deadline at 10 s again: the Login returns pending.
t.test('a Login through a follower waits past 10 s for a takeover bounded by a longer lease', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, env: { FLEXSEAT_CONFIRMATION_LEASE_SECONDS: String(LEASE) }, logLevel: 'info' })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const admin = cluster.metadata('admin')
  const { directory } = cluster.clients(leader)
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 2)
  const sites = cluster.instances.map((i) => i.siteId)
  for (const [id, siteId] of [['desk-a', sites[0]!], ['desk-b', sites[1]!]] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId, extension: '', label: id, model: 'test', flexHost: true, revision: '0' } }, { metadata: admin })
  }
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('7401', { id: 'u7401', homeSiteId: sites[0]! }), pin: '58203746' }, { metadata: admin })

  const nodeToken = cluster.metadata('sip-node', sites[0]!)
  const branch = new BranchServiceClient(cluster.instances[leader]!.address, credentials.createInsecure())
  t.teardown(() => branch.close())
  const node = { siteId: sites[0]!, nodeId: `${sites[0]}-n1` }
  const seat = cluster.clients(follower).seat
  const login = (deviceId: string, timeoutMs: number) =>
    unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId, extension: '7401', pin: '', durationHours: 0 }, { metadata: admin, timeoutMs })

  await unary(branch.renewLease.bind(branch), { ...node, appliedRevision: '0' }, { metadata: nodeToken, timeoutMs: 5_000 })
  const first = await login('desk-a', 5_000)
  t.same(first.seat?.pending, [], 'seated at desk-a, whose node holds the lease')
  // The node's last renewal; then it is cut off.
  await unary(branch.renewLease.bind(branch), { ...node, appliedRevision: first.seat!.epoch }, { metadata: nodeToken, timeoutMs: 5_000 })

  const startedAt = Date.now()
  const moved = await login('desk-b', 30_000)
  const tookMs = Date.now() - startedAt
  t.comment(`the Login returned ${tookMs} ms after it was sent (lease ${LEASE} s, deadline 30 s)`)
  t.same(moved.seat?.pending, [], 'the Login returns the seat active: the takeover completed before its deadline')
  t.equal(moved.seat?.deviceId, 'desk-b', 'at desk-b')
  t.ok(BigInt(moved.seat!.epoch) > BigInt(first.seat!.epoch), 'at a new epoch')
})
