// Bad arguments on every RPC, over real gRPC to real registry processes: INVALID_ARGUMENT with
// ErrorDetail.field naming the field, the same through a follower (forwarded writes) as on the
// leader, and nothing written to etcd.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { status } from '@grpc/grpc-js'
import { ErrorCode, serverStream, unary, type UnaryMethod, User } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { Etcd3 } from 'etcd3'
import { callError, eventually, RegistryCluster, type RegistryClients } from '../helpers/registry-cluster'

t.setTimeout(60_000)

const BAD_ID = 'Not An Id!'

function user(overrides: Record<string, unknown> = {}) {
  return User.fromPartial({
    id: '',
    extension: '4001',
    displayName: 'Bad Args',
    did: '',
    email: '',
    mobile: '',
    department: '',
    homeSiteId: 'amsterdam',
    roamingAllowed: false,
    maxSeatHours: 0,
    fallback: '',
    lockedUntil: undefined,
    revision: '0',
    ...overrides,
  })
}
const device = (overrides: Record<string, unknown> = {}) => ({ id: 'ams-bad-1', siteId: 'amsterdam', extension: '4901', label: '', model: '', flexHost: true, revision: '0', ...overrides })
const site = (overrides: Record<string, unknown> = {}) => ({
  id: 'bad-site',
  name: 'Bad',
  timezone: 'Europe/Amsterdam',
  emergencyNumbers: ['112'],
  dispatchableLocation: 'nowhere',
  sipTrunkUri: 'sip:127.0.0.1:5999',
  revision: '0',
  ...overrides,
})

/** One bad request: the RPC, the request, the field the error must name. */
interface Case {
  rpc: string
  field: string
  call: (c: RegistryClients, request: any, metadata: import('@grpc/grpc-js').Metadata) => Promise<unknown>
  request: Record<string, unknown>
}

function u<Req, Res>(bind: (c: RegistryClients) => UnaryMethod<Req, Res>) {
  return (c: RegistryClients, request: Req, metadata: import('@grpc/grpc-js').Metadata) => unary(bind(c), request, { metadata, timeoutMs: 5_000 })
}

const rid = () => randomUUID()

const writes: Case[] = [
  { rpc: 'Login', field: 'extension', call: u((c) => c.seat.login.bind(c.seat)), request: { requestId: rid(), deviceId: 'ams-bad-1', extension: 'abc', pin: '1234', durationHours: 0 } },
  { rpc: 'Login', field: 'device_id', call: u((c) => c.seat.login.bind(c.seat)), request: { requestId: rid(), deviceId: BAD_ID, extension: '4001', pin: '1234', durationHours: 0 } },
  { rpc: 'RenewSeat', field: 'extension', call: u((c) => c.seat.renewSeat.bind(c.seat)), request: { requestId: rid(), deviceId: 'ams-bad-1', extension: 'abc', pin: '1234' } },
  { rpc: 'RenewSeat', field: 'pin', call: u((c) => c.seat.renewSeat.bind(c.seat)), request: { requestId: rid(), deviceId: 'ams-bad-1', extension: '4001', pin: '12' } },
  { rpc: 'RenewSeat', field: 'device_id', call: u((c) => c.seat.renewSeat.bind(c.seat)), request: { requestId: rid(), deviceId: BAD_ID, extension: '4001', pin: '1234' } },
  { rpc: 'Logout', field: 'user_id', call: u((c) => c.seat.logout.bind(c.seat)), request: { requestId: rid(), target: { $case: 'userId', value: BAD_ID }, reason: 0 } },
  { rpc: 'CreateUser', field: 'user.extension', call: u((c) => c.directory.createUser.bind(c.directory)), request: { requestId: rid(), user: user({ extension: 'x1' }), pin: '1234' } },
  { rpc: 'CreateUser', field: 'pin', call: u((c) => c.directory.createUser.bind(c.directory)), request: { requestId: rid(), user: user(), pin: '12' } },
  { rpc: 'UpdateUser', field: 'user.id', call: u((c) => c.directory.updateUser.bind(c.directory)), request: { requestId: rid(), user: user({ id: BAD_ID }), updateMask: undefined } },
  { rpc: 'DeleteUser', field: 'user_id', call: u((c) => c.directory.deleteUser.bind(c.directory)), request: { requestId: rid(), userId: BAD_ID } },
  { rpc: 'ChangePin', field: 'new_pin', call: u((c) => c.directory.changePin.bind(c.directory)), request: { requestId: rid(), extension: '4001', oldPin: '1234', newPin: '12' } },
  { rpc: 'ResetPin', field: 'new_pin', call: u((c) => c.directory.resetPin.bind(c.directory)), request: { requestId: rid(), userId: 'someone', newPin: 'abcd' } },
  { rpc: 'CreateDevice', field: 'device.site_id', call: u((c) => c.directory.createDevice.bind(c.directory)), request: { requestId: rid(), device: device({ siteId: BAD_ID }) } },
  { rpc: 'UpdateDevice', field: 'device.id', call: u((c) => c.directory.updateDevice.bind(c.directory)), request: { requestId: rid(), device: device({ id: BAD_ID }), updateMask: undefined } },
  { rpc: 'DeleteDevice', field: 'device_id', call: u((c) => c.directory.deleteDevice.bind(c.directory)), request: { requestId: rid(), deviceId: BAD_ID } },
  { rpc: 'CreateSite', field: 'site.id', call: u((c) => c.directory.createSite.bind(c.directory)), request: { requestId: rid(), site: site({ id: BAD_ID }) } },
  { rpc: 'UpdateSite', field: 'site.id', call: u((c) => c.directory.updateSite.bind(c.directory)), request: { requestId: rid(), site: site({ id: BAD_ID }), updateMask: undefined } },
  { rpc: 'DeleteSite', field: 'site_id', call: u((c) => c.directory.deleteSite.bind(c.directory)), request: { requestId: rid(), siteId: BAD_ID } },
]

