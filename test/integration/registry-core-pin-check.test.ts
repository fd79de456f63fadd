// A phone login received by a follower has its PIN checked there (scrypt off the leader); the
// leader takes that verdict only for the user record revision it was reached on, and still
// checks the lockout and counts wrong PINs in its fenced transaction.
import t from 'tap'
import { ErrorCode } from '@flexseat/proto'
import type { Caller } from '@flexseat/registry'
import { ADMIN, SIP_NODE, expectCode, freshPrefix, leaderOf, rid, seed, startCore, startEtcd, waitFor } from '../helpers/registry-core-harness'

t.setTimeout(25_000)

t.test('a forwarded PIN verdict: checked on the follower, honoured by the leader only for the revision checked', async (t) => {
  const etcd = await startEtcd(t, 3)
  const prefix = freshPrefix()
  const a = await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam' })
  const b = await startCore(t, etcd.endpoints, { prefix, site: 'berlin' })
  const leader = await leaderOf([a, b])
  const follower = leader === a ? b : a
  await seed(leader.core, {
    sites: ['amsterdam'],
    devices: [{ id: 'd1', site: 'amsterdam' }, { id: 'd2', site: 'amsterdam' }],
    users: [
      { id: 'alice', extension: '1001', site: 'amsterdam', pin: '7351' },
      { id: 'bob', extension: '1002', site: 'amsterdam', pin: '4628' },
    ],
  })
  const login = (extension: string, deviceId: string, pin: string, caller: Caller) =>
    leader.core.login({ requestId: rid(), deviceId, extension, pin, durationHours: 0 }, caller)

  // The follower's check: the user, the revision of the record checked, the verdict.
  const request = (extension: string, pin: string) => ({ requestId: rid(), deviceId: 'd1', extension, pin, durationHours: 0 })
  const right = await waitFor(() => follower.core.checkPin(request('1001', '7351')), 5_000, 'the follower sees alice')
  t.equal(right.userId, 'alice')
  t.equal(right.ok, true)
  const aliceRevision = (await leader.core.getUser({ key: { $case: 'userId', value: 'alice' } })).user!.revision
  t.equal(right.revision, aliceRevision, 'the verdict names the record revision it checked')
  t.equal((await follower.core.checkPin(request('1001', '0000')))?.ok, false, 'a wrong PIN is a negative verdict')
  t.equal(await follower.core.checkPin(request('1777', '7351')), undefined, 'unknown extension: no verdict')
  t.equal(await follower.core.checkPin(request('1001', '')), undefined, 'no PIN: no verdict')

  // The leader takes the verdict instead of its own scrypt: a negative verdict is a wrong PIN,
  // counted towards the lockout, even with the right PIN in the request...
  const refused = await expectCode(t, login('1001', 'd1', '7351', { ...SIP_NODE, pinCheck: { ...right, ok: false } }), ErrorCode.ERROR_CODE_WRONG_PIN, 'negative verdict')
  t.equal(refused.facts.attemptsLeft, 4, 'counted by the leader')
  // ...and a positive one signs in (the leader would have found the same) and clears the count.
  const seated = await login('1001', 'd1', '7351', { ...SIP_NODE, pinCheck: right })
  t.equal(seated.seat?.userId, 'alice')
  t.equal((await leader.core.getUser({ key: { $case: 'userId', value: 'alice' } })).user?.lockedUntil, undefined)

  // A verdict for another revision (the PIN changed since) or another user is ignored: the
  // leader checks the PIN itself.
  await leader.core.resetPin({ requestId: rid(), userId: 'alice', newPin: '9146' }, ADMIN)
  await expectCode(t, login('1001', 'd2', '7351', { ...SIP_NODE, pinCheck: right }), ErrorCode.ERROR_CODE_WRONG_PIN, 'a stale verdict does not let the old PIN in')
  t.equal((await login('1001', 'd2', '9146', { ...SIP_NODE, pinCheck: { ...right, ok: false } })).seat?.deviceId, 'd2', 'a stale negative verdict does not keep the new PIN out')
  await expectCode(t, login('1002', 'd1', '0000', { ...SIP_NODE, pinCheck: right }), ErrorCode.ERROR_CODE_WRONG_PIN, "alice's verdict does not sign bob in")

  // A user locked at a desk stays locked there whatever the verdict; the follower does not even check.
  for (let i = 0; i < 5; i += 1) await login('1002', 'd1', '0000', SIP_NODE).catch(() => undefined)
  t.equal(await waitFor(async () => (await follower.core.checkPin(request('1002', '4628'))) === undefined, 5_000, 'no verdict for a locked user'), true)
  const bobRevision = (await leader.core.getUser({ key: { $case: 'userId', value: 'bob' } })).user!.revision
  await expectCode(t, login('1002', 'd1', '4628', { ...SIP_NODE, pinCheck: { userId: 'bob', revision: bobRevision, ok: true } }), ErrorCode.ERROR_CODE_LOCKED_AT_DESK, 'locked out at d1')
})
