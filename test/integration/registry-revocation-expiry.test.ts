// Bounded revocation (DESIGN invariant 4) when a branch is cut off: its SIP node stops renewing,
// its confirmation lease ends (the leader ends it at its deadline, or etcd expires it, whichever
// comes first), and only then does the takeover complete. etcd's own history is the witness: the
// node key is deleted at a revision before the seat's activation, and not earlier than the lease
// after the last renewal was sent.
import t from 'tap'
import { freshPrefix, rid, SIP_NODE, startEtcd, waitFor } from '../helpers/registry-core-harness'
import { branchNode, seedBranches, startRevocationCore } from '../helpers/registry-revocation'

const LEASE = 2

t.setTimeout(30_000)

// Guards tried: (a) RevocationSweeper.start() doing nothing: login waits out lease + 2 s and
// returns the seat pending; (b) planLogin not reading nodes/<site> (so the seat is active at
// once): the activation revision comes before the node key's deletion.
t.test('a node that stops renewing: login completes once its lease ended, never before', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const { core, etcd: client, keys } = await startRevocationCore(t, etcd.endpoints, { prefix, site: 'berlin', confirmationLeaseSeconds: LEASE })
  await seedBranches(core)
  const ams = branchNode(core, 'amsterdam')
  const granted = await ams.renew()
  const first = await core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE)
  // The node's last renewal: etcd expires the lease no earlier than LEASE after receiving it,
  // which is after this moment.
  const lastRenewalSentAt = Date.now()
  await ams.renew(first.seat!.epoch)

  // Watch the node key from now on, to learn when (by our clock) etcd deleted it.
  let deletedSeenAt: number | undefined
  const watcher = await client.watch().key(keys.node('amsterdam')).create()
  t.teardown(() => watcher.cancel())
  watcher.on('delete', () => (deletedSeenAt ??= Date.now()))

  const startedAt = Date.now()
  const moved = await core.login({ requestId: rid(), deviceId: 'ber-1', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE, { deadline: Date.now() + 20_000 })
  const tookMs = Date.now() - startedAt
  t.same(moved.seat?.pending, [], 'login returns the seat active')
  t.equal(moved.seat?.deviceId, 'ber-1')
  t.ok(BigInt(moved.seat!.epoch) > BigInt(first.seat!.epoch))
  const activation = BigInt(moved.seat!.epoch)

  // etcd's history: when the seat was written pending, the node key existed; at the revision
  // before the activation, it was gone.
  const history = await client.watch().key(keys.seat('alice')).startRevision(String(BigInt(first.seat!.epoch) + 1n)).create()
  t.teardown(() => history.cancel())
  const writes: bigint[] = []
  history.on('put', (kv) => writes.push(BigInt(kv.mod_revision)))
  await waitFor(() => writes.includes(activation), 5_000, 'the history of the seat up to its activation')
  const pendingAt = writes[0]!
  t.ok(pendingAt < activation, `the seat was written pending first (revision ${pendingAt}), activated later (${activation})`)
  const nodeAt = async (revision: bigint) => (await client.kv.range({ key: Buffer.from(keys.node('amsterdam')), revision: String(revision) })).kvs[0]
  t.ok(await nodeAt(pendingAt), 'the node key existed when the seat was written pending')
  t.notOk(await nodeAt(activation - 1n), 'the node key was deleted at a revision before the activation')
  t.equal((await nodeAt(pendingAt))?.create_revision, granted.grantedRevision, 'it was the key of the grant the node held')

  await waitFor(() => deletedSeenAt, 5_000, 'the delete event')
  t.ok(deletedSeenAt! - lastRenewalSentAt >= LEASE * 1_000, `the node key was deleted ${deletedSeenAt! - lastRenewalSentAt} ms after the last renewal was sent (at least the lease, ${LEASE * 1_000} ms)`)
  t.ok(tookMs <= (LEASE + 2) * 1_000, `login completed within the lease, the sweep and slack (${tookMs} ms)`)
})
