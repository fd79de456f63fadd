// A seat renewed at its desk (seat-renewal.ts): the time limit runs again from the renewal, the
// idle clock restarts, and the daily sign-out — a fixed time that clears desks overnight — is
// never moved to the next day: only one due within warn_minutes is postponed, to the renewal +
// 2 x warn_minutes, and a postponed one is never pushed later by a renewal outside its window.
// Berlin is UTC+1 in December: 19:00 local is 18:00Z.
import t from 'tap'
import { renewedDeadlines, renewedSeat, resolvePolicy, seatEnd } from '@flexseat/registry'
import { ReleaseReason } from '@flexseat/proto'

const SITE = { id: 'berlin', timezone: 'Europe/Berlin' }
const policy = (p: { maxHours?: number; dailySignOut?: string; idleMinutes?: number; warnMinutes?: number }) => resolvePolicy({ site: { ...SITE, policy: p }, user: { id: 'ada', maxSeatHours: 0 } })
const at = (iso: string) => Date.parse(iso)

t.test('the time limit starts again from the renewal; the idle limit is kept', async (t) => {
  const d = renewedDeadlines(policy({ maxHours: 8, idleMinutes: 30 }), at('2026-12-07T15:00:00Z'), { dailyAt: undefined })
  t.equal(d.expiresAt, '2026-12-07T23:00:00.000Z', '8 h from the renewal')
  t.equal(d.idleSeconds, 1_800)
  t.equal(d.dailyAt, undefined, 'no daily sign-out without one in the policy')
})

t.test('the daily sign-out: kept far off, postponed within the warning, never to the next day', async (t) => {
  const daily = policy({ dailySignOut: '19:00', warnMinutes: 15 })
  const stored = { dailyAt: '2026-12-07T18:00:00.000Z' }
  t.equal(renewedDeadlines(daily, at('2026-12-07T13:00:00Z'), stored).dailyAt, '2026-12-07T18:00:00.000Z', 'at 14:00 local: still 19:00')
  t.equal(renewedDeadlines(daily, at('2026-12-07T17:50:00Z'), stored).dailyAt, '2026-12-07T18:20:00.000Z', 'at 18:50 (warned): 19:20, the renewal + 2 x 15 min')
  t.equal(renewedDeadlines(daily, at('2026-12-07T17:45:00Z'), stored).dailyAt, '2026-12-07T18:15:00.000Z', 'at 18:45, the warning\'s first instant: postponed too')
  t.equal(renewedDeadlines(daily, at('2026-12-07T17:44:00Z'), stored).dailyAt, '2026-12-07T18:00:00.000Z', 'at 18:44, before the warning: not postponed')
  const postponed = { dailyAt: '2026-12-07T18:20:00.000Z' }
  t.equal(renewedDeadlines(daily, at('2026-12-07T18:02:00Z'), postponed).dailyAt, '2026-12-07T18:20:00.000Z', 'at 19:02 with 19:20 due: kept, not tomorrow\'s 19:00')
  t.equal(renewedDeadlines(daily, at('2026-12-07T18:10:00Z'), postponed).dailyAt, '2026-12-07T18:40:00.000Z', 'at 19:10, warned again: 19:40')
  const noWarning = policy({ dailySignOut: '19:00' })
  t.equal(renewedDeadlines(noWarning, at('2026-12-07T17:59:00Z'), stored).dailyAt, '2026-12-07T18:00:00.000Z', 'without warn_minutes: no postponement')
  t.equal(renewedDeadlines(daily, at('2026-12-07T13:00:00Z'), { dailyAt: undefined }).dailyAt, '2026-12-07T18:00:00.000Z', 'a seat without one gets the policy\'s next')
})

t.test('the renewed seat: same desk, start and pending; new deadlines; the idle clock from the renewal', async (t) => {
  const seat = {
    userId: 'ada', extension: '1001', displayName: 'Ada', deviceId: 'ber-1', siteId: 'berlin', since: '2026-12-07T09:00:00.000Z', via: 'phone' as const,
    expiresAt: '2026-12-07T17:00:00.000Z', dailyAt: '2026-12-07T18:00:00.000Z', dailySignOut: '19:00', idleSeconds: 60, deferSeconds: 10, warnSeconds: 5,
  }
  const now = at('2026-12-07T16:00:00Z')
  const renewed = renewedSeat(seat, renewedDeadlines(policy({ maxHours: 8, idleMinutes: 30 }), now, seat), now)
  t.same(renewed, {
    userId: 'ada', extension: '1001', displayName: 'Ada', deviceId: 'ber-1', siteId: 'berlin', since: '2026-12-07T09:00:00.000Z', via: 'phone',
    expiresAt: '2026-12-08T00:00:00.000Z', idleSeconds: 1_800, deferSeconds: 14_400, renewedAt: '2026-12-07T16:00:00.000Z',
  }, 'the policy now: no daily sign-out, no warning any more')
  t.match(seatEnd(renewed, undefined), { at: at('2026-12-07T16:30:00Z'), reason: ReleaseReason.RELEASE_REASON_IDLE }, 'idle counted from the renewal, not the start')
  t.match(seatEnd(renewed, { calls: {}, lastActivity: '2026-12-07T16:10:00.000Z' }), { at: at('2026-12-07T16:40:00Z') }, 'a later call restarts it again')
})
