// Bounded revocation (DESIGN invariant 4) across a release: a seat at a branch whose SIP node
// holds a confirmation lease that is released (logout, bump, expiry, a directory delete) while
// the branch may be cut off leaves its revocation behind in `revoking/<user>`, and the worker's
// next seat elsewhere is pending on that branch until it acknowledges (explicitly, through the
// revision it applied, by giving its lease up) or its lease expires. Without a lease there, or
// once it acknowledged, the next login is immediate as before.
import t from 'tap'
import { ReleaseReason, type LoginResponse, User } from '@flexseat/proto'
import { ADMIN, freshPrefix, rid, startCore, startEtcd, waitFor } from '../helpers/registry-core-harness'
import { branchNode, keysUnder, revokingOf, seedBranches, settled, startRevocationCore } from '../helpers/registry-revocation'

// Long enough that no lease expires by accident in the first group; the expiry group waits one
// lease out on purpose.
const LEASE = 3

t.setTimeout(60_000)

t.test('a released seat leaves its revocation to the next seat', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const { core, etcd: client, keys } = await startRevocationCore(t, etcd.endpoints, { prefix, site: 'amsterdam', confirmationLeaseSeconds: LEASE })
  await seedBranches(core)
  const login = (deviceId: string, extension = '1001', deadlineMs = 20_000): Promise<LoginResponse> =>
    core.login({ requestId: rid(), deviceId, extension, pin: '', durationHours: 0 }, ADMIN, { deadline: Date.now() + deadlineMs })
  const logout = (userId: string) => core.logout({ requestId: rid(), target: { $case: 'userId', value: userId }, reason: ReleaseReason.RELEASE_REASON_ADMIN }, ADMIN)
  const seatOf = async (userId: string) => (await core.getSeat({ target: { $case: 'userId', value: userId } })).seat
  const seatAt = (userId: string, deviceId: string) =>
    waitFor(async () => {
      const seat = await seatOf(userId)
      return seat?.deviceId === deviceId ? seat : undefined
    }, 5_000, `${userId}'s seat at ${deviceId}`)
  const index = () => keysUnder(client, keys.revocations)
  const cleanUp = async (t: { same: (a: unknown, b: unknown, what: string) => void }, ...nodes: { release: () => Promise<unknown> }[]) => {
    for (const node of nodes) await node.release()
    for (const userId of ['alice', 'bob']) await logout(userId)
    t.same(await keysUnder(client, `${prefix}revoking/`), [], 'nothing outstanding between tests')
  }

  // Guards tried: (a) leaveRevocations never adding the seat's own branch (as before this
  // change): the revoking record is missing and the login at berlin is active at once; (b)
  // planLogin not reading revoking/<user>: the seat at berlin is active at once.
  t.test('admin logout at a branch holding a lease: the login elsewhere waits for its ack', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    const first = await login('ams-1')
    t.same(first.seat?.pending, [])
    await logout('alice')
    t.same(await revokingOf(client, keys, 'alice'), [['amsterdam', 'ams-1', first.seat!.epoch]], 'the logout left amsterdam outstanding')
    t.same(await index(), [keys.revocation('amsterdam', 'alice')], 'indexed')

    const moving = login('ber-1')
    const pending = await seatAt('alice', 'ber-1')
    t.same(pending.pending.map((p) => [p.siteId, p.deviceId, p.epoch]), [['amsterdam', 'ams-1', first.seat!.epoch]], 'the new seat is pending on amsterdam')
    t.equal(await revokingOf(client, keys, 'alice'), undefined, 'the entry moved into the seat')
    t.same(await index(), [keys.revocation('amsterdam', 'alice')], 'its index key kept')
    t.notOk(await settled(moving), 'login waits')
    await ams.ack([{ userId: 'alice', epoch: first.seat!.epoch }])
    const done = await moving
    t.same(done.seat?.pending, [], 'active after the ack')
    t.ok(BigInt(done.seat!.epoch) > BigInt(pending.epoch), 'at a higher epoch')
    t.same(await index(), [])
    await cleanUp(t, ams)
  })

  // Guard tried: leaveRevocations adding the entry without reading nodes/<site> (always): the
  // revoking record exists and the login at berlin is written pending.
  t.test('a logout at a branch without a lease leaves nothing: the next login is immediate', async (t) => {
    await login('ams-1')
    await logout('alice')
    t.equal(await revokingOf(client, keys, 'alice'), undefined, 'no revoking record')
    t.same(await index(), [])
    const moved = await login('ber-1')
    t.same(moved.seat?.pending, [], 'active at once')
    const stored = (await client.kv.range({ key: Buffer.from(keys.seat('alice')) })).kvs[0]!
    t.equal(stored.version, '1', 'written once, never pending')
    await cleanUp(t)
  })

  // Guard tried: leaveRevocations keeping only the release's own entry (dropping seat.pending):
  // the seat at chicago is active while amsterdam has not acknowledged.
  t.test('a seat pending on a branch, released and signed in elsewhere, still waits for that branch', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    const ber = branchNode(core, 'berlin')
    await ams.renew()
    await ber.renew()
    const first = await login('ams-1')
    const atBerlin = await login('ber-1', '1001', 400)
    t.equal(atBerlin.seat?.pending.length, 1, 'the deadline came first: pending on amsterdam')
    await logout('alice')
    t.same(await revokingOf(client, keys, 'alice'), [['amsterdam', 'ams-1', first.seat!.epoch]], 'amsterdam stays outstanding; berlin, which never acted on the pending seat, is not added')
    const toChicago = login('chi-1')
    const pending = await seatAt('alice', 'chi-1')
    t.same(pending.pending.map((p) => [p.siteId, p.epoch]), [['amsterdam', first.seat!.epoch]], 'the seat at chicago waits for amsterdam')
    t.notOk(await settled(toChicago), 'login waits')
    await ams.ack([{ userId: 'alice', epoch: first.seat!.epoch }])
    t.same((await toChicago).seat?.pending, [], 'active after the ack')
    await cleanUp(t, ams, ber)
  })

  // Guard tried: planCompleteRevocations ignoring revoking/<user>: the record survives the ack
  // and the next login waits (pending on amsterdam).
  t.test('an ack with no seat completes revoking/<user>: a later login is immediate', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    const first = await login('ams-1')
    await logout('alice')
    t.equal((await revokingOf(client, keys, 'alice'))?.length, 1)
    await ams.ack([{ userId: 'alice', epoch: String(BigInt(first.seat!.epoch) - 1n) }])
    t.equal((await revokingOf(client, keys, 'alice'))?.length, 1, 'an ack of an older epoch completes nothing')
    await ams.ack([{ userId: 'alice', epoch: first.seat!.epoch }])
    t.equal(await revokingOf(client, keys, 'alice'), undefined, 'the ack emptied the record')
    t.same(await index(), [], 'and deleted the index key')
    const moved = await login('ber-1')
    t.same(moved.seat?.pending, [], 'the next login is immediate')
    await cleanUp(t, ams)
  })

  // Guard tried: pendingOf (ConfirmationLeases) reading only seats: the renewal at the release's
  // revision leaves the record behind.
  t.test('a renewal with applied_revision at or past the release acknowledges it', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    await login('ams-1', '1002')
    await logout('bob')
    const releasedAt = BigInt((await client.kv.range({ key: Buffer.from(keys.revoking('bob')) })).kvs[0]!.mod_revision)
    await ams.renew(releasedAt - 1n)
    t.equal((await revokingOf(client, keys, 'bob'))?.length, 1, 'a node behind the release has not acknowledged it')
    await ams.renew(releasedAt)
    t.equal(await revokingOf(client, keys, 'bob'), undefined, 'a node that applied it has')
    t.same(await index(), [])
    await cleanUp(t, ams)
  })

  // Guard tried: the bump in planLogin deleting the occupant's seat without releaseOps (as before
  // this change): no revoking record, and alice's seat at berlin is active at once.
  t.test('a bump at a branch holding a lease: the bumped worker\'s next seat elsewhere waits', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    const first = await login('ams-1')
    const bump = await login('ams-1', '1002')
    t.equal(bump.bumped?.userId, 'alice')
    t.same(bump.seat?.pending, [], 'bob, seated nowhere before, is active at once')
    t.same(await revokingOf(client, keys, 'alice'), [['amsterdam', 'ams-1', first.seat!.epoch]])
    const moving = login('ber-1')
    const pending = await seatAt('alice', 'ber-1')
    t.equal(pending.pending[0]?.siteId, 'amsterdam', 'pending until amsterdam applied the bump')
    t.notOk(await settled(moving))
    await ams.renew(pending.epoch)
    t.same((await moving).seat?.pending, [], 'the renewal that applied it completes the seat')
    await cleanUp(t, ams)
  })

  // Guard tried: planDeleteDevice ending the seat without leaving its revocations (releaseOps'
  // revocation ops filtered out): no revoking record. planDeleteUser takes the same path.
  t.test('directory deletes release through the same path', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    const atDesk = await login('ams-2')
    await core.deleteDevice({ requestId: rid(), deviceId: 'ams-2' }, ADMIN)
    t.same(await revokingOf(client, keys, 'alice'), [['amsterdam', 'ams-2', atDesk.seat!.epoch]], 'deleting the device left amsterdam outstanding')
    await core.createDevice({ requestId: rid(), device: { id: 'ams-2', siteId: 'amsterdam', extension: '', label: 'ams-2', model: 'test', flexHost: true, revision: '0', hasSipPassword: false, sipPassword: undefined } }, ADMIN)
    const bob = await login('ams-1', '1002')
    await core.deleteUser({ requestId: rid(), userId: 'bob' }, ADMIN)
    t.same(await revokingOf(client, keys, 'bob'), [['amsterdam', 'ams-1', bob.seat!.epoch]], 'deleting the user left amsterdam outstanding')
    await ams.release()
    t.equal(await revokingOf(client, keys, 'alice'), undefined, 'ReleaseLease completes released seats\' revocations at once')
    t.equal(await revokingOf(client, keys, 'bob'), undefined)
    t.same(await index(), [])
    await core.createUser({ requestId: rid(), user: User.fromPartial({ id: 'bob', extension: '1002', displayName: 'bob', homeSiteId: 'amsterdam', roamingAllowed: true }), pin: '46281937' }, ADMIN)
    await cleanUp(t)
  })

  // Guard tried: planUpdateDevice moving the seat to the new site as it is (no pendingOfNewSeat):
  // the seat is active at berlin at once while amsterdam may still act on it.
  t.test('a seated phone moved to another site: the seat waits there for the branch it left', async (t) => {
    const ams = branchNode(core, 'amsterdam')
    await ams.renew()
    const seated = await login('ams-1')
    const moveTo = (siteId: string) =>
      core.updateDevice({ requestId: rid(), device: { id: 'ams-1', siteId, extension: '', label: 'ams-1', model: 'test', flexHost: true, revision: '0' }, updateMask: ['site_id'] }, ADMIN)
    await moveTo('berlin')
    const moved = await seatOf('alice')
    t.equal(moved?.siteId, 'berlin')
    t.same(moved?.pending.map((p) => [p.siteId, p.deviceId, p.epoch]), [['amsterdam', 'ams-1', seated.seat!.epoch]], 'pending on amsterdam')
    await ams.ack([{ userId: 'alice', epoch: seated.seat!.epoch }])
    t.same((await seatOf('alice'))?.pending, [], 'active after the ack')
    t.same(await index(), [])
    await cleanUp(t, ams)
    await moveTo('amsterdam')
  })
})

