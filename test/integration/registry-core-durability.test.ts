import t from 'tap'
import { ErrorCode, type LoginResponse } from '@flexseat/proto'
import type { RegistryError } from '@flexseat/registry'
import { ADMIN, freshPrefix, leaderOf, rid, seed, startCore, startEtcd, waitFor } from '../helpers/registry-core-harness'

// Generous: on a loaded 2-core machine (CI runs two such files at once) an election after the
// leader's cut took more than 12 s once; the assertions are about order, not speed.
t.setTimeout(45_000)

t.test('durability: acknowledged logins survive an etcd member and the leader instance dying', async (t) => {
  const etcd = await startEtcd(t, 3)
  const prefix = freshPrefix()
  const cores = [
    await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam', ttl: 3, proxied: true }),
    await startCore(t, etcd.endpoints, { prefix, site: 'berlin', ttl: 3, proxied: true }),
  ]
  let leader = await leaderOf(cores)
  const n = 16
  await seed(leader.core, {
    sites: ['amsterdam'],
    devices: Array.from({ length: n }, (_, i) => ({ id: `d${i}`, site: 'amsterdam' })),
    users: Array.from({ length: n }, (_, i) => ({ id: `u${i}`, extension: `${3000 + i}`, site: 'amsterdam', pin: '1234' })),
  })
  // A watch on each instance runs through all of it: the one on the survivor must miss nothing.
  const controller = new AbortController()
  const seenBy = new Map<string, Set<string>>()
  const watching = cores.map(async (c) => {
    const seen = new Set<string>()
    seenBy.set(c.id, seen)
    try {
      for await (const m of c.core.watchSeats({ afterRevision: '0', siteId: '' }, controller.signal)) {
        if (m.message?.$case === 'changes') for (const e of m.message.value.events) seen.add(`${e.seat?.userId}@${e.seat?.epoch}`)
      }
    } catch {
      // the cut-off instance's watch may fail; only the survivor's counts
    }
  })
  const acked = new Map<string, LoginResponse>()
  // Clients retry with the same request id while the cluster fails over (the server layer would
  // forward to whichever instance leads); every answer they get is an acknowledgement.
  const loginUntilAnswered = async (i: number): Promise<LoginResponse> => {
    const request = { requestId: rid(`ack-${i}`), deviceId: `d${i}`, extension: `${3000 + i}`, pin: '', durationHours: 0 }
    const deadline = Date.now() + 10_000
    for (;;) {
      const current = cores.find((c) => c.core.isLeader) ?? leader
      try {
        return await current.core.login(request, ADMIN)
      } catch (error) {
        if (!(error as RegistryError).retryable || Date.now() > deadline) throw error
        await waitFor(() => cores.some((c) => c.core.isLeader), 10_000, 'a leader')
      }
    }
  }
  for (let i = 0; i < n; i++) {
    if (i === n / 2) await etcd.kill(etcd.members[0]!.name)
    acked.set(`u${i}`, await loginUntilAnswered(i))
  }
  t.equal(acked.size, n, 'every login was acknowledged (some after retries) while a member died')
  leader = await leaderOf(cores)
  // The leader instance dies without resigning: every connection it had to etcd ends at once.
  await leader.cut()
  // Cut off, its keepalives go unanswered: it stops leading on its own before its lease can
  // expire in etcd, so no successor (elected only after that expiry) ever overlaps it; and a
  // write it still attempts is refused without reaching etcd. Polled along the way:
  let overlap = false
  const others = () => cores.find((c) => c !== leader && c.core.isLeader)
  await waitFor(() => {
    if (leader.core.isLeader && others()) overlap = true
    return !leader.core.isLeader
  }, 10_000, 'the cut-off leader to step down')
  try {
    await leader.core.logout({ requestId: rid('cut'), target: { $case: 'userId', value: 'u1' }, reason: 0 }, ADMIN)
    t.fail('a cut-off leader wrote')
  } catch (error) {
    t.equal((error as RegistryError).code, ErrorCode.ERROR_CODE_NOT_LEADER, 'its write is refused: NOT_LEADER')
  }
  const successor = await waitFor(() => {
    const s = others()
    if (s && leader.core.isLeader) overlap = true
    return s
  }, 25_000, 'a successor')
  t.notOk(overlap, 'the cut-off leader stepped down before a successor led')
  const lost: string[] = []
  for (const [user, res] of Array.from(acked.entries())) {
    const seat = (await successor.core.getSeat({ target: { $case: 'userId', value: user } })).seat
    if (seat?.deviceId !== res.seat!.deviceId || seat?.epoch !== res.seat!.epoch) lost.push(user)
  }
  t.same(lost, [], 'every acknowledged login is there, epoch and all')
  const out = await successor.core.logout({ requestId: rid(), target: { $case: 'userId', value: 'u0' }, reason: 0 }, ADMIN)
  t.equal(out.released?.deviceId, 'd0', 'the successor serves writes')
  const expected = Array.from(acked.entries()).map(([user, res]) => `${user}@${res.seat!.epoch}`)
  const seen = seenBy.get(successor.id)!
  await waitFor(() => expected.every((e) => seen.has(e)), 8_000, 'the watch to show every acknowledged login')
  t.pass('a watch running across the member failure saw every acknowledged login')
  controller.abort()
  await Promise.all(watching)
})
