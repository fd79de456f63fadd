import t from 'tap'
import { DEFAULT_LOCKOUT, type LockoutRecord, lockedUntil, recordFailure } from '@flexseat/registry'

t.test('five failures within the window lock for the lock time', (t) => {
  t.same(DEFAULT_LOCKOUT, { maxFailures: 5, windowMs: 15 * 60_000, lockMs: 15 * 60_000 })
  let record: LockoutRecord | undefined
  const left: number[] = []
  let now = 1_000_000
  for (let i = 0; i < 4; i++) {
    const r = recordFailure(record, now, DEFAULT_LOCKOUT)
    record = r.record
    left.push(r.attemptsLeft)
    t.equal(r.lockedUntil, undefined)
    now += 1_000
  }
  t.same(left, [4, 3, 2, 1])
  const fifth = recordFailure(record, now, DEFAULT_LOCKOUT)
  t.equal(fifth.attemptsLeft, 0)
  t.equal(fifth.lockedUntil?.getTime(), now + 15 * 60_000)
  t.equal(lockedUntil(fifth.record, now + 1)?.getTime(), now + 15 * 60_000, 'locked')
  t.equal(lockedUntil(fifth.record, now + 15 * 60_000), undefined, 'the lock ends')
  const after = recordFailure(fifth.record, now + 16 * 60_000, DEFAULT_LOCKOUT)
  t.equal(after.attemptsLeft, 4, 'after the lock, a fresh count')
  t.end()
})

t.test('failures older than the window do not count', (t) => {
  const policy = { maxFailures: 3, windowMs: 10_000, lockMs: 60_000 }
  let r = recordFailure(undefined, 0, policy)
  r = recordFailure(r.record, 5_000, policy)
  t.equal(r.attemptsLeft, 1)
  r = recordFailure(r.record, 12_000, policy)
  t.equal(r.attemptsLeft, 1, 'the failure at 0 fell out of the window')
  t.equal(r.lockedUntil, undefined)
  r = recordFailure(r.record, 13_000, policy)
  t.equal(r.lockedUntil?.getTime(), 73_000, 'three within ten seconds lock')
  t.equal(lockedUntil(undefined, 0), undefined)
  t.end()
})
