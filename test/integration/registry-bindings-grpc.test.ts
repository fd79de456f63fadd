// Phone bindings over real registry processes (etcd cluster, gRPC): a branch's SIP node reports
// the phones registered at it (BranchService.ReportBindings) and every instance lists them
// (ListBindings) and counts them in the cluster status. Each case says which guard it was seen
// to fail without.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { credentials, status } from '@grpc/grpc-js'
import { BranchServiceClient, ErrorCode, type PhoneBinding, unary } from '@flexseat/proto'
import { createEtcdClient, errorDetailOf, Keys } from '@flexseat/registry'
import { callError, eventually, RegistryCluster } from '../helpers/registry-cluster'

t.setTimeout(90_000)

/** A binding as a SIP node reports it: expiring `seconds` from now. */
function binding(deviceId: string, seconds: number, overrides: Partial<PhoneBinding> = {}): PhoneBinding {
  return {
    deviceId,
    siteId: '',
    contact: `sip:${deviceId}@192.0.2.10:5060;transport=udp`,
    source: 'udp:192.0.2.10:5060',
    userAgent: 'Yealink SIP-T54W 96.86.0.70',
    expiresAt: new Date(Date.now() + seconds * 1_000),
    registeredAt: undefined,
    ...overrides,
  }
}

