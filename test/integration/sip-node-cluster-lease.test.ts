// The confirmation lease, node side, against the real registry's BranchService (invariant 4):
// granted and active once the view reached the grant; one holder per branch (LEASE_HELD for a
// second node); renewals carry the view's revision, which acknowledges the branch's pending
// revocations, so a takeover away from a live branch completes promptly; stop() releases it.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import pino from 'pino'
import { type Device, unary } from '@flexseat/proto'
import { ConfirmationLease, RegistryClient, SeatStream, SeatView } from '@flexseat/sip-node'
import { eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(120_000)

const logger = pino({ level: process.env['SIP_NODE_TEST_LOG'] ?? 'silent' })
const device = (id: string, siteId: string, extension: string): Device => ({ id, siteId, extension, label: '', model: '', flexHost: true, revision: '0' })

t.test('the confirmation lease against the registry', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1, env: { FLEXSEAT_CONFIRMATION_LEASE_SECONDS: '3' } })
  t.teardown(() => cluster.stop())
  const admin = cluster.metadata('admin')
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const { directory, seat } = cluster.clients(leader)
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 2)
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('7501'), pin: '2468' }, { metadata: admin })
  for (const [id, site, extension] of [['ams-l1', 'amsterdam', '9501'], ['ber-l1', 'berlin', '9511']] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: device(id, site, extension) }, { metadata: admin })
  }

  // A node of amsterdam, talking to the follower first (writes are forwarded to the leader).
  const node = (nodeId: string) => {
    const client = new RegistryClient({ addresses: [cluster.instances[follower]!.address, cluster.instances[leader]!.address], token: cluster.tokens['sip-node'], logger })
    const view = new SeatView()
    const stream = SeatStream.start({ client, view, logger })
    const lease = ConfirmationLease.start({ client, siteId: 'amsterdam', nodeId, view, stream, logger })
    const stop = async () => {
      await lease.stop()
      await stream.stop()
      client.close()
    }
    return { client, view, stream, lease, stop }
  }
  const first = node(`amsterdam-${randomUUID().slice(0, 8)}`)
  t.teardown(() => first.stop())
  await eventually('the first node holds an active lease', () => first.lease.active, 15_000)
  t.equal(first.lease.leaseSeconds, 3, 'the registry granted the configured lease')

  const second = node(`amsterdam-${randomUUID().slice(0, 8)}`)
  t.teardown(() => second.stop())
  await eventually('the second node has its view', () => second.stream.live, 10_000)
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  t.equal(second.lease.active, false, 'one holder per branch: the second node is held off')
  t.equal(first.lease.active, true, 'the first stays active')

  // A worker seated in amsterdam moves to berlin: the amsterdam node's renewals acknowledge the
  // revocation (applied_revision), so the login completes well before the lease could expire.
  await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ams-l1', extension: '7501', pin: '', durationHours: 0 }, { metadata: admin })
  const started = Date.now()
  const moved = await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ber-l1', extension: '7501', pin: '', durationHours: 0 }, { metadata: admin, timeoutMs: 10_000 })
  const waited = Date.now() - started
  t.same(moved.seat?.pending, [], 'the moved seat is active')
  t.ok(waited < 2_700, `completed by the live branch's acknowledgement (${waited} ms), not by its lease running out`)
  t.equal(first.lease.active, true, 'the branch stays active throughout')

  // Stopping releases the lease: the second node gets it soon after (it asks every second).
  const suspended = new Promise<string>((resolve) => first.lease.once('suspended', resolve))
  await first.stop()
  t.equal(await suspended, 'stopped')
  await eventually('the second node takes the lease over once released', () => second.lease.active, 5_000)
})
