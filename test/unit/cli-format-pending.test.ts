// The CLI shows a seat that waits for another branch (bounded revocation) as pending.
import t from 'tap'
import { describeSeat, formatSeats } from '@flexseat/cli'
import { type Seat, SeatVia } from '@flexseat/proto'

const seat: Seat = {
  userId: 'ada',
  extension: '1001',
  displayName: 'Ada Lovelace',
  deviceId: 'desk-3',
  siteId: 'berlin',
  since: new Date('2026-11-22T03:20:00.123Z'),
  expiresAt: undefined,
  via: SeatVia.SEAT_VIA_PHONE,
  epoch: '42',
  pending: [{ siteId: 'amsterdam', deviceId: 'ams-1', epoch: '40', since: new Date('2026-11-22T03:20:00.123Z'), traceParent: '' }],
  dailySignOutAt: undefined,
  idleSeconds: 0,
  dailySignOut: '',
  warnSeconds: 0, renewedAt: undefined, profileChangedAt: undefined,
}

t.test('a pending seat names the branches it waits for; an active one says nothing', async (t) => {
  t.match(describeSeat(seat), /, epoch 42, pending: amsterdam$/)
  t.notMatch(describeSeat({ ...seat, pending: [] }), /pending/)
  t.match(formatSeats([seat]), /berlin \(pending: amsterdam\)/)
  t.notMatch(formatSeats([{ ...seat, pending: [] }]), /pending/)
})
