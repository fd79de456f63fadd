import t from 'tap'
import { ErrorCode, User } from '@flexseat/proto'
import { ADMIN, SIP_NODE, expectCode, freshPrefix, leaderOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(25_000)

const blankUser = (patch: Partial<User>): User => User.fromPartial({
  id: '', extension: '', displayName: '', did: '', email: '', mobile: '', department: '', homeSiteId: 'amsterdam',
  roamingAllowed: true, maxSeatHours: 0, fallback: '', lockedUntil: undefined, revision: '0', ...patch,
})

t.test('the directory: CRUD, masks, one extension space, deletions release seats, paging', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const a = await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam' })
  const { core } = await leaderOf([a])
  await seed(core, {
    sites: ['amsterdam', 'berlin'],
    devices: [{ id: 'ams-1', site: 'amsterdam', extension: '8001' }, { id: 'ams-2', site: 'amsterdam' }],
    users: [{ id: 'alice', extension: '1001', site: 'amsterdam', pin: '1234' }],
  })

  t.test('users', async (t) => {
    const created = await core.createUser({ requestId: rid(), user: blankUser({ extension: '1002', displayName: 'Bob', email: 'bob@example.com', did: '+31201234567' }), pin: '2468' }, ADMIN)
    const bob = created.user!
    t.match(bob.id, /^user-[0-9a-f]{12}$/, 'an id is generated when empty')
    t.ok(BigInt(bob.revision) > 0n, 'the revision is set')
    t.same((await core.getUser({ key: { $case: 'extension', value: '1002' } })).user, bob, 'GetUser by extension')
    t.same((await core.getUser({ key: { $case: 'userId', value: bob.id } })).user, bob, 'GetUser by id')

    await expectCode(t, core.createUser({ requestId: rid(), user: blankUser({ id: 'alice', extension: '1009' }), pin: '2468' }, ADMIN), ErrorCode.ERROR_CODE_ALREADY_EXISTS, 'same id')
    await expectCode(t, core.createUser({ requestId: rid(), user: blankUser({ extension: '1001' }), pin: '2468' }, ADMIN), ErrorCode.ERROR_CODE_EXTENSION_TAKEN, 'a user\'s extension')
    await expectCode(t, core.createUser({ requestId: rid(), user: blankUser({ extension: '8001' }), pin: '2468' }, ADMIN), ErrorCode.ERROR_CODE_EXTENSION_TAKEN, 'a device\'s extension')
    await expectCode(t, core.createUser({ requestId: rid(), user: blankUser({ extension: '1010', homeSiteId: 'paris' }), pin: '2468' }, ADMIN), ErrorCode.ERROR_CODE_SITE_NOT_FOUND, 'unknown home site')

    const masked = await core.updateUser({ requestId: rid(), user: blankUser({ id: bob.id, displayName: 'Robert', extension: '9999' }), updateMask: ['display_name'] }, ADMIN)
    t.equal(masked.user?.displayName, 'Robert', 'a masked field changes')
    t.equal(masked.user?.extension, '1002', 'fields outside the mask do not')
    t.equal(masked.user?.email, 'bob@example.com')

    await core.login({ requestId: rid(), deviceId: 'ams-2', extension: '1002', pin: '2468', durationHours: 0 }, SIP_NODE)
    const all = await core.updateUser({ requestId: rid(), user: blankUser({ id: bob.id, displayName: 'Bob B', extension: '1003' }), updateMask: [] }, ADMIN)
    t.equal(all.user?.extension, '1003', 'an empty mask updates every writable field')
    t.equal(all.user?.email, '', '(including the ones left empty)')
    const seat = (await core.getSeat({ target: { $case: 'userId', value: bob.id } })).seat
    t.equal(seat?.extension, '1003', 'the seat follows the new extension')
    t.equal(seat?.displayName, 'Bob B')
    await expectCode(t, core.getUser({ key: { $case: 'extension', value: '1002' } }), ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, 'the old extension is free')
    await core.createDevice({ requestId: rid(), device: { id: 'ams-3', siteId: 'amsterdam', extension: '1002', label: '', model: '', flexHost: true, revision: '0' } }, ADMIN)
    await expectCode(t, core.updateUser({ requestId: rid(), user: blankUser({ id: bob.id, extension: '1001' }), updateMask: ['extension'] }, ADMIN), ErrorCode.ERROR_CODE_EXTENSION_TAKEN, 'update to a taken extension')

    await core.deleteUser({ requestId: rid(), userId: bob.id }, ADMIN)
    t.equal((await core.getSeat({ target: { $case: 'deviceId', value: 'ams-2' } })).seat, undefined, 'deleting a user releases the seat')
    await expectCode(t, core.getUser({ key: { $case: 'userId', value: bob.id } }), ErrorCode.ERROR_CODE_USER_NOT_FOUND, 'gone')
    await core.createUser({ requestId: rid(), user: blankUser({ id: 'bob2', extension: '1003' }), pin: '2468' }, ADMIN)
    t.pass('the deleted user\'s extension is free again')
    await expectCode(t, core.deleteUser({ requestId: rid(), userId: bob.id }, ADMIN), ErrorCode.ERROR_CODE_USER_NOT_FOUND, 'delete twice')
  })

  t.test('devices and sites', async (t) => {
    await core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '1234', durationHours: 0 }, SIP_NODE)
    const moved = await core.updateDevice({ requestId: rid(), device: { id: 'ams-1', siteId: 'berlin', extension: '', label: 'desk 1', model: '', flexHost: false, revision: '0' }, updateMask: ['site_id', 'label'] }, ADMIN)
    t.equal(moved.device?.siteId, 'berlin')
    t.equal(moved.device?.extension, '8001', 'outside the mask: unchanged')
    t.equal(moved.device?.flexHost, true)
    t.equal((await core.getSeat({ target: { $case: 'userId', value: 'alice' } })).seat?.siteId, 'berlin', 'a phone moved to another site takes its seat along')
    await expectCode(t, core.createDevice({ requestId: rid(), device: { id: 'ams-1', siteId: 'amsterdam', extension: '', label: '', model: '', flexHost: true, revision: '0' } }, ADMIN), ErrorCode.ERROR_CODE_ALREADY_EXISTS, 'same device id')
    await expectCode(t, core.createDevice({ requestId: rid(), device: { id: 'x-1', siteId: 'paris', extension: '', label: '', model: '', flexHost: true, revision: '0' } }, ADMIN), ErrorCode.ERROR_CODE_SITE_NOT_FOUND, 'unknown site')
    await expectCode(t, core.createDevice({ requestId: rid(), device: { id: 'x-2', siteId: 'berlin', extension: '1001', label: '', model: '', flexHost: true, revision: '0' } }, ADMIN), ErrorCode.ERROR_CODE_EXTENSION_TAKEN, 'a user\'s extension for a device')

    await expectCode(t, core.deleteSite({ requestId: rid(), siteId: 'berlin' }, ADMIN), ErrorCode.ERROR_CODE_SITE_IN_USE, 'a site with devices')
    await core.deleteDevice({ requestId: rid(), deviceId: 'ams-1' }, ADMIN)
    t.equal((await core.getSeat({ target: { $case: 'userId', value: 'alice' } })).seat, undefined, 'deleting a device releases its seat')
    await expectCode(t, core.getDevice({ deviceId: 'ams-1' }), ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, 'gone')
    await core.deleteSite({ requestId: rid(), siteId: 'berlin' }, ADMIN)
    await expectCode(t, core.getSite({ siteId: 'berlin' }), ErrorCode.ERROR_CODE_SITE_NOT_FOUND, 'an empty site can be deleted')

    const site = await core.updateSite({ requestId: rid(), site: { id: 'amsterdam', name: 'Amsterdam HQ', timezone: '', emergencyNumbers: ['112', '911'], dispatchableLocation: '', sipTrunkUri: '', revision: '0' }, updateMask: ['name', 'emergencyNumbers'] }, ADMIN)
    t.equal(site.site?.name, 'Amsterdam HQ')
    t.same(site.site?.emergencyNumbers, ['112', '911'], 'JSON-style mask names work too')
    t.equal(site.site?.timezone, 'Europe/Amsterdam', 'outside the mask: unchanged')
  })

  t.test('paging', async (t) => {
    for (let i = 0; i < 7; i++) {
      await core.createSite({ requestId: rid(), site: { id: `p-${i}`, name: `P${i}`, timezone: '', emergencyNumbers: [], dispatchableLocation: '', sipTrunkUri: '', revision: '0' } }, ADMIN)
    }
    const seen: string[] = []
    let token = ''
    let pages = 0
    do {
      const page = await core.listSites({ pageSize: 3, pageToken: token })
      t.ok(page.sites.length <= 3, 'at most page_size')
      seen.push(...page.sites.map((s) => s.id))
      token = page.nextPageToken
      pages++
    } while (token !== '' && pages < 10)
    t.same(seen, ['amsterdam', 'p-0', 'p-1', 'p-2', 'p-3', 'p-4', 'p-5', 'p-6'], 'every site once, in order')
    t.equal(pages, 3)
    t.equal((await core.listSites({ pageSize: 0, pageToken: '' })).sites.length, 8, 'default page size 100')
    const devices = await core.listDevices({ siteId: 'amsterdam', pageSize: 0, pageToken: '' })
    t.same(devices.devices.map((d) => d.id), ['ams-2', 'ams-3'], 'devices filtered by site')
    const users = await core.listUsers({ homeSiteId: 'amsterdam', pageSize: 1, pageToken: '' })
    t.equal(users.users.length, 1)
    t.not(users.nextPageToken, '', 'a next page')
    const seats = await core.listSeats({ siteId: '', pageSize: 10, pageToken: '' })
    t.ok(BigInt(seats.revision) > 0n, 'ListSeats says which revision it read')
  })
})
