import t from 'tap'
import { ErrorCode, type LoginResponse } from '@flexseat/proto'
import { type RegistryCore, RegistryError } from '@flexseat/registry'
import { ADMIN, type CoreHandle, SIP_NODE, freshPrefix, leaderOf, revisionOf, rid, seed, startCore, startEtcd } from '../helpers/registry-core-harness'

t.setTimeout(28_000)

interface SeatValue { userId: string; deviceId: string }

/**
 * Invariant 1: reads seats/ and hosts/ at EVERY revision from `from` to `to` and checks that no
 * phone hosts two users (a user has one seats/ key by construction) and that hosts/ mirrors
 * seats/ exactly. Returns the number of revisions checked.
 */
async function checkEveryRevision(t: tap.Test, core: CoreHandle, prefix: string, from: bigint, to: bigint): Promise<number> {
  let checked = 0
  let violations = 0
  for (let rev = from; rev <= to; rev++) {
    const range = (folder: string) => core.etcd.kv.range({ key: Buffer.from(`${prefix}${folder}/`), range_end: Buffer.from(`${prefix}${folder}0`), revision: rev.toString() })
    const [seats, hosts] = await Promise.all([range('seats'), range('hosts')])
    const byDevice = new Map<string, string>()
    for (const kv of seats.kvs) {
      const seat = JSON.parse(kv.value.toString()) as SeatValue
      if (byDevice.has(seat.deviceId)) {
        violations++
        t.fail(`revision ${rev}: device ${seat.deviceId} hosts ${byDevice.get(seat.deviceId)} and ${seat.userId}`)
      }
      byDevice.set(seat.deviceId, seat.userId)
    }
    const hostMap = new Map(hosts.kvs.map((kv) => [kv.key.toString().slice(`${prefix}hosts/`.length), kv.value.toString()]))
    if (hostMap.size !== byDevice.size) {
      violations++
      t.fail(`revision ${rev}: ${hostMap.size} hosts/ keys for ${byDevice.size} seats`)
    }
    byDevice.forEach((user, device) => {
      if (hostMap.get(device) !== user) {
        violations++
        t.fail(`revision ${rev}: hosts/${device} is ${hostMap.get(device)}, the seat says ${user}`)
      }
    })
    checked++
  }
  t.equal(violations, 0, `no violation at any of ${checked} revisions`)
  return checked
}

t.test('racing logins from several sites: one outcome each time, and invariant 1 at every revision', async (t) => {
  const etcd = await startEtcd(t, 3)
  const prefix = freshPrefix()
  const cores = [
    await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam' }),
    await startCore(t, etcd.endpoints, { prefix, site: 'berlin' }),
    await startCore(t, etcd.endpoints, { prefix, site: 'chicago' }),
  ]
  const leader = await leaderOf(cores)
  t.equal(cores.filter((c) => c.core.isLeader).length, 1, 'one leader among three instances')
  await seed(leader.core, {
    sites: ['amsterdam', 'berlin'],
    devices: ['ams-1', 'ams-2', 'ams-3', 'ber-1', 'ber-2', 'ber-3'].map((id) => ({ id, site: id.startsWith('ams') ? 'amsterdam' : 'berlin' })),
    users: [
      { id: 'w1', extension: '2001', site: 'amsterdam', pin: '1111' },
      { id: 'w2', extension: '2002', site: 'amsterdam', pin: '2222' },
      { id: 'w3', extension: '2003', site: 'berlin', pin: '3333' },
    ],
  })
  const from = await revisionOf(leader.etcd)

  // What the server layer does: a follower refuses with NOT_LEADER, the call goes to the leader.
  const via = async <T>(origin: CoreHandle, call: (core: RegistryCore) => Promise<T>): Promise<T> => {
    try {
      return await call(origin.core)
    } catch (error) {
      if (!(error instanceof RegistryError) || error.code !== ErrorCode.ERROR_CODE_NOT_LEADER) throw error
      return call((await leaderOf(cores)).core)
    }
  }
  const login = (origin: CoreHandle, extension: string, pin: string, deviceId: string) =>
    via(origin, (core) => core.login({ requestId: rid(), deviceId, extension, pin, durationHours: 0 }, SIP_NODE))
  const byEpoch = (a: LoginResponse, b: LoginResponse) => (BigInt(a.seat!.epoch) < BigInt(b.seat!.epoch) ? -1 : 1)

  let moves = 0
  let bumps = 0
  for (let round = 0; round < 20; round++) {
    const ams = `ams-${(round % 3) + 1}`
    const ber = `ber-${((round + 1) % 3) + 1}`
    // The same worker signs in at a phone in Amsterdam and one in Berlin at the same moment.
    const same = (await Promise.all([login(cores[0]!, '2001', '1111', ams), login(cores[1]!, '2001', '1111', ber)])).sort(byEpoch)
    const [first, second] = same as [LoginResponse, LoginResponse]
    t.not(first.seat!.epoch, second.seat!.epoch, 'two distinct transactions')
    if (second.revoked?.deviceId === first.seat!.deviceId && second.revoked?.epoch === first.seat!.epoch) moves++
    const now = await leader.core.getSeat({ target: { $case: 'userId', value: 'w1' } })
    t.equal(now.seat?.deviceId, second.seat!.deviceId, `round ${round}: the later login holds the seat`)

    // Two workers sign in at the same phone at the same moment.
    const phone = round % 2 === 0 ? 'ams-3' : 'ber-3'
    const pair = (await Promise.all([login(cores[1]!, '2002', '2222', phone), login(cores[2]!, '2003', '3333', phone)])).sort(byEpoch)
    const [early, late] = pair as [LoginResponse, LoginResponse]
    if (late.bumped?.userId === early.seat!.userId) bumps++
    const host = await cores[2]!.core.getSeat({ target: { $case: 'deviceId', value: phone } })
    t.equal(host.seat?.userId, late.seat!.userId, `round ${round}: the phone hosts the later worker only`)
    const loser = await cores[0]!.core.getSeat({ target: { $case: 'userId', value: early.seat!.userId } })
    t.not(loser.seat?.deviceId, phone, `round ${round}: the earlier worker is not on that phone any more`)
  }
  t.equal(moves, 20, 'every race of one worker ended with exactly one seat, the other revoked (MOVED)')
  t.equal(bumps, 20, 'every race for one phone ended with one occupant, the other bumped')

  const to = await revisionOf(leader.etcd)
  const checked = await checkEveryRevision(t, leader, prefix, from, to)
  t.ok(checked >= 80, `checked ${checked} revisions`)
})
