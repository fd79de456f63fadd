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

  // (Array.from, not spread: the test loader compiles to a target where spreading an iterator yields nothing.)
  const values = Array.from((await dump(a.etcd, prefix)).values()).join('\n')
  t.ok(values.includes('scrypt$'), 'PIN hashes are stored')
  for (const pin of ['73519284', '46281937']) t.notOk(values.includes(pin), `PIN ${pin} appears in no etcd value`)
})
