// The desk's warning before a policy end (seat-warnings.ts), driven through the real SeatView:
// sent warn_seconds before the earlier of the time limit and the daily sign-out, in the site's
// time zone; cleared when the seat ends or changes first; none without warn_seconds.
import t from 'tap'
import { pino } from 'pino'
import type { SiteConfig } from '@flexseat/config'
import { ReleaseReason, type Seat, SeatEventType, type WatchSeatsResponse } from '@flexseat/proto'
import { scheduledEnd, SeatView, SeatWarnings, warningText } from '@flexseat/sip-node'

const SITE = { id: 'amsterdam', name: 'Amsterdam', timezone: 'Europe/Amsterdam', featureCodes: { login: '*51', changePin: '*52' } } as SiteConfig
function seat(userId: string, deviceId: string, epoch: string, extra: Partial<Seat>): Seat {
  return { userId, extension: '1001', displayName: '', deviceId, siteId: 'amsterdam', since: new Date(), expiresAt: undefined, via: 1, epoch, pending: [], dailySignOutAt: undefined, idleSeconds: 0, dailySignOut: '', warnSeconds: 0, renewedAt: undefined, profileChangedAt: undefined, ...extra }
}
const snapshot = (seats: Seat[]): WatchSeatsResponse => ({ message: { $case: 'snapshot', value: { reason: 1, seats, revision: '10' } } })
const released = (s: Seat, revision: string): WatchSeatsResponse => ({ message: { $case: 'changes', value: { revision, events: [{ type: SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat: s, reason: ReleaseReason.RELEASE_REASON_LOGOUT, revision }] } } })

t.test('the text and the end it names', async (t) => {
  const limit = new Date('2026-12-07T16:00:00Z')
  const daily = new Date('2026-12-07T18:00:00Z')
  t.same(scheduledEnd(seat('a', 'd', '1', { expiresAt: limit, dailySignOutAt: daily })), { at: limit.getTime(), why: 'time limit' })
  t.same(scheduledEnd(seat('a', 'd', '1', { expiresAt: new Date('2026-12-08T00:00:00Z'), dailySignOutAt: daily })), { at: daily.getTime(), why: 'daily sign-out' })
  t.equal(scheduledEnd(seat('a', 'd', '1', { idleSeconds: 60 })), undefined, 'an idle end moves: not announced')
  t.equal(warningText({ at: daily.getTime(), why: 'daily sign-out' }, 'Europe/Amsterdam'), 'Signing out at 19:00 (daily sign-out)')
  t.equal(warningText({ at: daily.getTime(), why: 'daily sign-out' }, 'Europe/Amsterdam', '*51*1001*PIN'), 'Signing out at 19:00 (daily sign-out) — dial *51*1001*PIN to stay')
})

t.test('warned warn_seconds ahead; not after the seat ended; not without warn_seconds', async (t) => {
  const view = new SeatView()
  const sent: [string, string][] = []
  const warnings = SeatWarnings.start({ site: SITE, view, messenger: { send: async (deviceId, text) => void sent.push([deviceId, text]) }, logger: pino({ level: 'silent' }) })
  t.teardown(() => warnings.stop())
  const soon = Date.now() + 1_200
  const warned = seat('ada', 'ams-1', '5', { expiresAt: new Date(soon), warnSeconds: 1 })
  const ended = { ...seat('alan', 'ams-2', '6', { expiresAt: new Date(soon), warnSeconds: 1 }), userId: 'alan' }
  const silent = { ...seat('grace', 'ams-3', '7', { expiresAt: new Date(soon) }), userId: 'grace' }
  view.apply(snapshot([warned, ended, silent]))
  view.apply(released(ended, '11'))
  const deadline = Date.now() + 5_000
  while (sent.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(sent, [['ams-1', warningText({ at: soon, why: 'time limit' }, 'Europe/Amsterdam', '*51*1001*PIN')]], 'only the seat that still has its end and a warning')
})
