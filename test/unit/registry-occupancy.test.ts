import t from 'tap'
import { LocalClock, occupancy, parseDate } from '@flexseat/registry'

// The occupancy report's arithmetic (occupancy.ts): local days and hours in the site's zone across
// both changes of clock, seats clipped to the period and to now, the peak, the unused desks. The
// expected instants are written out in UTC from the zones' published rules (Europe/Berlin changes
// at 01:00 UTC on the last Sunday of March and October; America/Chicago at 08:00 / 07:00 UTC on
// the second Sunday of March and the first of November), not computed by the code under test.

const H = 3_600_000
const utc = (iso: string): number => Date.parse(iso)
const day = (date: string): number => parseDate(date)!
const desks = new Map([['d1', 'Desk 1'], ['d2', 'Desk 2'], ['d3', 'Desk 3']])

t.test('dates: only real calendar dates', async (t) => {
  t.equal(parseDate('2026-12-01'), Date.UTC(2026, 11, 1) / 86_400_000)
  for (const bad of ['2026-02-30', '2026-13-01', '2026-1-01', '20261201', '', '2026-12-01T00:00']) t.equal(parseDate(bad), undefined, bad)
})

t.test('local midnights across the changes of clock', async (t) => {
  const berlin = new LocalClock('Europe/Berlin')
  t.equal(berlin.startOf(day('2027-03-28')), utc('2027-03-27T23:00:00Z'), 'Berlin spring-forward day starts at CET midnight')
  t.equal(berlin.startOf(day('2027-03-29')), utc('2027-03-28T22:00:00Z'), 'and the next at CEST midnight: 23 h')
  t.equal(berlin.startOf(day('2026-10-25')), utc('2026-10-24T22:00:00Z'))
  t.equal(berlin.startOf(day('2026-10-26')), utc('2026-10-25T23:00:00Z'), 'fall-back day: 25 h')
  const chicago = new LocalClock('America/Chicago')
  t.equal(chicago.startOf(day('2027-03-14')), utc('2027-03-14T06:00:00Z'))
  t.equal(chicago.startOf(day('2027-03-15')), utc('2027-03-15T05:00:00Z'))
  t.equal(chicago.startOf(day('2026-11-01')), utc('2026-11-01T05:00:00Z'))
  t.equal(chicago.startOf(day('2026-11-02')), utc('2026-11-02T06:00:00Z'))
  const kathmandu = new LocalClock('Asia/Kathmandu')
  t.equal(kathmandu.startOf(day('2026-12-01')), utc('2026-11-30T18:15:00Z'), 'a +05:45 zone')
})

t.test('hours per day and by hour: a whole fall-back day is 25 h, 02:00 counted twice', async (t) => {
  const r = occupancy({
    siteId: 'berlin', timezone: 'Europe/Berlin', fromDay: day('2026-10-24'), toDay: day('2026-10-26'), now: utc('2026-12-07T12:00:00Z'), desks,
    seats: [
      { deviceId: 'd1', start: utc('2026-10-24T22:00:00Z'), end: utc('2026-10-25T23:00:00Z') },
      // Began before the period (Oct 23, 10:00 CEST): counted from the period's start only.
      { deviceId: 'd2', start: utc('2026-10-23T08:00:00Z'), end: utc('2026-10-24T10:30:00Z') },
    ],
  })
  t.same(r.days, ['2026-10-24', '2026-10-25', '2026-10-26'])
  t.same(r.desks.find((d) => d.deviceId === 'd1')?.hours?.perDay, [0, 25, 0])
  t.same(r.desks.find((d) => d.deviceId === 'd2')?.hours?.perDay, [12.5, 0, 0], 'clipped to the period: 00:00 to 12:30 local')
  const byHour = r.desks.find((d) => d.deviceId === 'd1')!.hours!.byHour
  t.equal(byHour[2], 2, 'the repeated hour 02:00–03:00 counts twice')
  t.equal(byHour.reduce((a, b) => a + b, 0), 25)
  t.same(r.branch?.perDay, [12.5, 25, 0])
  t.equal(r.branch?.total, 37.5)
  t.equal(r.peakSeats, 1, 'the two seats never overlap')
  t.same(r.unusedDeviceIds, ['d3'])
})

t.test('a spring-forward day is 23 h, with no 02:00', async (t) => {
  const r = occupancy({
    siteId: 'berlin', timezone: 'Europe/Berlin', fromDay: day('2027-03-28'), toDay: day('2027-03-28'), now: utc('2027-04-07T12:00:00Z'), desks,
    seats: [{ deviceId: 'd1', start: utc('2027-03-27T20:00:00Z'), end: utc('2027-03-29T10:00:00Z') }],
  })
  t.same(r.branch?.perDay, [23])
  t.equal(r.branch?.byHour[2], 0, 'no 02:00 that day')
  t.equal(r.branch?.byHour[3], 1)
  const chicago = occupancy({
    siteId: 'chicago', timezone: 'America/Chicago', fromDay: day('2026-11-01'), toDay: day('2026-11-01'), now: utc('2026-12-07T12:00:00Z'), desks,
    seats: [{ deviceId: 'd1', start: utc('2026-11-01T06:30:00Z'), end: utc('2026-11-01T08:30:00Z') }],
  })
  t.same(chicago.branch?.perDay, [2], 'Chicago fall-back: 01:30 CDT to 02:30 CST is two hours')
  t.equal(chicago.branch?.byHour[1], 1.5, '01:30–02:00 CDT and 01:00–02:00 CST in the 01:00 bucket')
  t.equal(chicago.branch?.byHour[2], 0.5, '02:00–02:30 CST in the 02:00 bucket')
})

t.test('open seats count up to now; the peak and when it began', async (t) => {
  const now = utc('2026-12-02T10:00:00Z') // 11:00 in Berlin on the second day
  const r = occupancy({
    siteId: 'berlin', timezone: 'Europe/Berlin', fromDay: day('2026-12-01'), toDay: day('2026-12-07'), now, desks,
    seats: [
      { deviceId: 'd1', start: utc('2026-12-02T07:00:00Z') },
      { deviceId: 'd2', start: utc('2026-12-02T08:00:00Z'), end: utc('2026-12-02T09:00:00Z') },
      // Ends as the next begins: not at once with it.
      { deviceId: 'd3', start: utc('2026-12-01T08:00:00Z'), end: utc('2026-12-02T07:00:00Z') },
      { deviceId: 'elsewhere', start: utc('2026-11-01T08:00:00Z'), end: utc('2026-11-02T07:00:00Z') },
    ],
  })
  t.equal(r.until?.getTime(), now)
  t.same(r.desks.find((d) => d.deviceId === 'd1')?.hours?.perDay, [0, 3, 0, 0, 0, 0, 0], 'open: up to now, nothing in the future')
  t.equal(r.peakSeats, 2)
  t.equal(r.peakAt?.toISOString(), '2026-12-02T08:00:00.000Z')
  t.same(r.unusedDeviceIds, [], 'every flex desk used')
  t.notOk(r.desks.some((d) => d.deviceId === 'elsewhere'), 'a seat before the period is not a desk of the report')
  t.equal(r.branch?.seats, 3)
})
