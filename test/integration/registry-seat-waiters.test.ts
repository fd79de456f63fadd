// Logins waiting for a pending seat (seat-waiters.ts) over a real etcd: woken by the watch event
// that completes the seat, by one that replaces or releases it, or by their deadline; a waiter
// that joins after its completion was already delivered reads its seat once; every waiter shares
// one watch, which stays open between waits (a watch opened per takeover starts behind etcd's
// revision whenever anything else was written meanwhile, and etcd then delivers its events only
// from its 100 ms sync loop); and the core does not poll the seats of its waiting Logins (it read
// each one every 25 ms before).
import t from 'tap'
import pino from 'pino'
import type { Etcd3 } from 'etcd3'
import { createEtcdClient, DEFAULT_TXN_LIMITS, Keys } from '@flexseat/registry'
import { SeatWaiters } from '../../packages/registry/src/seat-waiters'
import { ADMIN, freshPrefix, rid, seed, startEtcd, waitFor } from '../helpers/registry-core-harness'
import { branchNode, startRevocationCore } from '../helpers/registry-revocation'

t.setTimeout(60_000)

/** A seat record as the registry writes it. */
function seat(userId: string, deviceId: string, since: string, pendingOn?: string) {
  return {
    userId, extension: '1001', displayName: userId, deviceId, siteId: 'berlin', since, via: 'admin',
    ...(pendingOn === undefined ? {} : { pending: [{ siteId: pendingOn, deviceId: 'ams-1', epoch: '1', since }] }),
  }
}

async function put(etcd: Etcd3, key: string, value: unknown): Promise<bigint> {
  return BigInt((await etcd.kv.put({ key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)) })).header.revision)
}

t.test('SeatWaiters', async (t) => {
  const cluster = await startEtcd(t, 1)
  const etcd = createEtcdClient(cluster.endpoints, { callTimeoutMs: 5_000 })
  t.teardown(() => etcd.close())
  const keys = new Keys(freshPrefix())
  const waiters = new SeatWaiters({ etcd, keys, limits: DEFAULT_TXN_LIMITS, logger: pino({ level: 'silent' }) })
  t.teardown(() => waiters.stop())
  const since = new Date().toISOString()
  const later = Date.now() + 20_000

  // Guard tried: decide() ignoring `pending` (any put resolves) fails the first "still waiting".
  t.test('woken by the event that completes, replaces or releases the seat', async (t) => {
    const writtenA = await put(etcd, keys.seat('a'), seat('a', 'ber-1', since, 'amsterdam'))
    const writtenB = await put(etcd, keys.seat('b'), seat('b', 'ber-2', since, 'amsterdam'))
    const writtenC = await put(etcd, keys.seat('c'), seat('c', 'ber-3', since, 'amsterdam'))
    const a = waiters.wait({ userId: 'a', deviceId: 'ber-1', since }, writtenA, later)
    const b = waiters.wait({ userId: 'b', deviceId: 'ber-2', since }, writtenB, later)
    const c = waiters.wait({ userId: 'c', deviceId: 'ber-3', since }, writtenC, later)
    t.equal(waiters.size, 3)
    // A change that leaves the seat pending wakes nobody.
    await put(etcd, keys.seat('a'), { ...seat('a', 'ber-1', since, 'amsterdam'), displayName: 'renamed' })
    const completed = await put(etcd, keys.seat('a'), seat('a', 'ber-1', since))
    const outcomeA = await a
    t.equal(outcomeA.kind, 'active', 'the completion wakes its waiter')
    t.equal(outcomeA.kind === 'active' ? outcomeA.revision : '', completed.toString(), 'with the seat at the completion\'s revision')
    t.equal(waiters.size, 2, 'still waiting: b and c')
    await put(etcd, keys.seat('b'), seat('b', 'ber-9', new Date().toISOString()))
    t.same(await b, { kind: 'changed' }, 'a seat moved elsewhere: changed')
    await etcd.kv.deleteRange({ key: Buffer.from(keys.seat('c')) })
    t.same(await c, { kind: 'changed' }, 'a seat released: changed')
    t.equal(waiters.size, 0)
  })

  // Guard tried: closing the watch after the last waiter (as before): each wait below opens one.
  t.test('one watch serves consecutive waits, and stays open between them', async (t) => {
    t.equal(waiters.size, 0, 'nobody waits')
    const opened = waiters.watchesOpened
    t.ok(opened >= 1, 'the watch the first test opened')
    for (const user of ['k1', 'k2', 'k3']) {
      const written = await put(etcd, keys.seat(user), seat(user, `ber-${user}`, since, 'amsterdam'))
      // Something else written after the login's write, before it waits (as a lease renewal would).
      await put(etcd, `${keys.seats}zz-other`, seat('zz-other', 'ber-z', since))
      const waiting = waiters.wait({ userId: user, deviceId: `ber-${user}`, since }, written, later)
      const completed = await put(etcd, keys.seat(user), seat(user, `ber-${user}`, since))
      const outcome = await waiting
      t.equal(outcome.kind === 'active' ? outcome.revision : outcome.kind, completed.toString(), `${user} woken by its completion`)
    }
    t.equal(waiters.watchesOpened, opened, 'no watch opened for them: the first one is still open')
  })

  // Guard tried: wait() not reading the seat when the watch has delivered past its write: the
  // late waiter below waits out its deadline ("timeout").
  t.test('a waiter joining after its completion was delivered reads its seat once', async (t) => {
    // h keeps the watch open throughout.
    const writtenH = await put(etcd, keys.seat('h'), seat('h', 'ber-7', since, 'amsterdam'))
    const h = waiters.wait({ userId: 'h', deviceId: 'ber-7', since }, writtenH, later)
    const writtenE = await put(etcd, keys.seat('e'), seat('e', 'ber-5', since, 'amsterdam'))
    const completedE = await put(etcd, keys.seat('e'), seat('e', 'ber-5', since))
    // d completes after e: once d's waiter is woken, the watch has delivered e's completion too.
    const writtenD = await put(etcd, keys.seat('d'), seat('d', 'ber-4', since, 'amsterdam'))
    const d = waiters.wait({ userId: 'd', deviceId: 'ber-4', since }, writtenD, later)
    await put(etcd, keys.seat('d'), seat('d', 'ber-4', since))
    t.equal((await d).kind, 'active')
    const e = await waiters.wait({ userId: 'e', deviceId: 'ber-5', since }, writtenE, Date.now() + 3_000)
    t.equal(e.kind, 'active', 'the late waiter finds its seat active')
    t.equal(e.kind === 'active' ? e.revision : '', completedE.toString(), 'at its completion\'s revision')
    await put(etcd, keys.seat('h'), seat('h', 'ber-7', since))
    t.equal((await h).kind, 'active')
    t.equal(waiters.size, 0)
  })

  t.test('the deadline ends a wait; stop() ends them all', async (t) => {
    const written = await put(etcd, keys.seat('f'), seat('f', 'ber-6', since, 'amsterdam'))
    t.same(await waiters.wait({ userId: 'f', deviceId: 'ber-6', since }, written, Date.now() + 100), { kind: 'timeout' })
    const g = waiters.wait({ userId: 'f', deviceId: 'ber-6', since }, written, later)
    waiters.stop()
    t.same(await g, { kind: 'timeout' })
    t.same(await waiters.wait({ userId: 'f', deviceId: 'ber-6', since }, written, later), { kind: 'timeout' }, 'after stop, at once')
  })
})

