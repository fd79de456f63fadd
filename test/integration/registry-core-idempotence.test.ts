import t from 'tap'
import { ErrorCode, ReleaseReason, User } from '@flexseat/proto'
import { ADMIN, SIP_NODE, expectCode, freshPrefix, leaderOf, revisionOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(25_000)

const login = (requestId: string, deviceId: string, extension: string, pin: string) => ({ requestId, deviceId, extension, pin, durationHours: 0 })

t.test('idempotence, lockout and PIN changes on one leader', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const a = await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam' })
  const { core } = await leaderOf([a])
  await seed(core, {
    sites: ['amsterdam'],
    devices: [{ id: 'ams-1', site: 'amsterdam' }, { id: 'ams-2', site: 'amsterdam' }, { id: 'ams-3', site: 'amsterdam' }, { id: 'ams-4', site: 'amsterdam' }],
    users: [
      { id: 'alice', extension: '1001', site: 'amsterdam', pin: '1234' },
      { id: 'bob', extension: '1002', site: 'amsterdam', pin: '4321' },
    ],
  })

  t.test('a retried login returns the first outcome and writes nothing twice', async (t) => {
    const id = rid('login')
    const first = await core.login(login(id, 'ams-1', '1001', '1234'), SIP_NODE)
    const before = await revisionOf(a.etcd)
    const again = await core.login(login(id, 'ams-1', '1001', '1234'), SIP_NODE)
    t.same(again, first, 'same response, epoch included')
    t.equal(await revisionOf(a.etcd), before, 'the retry wrote nothing')

    const concurrentId = rid('login')
    const before2 = await revisionOf(a.etcd)
    const all = await Promise.all(Array.from({ length: 6 }, () => core.login(login(concurrentId, 'ams-2', '1001', '1234'), SIP_NODE)))
    for (const r of all) t.same(r, all[0], 'concurrent retries all get the one outcome')
    t.equal(await revisionOf(a.etcd), before2 + 1n, 'six concurrent copies made exactly one transaction')
    t.equal(all[0]!.revoked?.deviceId, 'ams-1')

    await expectCode(t, core.login(login(concurrentId, 'ams-1', '1001', '1234'), SIP_NODE), ErrorCode.ERROR_CODE_REQUEST_ID_REUSED, 'same id, other request')
    await expectCode(t, core.logout({ requestId: concurrentId, target: { $case: 'userId', value: 'alice' }, reason: 0 }, SIP_NODE), ErrorCode.ERROR_CODE_REQUEST_ID_REUSED, 'same id, other method')
  })

  t.test('a retried wrong PIN counts once', async (t) => {
    const id = rid('wrong')
    const e1 = await expectCode(t, core.login(login(id, 'ams-1', '1002', '0000'), SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'wrong PIN')
    t.equal(e1.facts.attemptsLeft, 4)
    const e2 = await expectCode(t, core.login(login(id, 'ams-1', '1002', '0000'), SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'the retry')
    t.equal(e2.facts.attemptsLeft, 4, 'the retry did not count again')
    const e3 = await expectCode(t, core.login(login(rid(), 'ams-1', '1002', '0000'), SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'a new attempt')
    t.equal(e3.facts.attemptsLeft, 3, 'a new request counts')
    await core.resetPin({ requestId: rid(), userId: 'bob', newPin: '4321' }, ADMIN)
  })

  t.test('five wrong PINs at one desk lock the user there, fifteen from three desks everywhere, until ResetPin', async (t) => {
    const left: number[] = []
    for (let i = 0; i < 4; i++) {
      const e = await expectCode(t, core.login(login(rid(), 'ams-1', '1002', '9999'), SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, `wrong PIN ${i + 1}`)
      left.push(e.facts.attemptsLeft!)
    }
    t.same(left, [4, 3, 2, 1], 'attempts left count down')
    const atDesk = await expectCode(t, core.login(login(rid(), 'ams-1', '1002', '9999'), SIP_NODE), ErrorCode.ERROR_CODE_LOCKED_AT_DESK, 'fifth wrong PIN at ams-1')
    t.ok(Math.abs(atDesk.facts.lockedUntil!.getTime() - (Date.now() + 15 * 60_000)) < 10_000, 'locked there for 15 minutes')
    await expectCode(t, core.login(login(rid(), 'ams-1', '1002', '4321'), SIP_NODE), ErrorCode.ERROR_CODE_LOCKED_AT_DESK, 'even the right PIN at ams-1')
    t.equal((await core.getUser({ key: { $case: 'userId', value: 'bob' } })).user?.lockedUntil, undefined, 'no lock everywhere')
    for (let i = 0; i < 5; i++) {
      await expectCode(t, core.login(login(rid(), 'ams-2', '1002', '9999'), SIP_NODE), i < 4 ? ErrorCode.ERROR_CODE_WRONG_PIN : ErrorCode.ERROR_CODE_LOCKED_AT_DESK, `wrong PIN ${i + 1} at ams-2`)
    }
    // ChangePin (no desk) counts as a desk of its own: its fifth wrong old PIN is the 15th.
    for (let i = 0; i < 5; i++) {
      await expectCode(t, core.changePin({ requestId: rid(), extension: '1002', oldPin: '9999', newPin: '5555' }, SIP_NODE), i < 4 ? ErrorCode.ERROR_CODE_WRONG_PIN : ErrorCode.ERROR_CODE_LOCKED_OUT, `ChangePin wrong ${i + 1}`)
    }
    const shown = await core.getUser({ key: { $case: 'extension', value: '1002' } })
    const until = shown.user?.lockedUntil?.getTime()
    t.ok(until !== undefined && Math.abs(until - (Date.now() + 15 * 60_000)) < 10_000, 'the 15th wrong PIN, from three desks, locks everywhere; GetUser shows locked_until')
    await expectCode(t, core.login(login(rid(), 'ams-2', '1002', '4321'), SIP_NODE), ErrorCode.ERROR_CODE_LOCKED_OUT, 'even the right PIN at ams-2 while locked')
    await expectCode(t, core.changePin({ requestId: rid(), extension: '1002', oldPin: '4321', newPin: '5555' }, SIP_NODE), ErrorCode.ERROR_CODE_LOCKED_OUT, 'ChangePin while locked')
    const byAdmin = await core.login({ requestId: rid(), deviceId: 'ams-2', extension: '1002', pin: '', durationHours: 0 }, ADMIN)
    t.equal(byAdmin.seat?.userId, 'bob', 'an administrator may still seat a locked worker (no PIN guessed)')
    await core.resetPin({ requestId: rid(), userId: 'bob', newPin: '8642' }, ADMIN)
    t.equal((await core.getUser({ key: { $case: 'userId', value: 'bob' } })).user?.lockedUntil, undefined, 'ResetPin clears the lock')
    await expectCode(t, core.login(login(rid(), 'ams-1', '1002', '4321'), SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'the old PIN is gone (and ams-1 unlocked)')
    const ok = await core.login(login(rid(), 'ams-1', '1002', '8642'), SIP_NODE)
    t.equal(ok.seat?.userId, 'bob', 'the new PIN works')
  })

  // Fresh desks: the tests above paused ams-1 and ams-2 (the desk throttle).
  t.test('ChangePin checks the old PIN; wrong PINs count per desk; a right PIN clears its own desk only', async (t) => {
    const e = await expectCode(t, core.changePin({ requestId: rid(), extension: '1001', oldPin: '1111', newPin: '2222' }, SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'wrong old PIN')
    t.equal(e.facts.attemptsLeft, 4)
    const e2 = await expectCode(t, core.login(login(rid(), 'ams-3', '1001', '1111'), SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'then a wrong login PIN')
    t.equal(e2.facts.attemptsLeft, 4, "ams-3 has a count of its own (ChangePin's is the API's)")
    const e3 = await expectCode(t, core.login(login(rid(), 'ams-3', '1001', '1112'), SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'another at ams-3')
    t.equal(e3.facts.attemptsLeft, 3)
    await core.changePin({ requestId: rid(), extension: '1001', oldPin: '1234', newPin: '2468' }, SIP_NODE)
    const seated = await core.login(login(rid(), 'ams-4', '1001', '2468'), SIP_NODE)
    t.equal(seated.seat?.deviceId, 'ams-4', 'the new PIN signs in')
    const e4 = await expectCode(t, core.login(login(rid(), 'ams-3', '1001', '0000'), SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'at ams-3 after a success at ams-4')
    t.equal(e4.facts.attemptsLeft, 2, "ams-3's count stands: the worker's sign-in elsewhere hands a guesser at ams-3 no fresh count")
    await core.login(login(rid(), 'ams-3', '1001', '2468'), SIP_NODE)
    const e5 = await expectCode(t, core.login(login(rid(), 'ams-3', '1001', '0000'), SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'after a success at ams-3')
    t.equal(e5.facts.attemptsLeft, 4, "a successful sign-in clears that desk's count")
  })

  t.test('bad arguments: INVALID_ARGUMENT naming the field, and nothing written', async (t) => {
    const before = await revisionOf(a.etcd)
    const user = User.fromPartial({ id: 'carol', extension: '1003', displayName: 'Carol', did: '', email: '', mobile: '', department: '', homeSiteId: 'amsterdam', roamingAllowed: true, maxSeatHours: 0, fallback: '', lockedUntil: undefined, revision: '0' })
    const device = { id: 'ams-9', siteId: 'amsterdam', extension: '', label: '', model: '', flexHost: true, revision: '0' }
    const site = { id: 'paris', name: 'Paris', timezone: 'Europe/Paris', emergencyNumbers: ['112'], dispatchableLocation: '', sipTrunkUri: '', revision: '0' }
    const cases: [string, () => Promise<unknown>, string][] = [
      ['login without request id', () => core.login(login('', 'ams-1', '1001', '1234'), SIP_NODE), 'request_id'],
      ['login bad device', () => core.login(login(rid(), 'AMS 1', '1001', '1234'), SIP_NODE), 'device_id'],
      ['login bad extension', () => core.login(login(rid(), 'ams-1', '10a1', '1234'), SIP_NODE), 'extension'],
      ['login short PIN', () => core.login(login(rid(), 'ams-1', '1001', '12'), SIP_NODE), 'pin'],
      ['login long duration', () => core.login({ ...login(rid(), 'ams-1', '1001', ''), durationHours: 100_000 }, ADMIN), 'duration_hours'],
      ['logout without target', () => core.logout({ requestId: rid(), target: undefined, reason: 0 }, SIP_NODE), 'target'],
      ['logout bad user', () => core.logout({ requestId: rid(), target: { $case: 'userId', value: '../x' }, reason: 0 }, SIP_NODE), 'user_id'],
      ['logout faking an expiry', () => core.logout({ requestId: rid(), target: { $case: 'userId', value: 'alice' }, reason: ReleaseReason.RELEASE_REASON_EXPIRED }, ADMIN), 'reason'],
      ['logout reason MOVED', () => core.logout({ requestId: rid(), target: { $case: 'userId', value: 'alice' }, reason: ReleaseReason.RELEASE_REASON_MOVED }, SIP_NODE), 'reason'],
      ['createUser without user', () => core.createUser({ requestId: rid(), user: undefined, pin: '1234' }, ADMIN), 'user'],
      ['createUser bad id', () => core.createUser({ requestId: rid(), user: { ...user, id: 'Carol' }, pin: '1234' }, ADMIN), 'user.id'],
      ['createUser bad extension', () => core.createUser({ requestId: rid(), user: { ...user, extension: '1' }, pin: '1234' }, ADMIN), 'user.extension'],
      ['createUser bad DID', () => core.createUser({ requestId: rid(), user: { ...user, did: '0201234' }, pin: '1234' }, ADMIN), 'user.did'],
      ['createUser bad e-mail', () => core.createUser({ requestId: rid(), user: { ...user, email: 'carol' }, pin: '1234' }, ADMIN), 'user.email'],
      ['createUser no home site', () => core.createUser({ requestId: rid(), user: { ...user, homeSiteId: '' }, pin: '1234' }, ADMIN), 'user.home_site_id'],
      ['createUser no PIN', () => core.createUser({ requestId: rid(), user, pin: '' }, ADMIN), 'pin'],
      ['createUser unknown toll class', () => core.createUser({ requestId: rid(), user: { ...user, callClasses: { classes: ['internal', 'premuim'] } }, pin: '1234' }, ADMIN), 'user.call_classes.classes[1]'],
      ['createUser toll class twice', () => core.createUser({ requestId: rid(), user: { ...user, callClasses: { classes: ['local', 'local'] } }, pin: '1234' }, ADMIN), 'user.call_classes.classes[1]'],
      ['updateUser bad mask', () => core.updateUser({ requestId: rid(), user, updateMask: ['pin_hash'] }, ADMIN), 'update_mask'],
      ['updateUser no id', () => core.updateUser({ requestId: rid(), user: { ...user, id: '' }, updateMask: [] }, ADMIN), 'user.id'],
      ['deleteUser no id', () => core.deleteUser({ requestId: rid(), userId: '' }, ADMIN), 'user_id'],
      ['changePin bad old', () => core.changePin({ requestId: rid(), extension: '1001', oldPin: 'abcd', newPin: '1234' }, SIP_NODE), 'old_pin'],
      ['changePin bad new', () => core.changePin({ requestId: rid(), extension: '1001', oldPin: '1234', newPin: '1' }, SIP_NODE), 'new_pin'],
      ['resetPin bad user', () => core.resetPin({ requestId: rid(), userId: 'A', newPin: '1234' }, ADMIN), 'user_id'],
      ['resetPin bad PIN', () => core.resetPin({ requestId: rid(), userId: 'alice', newPin: '1234567890123' }, ADMIN), 'new_pin'],
      ['createDevice no site', () => core.createDevice({ requestId: rid(), device: { ...device, siteId: '' } }, ADMIN), 'device.site_id'],
      ['createDevice unknown toll class', () => core.createDevice({ requestId: rid(), device: { ...device, callClasses: { classes: ['satellite'] } } }, ADMIN), 'device.call_classes.classes[0]'],
      ['createDevice bad extension', () => core.createDevice({ requestId: rid(), device: { ...device, extension: '9' } }, ADMIN), 'device.extension'],
      ['updateDevice bad mask', () => core.updateDevice({ requestId: rid(), device, updateMask: ['id'] }, ADMIN), 'update_mask'],
      ['deleteDevice bad id', () => core.deleteDevice({ requestId: rid(), deviceId: '' }, ADMIN), 'device_id'],
      ['createSite bad zone', () => core.createSite({ requestId: rid(), site: { ...site, timezone: 'Mars/Olympus' } }, ADMIN), 'site.timezone'],
      ['createSite bad emergency number', () => core.createSite({ requestId: rid(), site: { ...site, emergencyNumbers: ['112', 'x'] } }, ADMIN), 'site.emergency_numbers[1]'],
      ['createSite bad trunk', () => core.createSite({ requestId: rid(), site: { ...site, sipTrunkUri: 'http://x' } }, ADMIN), 'site.sip_trunk_uri'],
      ['updateSite no id', () => core.updateSite({ requestId: rid(), site: { ...site, id: '' }, updateMask: [] }, ADMIN), 'site.id'],
      ['deleteSite no id', () => core.deleteSite({ requestId: rid(), siteId: '' }, ADMIN), 'site_id'],
      ['getSeat no target', () => core.getSeat({ target: undefined }), 'target'],
      ['listSeats bad site', () => core.listSeats({ siteId: 'X', pageSize: 0, pageToken: '' }), 'site_id'],
      ['getUser no key', () => core.getUser({ key: undefined }), 'key'],
      ['listUsers bad token', () => core.listUsers({ homeSiteId: '', pageSize: 0, pageToken: 'garbage' }), 'page_token'],
      ['getDevice no id', () => core.getDevice({ deviceId: '' }), 'device_id'],
      ['listDevices bad site', () => core.listDevices({ siteId: '-', pageSize: 0, pageToken: '' }), 'site_id'],
      ['getSite no id', () => core.getSite({ siteId: '' }), 'site_id'],
      ['listSites bad token', () => core.listSites({ pageSize: 0, pageToken: 'eyJ9' }), 'page_token'],
      ['watchSeats bad revision', async () => { for await (const _ of core.watchSeats({ afterRevision: '-1', siteId: '' }, AbortSignal.timeout(1_000))) break }, 'after_revision'],
    ]
    for (const [what, call, field] of cases) await expectCode(t, call(), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, what, field)
    t.equal(await revisionOf(a.etcd), before, 'no bad request wrote anything')
  })
})
