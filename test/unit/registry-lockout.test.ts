import t from 'tap'
import { clearDesk, DEFAULT_LOCKOUT, type LockoutPolicy, type LockoutRecord, lockedUntil, lockFor, recordFailure, recordSuccess } from '@flexseat/registry'

// The wrong-PIN counting rules (lockout.ts): per worker and desk, a desk locked for the worker
// only; everywhere only after wrong PINs from several desks; at most clusterMaxFailures per window.
const MIN = 60_000

/** `count` wrong PINs at `desk` from `now` on, a second apart: the last failure and the time after it. */
function fail(record: LockoutRecord | undefined, desk: string, count: number, now: number, policy: LockoutPolicy = DEFAULT_LOCKOUT) {
  let last = recordFailure(record, now, policy, desk)
  for (let i = 1; i < count; i++) last = recordFailure(last.record, now + i * 1_000, policy, desk)
  return { last, now: now + count * 1_000 }
}

t.test('five wrong PINs at one desk lock the worker at that desk only', (t) => {
  t.same(DEFAULT_LOCKOUT, { maxFailures: 5, clusterMaxFailures: 15, windowMs: 15 * MIN, lockMs: 15 * MIN })
  let record: LockoutRecord | undefined
  const left: number[] = []
  let now = 1_000_000
  for (let i = 0; i < 4; i++) {
    const r = recordFailure(record, now, DEFAULT_LOCKOUT, 'desk-a')
    record = r.record
    left.push(r.attemptsLeft)
    t.equal(r.lockedUntil, undefined)
    t.equal(r.deskLockedUntil, undefined)
    now += 1_000
  }
  t.same(left, [4, 3, 2, 1])
  const fifth = recordFailure(record, now, DEFAULT_LOCKOUT, 'desk-a')
  t.equal(fifth.attemptsLeft, 0)
  t.equal(fifth.lockedUntil, undefined, 'not locked everywhere')
  t.equal(fifth.deskLockedUntil?.getTime(), now + 15 * MIN, 'locked at desk-a')
  t.same(lockFor(fifth.record, 'desk-a', now + 1), { scope: 'desk', until: new Date(now + 15 * MIN) })
  t.equal(lockFor(fifth.record, 'desk-b', now + 1), undefined, 'desk-b still takes the PIN')
  t.equal(lockedUntil(fifth.record, now + 1), undefined, 'no cluster-wide lock (GetUser shows none)')
  t.equal(lockFor(fifth.record, 'desk-a', now + 15 * MIN), undefined, 'the desk lock ends')
  const after = recordFailure(fifth.record, now + 16 * MIN, DEFAULT_LOCKOUT, 'desk-a')
  t.equal(after.attemptsLeft, 4, 'after the lock, a fresh count at the desk')
  t.end()
})

t.test('a desk lock starts a fresh count at that desk even within the window', (t) => {
  const policy = { maxFailures: 2, clusterMaxFailures: 100, windowMs: 60 * MIN, lockMs: MIN }
  const { last, now } = fail(undefined, 'desk-a', 2, 0, policy)
  t.ok(last.deskLockedUntil, 'two lock desk-a')
  const again = recordFailure(last.record, now + 2 * MIN, policy, 'desk-a')
  t.equal(again.attemptsLeft, 1, 'the failures before the lock no longer count at the desk')
  t.equal(again.deskLockedUntil, undefined)
  t.end()
})

t.test('one desk alone never locks the worker everywhere', (t) => {
  // Even with a per-desk count above the cluster-wide one.
  const policy = { maxFailures: 20, clusterMaxFailures: 3, windowMs: 15 * MIN, lockMs: 15 * MIN }
  const { last } = fail(undefined, 'desk-a', 19, 0, policy)
  t.equal(last.lockedUntil, undefined, '19 wrong PINs from one desk')
  t.equal(last.attemptsLeft, 1)
  t.end()
})

