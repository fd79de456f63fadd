// The directory's part of provisioning: devices' MAC addresses (unique, found by), vendors and
// desk profiles; named function-key profiles; the worker's desk profile (label, language, own
// keys), which the directory sync leaves alone; and a softkey sign-in's seat says so.
import t from 'tap'
import { Device, ErrorCode, FunctionKeyType, PhoneVendor, SeatVia, User } from '@flexseat/proto'
import type { Caller } from '@flexseat/registry'
import { ADMIN, SIP_NODE, expectCode, freshPrefix, leaderOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(25_000)

const PROVISIONING: Caller = { name: 'prov-amsterdam', role: 'provisioning' }
const BLF = FunctionKeyType.FUNCTION_KEY_TYPE_BLF
const SPEED = FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL
const LINE = FunctionKeyType.FUNCTION_KEY_TYPE_LINE

t.test('MACs, vendors, profiles and the worker\'s desk profile', async (t) => {
  const etcd = await startEtcd(t, 1)
  const a = await startCore(t, etcd.endpoints, { prefix: freshPrefix(), site: 'amsterdam' })
  const { core } = await leaderOf([a])
  await seed(core, { sites: ['amsterdam'], devices: [], users: [{ id: 'ada', extension: '1001', site: 'amsterdam', pin: '4711' }] })

  t.test('a device\'s MAC is stored normalised, unique, and finds the device', async (t) => {
    const created = await core.createDevice(
      { requestId: rid(), device: Device.fromPartial({ id: 'desk-1', siteId: 'amsterdam', extension: '2001', flexHost: true, mac: '80:5E:C0:12:34:56', vendor: PhoneVendor.PHONE_VENDOR_YEALINK, functionKeyProfile: 'desk' }) },
      ADMIN,
    )
    t.equal(created.device?.mac, '805ec0123456', 'stored as 12 lower-case hex digits')
    t.equal(created.device?.vendor, PhoneVendor.PHONE_VENDOR_YEALINK)
    t.equal(created.device?.functionKeyProfile, 'desk')
    t.equal((await core.getDevice({ deviceId: '', mac: '805EC0123456' })).device?.id, 'desk-1', 'GetDevice by MAC, any spelling')
    t.equal((await core.getDevice({ deviceId: '', mac: '80-5e-c0-12-34-56' })).device?.id, 'desk-1')
    await expectCode(t, core.createDevice({ requestId: rid(), device: Device.fromPartial({ id: 'desk-2', siteId: 'amsterdam', mac: '805ec0123456' }) }, ADMIN), ErrorCode.ERROR_CODE_MAC_TAKEN, 'a second device with the MAC')
    await expectCode(t, core.createDevice({ requestId: rid(), device: Device.fromPartial({ id: 'desk-2', siteId: 'amsterdam', mac: '80:5e:c0' }) }, ADMIN), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'a malformed MAC', 'device.mac')
    await expectCode(t, core.createDevice({ requestId: rid(), device: Device.fromPartial({ id: 'desk-2', siteId: 'amsterdam', vendor: 42 as PhoneVendor }) }, ADMIN), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'an unknown vendor', 'device.vendor')
    await core.createDevice({ requestId: rid(), device: Device.fromPartial({ id: 'desk-2', siteId: 'amsterdam', mac: '805ec0aaaaaa' }) }, ADMIN)
    await expectCode(t, core.updateDevice({ requestId: rid(), device: Device.fromPartial({ id: 'desk-2', mac: '805ec0123456' }), updateMask: ['mac'] }, ADMIN), ErrorCode.ERROR_CODE_MAC_TAKEN, 'moving to a taken MAC')

    // The MAC moves with an update: the old one is free, the new one finds the device.
    await core.updateDevice({ requestId: rid(), device: Device.fromPartial({ id: 'desk-1', mac: '805ec0bbbbbb' }), updateMask: ['mac'] }, ADMIN)
    await expectCode(t, core.getDevice({ deviceId: '', mac: '805ec0123456' }), ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, 'the old MAC no longer finds it')
    t.equal((await core.getDevice({ deviceId: '', mac: '805ec0bbbbbb' })).device?.id, 'desk-1')
    await core.createDevice({ requestId: rid(), device: Device.fromPartial({ id: 'desk-3', siteId: 'amsterdam', mac: '805ec0123456' }) }, ADMIN)
    t.pass('the old MAC is free for another device')
    const cleared = await core.updateDevice({ requestId: rid(), device: Device.fromPartial({ id: 'desk-3', mac: '' }), updateMask: ['mac'] }, ADMIN)
    t.equal(cleared.device?.mac, '', 'an empty MAC removes it')
    await core.deleteDevice({ requestId: rid(), deviceId: 'desk-2' }, ADMIN)
    await expectCode(t, core.getDevice({ deviceId: '', mac: '805ec0aaaaaa' }), ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, 'deleting the device frees its MAC')
    await core.createDevice({ requestId: rid(), device: Device.fromPartial({ id: 'desk-4', siteId: 'amsterdam', mac: '805ec0aaaaaa' }) }, ADMIN)
    t.pass('and another device may take it')
  })

  t.test('named function-key profiles', async (t) => {
    const keys = [{ type: LINE, value: '', label: 'Line' }, { type: BLF, value: '1002', label: 'Alan' }, { type: SPEED, value: '+31201234567', label: 'Office' }]
    const set = await core.setFunctionKeyProfile({ requestId: rid(), profile: { name: 'sales', description: 'Sales desks', keys, revision: '0' } }, ADMIN)
    t.ok(BigInt(set.profile!.revision) > 0n, 'the revision is set')
    t.same((await core.getFunctionKeyProfile({ name: 'sales' })).profile?.keys, keys, 'read back in order')
    await core.setFunctionKeyProfile({ requestId: rid(), profile: { name: 'sales', description: '', keys: keys.slice(1), revision: '0' } }, ADMIN)
    t.equal((await core.getFunctionKeyProfile({ name: 'sales' })).profile?.keys.length, 2, 'set replaces the profile whole')
    t.same((await core.listFunctionKeyProfiles({ pageSize: 10, pageToken: '' })).profiles.map((p) => p.name), ['sales'])
    await expectCode(t, core.setFunctionKeyProfile({ requestId: rid(), profile: { name: 'x', description: '', keys: [{ type: BLF, value: '', label: '' }], revision: '0' } }, ADMIN), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'a BLF key without a value', 'profile.keys[0].value')
    await expectCode(t, core.setFunctionKeyProfile({ requestId: rid(), profile: { name: 'x', description: '', keys: [{ type: LINE, value: '12', label: '' }], revision: '0' } }, ADMIN), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'a line key with a value', 'profile.keys[0].value')
    await expectCode(t, core.setFunctionKeyProfile({ requestId: rid(), profile: { name: 'x', description: '', keys: [{ type: SPEED, value: '12', label: 'x'.repeat(33) }], revision: '0' } }, ADMIN), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'a label over 32 characters', 'profile.keys[0].label')
    await expectCode(t, core.setFunctionKeyProfile({ requestId: rid(), profile: { name: 'x', description: '', keys: Array.from({ length: 49 }, () => ({ type: LINE, value: '', label: '' })), revision: '0' } }, ADMIN), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'more than 48 keys', 'profile.keys')
    await expectCode(t, core.setFunctionKeyProfile({ requestId: rid(), profile: { name: 'Sales!', description: '', keys: [], revision: '0' } }, ADMIN), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'a bad name', 'profile.name')
    await core.deleteFunctionKeyProfile({ requestId: rid(), name: 'sales' }, ADMIN)
    await expectCode(t, core.getFunctionKeyProfile({ name: 'sales' }), ErrorCode.ERROR_CODE_PROFILE_NOT_FOUND, 'deleted')
    await core.deleteFunctionKeyProfile({ requestId: rid(), name: 'sales' }, ADMIN)
    t.pass('deleting again is not an error')
  })

  t.test('the worker\'s label, language and own keys', async (t) => {
    const updated = await core.updateUser(
      { requestId: rid(), user: User.fromPartial({ id: 'ada', label: 'Ada (Sales)', language: 'de', functionKeys: [{ type: BLF, value: '1002', label: 'Alan' }] }), updateMask: ['label', 'language', 'function_keys'] },
      ADMIN,
    )
    t.equal(updated.user?.label, 'Ada (Sales)')
    t.equal(updated.user?.language, 'de')
    t.same(updated.user?.functionKeys, [{ type: BLF, value: '1002', label: 'Alan' }])
    await expectCode(t, core.updateUser({ requestId: rid(), user: User.fromPartial({ id: 'ada', language: 'deutsch!' }), updateMask: ['language'] }, ADMIN), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'a bad language tag', 'user.language')
  })

  t.test('a sign-in by a provisioning service is a softkey seat', async (t) => {
    await core.createDevice({ requestId: rid(), device: Device.fromPartial({ id: 'flex-1', siteId: 'amsterdam', flexHost: true }) }, ADMIN)
    const softkey = await core.login({ requestId: rid(), deviceId: 'flex-1', extension: '1001', pin: '4711', durationHours: 0 }, PROVISIONING)
    t.equal(softkey.seat?.via, SeatVia.SEAT_VIA_SOFTKEY)
    await expectCode(t, core.login({ requestId: rid(), deviceId: 'flex-1', extension: '1001', pin: '', durationHours: 0 }, PROVISIONING), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'a provisioning service signs in only with the PIN', 'pin')
    const phone = await core.login({ requestId: rid(), deviceId: 'flex-1', extension: '1001', pin: '4711', durationHours: 0 }, SIP_NODE)
    t.equal(phone.seat?.via, SeatVia.SEAT_VIA_PHONE, 'a SIP node\'s is a phone seat')
  })
})
