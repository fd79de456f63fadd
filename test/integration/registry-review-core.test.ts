// Review fixes at core level, over a real etcd: DeleteSite refuses a site that is still some
// user's home site, and a request id reused by ANOTHER caller (same role) is REQUEST_ID_REUSED
// instead of a replay of the first caller's outcome.
import t from 'tap'
import { ErrorCode } from '@flexseat/proto'
import type { Caller } from '@flexseat/registry'
import { ADMIN, SIP_NODE, expectCode, freshPrefix, leaderOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(25_000)

t.test('review fixes on one leader', async (t) => {
  const etcd = await startEtcd(t, 1)
  const a = await startCore(t, etcd.endpoints, { prefix: freshPrefix(), site: 'amsterdam' })
  const { core } = await leaderOf([a])
  await seed(core, {
    sites: ['amsterdam', 'berlin'],
    devices: [{ id: 'ams-1', site: 'amsterdam' }, { id: 'ams-2', site: 'amsterdam' }],
    users: [
      { id: 'alice', extension: '1001', site: 'amsterdam', pin: '1234' },
      { id: 'bert', extension: '1002', site: 'berlin', pin: '4321' },
    ],
  })

  t.test('DeleteSite refuses a site that is a user\'s home site', async (t) => {
    // berlin has no device, only a user whose home it is.
    const refused = await expectCode(t, core.deleteSite({ requestId: rid('del'), siteId: 'berlin' }, ADMIN), ErrorCode.ERROR_CODE_SITE_IN_USE, 'home site of bert')
    t.match(refused.message, /home site of 1 user/)
    t.equal((await core.getSite({ siteId: 'berlin' })).site?.id, 'berlin', 'the site is still there')

    const bert = (await core.getUser({ key: { $case: 'userId', value: 'bert' } })).user!
    await core.updateUser({ requestId: rid('move'), user: { ...bert, homeSiteId: 'amsterdam' }, updateMask: ['home_site_id'] }, ADMIN)
    await core.deleteSite({ requestId: rid('del'), siteId: 'berlin' }, ADMIN)
    await expectCode(t, core.getSite({ siteId: 'berlin' }), ErrorCode.ERROR_CODE_SITE_NOT_FOUND, 'deleted once no user has it as home')
  })

  t.test('a request id reused by another caller of the same role is REQUEST_ID_REUSED', async (t) => {
    const other: Caller = { name: 'sip-berlin', role: 'sip-node' }
    const id = rid('login')
    const request = { requestId: id, deviceId: 'ams-1', extension: '1001', pin: '1234', durationHours: 0 }
    const first = await core.login(request, SIP_NODE)
    t.equal(first.seat?.userId, 'alice')
    t.same(await core.login(request, SIP_NODE), first, 'the same caller retrying gets the first outcome')
    await expectCode(t, core.login(request, other), ErrorCode.ERROR_CODE_REQUEST_ID_REUSED, 'another caller with the same id and request')

    const adminB: Caller = { name: 'other-admin', role: 'admin' }
    const siteId = rid('s').slice(0, 20)
    const create = { requestId: rid('site'), site: { id: siteId, name: 'x', timezone: 'Europe/Berlin', emergencyNumbers: ['112'], dispatchableLocation: 'x', sipTrunkUri: 'sip:x.example', revision: '0' } }
    await core.createSite(create, ADMIN)
    await expectCode(t, core.createSite(create, adminB), ErrorCode.ERROR_CODE_REQUEST_ID_REUSED, 'another admin reusing an admin\'s request id')
  })
})
