import t from 'tap'
import { checkAcknowledgedSignIns, settleIndeterminate, type WatchEvent } from '@flexseat/history-check'
import { SeatHistoryBuilder, login, logout } from '../helpers/history-check'

// Invariant 2 for sign-ins (acknowledged.ts): an acknowledged login is in etcd's history and is
// undone only by a later operation or a documented end.

const watched = (revision: number, atMs: number): WatchEvent => ({ client: 'w', atMs, revision, userId: 'x', deviceId: null, type: 'SEATED' })

t.test('kept, moved by a later login, bumped, logged out, expired: all explained', async (t) => {
  const h = new SeatHistoryBuilder(10)
  const a = login('alice', 'ams-1', [0, 10], { id: 'req-a' })
  h.login('alice', 'ams-1', 'req-a')
  const b = login('bob', 'ams-2', [0, 10])
  h.login('bob', 'ams-2')
  const move = login('alice', 'ber-1', [20, 30])
  h.login('alice', 'ber-1')
  const bump = login('carol', 'ams-2', [40, null]) // indeterminate, yet it happened
  h.login('carol', 'ams-2')
  const again = login('alice', 'ber-1', [50, 60])
  h.login('alice', 'ber-1')
  const out = logout('alice', [70, 80])
  h.release('alice')
  const d = login('dave', 'chi-1', [90, 100])
  h.login('dave', 'chi-1')
  h.release('dave', 9) // TIME_LIMIT: a seat policy ended it
  const res = checkAcknowledgedSignIns([a, b, move, bump, again, out, d], h.build())
  t.same(res.violations, [])
  t.equal(res.checked, 5, 'five acknowledged logins')
})

t.test('a lost acknowledged sign-in is caught', async (t) => {
  // Acknowledged, never written.
  const never = new SeatHistoryBuilder(10)
  never.login('bob', 'ams-1')
  const res1 = checkAcknowledgedSignIns([login('alice', 'ams-1', [0, 10], { id: 'lost' })], never.build())
  t.equal(res1.violations.length, 1)
  t.match(res1.violations[0]!.message, /acknowledged, but no seat of alice at ams-1 was written/)
  t.same(res1.violations[0]!.ops, ['lost'])

  // Written, then released as a logout nobody asked for.
  const undone = new SeatHistoryBuilder(10)
  undone.login('alice', 'ams-1')
  const r = undone.release('alice', 1)
  const res2 = checkAcknowledgedSignIns([login('alice', 'ams-1', [0, 10])], undone.build())
  t.equal(res2.violations.length, 1)
  t.match(res2.violations[0]!.message, new RegExp(`released \\(LOGOUT\\) at revision ${r}.*lost`))

  // A logout that completed before the login was called cannot explain it.
  const early = checkAcknowledgedSignIns([logout('alice', [0, 5]), login('alice', 'ams-1', [10, 20])], undone.build())
  t.equal(early.violations.length, 1, 'an earlier logout is no explanation')
  const failed = checkAcknowledgedSignIns([login('alice', 'ams-1', [10, 20]), logout('alice', [30, 40], { outcome: 'fail' })], undone.build())
  t.equal(failed.violations.length, 1, 'nor a failed one')

  // Moved to a desk no login asked for.
  const moved = new SeatHistoryBuilder(10)
  moved.login('alice', 'ams-1')
  moved.login('alice', 'ber-1')
  t.match(checkAcknowledgedSignIns([login('alice', 'ams-1', [0, 10])], moved.build()).violations[0]!.message, /moved to ber-1/)

  // Deleted without a release reason.
  const vanished = new SeatHistoryBuilder(10)
  vanished.login('alice', 'ams-1')
  vanished.txn({ key: 'seats/alice', value: null }, { key: 'hosts/ams-1', value: null })
  t.match(checkAcknowledgedSignIns([login('alice', 'ams-1', [0, 10])], vanished.build()).violations[0]!.message, /deleted with no release reason/)

  // Bumped by nobody's login at that desk.
  const bumped = new SeatHistoryBuilder(10)
  bumped.login('alice', 'ams-1')
  bumped.login('bob', 'ams-1')
  t.match(checkAcknowledgedSignIns([login('alice', 'ams-1', [0, 10])], bumped.build()).violations[0]!.message, /released \(BUMPED\)/)
})

t.test('the request record ties a gRPC login to its revision', async (t) => {
  const h = new SeatHistoryBuilder(10)
  h.login('alice', 'ams-1', 'other-request')
  h.txn({ key: 'requests/req-1', value: 'x' }) // the request recorded at a revision that wrote no seat
  const res = checkAcknowledgedSignIns([login('alice', 'ams-1', [0, 10], { id: 'req-1' })], h.build())
  t.equal(res.violations.length, 1)
  t.match(res.violations[0]!.message, /request record was written at revision 11, but the seat was not put at ams-1 there/)
})

t.test('a seat written before the login was called is not its seat (watchers date revisions)', async (t) => {
  const h = new SeatHistoryBuilder(10)
  h.login('alice', 'ams-1') // revision 10, seen by a watcher at 5
  const ops = [login('alice', 'ams-1', [100, 110])]
  t.same(checkAcknowledgedSignIns(ops, h.build()).violations, [], 'without watch events nothing dates the revision')
  const res = checkAcknowledgedSignIns(ops, h.build(), [watched(10, 5)])
  t.equal(res.violations.length, 1, 'seen at 5 ms: written before the login at 100 ms')
  t.same(checkAcknowledgedSignIns(ops, h.build(), [watched(10, 105)]).violations, [], 'seen at 105 ms: may be the login\'s')
})

