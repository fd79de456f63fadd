import t from 'tap'
import { ReleaseReason } from '@flexseat/proto'
import { ADMIN, freshPrefix, leaderOf, rid, seed, startCore, startEtcd, waitFor } from '../helpers/registry-core-harness'

t.setTimeout(25_000)

t.test('the leader releases time-limited seats when they expire, capped by the user maximum', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  // One clock for both instances, which the test moves forward instead of waiting hours.
  let offset = 0
  const clock = () => Date.now() + offset
  const a = await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam', clock })
  const b = await startCore(t, etcd.endpoints, { prefix, site: 'berlin', clock })
  const leader = await leaderOf([a, b])
  await seed(leader.core, {
    sites: ['amsterdam'],
    devices: [{ id: 'ams-1', site: 'amsterdam' }, { id: 'ams-2', site: 'amsterdam' }, { id: 'ams-3', site: 'amsterdam' }],
    users: [
      { id: 'alice', extension: '1001', site: 'amsterdam', pin: '1234', maxSeatHours: 2 },
      { id: 'bob', extension: '1002', site: 'amsterdam', pin: '1234' },
      { id: 'carol', extension: '1003', site: 'amsterdam', pin: '1234' },
    ],
  })
  const capped = await leader.core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '', durationHours: 10 }, ADMIN)
  t.equal((capped.seat!.expiresAt!.getTime() - capped.seat!.since!.getTime()) / 3_600_000, 2, 'duration capped by max_seat_hours (read as the user policy max_hours)')
  const userMax = await leader.core.login({ requestId: rid(), deviceId: 'ams-2', extension: '1002', pin: '1234', durationHours: 1 }, ADMIN)
  t.ok(userMax.seat?.expiresAt, 'duration_hours sets a limit')
  const open = await leader.core.login({ requestId: rid(), deviceId: 'ams-3', extension: '1003', pin: '', durationHours: 0 }, ADMIN)
  t.equal(open.seat?.expiresAt, undefined, 'no limit without duration or maximum')

  const released: string[] = []
  const controller = new AbortController()
  const watching = (async () => {
    for await (const m of b.core.watchSeats({ afterRevision: userMax.seat!.epoch, siteId: '' }, controller.signal)) {
      if (m.message?.$case !== 'changes') continue
      for (const e of m.message.value.events) if (e.reason === ReleaseReason.RELEASE_REASON_TIME_LIMIT) released.push(e.seat!.userId)
    }
  })()

  // 90 minutes later: bob's hour is over, alice's two hours are not.
  offset = 90 * 60_000
  // The running leader's timer is set for real time an hour away; a new leader sweeps at once.
  await leader.core.resign()
  const next = await leaderOf([a, b])
  t.not(next.id, leader.id)
  await waitFor(() => released.includes('bob'), 5_000, 'bob to expire')
  t.equal((await next.core.getSeat({ target: { $case: 'userId', value: 'bob' } })).seat, undefined, 'the expired seat is gone')
  t.ok((await next.core.getSeat({ target: { $case: 'userId', value: 'alice' } })).seat, 'the seat with time left stays')
  t.ok((await next.core.getSeat({ target: { $case: 'userId', value: 'carol' } })).seat, 'the seat without a limit stays')

  // (The leader's own timer, armed at the nearest expiry, is tested in test/unit/registry-seat-expiry.test.ts:
  // seat limits are whole hours, which a test cannot wait for in real time.)
  controller.abort()
  await watching
})
