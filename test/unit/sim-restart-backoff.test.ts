import t from 'tap'
import { RestartBackoff } from '@flexseat/sim'

// How long the launcher waits before restarting a process that died: 1 s, doubling after every
// crash that follows a short run, at most 30 s; a run of a minute starts over.
t.test('the delay doubles for a crash loop, is capped, and starts over after a stable run', async (t) => {
  const backoff = new RestartBackoff()
  t.same([backoff.next(200), backoff.next(1_500), backoff.next(3_000), backoff.next(100), backoff.next(100), backoff.next(100), backoff.next(100)], [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000])
  t.equal(backoff.attempt, 7, 'seven crashes in a row')
  t.equal(backoff.next(60_000), 1_000, 'after a run of a minute: 1 s again')
  t.equal(backoff.attempt, 1)
  t.equal(backoff.next(59_999), 2_000, 'a shorter run counts as part of the loop')
  const custom = new RestartBackoff({ baseMs: 100, maxMs: 250, stableMs: 1_000 })
  t.same([custom.next(0), custom.next(0), custom.next(0), custom.next(1_000)], [100, 200, 250, 100])
})