// Guard tried: planExpiry deleting the seat without leaveRevocations: no revoking record after
// the expiry, and the login at berlin is active at once, before amsterdam's lease expired.
t.test('a seat that expires at a cut-off branch: the next login waits until its lease expired', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  // One clock for both cores, moved past the seat's hour instead of waiting for it.
  let skew = 0
  const clock = () => Date.now() + skew
  const a = await startRevocationCore(t, etcd.endpoints, { prefix, site: 'amsterdam', confirmationLeaseSeconds: LEASE, clock })
  // The second core takes over when the first resigns (the branch's lease keeps the TTL it was
  // granted with, LEASE).
  const b = await startCore(t, etcd.endpoints, { prefix, site: 'berlin', clock })
  const { etcd: client, keys } = a
  await seedBranches(a.core)
  const ams = branchNode(a.core, 'amsterdam')
  await ams.renew()
  const first = await a.core.login({ requestId: rid(), deviceId: 'ams-1', extension: '1001', pin: '', durationHours: 1 }, ADMIN)
  t.ok(first.seat?.expiresAt)

  // Two hours later. The leader's expiry timer is set for real time an hour away: a new leader
  // sweeps at once (as in registry-core-expiry).
  skew = 2 * 3_600_000
  await ams.renew()
  await a.core.resign()
  await waitFor(() => b.core.isLeader, 15_000, 'the second core to lead')
  // The node keeps its lease through the new leader until the next login is pending.
  const amsAtB = branchNode(b.core, 'amsterdam', ams.nodeId)
  t.equal((await amsAtB.renew()).granted, false, 'the same lease, renewed through the new leader')
  await waitFor(async () => (await b.core.getSeat({ target: { $case: 'userId', value: 'alice' } })).seat === undefined, 5_000, 'the seat to expire')
  t.same(await revokingOf(client, keys, 'alice'), [['amsterdam', 'ams-1', first.seat!.epoch]], 'the expiry left amsterdam outstanding')

  await amsAtB.renew()
  const startedAt = Date.now()
  const moving = b.core.login({ requestId: rid(), deviceId: 'ber-1', extension: '1001', pin: '', durationHours: 0 }, ADMIN, { deadline: Date.now() + 20_000 })
  const pending = await waitFor(async () => {
    const seat = (await b.core.getSeat({ target: { $case: 'userId', value: 'alice' } })).seat
    return seat?.deviceId === 'ber-1' ? seat : undefined
  }, 5_000, 'the seat at ber-1')
  t.equal(pending.pending[0]?.siteId, 'amsterdam', 'pending on amsterdam')
  t.notOk(await settled(moving), 'login waits')
  // Amsterdam is cut off from now on: no renewal, no ack.
  const moved = await moving
  const tookMs = Date.now() - startedAt
  t.same(moved.seat?.pending, [], 'active once the lease expired')
  t.ok(tookMs <= (LEASE + 2) * 1_000, `within the lease, the sweep and slack (${tookMs} ms)`)
  const activation = BigInt(moved.seat!.epoch)
  const nodeAt = async (revision: bigint) => (await client.kv.range({ key: Buffer.from(keys.node('amsterdam')), revision: String(revision) })).kvs[0]
  t.ok(await nodeAt(BigInt(pending.epoch)), 'the node key existed when the seat was written pending')
  t.notOk(await nodeAt(activation - 1n), 'and was gone (expired) before the activation')
  t.same(await keysUnder(client, keys.revocations), [])
})
