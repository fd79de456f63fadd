// The per-desk PIN locks are in etcd, written by the leader's fenced transactions (issue 21): over
// real gRPC and registry processes, a worker locked at one desk stays locked there after the
// leader dies, and a new leader counts on from the stored record (a second desk's wrong PINs lock
// the worker everywhere).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { ErrorCode, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { callError, eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(60_000)

const PIN = '31415926'

t.test('a desk lock and the count survive a leader failover', async (t) => {
  const cluster = await RegistryCluster.start({
    instances: 2,
    etcdMembers: 1,
    env: { FLEXSEAT_LOCKOUT_MAX_FAILURES: '2', FLEXSEAT_LOCKOUT_CLUSTER_MAX_FAILURES: '3', FLEXSEAT_LOCKOUT_WINDOW_SECONDS: '600', FLEXSEAT_LOCKOUT_SECONDS: '600' },
  })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const survivor = leader === 0 ? 1 : 0
  const admin = cluster.metadata('admin')
  const { directory } = cluster.clients(survivor)
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 2)
  for (const id of ['desk-a', 'desk-b', 'desk-c']) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId: 'amsterdam', extension: '', label: id, model: '', flexHost: true, revision: '0' } }, { metadata: admin })
  }
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('7701'), pin: PIN }, { metadata: admin })
  const login = (deviceId: string, pin: string) => {
    const { seat } = cluster.clients(survivor)
    return unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId, extension: '7701', pin, durationHours: 0 }, { metadata: cluster.metadata('sip-node'), timeoutMs: 10_000 })
  }
  const code = async (deviceId: string, pin: string) => errorDetailOf(await callError(login(deviceId, pin)))?.code

  t.equal(await code('desk-a', '00000000'), ErrorCode.ERROR_CODE_WRONG_PIN)
  t.equal(await code('desk-a', '00000001'), ErrorCode.ERROR_CODE_LOCKED_AT_DESK, 'two wrong PINs lock 7701 at desk-a')
  await cluster.kill(leader)
  await cluster.waitForLeader({ on: [survivor] })
  t.equal(await code('desk-a', PIN), ErrorCode.ERROR_CODE_LOCKED_AT_DESK, 'after the failover desk-a still refuses the right PIN')
  t.equal(await code('desk-b', '00000002'), ErrorCode.ERROR_CODE_LOCKED_OUT, "the new leader counts on: desk-b's first wrong PIN is the third, from a second desk")
  t.equal(await code('desk-c', PIN), ErrorCode.ERROR_CODE_LOCKED_OUT, 'locked everywhere')
})
