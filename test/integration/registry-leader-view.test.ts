// Who leads, answered from a watch of the election keys (leader-view.ts), against a real etcd: a
// follower asks often (before each forward, every 250 ms while writes are in flight, every 20 ms
// after a refusal), and each question was a quorum read of the election prefix. The view answers
// from memory once caught up, follows a resignation and a new candidacy, and reads etcd when it
// knows nothing.
import t from 'tap'
import pino from 'pino'
import { Keys, createEtcdClient } from '@flexseat/registry'
import { LeaderView } from '../../packages/registry/src/leader-view'
import { Leadership } from '../../packages/registry/src/leadership'
import { freshPrefix, startEtcd, waitFor } from '../helpers/registry-core-harness'

t.test('leader view over a real etcd', async (t) => {
  const cluster = await startEtcd(t, 1)
  const etcd = createEtcdClient(cluster.endpoints, { callTimeoutMs: 5_000 })
  t.teardown(() => etcd.close())
  const logger = pino({ level: 'silent' })
  // Every range over the election keys (a prefix read: a range end) made through this client: the
  // question "who leads?" without the view, and the view's own reads when it catches up.
  let electionReads = 0
  const range = etcd.kv.range.bind(etcd.kv)
  etcd.kv.range = ((req, options) => {
    if (req.key !== undefined && req.range_end !== undefined && Buffer.from(req.key).toString('utf8').includes('/election/')) electionReads++
    return range(req, options)
  }) as typeof etcd.kv.range

  await t.test('a follower knows the leader without reading etcd, and follows a resignation', async (t) => {
    const keys = new Keys(freshPrefix())
    const a = new Leadership(etcd, keys, { instanceId: 'a', siteId: 'amsterdam', address: '127.0.0.1:1' }, 3, logger)
    const b = new Leadership(etcd, keys, { instanceId: 'b', siteId: 'berlin', address: '127.0.0.1:2' }, 3, logger)
    t.teardown(() => Promise.all([a.stop(), b.stop()]))
    a.start()
    await waitFor(() => a.isLeader, 10_000, 'a leads')
    b.start()
    await waitFor(async () => (await b.currentLeader())?.instanceId === 'a', 10_000, 'b sees a lead')
    // Once b's view has caught up, a question reads nothing (without the view, each one reads).
    await waitFor(async () => {
      const before = electionReads
      await b.currentLeader()
      return electionReads === before
    }, 10_000, "b's view caught up")
    electionReads = 0
    const named: (string | undefined)[] = []
    for (let i = 0; i < 50; i++) named.push((await b.currentLeader())?.instanceId)
    t.same(new Set(named), new Set(['a']), 'b names a, each of 50 times')
    t.equal(electionReads, 0, `no read of the election keys for 50 questions (${electionReads})`)
    t.equal((await b.currentLeader())?.address, '127.0.0.1:1', 'with the address a proclaimed')
    t.equal((await b.currentLeader())?.proclaimed, true, 'a has confirmed its election (written its key again)')
    await a.resign()
    await waitFor(async () => (await b.currentLeader())?.instanceId === 'b', 10_000, 'b named after a resigned')
    await waitFor(() => b.isLeader, 10_000, 'b leads')
    t.equal(electionReads, 0, 'the change came by the watch')
  })

  await t.test('the view: unknown until caught up; the oldest key leads; puts and deletes followed; unknown after stop', async (t) => {
    const prefix = `${freshPrefix()}election/registry/`
    const value = (id: string) => JSON.stringify({ instanceId: id, siteId: 's', address: `${id}:1` })
    await etcd.put(`${prefix}k1`).value(value('first'))
    const view = new LeaderView(etcd, prefix, logger)
    const proclaimed = () => {
      const seen = view.leader()
      return seen.known && seen.leaderKey !== undefined && seen.leaderKey.mod_revision !== seen.leaderKey.create_revision
    }
    t.teardown(() => view.stop())
    t.same(view.leader(), { known: false }, 'not started: unknown')
    view.start()
    const leaderId = () => {
      const seen = view.leader()
      return seen.known ? (seen.leaderKey === undefined ? null : (JSON.parse(seen.leaderKey.value.toString('utf8')) as { instanceId: string }).instanceId) : 'unknown'
    }
    await waitFor(() => leaderId() === 'first', 10_000, 'caught up: the key written before the watch')
    await etcd.put(`${prefix}k2`).value(value('second'))
    await etcd.put(`${prefix}k0`).value(value('third')) // first by name, last by create revision
    await etcd.delete().key(`${prefix}k1`)
    await waitFor(() => leaderId() !== 'first', 5_000, 'k1 deleted')
    t.equal(leaderId(), 'second', 'the next oldest by create revision (k2) leads, not the first by name (k0)')
    t.notOk(proclaimed(), 'k2 as its campaign created it: not proclaimed')
    await etcd.put(`${prefix}k2`).value(value('second-again')) // a proclamation: same key, same create revision
    await waitFor(() => leaderId() === 'second-again', 5_000, 'a new value of the same candidacy')
    t.ok(proclaimed(), 'written again: proclaimed')
    await etcd.delete().prefix(prefix)
    await waitFor(() => leaderId() === null, 5_000, 'no candidate: no leader')
    view.stop()
    t.equal(leaderId(), 'unknown', 'stopped: unknown (the caller reads etcd)')
  })
})
