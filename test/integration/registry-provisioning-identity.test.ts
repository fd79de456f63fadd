// A branch's provisioning service is that branch's credential, like its SIP node's: over real
// registry processes and real gRPC, Amsterdam's provisioning token is refused every read a phone's
// file needs for a Berlin phone (its device by id and by MAC, its digest credentials, the seat at
// it, Berlin's site) and a GuestOut there, with PERMISSION_DENIED — sent to the leader and to a
// follower (which forwards the caller with its site) — and signs nobody out; Berlin's own token
// does each of them for Berlin's phone, Amsterdam's for Amsterdam's.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { type Metadata, status } from '@grpc/grpc-js'
import { ErrorCode, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { callError, eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(45_000)

const PIN = '40417294'

t.test('a provisioning service reads and signs out at its own branch only', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1, logLevel: 'info' })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const admin = cluster.metadata('admin')
  const amsterdam = cluster.metadata('provisioning', 'amsterdam')
  const berlin = cluster.metadata('provisioning', 'berlin')
  const { directory, seat } = cluster.clients(leader)
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length >= 2)
  for (const [id, siteId, mac] of [['ams-desk', 'amsterdam', '805ec0aa0001'], ['ber-desk', 'berlin', '805ec0bb0002']] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId, extension: '', label: id, model: 'test', flexHost: true, revision: '0', sipPassword: `${id}-password`, mac } }, { metadata: admin })
  }
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('8101'), pin: PIN }, { metadata: admin })
  // GuestIn at the Berlin desk, through Berlin's service (Login is the worker's PIN's to allow).
  const seated = await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ber-desk', extension: '8101', pin: PIN, durationHours: 0 }, { metadata: berlin, timeoutMs: 5_000 })
  t.equal(seated.seat?.deviceId, 'ber-desk', "seated at ber-desk through Berlin's provisioning service")

  const reads = (via: number, metadata: Metadata, deviceId: string, mac: string, siteId: string): [string, () => Promise<unknown>][] => {
    const { directory: d, seat: s } = cluster.clients(via)
    return [
      ['GetDevice by id', () => unary(d.getDevice.bind(d), { deviceId, mac: '' }, { metadata, timeoutMs: 5_000 })],
      ['GetDevice by MAC', () => unary(d.getDevice.bind(d), { deviceId: '', mac }, { metadata, timeoutMs: 5_000 })],
      ['GetDeviceCredentials', () => unary(d.getDeviceCredentials.bind(d), { deviceId }, { metadata, timeoutMs: 5_000 })],
      ['GetSeat at the phone', () => unary(s.getSeat.bind(s), { target: { $case: 'deviceId', value: deviceId } }, { metadata, timeoutMs: 5_000 })],
      ['GetSite', () => unary(d.getSite.bind(d), { siteId }, { metadata, timeoutMs: 5_000 })],
    ]
  }

  // Guards tried: mayReadAt in directory-service.ts (GetDevice, GetSite), mustActFor there
  // (GetDeviceCredentials), mayGetSeat and mayLogout in seat-service.ts, and isSiteBound in
  // mustActFor, removed in turn: the call it guards is then accepted here.
  t.test("Amsterdam's token is refused each call for Berlin's phone, at the leader and through a follower", async (t) => {
    for (const via of [leader, follower]) {
      const where = via === leader ? 'the leader' : 'a follower'
      const { seat: s } = cluster.clients(via)
      const attempts: [string, () => Promise<unknown>][] = [
        ...reads(via, amsterdam, 'ber-desk', '805ec0bb0002', 'berlin'),
        ['GetSeat by user', () => unary(s.getSeat.bind(s), { target: { $case: 'userId', value: 'u8101' } }, { metadata: amsterdam, timeoutMs: 5_000 })],
        ['Logout at a Berlin phone', () => unary(s.logout.bind(s), { requestId: randomUUID(), target: { $case: 'deviceId', value: 'ber-desk' }, reason: 0 }, { metadata: amsterdam, timeoutMs: 5_000 })],
        ['Logout by user id', () => unary(s.logout.bind(s), { requestId: randomUUID(), target: { $case: 'userId', value: 'u8101' }, reason: 0 }, { metadata: amsterdam, timeoutMs: 5_000 })],
      ]
      for (const [name, attempt] of attempts) {
        const error = await callError(attempt())
        t.equal(error.code, status.PERMISSION_DENIED, `${name} via ${where}: PERMISSION_DENIED`)
        t.equal(errorDetailOf(error)?.code, ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'with the detail')
      }
    }
    const still = await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'u8101' } }, { metadata: admin })
    t.equal(still.seat?.epoch, seated.seat?.epoch, 'the worker is still seated in Berlin')
  })

  t.test("Berlin's token does each of them for Berlin's phone; Amsterdam's for Amsterdam's", async (t) => {
    for (const [metadata, deviceId, mac, siteId] of [[berlin, 'ber-desk', '805ec0bb0002', 'berlin'], [amsterdam, 'ams-desk', '805ec0aa0001', 'amsterdam']] as const) {
      for (const [name, read] of reads(follower, metadata, deviceId, mac, siteId)) {
        await t.resolves(read(), `${siteId}: ${name} of its own phone`)
      }
    }
    const { seat: s } = cluster.clients(follower)
    const atDesk = await unary(s.getSeat.bind(s), { target: { $case: 'deviceId', value: 'ber-desk' } }, { metadata: berlin, timeoutMs: 5_000 })
    t.equal(atDesk.seat?.userId, 'u8101', 'the seat at its own phone')
    const released = await unary(s.logout.bind(s), { requestId: randomUUID(), target: { $case: 'deviceId', value: 'ber-desk' }, reason: 0 }, { metadata: berlin, timeoutMs: 5_000 })
    t.equal(released.released?.userId, 'u8101', 'GuestOut at its own phone, through a follower')
  })
})
