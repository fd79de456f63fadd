import t from 'tap'
import pino from 'pino'
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
  // A short lease (this file is about losing leadership), TCP proxies to cut an instance off,
  // and each instance's log lines (to tell why it stepped down).
  const logs = new Map<CoreHandle, string[]>()
  const start = async (site: string) => {
    const lines: string[] = []
    const core = await startCore(t, etcd.endpoints, { prefix, site, ttl: 2, proxied: true, logger: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }) })
    logs.set(core, lines)
    return core
  }
  const cores = [await start('amsterdam'), await start('berlin'), await start('chicago')]
  const cutOff = new Set<CoreHandle>()
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

  t.test('cut off from etcd, it steps down on its own keepalive tracking, and no write of it lands', async (t) => {
    // etcd3 reports a lost lease only after 2 x TTL without keepalive; with every connection of
    // the leader cut, only the instance's own keepalive tracking can notice within the TTL. (A
    // revoked lease would not do: etcd answers the next keepalive with TTL 0 and etcd3 reacts.)
    const current = await leaderOf(cores)
    const observer = cores.find((c) => c !== current && !cutOff.has(c))!
    const key = await leaderKey(observer, prefix)
    t.match(JSON.parse(key.value.toString()), { instanceId: current.id }, 'the oldest election key is the leader\'s')
    const mark = logs.get(current)!.length
    await current.cut()
    cutOff.add(current)
    t.ok(current.core.isLeader, 'cut off, it still leads at first (nothing told it yet)')
    // A write sent while it still believes it leads cannot reach etcd.
    const duringCut = rid('cut')
    const attempt = current.core.logout({ requestId: duringCut, target: { $case: 'userId', value: 'alice' }, reason: 0 }, ADMIN).then(
      () => 'succeeded',
      () => 'failed',
    )
    // Polled along the way: never may another instance lead while it still believes it leads.
    let overlap = false
    await waitFor(() => {
      if (current.core.isLeader && cores.some((c) => c !== current && c.core.isLeader)) overlap = true
      return !current.core.isLeader
    }, 10_000, 'the cut-off leader to step down')
    const oldKey = await observer.etcd.kv.range({ key: key.key })
    t.comment(oldKey.kvs.length === 1 ? 'its election key was still in etcd when it stepped down' : 'its election key was already gone when the step-down was observed')
    // isLeader turns false the moment the tracked lease safety runs out; the step-down (and its
    // log line) follows on the next lease check.
    const lostLeadership = () => logs.get(current)!.slice(mark).map((line) => JSON.parse(line) as { msg: string; reason?: string }).filter((l) => l.msg === 'lost leadership')
    const stepDowns = await waitFor(() => (lostLeadership().length > 0 ? lostLeadership() : undefined), 5_000, 'the step-down to be logged')
    t.match(stepDowns[0]?.reason, /no keepalive answered/, 'it stepped down on its own keepalive tracking (not on etcd3 reporting the lease lost)')
    t.equal(await attempt, 'failed', 'the write sent while it was cut off failed')
    const afterStepDown = rid('cut-after')
    await expectCode(t, current.core.logout({ requestId: afterStepDown, target: { $case: 'userId', value: 'alice' }, reason: 0 }, ADMIN), ErrorCode.ERROR_CODE_NOT_LEADER, 'a write after its step-down')
    const next = await waitFor(() => {
      const successor = cores.find((c) => c !== current && c.core.isLeader)
      if (successor && current.core.isLeader) overlap = true
      return successor
    }, 15_000, 'a successor')
    t.notOk(overlap, 'no other instance led while the cut-off one still believed it led')
    for (const requestId of [duringCut, afterStepDown]) {
      const record = await next.etcd.kv.range({ key: Buffer.from(`${prefix}requests/${requestId}`) })
      t.equal(record.kvs.length, 0, `no request record of ${requestId.split('-')[0]}-... was written`)
    }
    t.equal((await next.core.getSeat({ target: { $case: 'userId', value: 'alice' } })).seat?.deviceId, 'ams-1', 'alice is still seated: no logout of the cut-off leader landed')
    const res: LoginResponse = await next.core.login({ requestId: rid(), deviceId: 'ams-2', extension: '1001', pin: '', durationHours: 0 }, ADMIN)
    t.equal(res.revoked?.deviceId, 'ams-1', 'the next leader writes, and sees every earlier write')
  })

  t.test('resign hands leadership over at once', async (t) => {
    const current = await leaderOf(cores)
    const observer = cores.find((c) => c !== current && !cutOff.has(c))!
    const key = await leaderKey(observer, prefix)
    t.match(JSON.parse(key.value.toString()), { instanceId: current.id }, 'the oldest election key is the leader\'s')
    await current.core.resign()
    t.notOk(current.core.isLeader)
    // It is connected and its keepalives are answered: its lease can end only by revocation, so
    // a successor now cannot have waited for the lease to expire.
    const lease = await observer.etcd.leaseClient.leaseTimeToLive({ ID: key.lease })
    t.equal(String(lease.TTL), '-1', 'resign revoked the election lease in etcd')
    const next = await leaderOf(cores)
    t.not(next.id, current.id)
    const live = cores.filter((c) => !cutOff.has(c)).map((c) => c.id).sort()
    // The cut-off instance's presence goes with its lease.
    const status = await waitFor(async () => {
      const s = await current.core.getClusterStatus({})
      return JSON.stringify(s.instances.map((i) => i.instanceId).sort()) === JSON.stringify(live) ? s : undefined
    }, 10_000, 'cluster status to list exactly the live instances')
    t.equal(status.leader?.instanceId, next.id, 'cluster status names the new leader')
    t.equal(status.instances.length, live.length, 'every live instance is present')
    await expectCode(t, current.core.logout({ requestId: rid(), target: { $case: 'userId', value: 'alice' }, reason: 0 }, ADMIN), ErrorCode.ERROR_CODE_NOT_LEADER, 'a follower\'s write')
  })
})

