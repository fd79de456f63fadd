// Bounded revocation at scale (issue 20), on one in-process core over a real etcd with etcd's
// default limits (128 operations of each kind): 500 workers move away from a branch at once.
//
// - Amsterdam is cut off (its node stops renewing): all 500 takeovers complete once etcd has
//   expired its lease, none before, and every Login returns its seat active.
// - Berlin stays connected and acknowledges all 500 in one AckRevocations call.
// - Amsterdam's node acknowledges all 500 implicitly, by renewing with the revision it applied.
//
// Each completion is written in parts that fit etcd's limits; before, one transaction held 50
// users (3 compares each: 151 with the fence and the lease key) and etcd refused it, so the
// seats stayed pending until someone intervened. Timings are printed, not asserted.
import t from 'tap'
import pino from 'pino'
import { type LoginResponse, User } from '@flexseat/proto'
import { ADMIN, freshPrefix, rid, seed, startEtcd, waitFor } from '../helpers/registry-core-harness'
import { branchNode, keysUnder, startRevocationCore } from '../helpers/registry-revocation'

const WORKERS = 500
const LEASE = 5

/** The warnings matching `pattern`: their count, and the first one's message. */
function failures(warnings: readonly string[], pattern: RegExp): { count: number; first?: string } {
  const found = warnings.filter((line) => pattern.test(line))
  return found.length === 0 ? { count: 0 } : { count: found.length, first: String((JSON.parse(found[0]!) as { err?: { message?: string } }).err?.message) }
}

t.setTimeout(180_000)

/** Runs `fn` over `items`, at most `limit` at once. */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = []
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }))
  return out
}