t.test('wrong PINs from three desks lock the worker everywhere, at 15', (t) => {
  let now = 0
  let record: LockoutRecord | undefined
  for (const desk of ['desk-a', 'desk-b']) {
    const r = fail(record, desk, 5, now)
    t.ok(r.last.deskLockedUntil, `${desk} locked for the worker`)
    t.equal(r.last.lockedUntil, undefined, 'not everywhere yet')
    record = r.last.record
    now = r.now
  }
  t.equal(lockFor(record, 'desk-c', now)?.scope, undefined, 'desk-c still takes the PIN')
  const four = fail(record, 'desk-c', 4, now)
  t.equal(four.last.lockedUntil, undefined, '14 wrong PINs: not yet')
  t.equal(four.last.attemptsLeft, 1)
  const fifteenth = recordFailure(four.last.record, four.now, DEFAULT_LOCKOUT, 'desk-c')
  t.equal(fifteenth.lockedUntil?.getTime(), four.now + 15 * MIN, 'the 15th locks the worker everywhere')
  t.equal(fifteenth.deskLockedUntil, undefined, 'reported as the cluster-wide lock')
  for (const desk of ['desk-a', 'desk-d', '']) t.equal(lockFor(fifteenth.record, desk, four.now + 1)?.scope, 'worker', `refused at ${desk || 'ChangePin'}`)
  t.same(fifteenth.record, { failures: [], lockedUntil: four.now + 15 * MIN }, 'a fresh count after the lock')
  t.end()
})

t.test('at most 15 wrong PINs per worker in any 15 minutes, from any number of desks', (t) => {
  // An attacker with credentials of 40 desks, trying one PIN a second whenever any desk may.
  let record: LockoutRecord | undefined
  const wrong: number[] = []
  for (let now = 0; now < 60 * MIN; now += 1_000) {
    const desk = `desk-${(now / 1_000) % 40}`
    if (lockFor(record, desk, now)) continue
    record = recordFailure(record, now, DEFAULT_LOCKOUT, desk).record
    wrong.push(now)
  }
  let most = 0
  for (const start of wrong) most = Math.max(most, wrong.filter((at) => at >= start && at < start + 15 * MIN).length)
  t.equal(most, 15, `at most 15 in any 15 minutes (${wrong.length} in an hour)`)
  t.end()
})

t.test('failures older than the window do not count', (t) => {
  const policy = { maxFailures: 3, windowMs: 10_000, lockMs: 60_000 }
  let r = recordFailure(undefined, 0, policy, 'd')
  r = recordFailure(r.record, 5_000, policy, 'd')
  t.equal(r.attemptsLeft, 1)
  r = recordFailure(r.record, 12_000, policy, 'd')
  t.equal(r.attemptsLeft, 1, 'the failure at 0 fell out of the window')
  t.equal(r.deskLockedUntil, undefined)
  r = recordFailure(r.record, 13_000, policy, 'd')
  t.equal(r.deskLockedUntil?.getTime(), 73_000, 'three within ten seconds lock the desk')
  t.equal(lockedUntil(undefined, 0), undefined)
  t.end()
})

t.test('a right PIN forgets that desk only; an administrator clears one desk', (t) => {
  const a = fail(undefined, 'desk-a', 5, 0)
  const b = fail(a.last.record, 'desk-b', 3, a.now)
  const right = recordSuccess(b.last.record, b.now, DEFAULT_LOCKOUT, 'desk-b')
  t.ok(lockFor(right, 'desk-a', b.now), 'the attacker\'s desk stays locked after the worker signs in elsewhere')
  t.equal(recordFailure(right, b.now + 1, DEFAULT_LOCKOUT, 'desk-c').attemptsLeft, 4, 'a third desk has its own count')
  t.equal(right?.failures.length, 5, 'the right PIN at desk-b took its 3 off the cluster-wide count')
  const cleared = clearDesk(a.last.record, a.now, DEFAULT_LOCKOUT, 'desk-a')
  t.equal(cleared, undefined, 'nothing left after clearing the only desk')
  t.equal(recordSuccess({ failures: [] }, 0, DEFAULT_LOCKOUT, 'x'), undefined)
  const legacy: LockoutRecord = { failures: [1_000, 2_000] }
  t.equal(recordFailure(legacy, 3_000, DEFAULT_LOCKOUT, '').attemptsLeft, 2, 'a record from before per-desk counting: its failures count as the unnamed desk')
  t.equal(recordFailure(legacy, 3_000, DEFAULT_LOCKOUT, 'desk-a').attemptsLeft, 4)
  t.end()
})
