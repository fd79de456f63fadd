// Seat deadlines enforced by the registry leader, with real registry processes on real etcd:
// policy hours and minutes count as seconds here (FLEXSEAT_TEST_POLICY_SECONDS=1). A time limit,
// a daily sign-out in the site's time zone and an idle limit each end the seat with their reason
// on WatchSeats and in the seat history; a leader killed with SIGKILL just before a deadline
// neither loses nor doubles the end (the deadline passes with no leader; the next one applies it).
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import {
  Device,
  PolicyLevel,
  ReleaseReason,
  type SeatEvent,
  SeatEventType,
  type SeatPolicy,
  serverStream,
  unary,
  type WatchSeatsRequest,
  type WatchSeatsResponse,
} from '@flexseat/proto'
import { eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(60_000)

const rid = () => randomUUID()
const policy = (p: Partial<SeatPolicy>): SeatPolicy => ({ none: [], ...p })

async function setup(t: Test) {
  const cluster = await RegistryCluster.start({ instances: 3, env: { FLEXSEAT_TEST_POLICY_SECONDS: '1' } })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  await cluster.waitForSites()
  const metadata = cluster.metadata('admin')
  const { directory } = cluster.clients(leader)
  for (const [i, ext] of ['1001', '1002', '1003', '1004'].entries()) {
    await unary(directory.createUser.bind(directory), { requestId: rid(), user: worker(ext, { department: `dept-${ext}` }), pin: '4711' }, { metadata })
    await unary(directory.createDevice.bind(directory), { requestId: rid(), device: Device.fromPartial({ id: `ams-${i + 1}`, siteId: 'amsterdam', extension: `200${i + 1}`, label: `desk ${i + 1}`, flexHost: true }) }, { metadata })
  }
  return { cluster, leader, metadata }
}

/** Every seat event of the cluster from `after` on, as seen by instance `index`, into `events`. */
function watch(cluster: RegistryCluster, index: number, events: SeatEvent[], signal: AbortSignal): Promise<void> {
  const { seat } = cluster.clients(index)
  return (async () => {
    try {
      for await (const m of serverStream<WatchSeatsRequest, WatchSeatsResponse>(seat.watchSeats.bind(seat), { afterRevision: '0', siteId: '' }, { metadata: cluster.metadata('viewer'), signal })) {
        if (m.message?.$case === 'changes') events.push(...m.message.value.events)
      }
    } catch {
      // Aborted at the end of the test.
    }
  })()
}

const releases = (events: SeatEvent[], userId: string) => events.filter((e) => e.type === SeatEventType.SEAT_EVENT_TYPE_RELEASED && e.seat?.userId === userId)

t.test('a time limit, a daily sign-out in the site time zone and an idle limit each end the seat once, with their reason', async (t) => {
  const { cluster, leader, metadata } = await setup(t)
  const { policy: api, seat } = cluster.clients(leader)
  const set = (level: PolicyLevel, id: string, p: SeatPolicy) => unary(api.setSeatPolicy.bind(api), { requestId: rid(), scope: { level, id }, policy: p }, { metadata })
  await set(PolicyLevel.POLICY_LEVEL_USER, 'u1001', policy({ maxHours: 3 }))
  // now + 4 s, as a local time of amsterdam's zone (the site's, not this machine's).
  const at = new Date(Date.now() + 4_000)
  const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Amsterdam', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(at)
  await set(PolicyLevel.POLICY_LEVEL_USER, 'u1002', policy({ dailySignOut: local }))
  await set(PolicyLevel.POLICY_LEVEL_DEPARTMENT, 'dept-1003', policy({ idleMinutes: 3 }))

  const events: SeatEvent[] = []
  const stop = new AbortController()
  const watching = watch(cluster, (leader + 1) % 3, events, stop.signal)
  t.teardown(() => stop.abort())
  const login = (extension: string, deviceId: string) => unary(seat.login.bind(seat), { requestId: rid(), deviceId, extension, pin: '4711', durationHours: 0 }, { metadata: cluster.metadata('sip-node', 'amsterdam') })
  const limited = (await login('1001', 'ams-1')).seat!
  const daily = (await login('1002', 'ams-2')).seat!
  const idle = (await login('1003', 'ams-3')).seat!
  const open = (await login('1004', 'ams-4')).seat!
  t.equal(limited.expiresAt!.getTime() - limited.since!.getTime(), 3_000, 'max_hours 3 is 3 s here')
  t.equal(daily.dailySignOutAt!.getTime(), Math.floor(at.getTime() / 1_000) * 1_000, 'the daily sign-out is the local time given, in the site zone')
  t.equal(idle.idleSeconds, 3)
  t.equal(open.expiresAt, undefined, 'no policy: no deadline')

  await eventually('three policy ends', () => ['u1001', 'u1002', 'u1003'].every((u) => releases(events, u).length > 0), 15_000)
  t.same(releases(events, 'u1001').map((e) => e.reason), [ReleaseReason.RELEASE_REASON_TIME_LIMIT])
  t.same(releases(events, 'u1002').map((e) => e.reason), [ReleaseReason.RELEASE_REASON_DAILY])
  t.same(releases(events, 'u1003').map((e) => e.reason), [ReleaseReason.RELEASE_REASON_IDLE])
  // The reasons are in the history too; each seat ended at (not before) its deadline.
  for (const [userId, due] of [['u1001', limited.expiresAt!], ['u1002', daily.dailySignOutAt!], ['u1003', new Date(idle.since!.getTime() + 3_000)]] as const) {
    const { records } = await unary(seat.listSeatHistory.bind(seat), { userId, limit: 0 }, { metadata })
    t.equal(records.length, 1, `${userId}: one seat`)
    t.ok(records[0]!.end!.getTime() >= due.getTime(), `${userId}: ended at or after its deadline`)
  }
  // A later write, seen after the ends: no second release of any of them came before it.
  await unary(seat.logout.bind(seat), { requestId: rid(), target: { $case: 'userId', value: 'u1004' }, reason: ReleaseReason.RELEASE_REASON_LOGOUT }, { metadata })
  await eventually('the logout on the stream', () => releases(events, 'u1004').length > 0)
  for (const u of ['u1001', 'u1002', 'u1003']) t.equal(releases(events, u).length, 1, `${u} ended once`)
  stop.abort()
  await watching
})

t.test('the leader killed just before a deadline: the next leader ends the seat, exactly once', async (t) => {
  const { cluster, leader, metadata } = await setup(t)
  const { policy: api } = cluster.clients(leader)
  await unary(api.setSeatPolicy.bind(api), { requestId: rid(), scope: { level: PolicyLevel.POLICY_LEVEL_SITE, id: 'amsterdam' }, policy: policy({ maxHours: 3 }) }, { metadata })
  // Both followers watch: whichever is not killed later keeps its stream throughout.
  const followers = [0, 1, 2].filter((i) => i !== leader)
  const streams = followers.map(() => [] as SeatEvent[])
  const stop = new AbortController()
  const watching = followers.map((index, i) => watch(cluster, index, streams[i]!, stop.signal))
  t.teardown(() => stop.abort())
  const { seat } = cluster.clients(followers[0]!)
  const taken = (await unary(seat.login.bind(seat), { requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '', durationHours: 0 }, { metadata })).seat!
  await cluster.kill(leader)
  const still = await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'u1001' } }, { metadata })
  t.equal(still.seat?.epoch, taken.epoch, 'the seat outlived its leader: the old leader did not end it')
  const next = await cluster.waitForLeader({ not: leader, timeoutMs: 15_000 })
  const survivor = followers.findIndex((index) => index !== next)
  const events = streams[survivor]!
  const { seat: client } = cluster.clients(followers[survivor]!)
  await eventually('the seat ended by the new leader', () => releases(events, 'u1001').length > 0, 15_000)
  const history = async (userId: string) => (await unary(client.listSeatHistory.bind(client), { userId, limit: 0 }, { metadata })).records
  const [record] = await history('u1001')
  t.equal(record?.reason, ReleaseReason.RELEASE_REASON_TIME_LIMIT)
  t.ok(record!.end!.getTime() >= taken.expiresAt!.getTime(), 'not before its deadline')
  // Another leader change after the end must not end it again.
  await unary(client.login.bind(client), { requestId: rid(), deviceId: 'ams-2', extension: '1002', pin: '', durationHours: 0 }, { metadata })
  await cluster.kill(next)
  await cluster.waitForLeader({ not: next, timeoutMs: 15_000 })
  await eventually('1002 ended too', () => releases(events, 'u1002').length > 0, 15_000)
  t.equal(releases(events, 'u1001').length, 1, 'u1001 ended exactly once across two leader changes')
  t.equal(releases(events, 'u1002').length, 1, 'u1002 ended exactly once')
  const after = await history('u1001')
  t.equal(after.length, 1, 'one seat in the history')
  t.equal(after[0]!.end!.getTime(), record!.end!.getTime(), 'its end was not written again')
  stop.abort()
  await Promise.all(watching)
})