// Guard tried: the old #untilActive (a read of the seat every 25 ms per waiting Login): 20
// waiting Logins read their seats several hundred times in the window below.
t.test('the core does not poll the seats of waiting Logins', async (t) => {
  const cluster = await startEtcd(t, 1)
  const { core, etcd, keys } = await startRevocationCore(t, cluster.endpoints, { prefix: freshPrefix(), site: 'chicago', confirmationLeaseSeconds: 10 })
  const users = Array.from({ length: 20 }, (_, i) => `u${i}`)
  await seed(core, {
    sites: ['amsterdam', 'berlin', 'chicago'],
    devices: users.flatMap((u) => [{ id: `ams-${u}`, site: 'amsterdam' }, { id: `ber-${u}`, site: 'berlin' }]),
    users: users.map((u, i) => ({ id: u, extension: String(3000 + i), site: 'amsterdam', pin: '73519284' })),
  })
  const login = (u: string, site: string) => core.login({ requestId: rid(), deviceId: `${site}-${u}`, extension: String(3000 + users.indexOf(u)), pin: '', durationHours: 0 }, ADMIN, { deadline: Date.now() + 30_000 })
  const first = await Promise.all(users.map((u) => login(u, 'ams')))
  const ams = branchNode(core, 'amsterdam')
  await ams.renew(first.reduce((max, r) => (BigInt(r.seat!.epoch) > max ? BigInt(r.seat!.epoch) : max), 0n))
  const moving = Promise.all(users.map((u) => login(u, 'ber')))
  const observer = createEtcdClient(cluster.endpoints, { callTimeoutMs: 5_000 })
  t.teardown(() => observer.close())
  await waitFor(async () => {
    const res = await observer.kv.range({ key: Buffer.from(keys.siteRevocations('amsterdam')), range_end: Buffer.from(`${keys.siteRevocations('amsterdam').slice(0, -1)}0`), count_only: true })
    return Number(res.count) === users.length
  }, 20_000, 'every move pending')

  // Count what the core's etcd client reads of seats/ from now until the acknowledgement.
  let seatReads = 0
  const counts = (key: Buffer | undefined) => key !== undefined && key.toString('utf8').startsWith(keys.seats)
  const range = etcd.kv.range.bind(etcd.kv)
  const txn = etcd.kv.txn.bind(etcd.kv)
  etcd.kv.range = (req, options) => ((seatReads += counts(req.key) ? 1 : 0), range(req, options))
  etcd.kv.txn = (req, options) => ((seatReads += (req.success ?? []).filter((op) => counts(op.request_range?.key)).length), txn(req, options))
  t.teardown(() => {
    etcd.kv.range = range
    etcd.kv.txn = txn
  })
  // A window in which polling would show: 600 ms is 24 polls of each of 20 waiting Logins. What
  // may read seats in it is the sweep's occasional check for stale index keys (one read of each
  // pending seat) and a waiter's single read when it joined the watch late.
  await new Promise((resolve) => setTimeout(resolve, 600))
  const readsWhileWaiting = seatReads
  await ams.ack(first.map((r) => ({ userId: r.seat!.userId, epoch: r.seat!.epoch })))
  const moved = await moving
  t.ok(moved.every((r) => r.seat?.pending.length === 0), 'every Login returned its seat active after the ack')
  t.ok(readsWhileWaiting <= 2 * users.length, `at most two reads per waiting Login, not one per tick (${readsWhileWaiting} seat reads while ${users.length} Logins waited 600 ms)`)
})
