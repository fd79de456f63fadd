import t from 'tap'
import { localTime, seatEndWords } from '../../packages/portal/web/format'

// The worker's page says until when her seat lasts and which rule of its sign-out policy ends it,
// from the deadlines stored with the seat (issue 19), in the site's time zone.

const since = '2026-12-07T08:00:00.000Z' // 09:00 in Berlin
const now = new Date('2026-12-07T09:00:00.000Z')

t.test('the earlier of the time limit and the daily sign-out, and its rule', async (t) => {
  // 19:00 Berlin is 18:00Z; a limit of 8 h ends at 16:00Z (17:00 Berlin).
  // Guard tried: the comparison reversed (the later one): "until 19:00 — daily sign-out" for the first.
  t.equal(seatEndWords({ since, expiresAt: '2026-12-07T16:00:00.000Z', dailySignOutAt: '2026-12-07T18:00:00.000Z', idleSeconds: 0 }, 'Europe/Berlin', now), 'until 17:00 — time limit 8 h')
  t.equal(seatEndWords({ since, expiresAt: '2026-12-07T20:00:00.000Z', dailySignOutAt: '2026-12-07T18:00:00.000Z', idleSeconds: 0 }, 'Europe/Berlin', now), 'until 19:00 — daily sign-out')
  t.equal(seatEndWords({ since, expiresAt: null, dailySignOutAt: '2026-12-07T18:00:00.000Z', idleSeconds: 0 }, 'America/Chicago', now), 'until 12:00 — daily sign-out', 'in the zone given')
  t.equal(seatEndWords({ since, expiresAt: '2026-12-07T09:30:00.000Z', dailySignOutAt: null, idleSeconds: 1_800 }, 'UTC', now), 'until 09:30 — time limit 1.5 h; ends after 30 min without calls')
  t.equal(seatEndWords({ since, expiresAt: null, dailySignOutAt: null, idleSeconds: 1_800 }, 'UTC', now), 'ends after 30 min without calls')
  t.equal(seatEndWords({ since, expiresAt: null, dailySignOutAt: null, idleSeconds: 0 }, 'UTC', now), '', 'nothing ends it')
})

t.test('another day names its day', async (t) => {
  t.equal(localTime('2026-12-08T18:00:00.000Z', 'Europe/Berlin', now), 'Tue 8 Dec, 19:00')
  t.equal(localTime('2026-12-07T22:30:00.000Z', 'Europe/Berlin', now), '23:30', 'today there: the time only')
})

t.test('a renewed seat: its time limit counts from the renewal', async (t) => {
  // Signed in at 08:00Z, renewed at 10:00Z with a limit of 2 h: until 12:00Z (13:00 Berlin).
  // Guard tried: the length counted from `since` as before: "time limit 4 h".
  const seat = { since, expiresAt: '2026-12-07T12:00:00.000Z', dailySignOutAt: null, idleSeconds: 0 }
  t.equal(seatEndWords({ ...seat, renewedAt: '2026-12-07T10:00:00.000Z' }, 'Europe/Berlin', now), 'until 13:00 — time limit 2 h')
  t.equal(seatEndWords({ ...seat, renewedAt: null }, 'Europe/Berlin', now), 'until 13:00 — time limit 4 h', 'never renewed: from the sign-in')
})
