import t from 'tap'
import { checkPhones, DEFAULT_PHONE_BOUND_MS, type PhoneEvent } from '@flexseat/history-check'

// At the phones (phones.ts): two desks acting as one worker beyond the bound are caught.

const e = (atMs: number, deviceId: string, event: PhoneEvent['event'], userId = 'alice'): PhoneEvent => ({ atMs, deviceId, event, userId })

t.test('a handover within the bound passes; its overlap is the figure', async (t) => {
  const events = [e(0, 'ams-1', 'presenting'), e(100, 'ams-1', 'ringing'), e(1000, 'ber-1', 'presenting'), e(1004, 'ams-1', 'revoked'), e(1500, 'ber-1', 'ringing'), e(2000, 'ams-1', 'presenting', 'bob')]
  const res = checkPhones(events, { boundMs: 250 })
  t.same(res.violations, [])
  t.equal(res.maxDoubleMs, 4, 'the old phone was told 4 ms after the new one presented')
  t.equal(res.checked, 6)
  t.equal(DEFAULT_PHONE_BOUND_MS, 5_250, 'lease 5 s + 0.25 s by default')
})

t.test('two phones presenting one worker past the bound are caught', async (t) => {
  const events = [e(0, 'ams-1', 'presenting'), e(1000, 'ber-1', 'presenting'), e(7000, 'ams-1', 'revoked')]
  const res = checkPhones(events)
  t.equal(res.violations.length, 1)
  t.match(res.violations[0]!.message, /alice: presented at ams-1 from 0 to 7000 and presented at ber-1 from 1000 .*6000 ms \(bound 5250 ms\)/)
  t.same(checkPhones(events, { boundMs: 6000 }).violations, [], 'within a looser bound')
  // Never revoked: the old desk presents until the end of the record.
  t.equal(checkPhones([e(0, 'ams-1', 'presenting'), e(1000, 'ber-1', 'presenting'), e(1500, 'ber-1', 'ringing')], { boundMs: 250 }).violations.length, 1)
  // Another worker presenting at the old desk ends alice's presentation there.
  t.same(checkPhones([e(0, 'ams-1', 'presenting'), e(1000, 'ams-1', 'presenting', 'bob'), e(1001, 'ber-1', 'presenting')], { boundMs: 0 }).violations, [])
})

t.test('a ring deep inside another desk\'s presentation is caught; one at its edge is a handover', async (t) => {
  const base = [e(0, 'ber-1', 'presenting'), e(10_000, 'ber-1', 'revoked')]
  const deep = checkPhones([...base, e(5_000, 'ams-1', 'revoked'), e(5_000, 'ams-1', 'ringing')], { boundMs: 250 })
  t.equal(deep.violations.length, 1)
  t.match(deep.violations[0]!.message, /rang at ams-1 at 5000 and .*presented at ber-1|presented at ber-1 .* rang at ams-1 at 5000/)
  t.same(checkPhones([...base, e(100, 'ams-1', 'ringing')], { boundMs: 250 }).violations, [], '100 ms after the other desk began')
  t.same(checkPhones([...base, e(9_900, 'ams-1', 'ringing')], { boundMs: 250 }).violations, [], '100 ms before the other desk was told')
  t.same(checkPhones([e(0, 'ams-1', 'ringing'), e(1, 'ber-1', 'ringing')], { boundMs: 0 }).violations, [], 'two rings alone are not compared')
  t.same(checkPhones([...base, e(5_000, 'ams-1', 'ringing', 'bob')], { boundMs: 0 }).violations, [], 'another worker')
})
