// The leader's last check before it ends a seat by its policy (seats.ts planSeatEnd), on real
// etcd: the seat and the worker's call activity are read in the transaction, so a seat whose end
// the scan saw due is left alone when a call started in between (deferral), when it is another
// seat by now (a new epoch), or when its end has not come; and it is ended, with its reason, when
// the end has come. The scan alone (seat-expiry.ts) cannot show this: it only proposes seats.
import t from 'tap'
import { ReleaseReason } from '@flexseat/proto'
import { createEtcdClient, DEFAULT_LOCKOUT, Keys, planSeatEnd, type SeatContext, TxnReader } from '@flexseat/registry'
import { freshPrefix, startEtcd } from '../helpers/registry-core-harness'

t.test('planSeatEnd ends a due seat once, and leaves one whose call started or that changed', async (t) => {
  const etcd = await startEtcd(t, 1)
  const client = createEtcdClient(etcd.endpoints)
  t.teardown(() => client.close())
  const keys = new Keys(freshPrefix())
  let now = Date.parse('2026-12-07T17:00:01Z')
  const ctx: SeatContext = { keys, lockout: DEFAULT_LOCKOUT, now: () => now }
  const seat = { userId: 'ada', extension: '1001', displayName: 'Ada', deviceId: 'ams-1', siteId: 'amsterdam', since: '2026-12-07T09:00:00.000Z', expiresAt: '2026-12-07T17:00:00.000Z', via: 'phone', deferSeconds: 3_600 }
  const put = async (key: string, value: unknown) => (await client.put(key).value(JSON.stringify(value)).exec()).header.revision
  await put(keys.host('ams-1'), 'ada')
  const epoch = await put(keys.seat('ada'), seat)
  const plan = () => planSeatEnd(ctx, 'ada', epoch, new TxnReader(client))

  // A call started after the scan saw the seat due: the end waits for it (at most an hour here).
  await put(keys.activity('ada'), { calls: { 'call-1': { siteId: 'berlin', since: '2026-12-07T16:59:59.000Z' } }, lastActivity: '2026-12-07T16:59:59.000Z' })
  t.same((await plan()).ops, [], 'in a call: deferred')
  now = Date.parse('2026-12-07T18:00:00Z')
  const bounded = await plan()
  t.ok(bounded.ops.length > 0, 'still in the call an hour later: the bound ends it')
  now = Date.parse('2026-12-07T17:00:01Z')

  // The call ended: due now.
  await put(keys.activity('ada'), { calls: {}, lastActivity: '2026-12-07T17:00:00.500Z' })
  const due = await plan()
  t.ok(due.ops.some((op) => op.type === 'delete' && op.key === keys.seat('ada')), 'ended')
  t.match(due.ops.find((op) => op.type === 'put' && op.key === keys.seatReleased('ada')), { value: { reason: ReleaseReason.RELEASE_REASON_TIME_LIMIT } }, 'with its reason')

  // Not yet due.
  now = Date.parse('2026-12-07T16:59:59Z')
  t.same((await plan()).ops, [], 'before its end: nothing')
  now = Date.parse('2026-12-07T17:00:01Z')

  // Another seat of the worker by now (a new epoch): not this one's end.
  await put(keys.seat('ada'), { ...seat, since: '2026-12-07T17:00:00.100Z', expiresAt: '2026-12-07T17:00:00.900Z' })
  t.same((await plan()).ops, [], 'a later seat, even one due itself, is left alone: its own proposal (its epoch) ends it')
})
