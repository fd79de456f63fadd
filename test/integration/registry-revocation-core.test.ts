// Bounded revocation (DESIGN invariant 4), registry side, on one in-process core over real etcd:
// a login that moves a worker away from a branch whose SIP node holds a confirmation lease writes
// the new seat pending and returns only once that branch acknowledged (explicitly, or through
// the revision it applied) or gave its lease up; without a lease, or within one branch, a
// takeover is immediate as before.
import t from 'tap'
import { ErrorCode, ReleaseReason, type LoginResponse } from '@flexseat/proto'
import { ADMIN, SIP_NODE, expectCode, freshPrefix, rid, startEtcd, waitFor } from '../helpers/registry-core-harness'
import { branchNode, keysUnder, revokingOf, seedBranches, settled, startRevocationCore } from '../helpers/registry-revocation'

// Leases of 3 s: long enough that nothing here expires by accident (no test waits for expiry
// except the refusal, which waits out one lease on purpose).
const LEASE = 3

t.setTimeout(60_000)

t.test('bounded revocation on one core', async (t) => {
  const etcd = await startEtcd(t, 1)
  // The refusal test moves the leader's monotonic clock past the lease instead of sleeping (a
  // refusal is judged by how long the leader itself has seen the revocation wait).
  let skew = 0
  let wallSkew = 0
  const prefix = freshPrefix()
  const { core, etcd: client, keys } = await startRevocationCore(t, etcd.endpoints, { prefix, site: 'amsterdam', confirmationLeaseSeconds: LEASE, monotonicClock: () => performance.now() + skew, clock: () => Date.now() + wallSkew })
  await seedBranches(core)
  const login = (deviceId: string, extension = '1001', caller = SIP_NODE): Promise<LoginResponse> =>
    core.login({ requestId: rid(), deviceId, extension, pin: extension === '1001' ? '73519284' : '46281937', durationHours: 0 }, caller, { deadline: Date.now() + 20_000 })
  const seatOf = async (userId: string) => (await core.getSeat({ target: { $case: 'userId', value: userId } })).seat
  const index = () => keysUnder(client, keys.revocations)
  const logoutAll = async () => {
    for (const userId of ['alice', 'bob']) await core.logout({ requestId: rid(), target: { $case: 'userId', value: userId }, reason: ReleaseReason.RELEASE_REASON_ADMIN }, ADMIN)
  }

  // Guard tried: planLogin adding the pending entry without reading nodes/<site> (always pending):
  // the sweeper completes it within 250 ms, but the seat was written pending first (version 3).
  t.test('no node lease: a takeover across branches is immediate', async (t) => {
    const first = await login('ams-1')
    const moved = await login('ber-1')
    t.same(moved.seat?.pending, [], 'the new seat is active')
    t.ok(BigInt(moved.seat!.epoch) > BigInt(first.seat!.epoch))
    const stored = (await client.kv.range({ key: Buffer.from(keys.seat('alice')) })).kvs[0]!
    t.equal(stored.version, '2', 'at once: the seat record was written twice (login, move), never pending in between')
    t.same(await index(), [], 'no revocation is indexed')
    await logoutAll()
  })

  // Guards tried: (a) RegistryCore.login returning without waiting (#untilActive) fails "login
  // waits"; (b) planCompleteRevocations not removing the entry fails "active after the ack".
  t.test('a branch holding a lease: login waits for its ack; pending in between, then active at a higher epoch', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    const granted = await ams.renew()
    t.equal(granted.granted, true, 'a first renewal grants')
    t.equal(granted.leaseSeconds, LEASE)
    const renewed = await ams.renew()
    t.equal(renewed.granted, false, 'a second renewal keeps the lease')
    t.equal(renewed.grantedRevision, granted.grantedRevision, 'and reports the same grant revision')

    const first = await login('ams-1')
    const moving = login('ber-1')
    const pending = await waitFor(async () => {
      const seat = await seatOf('alice')
      return seat?.deviceId === 'ber-1' ? seat : undefined
    }, 5_000, 'the seat at ber-1')
    t.same(pending.pending.map((p) => [p.siteId, p.deviceId, p.epoch]), [['amsterdam', 'ams-1', first.seat!.epoch]], 'the new seat is pending on amsterdam, naming the old seat')
    t.same(await index(), [keys.revocation('amsterdam', 'alice')], 'the revocation is indexed')
    t.notOk(await settled(moving), 'login waits')
    await ams.ack([{ userId: 'alice', epoch: String(BigInt(first.seat!.epoch) - 1n) }])
    t.notOk(await settled(moving), 'an ack of an older epoch completes nothing')
    t.equal((await seatOf('alice'))?.pending.length, 1)
    await branchNode(core, 'amsterdam', 'amsterdam-impostor').ack([{ userId: 'alice', epoch: first.seat!.epoch }])
    t.equal((await seatOf('alice'))?.pending.length, 1, 'an ack from a node that does not hold the lease is ignored')
    await ams.ack([{ userId: 'alice', epoch: first.seat!.epoch }, { userId: 'nobody', epoch: '5' }])
    const done = await moving
    t.same(done.seat?.pending, [], 'login returns the seat active after the ack')
    t.ok(BigInt(done.seat!.epoch) > BigInt(pending.epoch), 'at a higher epoch than the pending seat')
    t.equal((await seatOf('alice'))?.epoch, done.seat!.epoch, 'the epoch login returned is the stored one')
    t.same(await index(), [], 'the index key went with the completion')
    await ams.ack([{ userId: 'alice', epoch: first.seat!.epoch }])
    t.equal((await seatOf('alice'))?.epoch, done.seat!.epoch, 'acking again changes nothing')
    await ams.release()
    await logoutAll()
  })

  // Guard tried: renew() skipping the implicit acks (#complete before the keepalive) leaves the
  // seat pending after the renewal (login then completes only when the lease expires).
  t.test('a renewal with applied_revision at or past the move acknowledges it', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    await login('ams-1')
    const moving = login('ber-1')
    const pending = await waitFor(async () => {
      const seat = await seatOf('alice')
      return seat?.deviceId === 'ber-1' ? seat : undefined
    }, 5_000, 'the seat at ber-1')
    await ams.renew(BigInt(pending.epoch) - 1n)
    t.equal((await seatOf('alice'))?.pending.length, 1, 'a node behind the move has not acknowledged it')
    await ams.renew(pending.epoch)
    t.same((await seatOf('alice'))?.pending, [], 'a node that applied the move has: the seat is active when the renewal returns')
    const done = await moving
    t.same(done.seat?.pending, [], 'and login returns it active')
    t.same(await index(), [])
    await ams.release()
    await logoutAll()
  })

  // Guard tried: removing the laggard check in renew() lets the renewal succeed.
  t.test('LEASE_REFUSED for a node that left a revocation unapplied longer than the lease', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    await login('ams-1')
    const moving = login('ber-1')
    const pending = await waitFor(async () => {
      const seat = await seatOf('alice')
      return seat?.deviceId === 'ber-1' ? seat : undefined
    }, 5_000, 'the seat at ber-1')
    const ok = await ams.renew(BigInt(pending.epoch) - 1n)
    t.equal(ok.granted, false, 'within the lease a lagging node still renews')
    // Guard tried: judging by pending[].since (the wall clock that wrote it) refuses here.
    wallSkew = (LEASE + 1) * 1_000
    t.equal((await ams.renew(BigInt(pending.epoch) - 1n)).granted, false, "a leader whose wall clock runs ahead does not refuse: the wait is the leader's own, monotonic")
    wallSkew = 0
    skew = (LEASE + 1) * 1_000
    await expectCode(t, ams.renew(BigInt(pending.epoch) - 1n), ErrorCode.ERROR_CODE_LEASE_REFUSED, 'past the lease it is refused')
    skew = 0
    // The node catches up: its renewal acknowledges the move and the lease holds again.
    const caughtUp = await ams.renew(pending.epoch)
    t.equal(caughtUp.granted, false)
    t.same((await moving).seat?.pending, [])
    await ams.release()
    await logoutAll()
  })

  // Guard tried: renew() without the holder check grants or renews for the second node.
  t.test('LEASE_HELD for another node of the same branch; bad arguments name the field', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    const other = branchNode(core, 'amsterdam')
    const held = await expectCode(t, other.renew(), ErrorCode.ERROR_CODE_LEASE_HELD, 'another node')
    t.ok(held.facts.retryAfterMs! > 0, 'LEASE_HELD says when to retry')
    await other.release()
    t.equal((await ams.renew()).granted, false, 'releasing a lease one does not hold is a no-op')
    await expectCode(t, core.renewLease({ siteId: 'nowhere', nodeId: 'n1', appliedRevision: '0' }, SIP_NODE), ErrorCode.ERROR_CODE_SITE_NOT_FOUND, 'unknown site')
    await expectCode(t, core.renewLease({ siteId: '', nodeId: 'n1', appliedRevision: '0' }, SIP_NODE), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'no site', 'site_id')
    await expectCode(t, core.renewLease({ siteId: 'amsterdam', nodeId: '', appliedRevision: '0' }, SIP_NODE), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'no node', 'node_id')
    await expectCode(t, core.renewLease({ siteId: 'amsterdam', nodeId: 'n1', appliedRevision: '-1' }, SIP_NODE), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'negative revision', 'applied_revision')
    await expectCode(t, core.ackRevocations({ siteId: 'amsterdam', nodeId: 'n1', revocations: [{ userId: 'Bad Id', epoch: '1' }] }, SIP_NODE), ErrorCode.ERROR_CODE_INVALID_ARGUMENT, 'bad user', 'revocations[0].user_id')
    await expectCode(t, core.renewLease({ siteId: 'amsterdam', nodeId: 'n1', appliedRevision: '0' }, { name: 'v', role: 'viewer' }), ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'a viewer')
    await ams.release()
    t.equal((await other.renew()).granted, true, 'once released, another node gets the lease')
    await other.release()
  })

  // Guard tried: release() not completing the site's revocations leaves the seat pending when
  // ReleaseLease returns (the sweeper completes it up to 250 ms later).
  t.test('ReleaseLease completes the branch\'s pending revocations at once', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    await login('ams-1')
    const moving = login('ber-1')
    await waitFor(async () => (await seatOf('alice'))?.deviceId === 'ber-1', 5_000, 'the seat at ber-1')
    await ams.release()
    t.same((await seatOf('alice'))?.pending, [], 'the seat is active when ReleaseLease returns (not only after a sweep)')
    const done = await moving
    t.same(done.seat?.pending, [], 'login returns it active')
    t.same(await keysUnder(client, keys.nodes), [], 'the node key went with its lease')
    await logoutAll()
  })

  // Guard tried: planLogin dropping carried entries (pending = only the new entry) makes the
  // seat at chicago active while amsterdam has not acknowledged.
  t.test('a chained move X→Y→Z keeps X pending and adds nothing for Y', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    const ber = branchNode(core, 'berlin')
    await ams.renew()
    await ber.renew()
    const first = await login('ams-1')
    const toBerlin = core.login({ requestId: rid(), deviceId: 'ber-1', extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE, { deadline: Date.now() + 400 })
    const atBerlin = await toBerlin
    t.equal(atBerlin.seat?.pending.length, 1, 'the deadline came first: login returned the pending seat')
    const toChicago = login('chi-1')
    const atChicago = await waitFor(async () => {
      const seat = await seatOf('alice')
      return seat?.deviceId === 'chi-1' ? seat : undefined
    }, 5_000, 'the seat at chi-1')
    t.same(atChicago.pending.map((p) => [p.siteId, p.epoch]), [['amsterdam', first.seat!.epoch]], 'still pending on amsterdam only (berlin never acted on a pending seat)')
    t.same(await index(), [keys.revocation('amsterdam', 'alice')])
    await ams.ack([{ userId: 'alice', epoch: first.seat!.epoch }])
    const done = await toChicago
    t.same(done.seat?.pending, [])
    t.equal(done.seat?.deviceId, 'chi-1')
    await ams.release()
    await ber.release()
    await logoutAll()
  })

  // Guard tried: planLogin adding an entry for same-site moves (crossesSites without the site
  // comparison) makes these logins wait.
  t.test('a same-branch move and a bump never wait (the bumped worker leaves a revocation behind)', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    await login('ams-1')
    const started = Date.now()
    const moved = await login('ams-2')
    t.same(moved.seat?.pending, [], 'a move within the branch is active at once')
    const bumped = await login('ams-2', '1002')
    t.equal(bumped.bumped?.userId, 'alice')
    t.same(bumped.seat?.pending, [], 'bob bumps alice without waiting (he was not seated anywhere)')
    t.ok(Date.now() - started < 1_500, 'no wait')
    t.same(await revokingOf(client, keys, 'alice'), [['amsterdam', 'ams-2', moved.seat!.epoch]], "alice's next seat elsewhere will wait for amsterdam to apply the bump")
    t.same(await index(), [keys.revocation('amsterdam', 'alice')])
    await ams.release()
    t.equal(await revokingOf(client, keys, 'alice'), undefined, 'ReleaseLease completed it')
    await logoutAll()
  })

  // Guards tried: (a) leaveRevocations dropping the seat's own pending entries fails "the index key
  // stays" and the revoking record; (b) pendingOfNewSeat keeping entries of the new site fails
  // "signing in at amsterdam itself does not wait" (registry-revocation-release tests the logins).
  t.test('releasing a pending seat keeps its revocation in revoking/<user>; moving back to the branch drops its entry', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    const first = await login('ams-1')
    const quick = (deviceId = 'ber-1') => core.login({ requestId: rid(), deviceId, extension: '1001', pin: '73519284', durationHours: 0 }, SIP_NODE, { deadline: Date.now() + 300 })
    t.equal((await quick()).seat?.pending.length, 1)
    const indexKey = keys.revocation('amsterdam', 'alice')
    const indexedAt = (await client.kv.range({ key: Buffer.from(indexKey) })).kvs[0]!.mod_revision
    const out = await core.logout({ requestId: rid(), target: { $case: 'userId', value: 'alice' }, reason: ReleaseReason.RELEASE_REASON_UNSPECIFIED }, SIP_NODE)
    t.equal(out.released?.pending.length, 1, 'the released seat was pending')
    t.same(await index(), [indexKey], 'the index key stays: amsterdam has not acknowledged')
    t.equal((await client.kv.range({ key: Buffer.from(indexKey) })).kvs[0]!.mod_revision, indexedAt, 'untouched: the revocation still dates from the move')
    t.same(await revokingOf(client, keys, 'alice'), [['amsterdam', 'ams-1', first.seat!.epoch]], 'revoking/alice holds the entry (berlin, where the seat was pending, adds nothing)')

    const again = await quick('ams-1')
    t.same(again.seat?.pending, [], 'signing in at amsterdam itself does not wait for amsterdam')
    t.equal(await revokingOf(client, keys, 'alice'), undefined, 'the login took revoking/alice over')
    t.same(await index(), [], 'and dropped the entry with its index key')
    t.equal((await quick()).seat?.pending.length, 1)
    const back = await login('ams-2')
    t.same(back.seat?.pending, [], 'moving back to amsterdam drops its entry: its node swaps the phones in one revision')
    t.same(await index(), [], 'and its index key')

    await login('ams-1')
    t.equal((await quick()).seat?.pending.length, 1)
    const bump = await login('ber-1', '1002')
    t.equal(bump.bumped?.userId, 'alice', 'bob bumps the pending seat')
    t.same(await index(), [indexKey], 'the bumped seat leaves its revocation behind')
    t.equal((await revokingOf(client, keys, 'alice'))?.[0]?.[0], 'amsterdam')
    await ams.release()
    t.same(await index(), [], 'ReleaseLease completed it')
    t.equal(await revokingOf(client, keys, 'alice'), undefined)
    await logoutAll()
  })
})
