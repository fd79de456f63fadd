// AuthGuard (auth-guard.ts) on a moved clock: the delays double per failure up to the cap, the
// ban comes at the threshold and ends after ban_seconds, failures leave the window, an account
// under attack from many sources gets its failures delayed but never its right credentials, the
// account's known source is heard through a ban, and the memory stays bounded.
import t from 'tap'
import { DEFAULT_SIP_SECURITY } from '@flexseat/config'
import { AuthGuard, MAX_TRACKED } from '@flexseat/sip-node'

const config = { ...DEFAULT_SIP_SECURITY, failuresBeforeDelay: 3, failuresBeforeBan: 6, accountFailuresBeforeDelay: 4, failureWindowSeconds: 60, firstDelayMs: 100, maxDelayMs: 400, banSeconds: 30 }

function harness(overrides: Partial<typeof config> = {}) {
  let clock = 1_000_000
  const bans: { source: string; failures: number }[] = []
  const delayed: string[] = []
  const guard = new AuthGuard({ ...config, ...overrides }, { banned: (e) => bans.push(e), delayed: (e) => delayed.push(e.source) }, () => clock)
  return { guard, bans, delayed, advance: (ms: number) => (clock += ms) }
}

t.test('delays double from the threshold, capped; the ban comes at its threshold and ends', async (t) => {
  const { guard, bans, delayed, advance } = harness()
  const delays: number[] = []
  for (let i = 0; i < 5; i++) {
    guard.failed('198.51.100.7', 'desk-1')
    delays.push(guard.delayFor('198.51.100.7', 'desk-1', true))
  }
  t.same(delays, [0, 0, 100, 200, 400], 'no delay for 2 failures, then 100, 200, 400 ms')
  t.equal(guard.delayFor('198.51.100.7', undefined, false), 400, 'a challenge to the source is held too')
  t.same(delayed, ['198.51.100.7'], 'the delayed state is reported once')
  t.equal(guard.admit('198.51.100.7', 'desk-1').kind, 'pass', 'not banned at 5')
  guard.failed('198.51.100.7', 'desk-1')
  t.same(bans, [{ source: '198.51.100.7', failures: 6, banSeconds: 30 }], 'banned at 6, reported once')
  t.equal(guard.admit('198.51.100.7', 'desk-1').kind, 'banned')
  t.equal(guard.admit('198.51.100.7', undefined).kind, 'banned', 'without credentials too')
  t.equal(guard.admit('198.51.100.8', 'desk-1').kind, 'pass', 'another source is heard')
  t.equal(guard.bannedSources, 1)
  advance(30_001)
  t.equal(guard.admit('198.51.100.7', 'desk-1').kind, 'pass', 'the ban ends after ban_seconds')
  t.equal(guard.delayFor('198.51.100.7', undefined, false), 0, 'with a clean slate')
  t.equal(guard.bannedSources, 0)
})

t.test('failures older than the window no longer count', async (t) => {
  const { guard, advance } = harness()
  for (let i = 0; i < 3; i++) guard.failed('198.51.100.7', undefined)
  t.equal(guard.delayFor('198.51.100.7', undefined, false), 100)
  advance(60_001)
  t.equal(guard.delayFor('198.51.100.7', undefined, false), 0)
})

t.test('an account guessed from many sources: its failures are delayed, its phone is not', async (t) => {
  const { guard, bans } = harness()
  for (let i = 0; i < 5; i++) guard.failed(`203.0.113.${i}`, 'desk-1')
  t.equal(guard.delayFor('203.0.113.99', 'desk-1', true), 200, "a failure on the account is held, from any source")
  t.equal(guard.delayFor('192.0.2.10', 'desk-1', false), 0, "the phone's challenge is not")
  t.equal(guard.admit('192.0.2.10', 'desk-1').kind, 'pass', 'and the account is never locked')
  t.same(bans, [], 'no source banned: each failed once')
})

t.test('an over-long username is counted as its digest: the same count, a bounded key', async (t) => {
  const { guard } = harness()
  const long = 'x'.repeat(60_000)
  for (let i = 0; i < 5; i++) guard.failed(`203.0.113.${i}`, long)
  t.equal(guard.delayFor('203.0.113.99', long, true), 200, 'its failures are held as a short name\'s are')
  t.equal(guard.delayFor('203.0.113.99', `${long}y`, true), 0, 'another long name has its own count')
})

t.test("the account's known source is heard through a ban on its address (the phone behind the guesser's NAT)", async (t) => {
  const { guard } = harness()
  guard.succeeded('192.0.2.10', 'desk-1')
  for (let i = 0; i < 6; i++) guard.failed('192.0.2.10', 'desk-2')
  t.equal(guard.admit('192.0.2.10', 'desk-2').kind, 'banned', 'the guessed account is refused from there')
  t.equal(guard.admit('192.0.2.10', 'desk-1').kind, 'pass', 'the phone that authenticated from there is heard')
})

t.test('disabled: nothing is delayed or banned', async (t) => {
  const { guard, bans } = harness({ enabled: false })
  for (let i = 0; i < 10; i++) guard.failed('198.51.100.7', 'desk-1')
  t.equal(guard.delayFor('198.51.100.7', 'desk-1', true), 0)
  t.equal(guard.admit('198.51.100.7', 'desk-1').kind, 'pass')
  t.same(bans, [])
})

t.test('memory is bounded: the least recently failing sources are forgotten', async (t) => {
  const { guard } = harness({ failuresBeforeDelay: 1, failuresBeforeBan: 2 })
  guard.failed('first', undefined)
  for (let i = 0; i < MAX_TRACKED; i++) guard.failed(`s${i}`, undefined)
  t.equal(guard.delayFor('first', undefined, false), 0, 'the oldest source was forgotten')
  t.equal(guard.delayFor(`s${MAX_TRACKED - 1}`, undefined, false), 100, 'the newest is remembered')
})

t.test('hold() waits on a timer and counts what waits', async (t) => {
  const { guard } = harness()
  // The guard's timer is unref'd (it never holds up an exit): this one keeps the test alive.
  const alive = setInterval(() => undefined, 1_000)
  t.teardown(() => clearInterval(alive))
  const held = guard.hold(20)
  t.equal(guard.delayedAnswers, 1)
  await held
  t.equal(guard.delayedAnswers, 0)
})
