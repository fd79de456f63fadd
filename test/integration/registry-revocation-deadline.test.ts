// How long a Login waits for a pending seat (seat.proto, SeatService.Login): until the seat is
// active, or until the caller's deadline comes first; no shorter cap of its own. Before, it
// returned the seat pending after the confirmation lease + 2 s whatever the deadline.
import t from 'tap'
import { freshPrefix, rid, SIP_NODE, startEtcd } from '../helpers/registry-core-harness'
import { branchNode, seedBranches, settled, startRevocationCore } from '../helpers/registry-revocation'

const LEASE = 2

t.setTimeout(60_000)

// Guard tried: #untilActive capping the wait at the lease + 2 s as before: the Login has
// returned (pending) before the acknowledgement, and "still waiting" fails.
t.test('a Login waits for its seat up to its own deadline', async (t) => {
  const etcd = await startEtcd(t, 1)
  // The leader's monotonic clock stands still: the node below never has its renewals refused
  // for leaving the move unapplied, so only its acknowledgement completes the takeover.
  const { core } = await startRevocationCore(t, etcd.endpoints, { prefix: freshPrefix(), site: 'berlin', confirmationLeaseSeconds: LEASE, monotonicClock: () => 0 })
  await seedBranches(core)
  const login = (deviceId: string, deadlineMs: number) =>
    core.login({ requestId: rid(), deviceId, extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE, { deadline: Date.now() + deadlineMs })
  const first = await login('ams-1', 5_000)
  const ams = branchNode(core, 'amsterdam')
  await ams.renew(first.seat!.epoch)
  const keepAlive = setInterval(() => void ams.renew(first.seat!.epoch).catch(() => undefined), 500)
  t.teardown(() => clearInterval(keepAlive))

  const short = await login('ber-1', 1_000)
  t.equal(short.seat?.pending.length, 1, 'a deadline that comes first: the seat is returned still pending')

  const startedAt = Date.now()
  const waiting = login('ber-1', 20_000)
  // Past the lease + 2 s, where the Login used to give up, with the deadline still far.
  await new Promise((resolve) => setTimeout(resolve, (LEASE + 2) * 1_000 + 500))
  t.notOk(await settled(waiting), `still waiting ${Date.now() - startedAt} ms later (lease + 2 s = ${(LEASE + 2) * 1_000} ms; deadline 20 s)`)
  await ams.ack([{ userId: 'alice', epoch: first.seat!.epoch }])
  const done = await waiting
  t.same(done.seat?.pending, [], 'then active, after the acknowledgement')
  t.comment(`the Login returned ${Date.now() - startedAt} ms after it was sent`)
})