// Every mutating RPC requires a request id.
const missingRequestId: Case[] = [...new Map(writes.map((w) => [w.rpc, w])).values()].map((w) => ({ ...w, field: 'request_id', request: { ...w.request, requestId: '' } }))

const reads: Case[] = [
  { rpc: 'GetSeat', field: 'user_id', call: u((c) => c.seat.getSeat.bind(c.seat)), request: { target: { $case: 'userId', value: BAD_ID } } },
  { rpc: 'ListSeats', field: 'site_id', call: u((c) => c.seat.listSeats.bind(c.seat)), request: { siteId: BAD_ID, pageSize: 0, pageToken: '' } },
  { rpc: 'GetUser', field: 'extension', call: u((c) => c.directory.getUser.bind(c.directory)), request: { key: { $case: 'extension', value: 'abc' } } },
  { rpc: 'ListUsers', field: 'home_site_id', call: u((c) => c.directory.listUsers.bind(c.directory)), request: { homeSiteId: BAD_ID, pageSize: 0, pageToken: '' } },
  { rpc: 'GetDevice', field: 'device_id', call: u((c) => c.directory.getDevice.bind(c.directory)), request: { deviceId: BAD_ID } },
  { rpc: 'ListDevices', field: 'site_id', call: u((c) => c.directory.listDevices.bind(c.directory)), request: { siteId: BAD_ID, pageSize: 0, pageToken: '' } },
  { rpc: 'GetDeviceCredentials', field: 'device_id', call: u((c) => c.directory.getDeviceCredentials.bind(c.directory)), request: { deviceId: BAD_ID } },
  { rpc: 'GetSite', field: 'site_id', call: u((c) => c.directory.getSite.bind(c.directory)), request: { siteId: BAD_ID } },
  { rpc: 'ListSites', field: 'page_token', call: u((c) => c.directory.listSites.bind(c.directory)), request: { pageSize: 0, pageToken: '%%% not a page token %%%' } },
  {
    rpc: 'WatchSeats',
    field: 'site_id',
    call: async (c, request, metadata) => {
      for await (const _ of serverStream(c.seat.watchSeats.bind(c.seat), request, { metadata, timeoutMs: 5_000 })) return _
      return undefined
    },
    request: { afterRevision: '0', siteId: BAD_ID },
  },
]
// GetClusterStatus takes no arguments: it has nothing to get wrong.

t.test('bad arguments on every RPC', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 3, etcdMembers: 1 })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const follower = [0, 1, 2].find((i) => i !== leader)!
  const admin = cluster.metadata('admin')
  await eventually('the sites exist', async () => {
    const { directory } = cluster.clients(leader)
    return (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 3
  })

  const etcd = new Etcd3({ hosts: cluster.etcd.endpoints })
  t.teardown(async () => {
    etcd.close()
  })
  // Every write to etcd (a put or delete, leased or not; request records live on a lease) bumps
  // the store revision; lease grants and keepalives (presence, election) do not. Once the sites
  // exist and a leader is settled, nothing in the cluster writes unless asked to, so the
  // revision must not move while only refused calls are made.
  const revision = async () => BigInt((await etcd.kv.range({ key: Buffer.from(cluster.prefix), count_only: true })).header.revision)
  const durable = async () => {
    const kvs = await etcd.getAll().prefix(cluster.prefix).exec()
    return kvs.kvs.filter((kv) => kv.lease === '0').map((kv) => `${kv.key.toString()}@${kv.mod_revision}`).sort()
  }
  const before = await durable()
  const revisionBefore = await revision()

  const rpcs = new Set<string>()
  for (const [name, index] of [['leader', leader], ['follower', follower]] as const) {
    for (const c of [...writes, ...missingRequestId, ...reads]) {
      rpcs.add(c.rpc)
      const error = await callError(c.call(cluster.clients(index), c.request, admin))
      const detail = errorDetailOf(error)
      t.equal(error.code, status.INVALID_ARGUMENT, `${c.rpc} via the ${name} (${c.field}): INVALID_ARGUMENT`)
      t.equal(detail?.code, ErrorCode.ERROR_CODE_INVALID_ARGUMENT, `${c.rpc}: detail code`)
      t.equal(detail?.field, c.field, `${c.rpc}: detail names ${c.field}`)
    }
  }
  t.equal(rpcs.size, 24, 'every RPC except GetClusterStatus (which has no arguments) was covered')
  t.same(await durable(), before, 'no durable record was written by any refused call')
  const revisionAfter = await revision()
  const changed = (await etcd.getAll().prefix(cluster.prefix).exec()).kvs.filter((kv) => BigInt(kv.mod_revision) > revisionBefore).map((kv) => kv.key.toString())
  t.equal(revisionAfter, revisionBefore, `etcd's revision did not move: nothing at all was written, leased records included${changed.length ? ` (changed: ${changed.join(', ')})` : ''}`)
})