t.test('indeterminate writes settled by etcd', async (t) => {
  const h = new SeatHistoryBuilder(10)
  h.login('alice', 'ams-1', 'ok-1')
  h.login('alice', 'ber-1', 'took-effect')
  h.txn({ key: 'requests/refused', value: JSON.stringify({ method: 'login', fingerprint: 'f', error: { code: 3, message: 'wrong PIN', facts: {} } }) })
  h.login('bob', 'chi-3', 'sip-node-request') // a *51 at chi-3 (the SIP node's own request id)
  const ops = [
    login('alice', 'ams-1', [0, 10], { id: 'ok-1' }),
    login('alice', 'ber-1', [20, null], { id: 'took-effect' }),
    login('alice', 'chi-1', [20, 30], { id: 'refused', outcome: 'info' }),
    login('alice', 'chi-2', [20, null], { id: 'never' }),
    login('bob', 'chi-3', [20, null], { id: 'by-phone', via: 'sip' }),
    login('bob', 'chi-4', [20, null], { id: 'by-phone-never', via: 'sip' }),
    logout('carol', [20, null], { id: 'nobody-unseated' }),
    logout('dave', [20, null], { id: 'at-desk', via: 'sip', deviceId: 'ber-1' }),
  ]
  const { ops: settled, settled: n } = settleIndeterminate(ops, h.build())
  t.same(settled.map((o) => [o.id, o.outcome]), [['ok-1', 'ok'], ['took-effect', 'info'], ['refused', 'fail'], ['never', 'fail'], ['by-phone', 'info'], ['by-phone-never', 'fail'], ['nobody-unseated', 'fail'], ['at-desk', 'fail']])
  t.equal(n, 5)
  t.match(settled[2]!.error, /settled by etcd: refused/)
  t.match(settled[3]!.error, /settled by etcd: never committed/)
  t.match(settled[5]!.error, /settled by etcd: no change it could have made/)
  // A put another operation owns (its request record at that revision) is not this one's.
  const owned = settleIndeterminate([login('alice', 'ams-1', [0, 10], { id: 'ok-1' }), login('alice', 'ams-1', [0, null], { id: 'sip-1', via: 'sip' })], h.build())
  t.equal(owned.ops[1]!.outcome, 'fail', 'the only put at ams-1 is ok-1\'s own')
  // A put a watcher saw before the call is not this one's either.
  const early = settleIndeterminate([login('bob', 'chi-3', [100, null], { via: 'sip' })], h.build(), 'auto', [{ client: 'w', atMs: 50, revision: 13, userId: 'bob', deviceId: 'chi-3', type: 'seated' }])
  t.equal(early.settled, 1)
  // Ids that are not request ids: gRPC writes are judged by the seat changes too.
  const plain = settleIndeterminate(ops.map((o) => ({ ...o, id: `x-${o.id}` })), h.build())
  t.same(plain.ops.map((o) => o.outcome), ['ok', 'info', 'fail', 'fail', 'info', 'fail', 'fail', 'fail'])
})

t.test('a *51 settled by the request ids the node derived from its INVITEs', async (t) => {
  const h = new SeatHistoryBuilder(10)
  h.login('alice', 'ams-1', 'grpc-ok')
  h.login('bob', 'chi-3', 'sip-login-b') // the node's Login for the phone's second INVITE
  h.txn({ key: 'requests/sip-renew-c', value: JSON.stringify({ method: 'renewSeat', fingerprint: 'f', error: { code: 9, message: 'not seated here', facts: {} } }) })
  h.login('carol', 'chi-4') // a change the *51 below could have made, written under no id of its own
  const grpcOk = login('alice', 'ams-1', [0, 10], { id: 'grpc-ok' })
  const tookEffect = login('bob', 'chi-3', [20, null], { id: 'dial-b', via: 'sip', requestIds: ['sip-login-a', 'sip-renew-a', 'sip-login-b', 'sip-renew-b'] })
  const refused = login('carol', 'chi-4', [20, null], { id: 'dial-c', via: 'sip', requestIds: ['sip-login-c', 'sip-renew-c'] })
  const never = login('carol', 'chi-4', [20, null], { id: 'dial-d', via: 'sip', requestIds: ['sip-login-d'] })
  const settled = settleIndeterminate([grpcOk, tookEffect, refused, never], h.build(), 'yes')
  t.same(settled.ops.map((o) => [o.id, o.outcome]), [['grpc-ok', 'ok'], ['dial-b', 'info'], ['dial-c', 'fail'], ['dial-d', 'fail']])
  t.same([...settled.tookEffect], ['dial-b'], 'its Login\'s record holds a response: it took effect')
  t.match(settled.ops[2]!.error, /settled by etcd: refused/)
  t.match(settled.ops[3]!.error, /settled by etcd: never committed/)
  // Without the ids, carol's seat at chi-4 could be either dial's: both stay indeterminate.
  const unnamed = settleIndeterminate([grpcOk, { ...refused, requestIds: undefined }, { ...never, requestIds: undefined }], h.build(), 'yes')
  t.same(unnamed.ops.map((o) => o.outcome), ['ok', 'info', 'info'])
})

t.test('"yes" settles by request records in a run where no gRPC write succeeded; "auto" cannot tell', async (t) => {
  const h = new SeatHistoryBuilder(10)
  h.login('alice', 'ber-1') // by some operation this history does not hold
  const unrecorded = login('alice', 'ber-1', [20, null], { id: 'grpc-unrecorded' })
  t.equal(settleIndeterminate([unrecorded], h.build(), 'auto').ops[0]!.outcome, 'info', 'auto: judged by the seat changes')
  const yes = settleIndeterminate([unrecorded], h.build(), 'yes')
  t.equal(yes.ops[0]!.outcome, 'fail')
  t.match(yes.ops[0]!.error, /never committed/)
})