t.test('phone bindings over gRPC', async (t) => {
  // A long confirmation lease: the node below holds it for the whole file without renewing.
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1, env: { FLEXSEAT_CONFIRMATION_LEASE_SECONDS: '30' }, logLevel: 'info' })
  t.teardown(() => cluster.stop())
  const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 3_000 })
  t.teardown(() => etcd.close())
  const keys = new Keys(cluster.prefix)
  const branchClients = new Map<number, BranchServiceClient>()
  t.teardown(() => branchClients.forEach((c) => c.close()))
  const branchOf = (index: number): BranchServiceClient => {
    let client = branchClients.get(index)
    if (!client) branchClients.set(index, (client = new BranchServiceClient(cluster.instances[index]!.address, credentials.createInsecure())))
    return client
  }
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const admin = cluster.metadata('admin')
  const sipNode = cluster.metadata('sip-node')
  const viewer = cluster.metadata('viewer')
  const { directory } = cluster.clients(leader)
  await eventually('the sites exist', async () => {
    const { sites } = await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })
    return sites.length === 2
  })
  const [ams, ber] = cluster.instances.map((i) => i.siteId) as [string, string]
  for (const [id, siteId] of [['ams-1', ams], ['ams-2', ams], ['ams-3', ams], ['ber-1', ber]] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId, extension: '', label: id, model: 'test', flexHost: true, revision: '0' } }, { metadata: admin })
  }

  const viaFollower = branchOf(follower)
  const node = { siteId: ams, nodeId: `${ams}-1a2b3c4d` }
  const granted = await unary(viaFollower.renewLease.bind(viaFollower), { ...node, appliedRevision: '0' }, { metadata: sipNode, timeoutMs: 5_000 })
  const report = (bindings: PhoneBinding[], removedDeviceIds: string[] = [], who = node, client = viaFollower) =>
    unary(client.reportBindings.bind(client), { ...who, bindings, removedDeviceIds }, { metadata: sipNode, timeoutMs: 5_000 })
  const list = async (index: number, siteId = ''): Promise<PhoneBinding[]> => {
    const client = branchOf(index)
    return (await unary(client.listBindings.bind(client), { siteId, pageSize: 0, pageToken: '' }, { metadata: viewer, timeoutMs: 5_000 })).bindings
  }
  const stored = async (siteId: string, deviceId: string): Promise<Record<string, unknown> | undefined> => {
    const kv = (await etcd.kv.range({ key: Buffer.from(keys.binding(siteId, deviceId)) })).kvs[0]
    return kv ? (JSON.parse(kv.value.toString('utf8')) as Record<string, unknown>) : undefined
  }

  // Guards tried: ReportBindings left out of SIP_NODE in auth.ts (PERMISSION_DENIED for the node);
  // ListBindings left out of READS (the viewer's lists fail); the device/site check in
  // PhoneBindings.report removed (ber-1 and the unknown device are stored under amsterdam).
  t.test('a node reports through a follower; both instances list; other sites\' and unknown devices are skipped', async (t) => {
    const registeredAt = new Date(Date.now() - 60_000)
    await report([binding('ams-1', 60, { registeredAt }), binding('ams-2', 60, { siteId: ams }), binding('ber-1', 60), binding('no-such-phone', 60)])
    for (const index of [leader, follower]) {
      const phones = await list(index, ams)
      t.same(phones.map((p) => p.deviceId), ['ams-1', 'ams-2'], `instance ${index} lists the amsterdam phones, and only those`)
      t.match(phones[0], { siteId: ams, contact: 'sip:ams-1@192.0.2.10:5060;transport=udp', source: 'udp:192.0.2.10:5060', userAgent: 'Yealink SIP-T54W 96.86.0.70' })
      t.equal(phones[0]!.registeredAt?.getTime(), registeredAt.getTime(), 'registered_at as reported')
      t.ok(phones[1]!.registeredAt !== undefined, 'registered_at filled in when not reported')
    }
    t.same((await list(follower)).map((p) => `${p.siteId}/${p.deviceId}`), [`${ams}/ams-1`, `${ams}/ams-2`], 'all sites: the same two')
    t.same(await list(follower, ber), [], 'nothing at berlin')
    t.equal(await stored(ams, 'ber-1'), undefined, 'a device of another site is not stored')
    t.equal(await stored(ams, 'no-such-phone'), undefined, 'an unknown device is not stored')
    t.match(await stored(ams, 'ams-1'), { deviceId: 'ams-1', siteId: ams, nodeId: node.nodeId }, 'stored at bindings/<site>/<device>')
    const kv = (await etcd.kv.range({ key: Buffer.from(keys.binding(ams, 'ams-1')) })).kvs[0]
    t.equal(kv?.lease, '0', 'on no etcd lease: it outlives the node')
  })

  // Guard tried: viewers let through by both mayCall (ReportBindings) and RegistryCore.#mayWrite:
  // the viewer's report succeeds (either check alone still refuses it).
  t.test('a viewer may list but not report', async (t) => {
    const denied = await callError(unary(viaFollower.reportBindings.bind(viaFollower), { ...node, bindings: [binding('ams-3', 60)], removedDeviceIds: [] }, { metadata: viewer }))
    t.equal(denied.code, status.PERMISSION_DENIED)
    t.equal(await stored(ams, 'ams-3'), undefined, 'nothing stored')
    t.equal((await list(leader, ams)).length, 2, 'the viewer lists')
  })

  // Guard tried: the registered_at fallback to the stored value in PhoneBindings.report removed
  // (registered_at then moves to the refresh time); removals not turned into deletes (ams-2 stays).
  t.test('a refresh extends the binding and keeps registered_at; a removal deletes it', async (t) => {
    const [before] = await list(leader, ams)
    const later = new Date(Date.now() + 300_000)
    await report([binding('ams-1', 300, { expiresAt: later, contact: 'sip:ams-1@192.0.2.11:5062' })], ['ams-2', 'never-registered'])
    const after = await list(follower, ams)
    t.same(after.map((p) => p.deviceId), ['ams-1'], 'ams-2 removed')
    t.equal(after[0]!.expiresAt?.getTime(), later.getTime(), 'expires_at extended')
    t.equal(after[0]!.contact, 'sip:ams-1@192.0.2.11:5062', 'the new contact')
    t.equal(after[0]!.registeredAt?.getTime(), before!.registeredAt?.getTime(), 'registered_at kept')
    t.equal(await stored(ams, 'ams-2'), undefined, 'the key of ams-2 is gone')
  })

  // Guard tried: the holder compare in PhoneBindings.report removed: the second node's report is
  // stored (and the first test's node view overwritten).
  t.test('a node that does not hold the site\'s lease is refused, and nothing is written', async (t) => {
    const stale = await callError(report([binding('ams-1', 30, { contact: 'sip:stale@192.0.2.99' })], [], { siteId: ams, nodeId: `${ams}-deadbeef` }))
    t.equal(stale.code, status.FAILED_PRECONDITION, 'FAILED_PRECONDITION')
    t.equal(errorDetailOf(stale)?.code, ErrorCode.ERROR_CODE_LEASE_HELD, 'LEASE_HELD')
    t.ok((errorDetailOf(stale)?.retryAfterMs ?? 0) > 0, 'with a retry hint (the lease may expire)')
    const nobody = await callError(
      unary(branchOf(leader).reportBindings.bind(branchOf(leader)), { siteId: ber, nodeId: `${ber}-00000001`, bindings: [binding('ber-1', 30)], removedDeviceIds: [] }, { metadata: cluster.metadata('sip-node', ber), timeoutMs: 5_000 }),
    )
    t.equal(errorDetailOf(nobody)?.code, ErrorCode.ERROR_CODE_LEASE_HELD, 'no lease at the site at all: LEASE_HELD too')
    t.match(nobody.details, /renew it first/)
    t.equal((await list(leader, ams))[0]!.contact, 'sip:ams-1@192.0.2.11:5062', 'the live node\'s view stands')
    t.equal(await stored(ber, 'ber-1'), undefined)
  })

  // Guard tried: the contact pattern check in PhoneBindings.validate removed: the first request
  // is accepted and ams-3 stored.
  t.test('a bad request is INVALID_ARGUMENT naming the field; nothing is written', async (t) => {
    const cases: [PhoneBinding[], string[], string][] = [
      [[binding('ams-3', 60), binding('ams-1', 60, { contact: 'http://x' })], [], 'bindings[1].contact'],
      [[binding('ams-3', 60, { source: '192.0.2.10' })], [], 'bindings[0].source'],
      [[binding('ams-3', 60, { expiresAt: undefined })], [], 'bindings[0].expires_at'],
      [[binding('ams-3', 2 * 86_400)], [], 'bindings[0].expires_at'],
      [[binding('ams-3', 60, { siteId: ber })], [], 'bindings[0].site_id'],
      [[binding('ams-3', 60), binding('ams-3', 60)], [], 'bindings[1].device_id'],
      [[binding('ams-3', 60)], ['ams-3'], 'removed_device_ids[0]'],
      [[], ['Not An Id'], 'removed_device_ids[0]'],
    ]
    for (const [bindings, removed, field] of cases) {
      const bad = await callError(report(bindings, removed))
      t.equal(bad.code, status.INVALID_ARGUMENT, `${field}: INVALID_ARGUMENT`)
      t.equal(errorDetailOf(bad)?.field, field, `names ${field}`)
    }
    t.equal(await stored(ams, 'ams-3'), undefined, 'ams-3 was never stored')
  })

  // Guard tried: the binding sweeper not started on leadership (the key stays in etcd).
  t.test('an expired binding is no longer listed, and the leader\'s sweep deletes its key', async (t) => {
    const expiresAt = new Date(Date.now() + 1_500)
    await report([{ ...binding('ams-3', 0), expiresAt }])
    t.same((await list(leader, ams)).map((p) => p.deviceId), ['ams-1', 'ams-3'], 'listed while valid')
    await eventually('the binding expired', () => Date.now() > expiresAt.getTime() + 50)
    t.same((await list(follower, ams)).map((p) => p.deviceId), ['ams-1'], 'not listed once expired')
    await eventually('the sweep deleted bindings/<site>/ams-3', async () => (await stored(ams, 'ams-3')) === undefined, 10_000)
    t.ok(await stored(ams, 'ams-1'), 'the valid binding stays')
    const past = await report([binding('ams-3', -10)])
    t.same(past, {}, 'a binding reported already expired is accepted')
    t.equal(await stored(ams, 'ams-3'), undefined, 'and not stored')
  })

  // Guard tried: the binding delete left out of planDeleteDevice (the key stays) and of
  // planUpdateDevice's site change (the binding stays under the old site).
  t.test('deleting a device deletes its binding; moving it to another site too', async (t) => {
    await report([binding('ams-2', 60), binding('ams-3', 60)])
    t.ok(await stored(ams, 'ams-2'), 'ams-2 bound')
    await unary(directory.deleteDevice.bind(directory), { requestId: randomUUID(), deviceId: 'ams-2' }, { metadata: admin })
    t.equal(await stored(ams, 'ams-2'), undefined, 'deleting ams-2 deleted its binding')
    await unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: { id: 'ams-3', siteId: ber, extension: '', label: '', model: '', flexHost: true, revision: '0' }, updateMask: ['site_id'] }, { metadata: admin })
    t.equal(await stored(ams, 'ams-3'), undefined, 'moving ams-3 to berlin deleted its amsterdam binding')
    t.same((await list(follower)).map((p) => p.deviceId), ['ams-1'])
  })

  // Guards tried: the expiry filter in listBindings removed (the stale binding is listed); the
  // one in branchNodes removed (it is counted, and berlin gets an entry).
  t.test('expired bindings the sweep has not deleted yet are neither listed nor counted', async (t) => {
    // As a write the leader has not seen would leave them (the leader scans every minute, or when
    // a binding it wrote is due): expired, under both sites.
    const expired = (site: string, device: string) => JSON.stringify({ ...binding(device, -5), siteId: site, registeredAt: new Date().toISOString(), nodeId: 'old' })
    await etcd.put(keys.binding(ams, 'ams-stale')).value(expired(ams, 'ams-stale'))
    await etcd.put(keys.binding(ber, 'ber-stale')).value(expired(ber, 'ber-stale'))
    t.same((await list(follower)).map((p) => p.deviceId), ['ams-1'], 'not listed')
    const got = await cluster.status(leader)
    t.same(got.branches.map((b) => [b.siteId, b.onlinePhones]), [[ams, 1]], 'not counted; a site with only expired bindings has no entry')
    t.ok(await stored(ber, 'ber-stale'), 'the keys were still there: the readers filtered them')
  })

  // Guard tried: branches left out of GetClusterStatus (no entry).
  t.test('the cluster status shows each branch: its node, its lease, its phones online', async (t) => {
    await report([binding('ams-1', 300)])
    const got = await cluster.status(follower)
    t.same(got.branches, [{ siteId: ams, nodeId: node.nodeId, leaseHeld: true, grantedRevision: granted.grantedRevision, onlinePhones: 1 }], 'amsterdam only: berlin has no node and no phone')

    // A node that stops cleanly releases its lease: its phones stay bound until they expire.
    await unary(viaFollower.releaseLease.bind(viaFollower), node, { metadata: sipNode, timeoutMs: 5_000 })
    const released = await cluster.status(leader)
    t.same(released.branches, [{ siteId: ams, nodeId: '', leaseHeld: false, grantedRevision: '0', onlinePhones: 1 }], 'no SIP node, the phone still online')
    t.same((await list(leader, ams)).map((p) => p.deviceId), ['ams-1'], 'the binding outlives the node: a restarted node reloads it')
    const refused = await callError(report([binding('ams-1', 60)]))
    t.equal(errorDetailOf(refused)?.code, ErrorCode.ERROR_CODE_LEASE_HELD, 'without its lease the node may not report')
  })
})
