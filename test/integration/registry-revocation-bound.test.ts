// The published bound of a takeover at a cut-off branch (docs/OPERATIONS.md, "The bound"): the
// leader ends the branch's confirmation lease itself, the TTL after the last renewal reached it,
// rather than waiting for etcd's expiry (its lessor looks every 500 ms), and completes what waited.
// It must never do so while the node may still act by its own rule (sip-node's validUntil: the
// send time of its last successful renewal + TTL − margin): NodeValidity writes a key to etcd when
// that validity runs out, and etcd's history must show every completion after it. The test keeps
// etcd from expiring the lease (it sends keepalives itself once the branch is cut off), so the
// completion can only come from the leader's own deadline: earlier than etcd's expiry would.
// One core over a real etcd; timings are printed, not asserted.
import t from 'tap'
import pino from 'pino'
import { freshPrefix, rid, SIP_NODE, startEtcd, waitFor } from '../helpers/registry-core-harness'
import { branchNode, holdInEtcd, keyAt, keysUnder, NodeValidity, seedBranches, startRevocationCore } from '../helpers/registry-revocation'

const LEASE = 5

t.setTimeout(60_000)

// Guards tried, each seen to fail here: (a) the deadline a second short (receivedAt + TTL − 1 s in
// LeaseDeadlines.renewed): the activation comes before the node stopped; (b) no deadline at all
// (due() answering every site, #end not checking the clock): the lease ends at the first sweep;
// (c) no ending at the deadline (sweep not calling #end): the takeover never completes, etcd being
// kept from expiring the lease.
t.test('a cut-off branch: the leader ends its lease at the deadline, after the node stopped', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const lines: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
  const { core, etcd: client, keys } = await startRevocationCore(t, etcd.endpoints, { prefix, site: 'berlin', confirmationLeaseSeconds: LEASE, logger })
  await seedBranches(core)
  const ams = branchNode(core, 'amsterdam')
  const node = new NodeValidity(client, `${prefix}test/node-stopped`)
  t.teardown(() => node.close())
  const granted = await node.renew(() => ams.renew())
  const first = await core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE)
  const applied = first.seat!.epoch
  await node.renew(() => ams.renew(applied))

  const moving = core.login({ requestId: rid(), deviceId: 'ber-1', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE, { deadline: Date.now() + 20_000 })
  await waitFor(async () => (await keysUnder(client, keys.siteRevocations('amsterdam'))).length === 1, 5_000, 'the move to be pending on amsterdam')
  // Two more renewals that have not applied the move (still within the lease, so not refused):
  // each must push the leader's deadline, then the branch is cut off.
  for (let i = 0; i < 2; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    await node.renew(() => ams.renew(applied))
  }
  const lastSentAt = node.lastSentAt!
  const renewalKv = (await client.kv.range({ key: Buffer.from(keys.renewal('amsterdam')) })).kvs[0]!
  const renewalAt = BigInt(renewalKv.mod_revision)
  // Cut off. etcd would expire the lease a little after the leader's deadline (it received the
  // keepalive later), and its lessor looks only every 500 ms: here it never does.
  t.teardown(holdInEtcd(client, renewalKv.lease))

  const moved = await moving
  const returnedAt = performance.now()
  t.same(moved.seat?.pending, [], 'the Login returns the seat active')
  const activation = BigInt(moved.seat!.epoch)
  const stop = await node.stopped()
  t.ok(stop.revision < activation, `the node stopped acting (revision ${stop.revision}) before the takeover completed (${activation})`)

  // etcd's history: the lease key and the last renewal record were deleted together, after that
  // renewal and before the activation, by the leader (its log), not by etcd's expiry.
  const nodeKey = keys.node('amsterdam')
  let deletedAt = activation - 1n
  while (deletedAt > renewalAt && !(await keyAt(client, nodeKey, deletedAt - 1n))) deletedAt--
  t.notOk(await keyAt(client, nodeKey, deletedAt), `the lease key was deleted at revision ${deletedAt}, before the activation`)
  t.ok(await keyAt(client, nodeKey, deletedAt - 1n), 'and existed just before')
  t.ok(deletedAt > renewalAt, 'after the last renewal was recorded')
  t.ok(await keyAt(client, keys.renewal('amsterdam'), deletedAt - 1n), 'the renewal record existed up to then')
  t.notOk(await keyAt(client, keys.renewal('amsterdam'), deletedAt), 'and went in the same transaction')
  // Kept alive in etcd, the lease can only have been ended by the leader, at its deadline.
  const ended = lines.filter((line) => line.includes('confirmation lease ended at its deadline'))
  t.equal(ended.length, 1, 'the leader ended the lease at its deadline, once')
  const lease = (JSON.parse(ended[0] ?? '{}') as { lease?: string }).lease
  t.equal(lease, renewalKv.lease, 'the branch\'s lease')
  await waitFor(async () => Number((await client.leaseClient.leaseTimeToLive({ ID: lease ?? '0', keys: false })).TTL) < 0, 5_000, 'the ended lease to be revoked')
  t.pass('then revoked the etcd lease')
  t.comment(`last renewal sent at 0; node stopped at +${Math.round(stop.validUntil - lastSentAt)} ms (its rule: lease ${LEASE * 1_000} ms − margin); Login returned active at +${Math.round(returnedAt - lastSentAt)} ms (bound: lease + 250 ms)`)

  // The node comes back and renews with what it had applied (not the move): the lease it held has
  // ended, so it is granted a new one, past the completion, and must catch up before acting.
  const back = await node.renew(() => ams.renew(applied))
  t.equal(back.granted, true, 'the node back is granted a new lease, not renewed')
  t.ok(BigInt(back.grantedRevision) > activation, `at a revision (${back.grantedRevision}) past the completion (${activation})`)
  t.not(back.grantedRevision, granted.grantedRevision)
})

// Guards tried, each seen to fail here: #keepAlive not moving the deadline (LeaseDeadlines.renewed
// only on a grant): the leader comes to the grant's deadline (the renewal record's compare still
// keeps it from ending the lease); and that compare removed as well: it ends the lease a TTL after
// the grant, and the next renewal is a new grant.
t.test('a node that keeps renewing keeps its lease: the leader moves the deadline with each renewal', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const lines: string[] = []
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
  const lease = 3
  const { core, etcd: client, keys } = await startRevocationCore(t, etcd.endpoints, { prefix, site: 'berlin', confirmationLeaseSeconds: lease, logger })
  await seedBranches(core)
  const ams = branchNode(core, 'amsterdam')
  const granted = await ams.renew()
  const seated = await core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE)
  // Every lease/3, for more than two leases.
  for (let i = 0; i < 7; i++) {
    await new Promise((resolve) => setTimeout(resolve, (lease * 1_000) / 3))
    const res = await ams.renew(seated.seat!.epoch)
    t.same([res.granted, res.grantedRevision], [false, granted.grantedRevision], `renewal ${i + 1}: the same lease, renewed`)
  }
  t.equal((await client.kv.range({ key: Buffer.from(keys.node('amsterdam')) })).kvs[0]?.create_revision, granted.grantedRevision, 'the lease key is the grant\'s')
  t.notOk(lines.some((line) => line.includes('confirmation lease ended at its deadline')), 'the leader never ended it')
  t.notOk(lines.some((line) => line.includes('confirmation lease not ended at its deadline')), 'nor came to a deadline it had not moved')
  const seat = (await client.kv.range({ key: Buffer.from(keys.seat('alice')) })).kvs[0]!
  t.equal(seat.mod_revision, seated.seat!.epoch, 'alice keeps her seat at ams-1, unchanged')
})
