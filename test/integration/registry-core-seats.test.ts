import t from 'tap'
import { ErrorCode, ReleaseReason, SeatVia } from '@flexseat/proto'
import { ADMIN, SIP_NODE, dump, expectCode, freshPrefix, leaderOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(25_000)

t.test('login, move, bump, logout and the domain checks of a login', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const a = await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam' })
  const { core } = await leaderOf([a])
  await seed(core, {
    sites: ['amsterdam', 'berlin'],
    devices: [
      { id: 'ams-1', site: 'amsterdam' },
      { id: 'ams-2', site: 'amsterdam' },
      { id: 'ber-1', site: 'berlin' },
      { id: 'lobby', site: 'amsterdam', flexHost: false, extension: '1999' },
    ],
    users: [
      { id: 'alice', extension: '1001', site: 'amsterdam', pin: '73519284' },
      { id: 'bob', extension: '1002', site: 'amsterdam', pin: '46281937', roaming: false },
    ],
  })

  const first = await core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE)
  t.equal(first.seat?.deviceId, 'ams-1')
  t.equal(first.seat?.via, SeatVia.SEAT_VIA_PHONE)
  t.equal(first.revoked, undefined)
  t.equal(first.bumped, undefined)
  const seen = await core.getSeat({ target: { $case: 'userId', value: 'alice' } })
  t.equal(seen.seat?.epoch, first.seat?.epoch, 'the epoch is the mod revision of the seat record')

  const moved = await core.login({ requestId: rid(), deviceId: 'ams-2', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE)
  t.equal(moved.revoked?.deviceId, 'ams-1', 'the previous seat is revoked')
  t.ok(BigInt(moved.seat!.epoch) > BigInt(first.seat!.epoch), 'the epoch increases')
  t.equal((await core.getSeat({ target: { $case: 'deviceId', value: 'ams-1' } })).seat, undefined, 'the old phone hosts nobody')

  const bump = await core.login({ requestId: rid(), deviceId: 'ams-2', extension: '1002', pin: '', durationHours: 0 }, ADMIN)
  t.equal(bump.bumped?.userId, 'alice', 'the previous occupant is bumped')
  t.equal(bump.seat?.via, SeatVia.SEAT_VIA_ADMIN)
  t.equal((await core.getSeat({ target: { $case: 'extension', value: '1001' } })).seat, undefined)

  await expectCode(t, core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1777', pin: '73519284', durationHours: 0 }, SIP_NODE), ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, 'unknown extension')
  await expectCode(t, core.login({ requestId: rid(), deviceId: 'nowhere', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE), ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, 'unknown device')
  await expectCode(t, core.login({ requestId: rid(), deviceId: 'lobby', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE), ErrorCode.ERROR_CODE_NOT_FLEX_HOST, 'not a flex host')
  await expectCode(t, core.login({ requestId: rid(), deviceId: 'ber-1', extension: '1002', pin: '46281937', durationHours: 0 }, SIP_NODE), ErrorCode.ERROR_CODE_ROAMING_NOT_ALLOWED, 'roaming')
  await expectCode(t, core.login({ requestId: rid(), deviceId: 'ber-1', extension: '1002', pin: '11110000', durationHours: 0 }, SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'a wrong PIN is refused before roaming is judged (the roaming reply names the home site)')
  const roam = await core.login({ requestId: rid(), deviceId: 'ber-1', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE)
  t.equal(roam.seat?.siteId, 'berlin', 'a roaming user sits in another branch')
  await expectCode(t, core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '', durationHours: 0 }, SIP_NODE), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'a sip node must give a PIN')

  const out = await core.logout({ requestId: rid(), target: { $case: 'deviceId', value: 'ber-1' }, reason: ReleaseReason.RELEASE_REASON_UNSPECIFIED }, SIP_NODE)
  t.equal(out.released?.userId, 'alice')
  const again = await core.logout({ requestId: rid(), target: { $case: 'userId', value: 'alice' }, reason: ReleaseReason.RELEASE_REASON_UNSPECIFIED }, SIP_NODE)
  t.equal(again.released, undefined, 'logout without a seat releases nothing')

  const admin = await core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '', durationHours: 8 }, ADMIN)
  const hours = (admin.seat!.expiresAt!.getTime() - admin.seat!.since!.getTime()) / 3_600_000
  t.equal(hours, 8, 'duration_hours sets expires_at')

  // Every way a PIN reaches the registry: wrong PINs at login and at ChangePin, ChangePin's new
  // PIN, ResetPin's. Each is a written request (records of requests and their outcomes).
  await expectCode(t, core.login({ requestId: rid(), deviceId: 'ams-2', extension: '1001', pin: '99887766', durationHours: 0 }, SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'a wrong PIN at login')
  await expectCode(t, core.changePin({ requestId: rid(), extension: '1001', oldPin: '55443322', newPin: '11335577' }, SIP_NODE), ErrorCode.ERROR_CODE_WRONG_PIN, 'a wrong old PIN at ChangePin')
  await core.changePin({ requestId: rid(), extension: '1001', oldPin: '73519284', newPin: '61829374' }, SIP_NODE)
  await core.resetPin({ requestId: rid(), userId: 'bob', newPin: '82736451' }, ADMIN)
  const changed = await core.login({ requestId: rid(), deviceId: 'ams-2', extension: '1001', pin: '61829374', durationHours: 0 }, SIP_NODE)
  t.equal(changed.seat?.deviceId, 'ams-2', 'the changed PIN is in force')
  const reset = await core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1002', pin: '82736451', durationHours: 0 }, SIP_NODE)
  t.equal(reset.seat?.deviceId, 'ams-1', 'the reset PIN is in force')

  // (Array.from, not spread: the test loader compiles to a target where spreading an iterator yields nothing.)
  const stored = await dump(a.etcd, prefix)
  const values = Array.from(stored.values()).join('\n')
  const keys = Array.from(stored.keys()).join('\n')
  t.ok(values.includes('scrypt$'), 'PIN hashes are stored')
  for (const pin of ['73519284', '46281937', '99887766', '55443322', '11335577', '61829374', '82736451', '11110000']) {
    t.notOk(values.includes(pin), `PIN ${pin} appears in no etcd value`)
    t.notOk(keys.includes(pin), `PIN ${pin} appears in no etcd key`)
  }
})
