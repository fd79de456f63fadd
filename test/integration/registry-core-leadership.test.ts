import t from 'tap'
import { ErrorCode } from '@flexseat/proto'
import type { LoginResponse } from '@flexseat/proto'
import { ADMIN, type CoreHandle, SIP_NODE, expectCode, freshPrefix, leaderOf, rid, seed, startCore, startEtcd, waitFor } from '../helpers/registry-core-harness'

t.setTimeout(28_000)

/** The election key of the current leader (the oldest candidate key). */
async function leaderKey(core: CoreHandle, prefix: string) {
  const res = await core.etcd.kv.range({
    key: Buffer.from(`${prefix}election/registry/`),
    range_end: Buffer.from(`${prefix}election/registry0`),
    sort_target: 'Create',
    sort_order: 'Ascend',
    limit: 1,
  })
  return res.kvs[0]!
}

t.test('fenced leadership: a deposed leader cannot write', async (t) => {
  const etcd = await startEtcd(t, 3)
  const prefix = freshPrefix()
  const cores = [
    await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam' }),
    await startCore(t, etcd.endpoints, { prefix, site: 'berlin' }),
    await startCore(t, etcd.endpoints, { prefix, site: 'chicago' }),
  ]
  const first = await leaderOf(cores)
  await seed(first.core, {
    sites: ['amsterdam'],
    devices: [{ id: 'ams-1', site: 'amsterdam' }, { id: 'ams-2', site: 'amsterdam' }],
    users: [{ id: 'alice', extension: '1001', site: 'amsterdam', pin: '1234' }],
  })
  const other = cores.find((c) => c !== first)!

  t.test('its election key deleted behind its back, another instance wins; its write is refused', async (t) => {
    const key = await leaderKey(other, prefix)
    t.match(JSON.parse(key.value.toString()), { instanceId: first.id }, 'the oldest election key is the leader\'s')
    await other.etcd.kv.deleteRange({ key: key.key })
    const successor = await waitFor(() => cores.find((c) => c !== first && c.core.isLeader), 10_000, 'a successor')
    t.ok(first.core.isLeader, 'the deposed leader still believes it leads (nothing told it)')
    const requestId = rid('deposed')
    await expectCode(t, first.core.login({ requestId, deviceId: 'ams-1', extension: '1001', pin: '1234', durationHours: 0 }, SIP_NODE), ErrorCode.ERROR_CODE_NOT_LEADER, 'the deposed leader\'s write')
    t.notOk(first.core.isLeader, 'it stepped down at once')
    t.equal((await successor.core.getSeat({ target: { $case: 'userId', value: 'alice' } })).seat, undefined, 'no seat was written')
    const record = await other.etcd.kv.range({ key: Buffer.from(`${prefix}requests/${requestId}`) })
    t.equal(record.kvs.length, 0, 'no request record was written')
    const ok = await successor.core.login({ requestId, deviceId: 'ams-1', extension: '1001', pin: '1234', durationHours: 0 }, SIP_NODE)
    t.equal(ok.seat?.deviceId, 'ams-1', 'the successor serves the same request')
  })

  t.test('its lease revoked (as when it was paused past its TTL): it steps down before etcd3 would notice', async (t) => {
    const current = await leaderOf(cores)
    const key = await leaderKey(other, prefix)
    t.match(JSON.parse(key.value.toString()), { instanceId: current.id })
    const started = Date.now()
    await other.etcd.leaseClient.leaseRevoke({ ID: key.lease })
    await waitFor(() => !current.core.isLeader, 4_000, 'the leader to step down')
    t.ok(Date.now() - started < 4_000, `stepped down after ${Date.now() - started} ms (etcd3 alone waits 2 x TTL = 4 s)`)
    const next = await leaderOf(cores)
    const res: LoginResponse = await next.core.login({ requestId: rid(), deviceId: 'ams-2', extension: '1001', pin: '', durationHours: 0 }, ADMIN)
    t.equal(res.revoked?.deviceId, 'ams-1', 'the next leader writes, and sees every earlier write')
  })

  t.test('resign hands leadership over at once', async (t) => {
    const current = await leaderOf(cores)
    const started = Date.now()
    await current.core.resign()
    t.notOk(current.core.isLeader)
    const next = await leaderOf(cores)
    t.not(next.id, current.id)
    t.ok(Date.now() - started < 1_500, `a successor leads after ${Date.now() - started} ms, without waiting for the lease`)
    const status = await current.core.getClusterStatus({})
    t.equal(status.leader?.instanceId, next.id, 'cluster status names the new leader')
    t.equal(status.instances.length, 3, 'three instances present')
    await expectCode(t, current.core.logout({ requestId: rid(), target: { $case: 'userId', value: 'alice' }, reason: 0 }, ADMIN), ErrorCode.ERROR_CODE_NOT_LEADER, 'a follower\'s write')
  })
})