// Guards tried, each seen to fail here: (a) the old completion (BATCH = 50 users per
// transaction): etcd refuses every sweep ("too many operations"), the Logins return pending and
// the warnings are logged; (b) readKeys in one txn whatever the count: pendingOf (1,000 keys)
// fails and the renewal in the last case is refused as UNAVAILABLE.
t.test(`${WORKERS} revocations pending at one branch`, async (t) => {
  const etcd = await startEtcd(t, 1)
  const warnings: string[] = []
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) })
  const prefix = freshPrefix()
  const { core, etcd: client, keys } = await startRevocationCore(t, etcd.endpoints, { prefix, site: 'chicago', confirmationLeaseSeconds: LEASE, logger })
  const users = Array.from({ length: WORKERS }, (_, i) => `w${String(i).padStart(4, '0')}`)
  const seedStart = performance.now()
  await seed(core, { sites: ['amsterdam', 'berlin', 'chicago'], devices: [], users: [] })
  await pool(users, 64, async (user) => {
    for (const site of ['amsterdam', 'berlin']) {
      await core.createDevice({ requestId: rid('dev'), device: { id: `${site.slice(0, 3)}-${user}`, siteId: site, extension: '', label: user, model: 'test', flexHost: true, revision: '0' } }, ADMIN)
    }
  })
  await pool(users, 64, (user) =>
    core.createUser({
      requestId: rid('user'),
      pin: '73519284',
      user: User.fromPartial({ id: user, extension: String(5000 + users.indexOf(user)), displayName: user, homeSiteId: 'amsterdam', roamingAllowed: true }),
    }, ADMIN),
  )
  const login = (user: string, site: string, deadlineMs = 60_000): Promise<LoginResponse> =>
    core.login({ requestId: rid(), deviceId: `${site.slice(0, 3)}-${user}`, extension: String(5000 + users.indexOf(user)), pin: '', durationHours: 0 }, ADMIN, { deadline: Date.now() + deadlineMs })
  const seated = await pool(users, 64, (user) => login(user, 'amsterdam'))
  t.ok(seated.every((r) => r.seat?.pending.length === 0), `${WORKERS} workers seated at Amsterdam (no lease there yet)`)
  t.comment(`seeded ${WORKERS} workers and ${2 * WORKERS} desks in ${Math.round(performance.now() - seedStart)} ms`)
  const revision = async () => BigInt((await client.kv.range({ key: Buffer.from(keys.seats), range_end: Buffer.from(`${keys.prefix}seats0`), count_only: true })).header.revision)
  const pendingAt = async (site: string) => (await keysUnder(client, keys.siteRevocations(site))).length
  // Amsterdam's node: cut off in the first case, back (the same node) in the last.
  const ams = branchNode(core, 'amsterdam')

  t.test('Amsterdam cut off: every takeover completes once its lease is gone, none before', async (t) => {
    const applied = await revision()
    await ams.renew(applied)
    // The node: renews with what it applied before the moves (so it acknowledges none of them),
    // until the 500 moves are written; then it is cut off.
    let lastRenewalAt = performance.now()
    let renewing = true
    const renewals = (async () => {
      while (renewing) {
        await new Promise((resolve) => setTimeout(resolve, 1_000))
        if (!renewing) break
        const sentAt = performance.now()
        await ams.renew(applied).then(
          () => (lastRenewalAt = sentAt),
          (error: Error) => t.comment(`a renewal failed: ${error.message}`),
        )
      }
    })()
    let deletedAt: { at: number; revision: bigint } | undefined
    const watcher = await client.watch().key(keys.node('amsterdam')).create()
    t.teardown(() => watcher.cancel())
    watcher.on('delete', (kv) => (deletedAt ??= { at: performance.now(), revision: BigInt(kv.mod_revision) }))

    const movedAt = performance.now()
    const returnedAt: number[] = []
    const moving = Promise.all(users.map((user, i) => login(user, 'berlin').then((r) => ((returnedAt[i] = performance.now()), r))))
    await waitFor(async () => (await pendingAt('amsterdam')) === WORKERS || deletedAt, 60_000, 'the moves to be written')
    renewing = false
    await renewals
    const allPending = !deletedAt && (await pendingAt('amsterdam')) === WORKERS
    t.ok(allPending, `all ${WORKERS} moves were written pending on Amsterdam while its lease held`)
    const moved = await moving
    t.ok(moved.every((r) => r.seat?.deviceId.startsWith('ber-') && r.seat.pending.length === 0), `every Login returned its seat at Berlin active (${moved.filter((r) => r.seat?.pending.length === 0).length} of ${WORKERS})`)
    await waitFor(() => deletedAt, 10_000, 'the lease deletion to be seen')
    const epochs = moved.map((r) => BigInt(r.seat!.epoch))
    t.ok(epochs.every((e) => e > deletedAt!.revision), 'every seat became active after etcd deleted the lease key (a higher revision)')
    t.equal(await pendingAt('amsterdam'), 0, 'no revocation is left indexed')
    t.same(failures(warnings, /write failed|sweep failed/), { count: 0 }, 'no write failed')
    const last = Math.max(...returnedAt)
    t.comment(`moves sent at +0; lease deleted +${Math.round(deletedAt!.at - movedAt)} ms, ${Math.round(deletedAt!.at - lastRenewalAt)} ms after the last renewal was sent (lease ${LEASE * 1_000} ms)`)
    t.comment(`last Login returned ${Math.round(last - deletedAt!.at)} ms after the deletion was seen, ${Math.round(last - lastRenewalAt)} ms after the last renewal (bound: lease + 250 ms)`)
  })

  t.test('Berlin connected: one AckRevocations of all 500 completes them', async (t) => {
    const ber = branchNode(core, 'berlin')
    const atBerlin = new Map((await core.listSeats({ siteId: 'berlin', pageSize: 1_000, pageToken: '' })).seats.map((s) => [s.userId, s.epoch]))
    t.equal(atBerlin.size, WORKERS)
    await ber.renew(await revision())
    const moving = Promise.all(users.map((user) => login(user, 'amsterdam')))
    await waitFor(async () => (await pendingAt('berlin')) === WORKERS, 60_000, 'the moves to be written pending on Berlin')
    const ackedAt = await revision()
    const startedAt = performance.now()
    await ber.ack(users.map((userId) => ({ userId, epoch: atBerlin.get(userId)! })))
    t.comment(`AckRevocations of ${WORKERS} took ${Math.round(performance.now() - startedAt)} ms`)
    const moved = await moving
    t.ok(moved.every((r) => r.seat?.deviceId.startsWith('ams-') && r.seat.pending.length === 0), 'every Login returned its seat at Amsterdam active')
    t.ok(moved.every((r) => BigInt(r.seat!.epoch) > ackedAt), 'each activated after the acknowledgement was sent')
    t.equal(await pendingAt('berlin'), 0, 'no revocation is left indexed')
    const node = (await client.kv.range({ key: Buffer.from(keys.node('berlin')) })).kvs[0]
    t.ok(node, 'Berlin still holds its lease: the acknowledgement, not the expiry, completed them')
    t.same(failures(warnings, /write failed|sweep failed|renewal refused/), { count: 0 }, 'no write failed, no renewal refused')
  })

  t.test('Amsterdam connected: a renewal with the revision it applied completes all 500', async (t) => {
    await ams.renew(await revision())
    const moving = Promise.all(users.map((user) => login(user, 'berlin')))
    await waitFor(async () => (await pendingAt('amsterdam')) === WORKERS, 60_000, 'the moves to be written pending on Amsterdam')
    const applied = await revision()
    const startedAt = performance.now()
    const renewed = await ams.renew(applied)
    t.comment(`RenewLease acknowledging ${WORKERS} took ${Math.round(performance.now() - startedAt)} ms`)
    t.equal(renewed.granted, false, 'the renewal keeps the lease')
    const moved = await moving
    t.ok(moved.every((r) => r.seat?.deviceId.startsWith('ber-') && r.seat.pending.length === 0), 'every Login returned its seat at Berlin active')
    t.ok(moved.every((r) => BigInt(r.seat!.epoch) > applied), 'each activated after the renewal')
    t.equal(await pendingAt('amsterdam'), 0, 'no revocation is left indexed')
    t.same(failures(warnings, /write failed|sweep failed|renewal refused/), { count: 0 }, 'no write failed, no renewal refused')
  })
})
