// Bounded revocation across a registry leader failover, over real registry processes and a
// three-member etcd: the leader is killed (SIGKILL) right after a cut-off branch's last renewal.
// Its successor does not know when that renewal reached the old leader: it counts from when it
// read `renewals/<site>`, then closer from etcd's remaining TTL (LeaseTimeToLive answers whole
// seconds, truncated): etcd's expiry less half the node's margin. The takeover must complete only
// after the node stopped acting by its own rule (NodeValidity writes a key when it has; etcd's
// history is the witness), and the bound must still hold: the new leader ends the lease itself,
// before etcd's lessor expires it. Timings are printed, not asserted.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { credentials } from '@grpc/grpc-js'
import { BranchServiceClient, unary } from '@flexseat/proto'
import { createEtcdClient, Keys } from '@flexseat/registry'
import { eventually, RegistryCluster, worker } from '../helpers/registry-cluster'
import { NodeValidity } from '../helpers/registry-revocation'

const LEASE = 5
const PIN = '58203746'

t.setTimeout(90_000)

// Guards tried, each seen to fail here: (a) LeaseDeadlines.probe taking an answer r as "the
// expiry is before t + r" (forgetting that etcd truncates to whole seconds): the new leader
// completes the takeover early, before the node stopped; (b) no questions to etcd (the deadline
// stays the TTL after the read): etcd expires the lease first, and the new leader never ends it.
t.test('the leader dies after a cut-off branch\'s last renewal: its successor completes after the node stopped', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 3, leaseTtlSeconds: 2, logLevel: 'info', env: { FLEXSEAT_CONFIRMATION_LEASE_SECONDS: String(LEASE) } })
  t.teardown(() => cluster.stop())
  const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 5_000 })
  t.teardown(() => etcd.close())
  const keys = new Keys(cluster.prefix)
  const leader = await cluster.leader()
  const admin = cluster.metadata('admin')
  const sipNode = cluster.metadata('sip-node')
  const { directory, seat } = cluster.clients(leader)
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 3)
  for (const [id, siteId] of [['desk-a', 'amsterdam'], ['desk-b', 'berlin']] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId, extension: '', label: id, model: 'test', flexHost: true, revision: '0' } }, { metadata: admin })
  }
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('7401', { id: 'u7401', homeSiteId: 'amsterdam' }), pin: PIN }, { metadata: admin })

  const branch = new BranchServiceClient(cluster.instances[leader]!.address, credentials.createInsecure())
  t.teardown(() => branch.close())
  const node = new NodeValidity(etcd, `${cluster.prefix}test/node-stopped`)
  t.teardown(() => node.close())
  const renew = (appliedRevision: string) => node.renew(() => unary(branch.renewLease.bind(branch), { siteId: 'amsterdam', nodeId: 'amsterdam-n1', appliedRevision }, { metadata: sipNode, timeoutMs: 5_000 }))
  const login = (deviceId: string, timeoutMs: number) =>
    unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId, extension: '7401', pin: PIN, durationHours: 0 }, { metadata: sipNode, timeoutMs })
  await renew('0')
  const first = await login('desk-a', 5_000)
  await renew(first.seat!.epoch)
  const moved = await login('desk-b', 500)
  t.equal(moved.seat?.pending[0]?.siteId, 'amsterdam', 'the move waits on amsterdam')

  // The node's last renewal; the branch is cut off and the leader dies at once.
  await renew(first.seat!.epoch)
  const lastSentAt = node.lastSentAt!
  const logged = cluster.instances.map((i) => i.logs.length)
  await cluster.kill(leader)
  const next = await cluster.waitForLeader({ not: leader, timeoutMs: 20_000 })
  const electedAt = performance.now()

  const activation = await eventually('the takeover to complete', async () => {
    const kv = (await etcd.kv.range({ key: Buffer.from(keys.seat('u7401')) })).kvs[0]
    const record = kv ? (JSON.parse(kv.value.toString('utf8')) as { deviceId: string; pending?: unknown[] }) : undefined
    return record?.deviceId === 'desk-b' && (record.pending ?? []).length === 0 ? BigInt(kv!.mod_revision) : undefined
  }, 20_000, 10)
  const completedAt = performance.now()
  const stop = await node.stopped()
  t.ok(stop.revision < activation, `the node stopped acting (revision ${stop.revision}) before the takeover completed (${activation})`)
  const ended = cluster.instances[next]!.logs.slice(logged[next]).find((line) => line.includes('confirmation lease ended at its deadline'))
  t.ok(ended, 'the new leader ended the lease at its deadline (found in etcd, narrowed by LeaseTimeToLive), before etcd expired it')
  t.match(ended ?? '', /"deadline":"read"/, 'a deadline it read in etcd')
  t.comment(`last renewal sent at 0; new leader agreed at +${Math.round(electedAt - lastSentAt)} ms; node stopped at +${Math.round(stop.validUntil - lastSentAt)} ms; takeover completed (seen) at +${Math.round(completedAt - lastSentAt)} ms (lease ${LEASE * 1_000} ms)`)
})
