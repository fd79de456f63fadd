// The desk throttle over real gRPC and registry processes (FLEXSEAT_DESK_THROTTLE_* read by the
// process): wrong PINs entered at one desk through different instances count together (the count
// is in etcd), and the next PIN sign-in there is refused with RESOURCE_EXHAUSTED and the detail
// DESK_THROTTLED until the pause ends; the leader logs the pause.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { status } from '@grpc/grpc-js'
import { ErrorCode, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { callError, eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(60_000)

const PIN = '80604020'

t.test('a desk paused for every worker, across instances', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1, logLevel: 'info', env: { FLEXSEAT_DESK_THROTTLE_MAX_FAILURES: '2', FLEXSEAT_DESK_THROTTLE_SECONDS: '600' } })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const admin = cluster.metadata('admin')
  const { directory } = cluster.clients(leader)
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 2)
  await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id: 'lobby-1', siteId: 'amsterdam', extension: '', label: 'lobby', model: '', flexHost: true, revision: '0' } }, { metadata: admin })
  for (const extension of ['7601', '7602', '7603']) await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker(extension), pin: PIN }, { metadata: admin })
  const login = (via: number, extension: string, pin: string) => {
    const { seat } = cluster.clients(via)
    return unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'lobby-1', extension, pin, durationHours: 0 }, { metadata: cluster.metadata('sip-node'), timeoutMs: 5_000 })
  }
  const mark = cluster.instances[leader]!.logs.length
  t.equal(errorDetailOf(await callError(login(leader, '7601', '11110000')))?.code, ErrorCode.ERROR_CODE_WRONG_PIN, 'a wrong PIN for 7601, through the leader')
  t.equal(errorDetailOf(await callError(login(follower, '7602', '11110000')))?.code, ErrorCode.ERROR_CODE_WRONG_PIN, 'one for 7602, through the follower')
  const paused = await callError(login(follower, '7603', PIN))
  t.equal(paused.code, status.RESOURCE_EXHAUSTED, "7603's right PIN at the same desk: RESOURCE_EXHAUSTED")
  const detail = errorDetailOf(paused)
  t.equal(detail?.code, ErrorCode.ERROR_CODE_DESK_THROTTLED, 'DESK_THROTTLED')
  t.ok(detail?.lockedUntil !== undefined && detail.lockedUntil.getTime() > Date.now() + 500_000, `until about 10 minutes from now (${detail?.lockedUntil?.toISOString()})`)
  const logged = await cluster.waitForLog(leader, (line) => line['msg'] === 'desk paused after too many wrong PINs', { since: mark })
  t.match(logged, { device: 'lobby-1', site: 'amsterdam' }, 'the leader logs the pause')
})
