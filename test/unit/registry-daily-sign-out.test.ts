import t from 'tap'
import { isTimeZone, nextDailySignOut } from '@flexseat/registry'

// Instants are written in UTC; the comments give the local time.
const at = (iso: string): number => Date.parse(iso)
const iso = (ms: number): string => new Date(ms).toISOString()

t.test('an ordinary day: the local time, today if still ahead, else tomorrow', async (t) => {
  // 2026-12-07 in Berlin is CET (+01:00).
  t.equal(iso(nextDailySignOut(at('2026-12-07T08:00:00Z'), '19:00', 'Europe/Berlin')), '2026-12-07T18:00:00.000Z')
  t.equal(iso(nextDailySignOut(at('2026-12-07T18:00:00Z'), '19:00', 'Europe/Berlin')), '2026-12-08T18:00:00.000Z', 'strictly after: not the same instant again')
  t.equal(iso(nextDailySignOut(at('2026-12-07T20:00:00Z'), '19:00', 'Europe/Berlin')), '2026-12-08T18:00:00.000Z')
  t.equal(iso(nextDailySignOut(at('2026-12-07T20:00:00Z'), '00:30', 'America/Chicago')), '2026-12-08T06:30:00.000Z', 'Chicago is CST (-06:00)')
  t.equal(iso(nextDailySignOut(at('2026-12-07T20:00:00Z'), '19:00:04', 'UTC')), '2026-12-08T19:00:04.000Z', 'seconds are kept')
})

t.test('Europe/Berlin spring forward (2026-03-29, 02:00 CET -> 03:00 CEST): 02:30 does not exist; the sign-out is at 03:00, once', async (t) => {
  // Seated the evening before, 22:00 CET.
  const first = nextDailySignOut(at('2026-03-28T21:00:00Z'), '02:30', 'Europe/Berlin')
  t.equal(iso(first), '2026-03-29T01:00:00.000Z', '03:00 CEST, the instant the clocks pass 02:30')
  const second = nextDailySignOut(first, '02:30', 'Europe/Berlin')
  t.equal(iso(second), '2026-03-30T00:30:00.000Z', 'the next one is the next day at 02:30 CEST: no second sign-out on the 29th')
  // Seated at 03:10 CEST, after the jump: the 29th's sign-out has passed.
  t.equal(iso(nextDailySignOut(at('2026-03-29T01:10:00Z'), '02:30', 'Europe/Berlin')), '2026-03-30T00:30:00.000Z')
})

t.test('Europe/Berlin fall back (2026-10-25, 03:00 CEST -> 02:00 CET): 02:30 happens twice; the sign-out is at the first, once', async (t) => {
  const first = nextDailySignOut(at('2026-10-24T20:00:00Z'), '02:30', 'Europe/Berlin')
  t.equal(iso(first), '2026-10-25T00:30:00.000Z', '02:30 CEST, the first occurrence')
  const second = nextDailySignOut(first, '02:30', 'Europe/Berlin')
  t.equal(iso(second), '2026-10-26T01:30:00.000Z', 'not 02:30 CET an hour later: the next is the 26th, 02:30 CET')
  // Seated between the two occurrences (02:45 CEST): the day's sign-out has passed.
  t.equal(iso(nextDailySignOut(at('2026-10-25T00:45:00Z'), '02:30', 'Europe/Berlin')), '2026-10-26T01:30:00.000Z')
})

t.test('America/Chicago spring forward (2026-03-08, 02:00 CST -> 03:00 CDT): 02:30 does not exist; the sign-out is at 03:00, once', async (t) => {
  const first = nextDailySignOut(at('2026-03-08T06:00:00Z'), '02:30', 'America/Chicago')
  t.equal(iso(first), '2026-03-08T08:00:00.000Z', '03:00 CDT')
  t.equal(iso(nextDailySignOut(first, '02:30', 'America/Chicago')), '2026-03-09T07:30:00.000Z', 'then 02:30 CDT the next day')
})

t.test('America/Chicago fall back (2026-11-01, 02:00 CDT -> 01:00 CST): 01:30 happens twice, 02:30 once; each signs out once', async (t) => {
  const first = nextDailySignOut(at('2026-11-01T04:00:00Z'), '01:30', 'America/Chicago')
  t.equal(iso(first), '2026-11-01T06:30:00.000Z', '01:30 CDT, the first occurrence')
  t.equal(iso(nextDailySignOut(first, '01:30', 'America/Chicago')), '2026-11-02T07:30:00.000Z', 'not 01:30 CST an hour later')
  const late = nextDailySignOut(at('2026-11-01T04:00:00Z'), '02:30', 'America/Chicago')
  t.equal(iso(late), '2026-11-01T08:30:00.000Z', '02:30 CST (exists once that day)')
  t.equal(iso(nextDailySignOut(late, '02:30', 'America/Chicago')), '2026-11-02T08:30:00.000Z')
})

t.test('over a whole year, one sign-out per local day in both zones', async (t) => {
  for (const zone of ['Europe/Berlin', 'America/Chicago']) {
    for (const time of ['02:30', '01:30', '19:00']) {
      let instant = at('2026-01-01T12:00:00Z')
      const days = new Set<string>()
      for (let i = 0; i < 365; i++) {
        const next = nextDailySignOut(instant, time, zone)
        const day = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(next)
        if (days.has(day)) t.fail(`${zone} ${time}: a second sign-out on ${day}`)
        days.add(day)
        if (next - instant > 25 * 3_600_000) t.fail(`${zone} ${time}: a day skipped after ${iso(instant)}`)
        instant = next
      }
      t.equal(days.size, 365, `${zone} ${time}: 365 distinct days`)
    }
  }
})

t.test('bad input', async (t) => {
  t.throws(() => nextDailySignOut(0, '25:00', 'Europe/Berlin'), RangeError)
  t.throws(() => nextDailySignOut(0, '19:00', 'Mars/Olympus'), RangeError)
  t.equal(isTimeZone('Europe/Berlin'), true)
  t.equal(isTimeZone('Mars/Olympus'), false)
  t.equal(isTimeZone(''), false)
})
