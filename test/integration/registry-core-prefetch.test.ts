// A login fetches the keys it expects to need in its first etcd round trip, guessed from where the
// leader last saw users sit, and reads serializably on its first attempt. Neither may change an
// outcome: these logins run with every guess stale (changed by logouts, a deleted user and an
// extension given to someone else), and must answer exactly what the records say.
import t from 'tap'
import { ErrorCode, PolicyLevel, ReleaseReason } from '@flexseat/proto'
import { ADMIN, SIP_NODE, dump, expectCode, freshPrefix, leaderOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(25_000)

const unspecified = ReleaseReason.RELEASE_REASON_UNSPECIFIED

t.test('stale prefetch guesses never change what a login does', async (t) => {
  const etcd = await startEtcd(t, 3)
  const prefix = freshPrefix()
  const a = await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam' })
  const { core } = await leaderOf([a])
  await seed(core, {
    sites: ['amsterdam'],
    devices: ['d1', 'd2', 'd3'].map((id) => ({ id, site: 'amsterdam' })),
    users: [
      { id: 'alice', extension: '1001', site: 'amsterdam', pin: '7351' },
      { id: 'bob', extension: '1002', site: 'amsterdam', pin: '4628' },
    ],
  })
  const login = (extension: string, deviceId: string, pin = '') =>
    core.login({ requestId: rid(), deviceId, extension, pin, durationHours: 0 }, pin === '' ? ADMIN : SIP_NODE)
  const seatAt = async (deviceId: string) => (await core.getSeat({ target: { $case: 'deviceId', value: deviceId } })).seat?.userId

  // The leader learns: alice at d1, bob at d2. Logouts (which teach it nothing) make that stale.
  t.equal((await login('1001', 'd1')).seat?.deviceId, 'd1')
  t.equal((await login('1002', 'd2', '4628')).seat?.deviceId, 'd2')
  await core.logout({ requestId: rid(), target: { $case: 'userId', value: 'alice' }, reason: unspecified }, ADMIN)
  await core.logout({ requestId: rid(), target: { $case: 'deviceId', value: 'd2' }, reason: unspecified }, ADMIN)

  // Guessed: alice's old desk d1 to revoke, bob at d2 to bump. Truth: neither.
  const first = await login('1001', 'd2', '7351')
  t.equal(first.seat?.deviceId, 'd2')
  t.equal(first.revoked, undefined, 'no seat revoked: alice had none, whatever was guessed')
  t.equal(first.bumped, undefined, 'nobody bumped: d2 was free')
  t.equal(await seatAt('d1'), undefined)
  t.equal(await seatAt('d2'), 'alice')

  // Alice moves to d3 and is logged out: the leader still guesses she sits at d3.
  t.equal((await login('1001', 'd3')).revoked?.deviceId, 'd2', 'a takeover revokes the seat it read')
  await core.logout({ requestId: rid(), target: { $case: 'userId', value: 'alice' }, reason: unspecified }, ADMIN)
  const bobAtD3 = await login('1002', 'd3')
  t.equal(bobAtD3.bumped, undefined, 'the guess says alice sits at d3, the record says nobody: nobody bumped')
  const back = await login('1001', 'd1', '7351')
  t.equal(back.revoked, undefined, 'the guess says d3, the record says no seat: nothing revoked')
  t.equal(await seatAt('d3'), 'bob', 'bob keeps d3')
  // Right guesses work as ever: alice takes d3 back from bob, leaving d1.
  const retake = await login('1001', 'd3')
  t.equal(retake.bumped?.userId, 'bob', 'the occupant is bumped')
  t.equal(retake.revoked?.deviceId, 'd1', 'her previous seat is revoked')

  // Extension 1001 changes hands: the guessed owner (alice) is gone.
  await core.deleteUser({ requestId: rid(), userId: 'alice' }, ADMIN)
  t.equal(await seatAt('d3'), undefined, 'deleting alice released her seat')
  await seed(core, { sites: [], devices: [], users: [{ id: 'carol', extension: '1001', site: 'amsterdam', pin: '2580' }] })
  await expectCode(t, login('1001', 'd1', '7351'), ErrorCode.ERROR_CODE_WRONG_PIN, "alice's PIN is not carol's")
  const carol = await login('1001', 'd1', '2580')
  t.equal(carol.seat?.userId, 'carol', 'the extension is read, not guessed')
  t.equal(carol.revoked, undefined)

  // The records agree with the answers: carol at d1, nobody else seated.
  const records = await dump(a.etcd, prefix)
  const hosts = Array.from(records).filter(([key]) => key.startsWith(`${prefix}hosts/`))
  const seats = Array.from(records).filter(([key]) => key.startsWith(`${prefix}seats/`))
  t.same(Object.fromEntries(hosts.map(([key, value]) => [key.slice(`${prefix}hosts/`.length), value])), { d1: 'carol' })
  t.same(seats.map(([key]) => key.slice(`${prefix}seats/`.length)).sort(), ['carol'])
})

t.test('a stale department guess never changes the seat policy a login applies', async (t) => {
  // The first round trip also fetches the policies of the worker's department as last seen; the
  // policy applied must be that of the department the user record names at the login.
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const a = await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam' })
  const { core } = await leaderOf([a])
  await seed(core, { sites: ['amsterdam'], devices: ['d1', 'd2'].map((id) => ({ id, site: 'amsterdam' })), users: [{ id: 'dana', extension: '1005', site: 'amsterdam', pin: '2468' }] })
  const setPolicy = (department: string, maxHours: number) =>
    core.setSeatPolicy({ requestId: rid(), scope: { level: PolicyLevel.POLICY_LEVEL_DEPARTMENT, id: department }, policy: { none: [], maxHours } }, ADMIN)
  await setPolicy('Sales', 2)
  await setPolicy('Support', 5)
  const moveTo = async (department: string) => {
    const user = (await core.getUser({ key: { $case: 'userId', value: 'dana' } })).user!
    await core.updateUser({ requestId: rid(), user: { ...user, department }, updateMask: ['department'] }, ADMIN)
  }
  const hoursOf = (seat: { since?: Date; expiresAt?: Date } | undefined) => Math.round(((seat?.expiresAt?.getTime() ?? 0) - (seat?.since?.getTime() ?? 0)) / 3_600_000)
  const login = (deviceId: string) => core.login({ requestId: rid(), deviceId, extension: '1005', pin: '2468', durationHours: 0 }, SIP_NODE)

  await moveTo('Sales')
  t.equal(hoursOf((await login('d1')).seat), 2, 'Sales: 2 hours')
  await moveTo('Support')
  t.equal(hoursOf((await login('d2')).seat), 5, 'the guess says Sales, the record says Support: 5 hours')
  await moveTo('')
  t.equal((await login('d1')).seat?.expiresAt, undefined, 'the guess says Support, the record says no department: no limit')
  await moveTo('Sales')
  t.equal(hoursOf((await login('d2')).seat), 2, 'the guess says none, the record says Sales: 2 hours')
})
