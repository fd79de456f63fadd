// The central call list over real registry processes (etcd cluster, gRPC): nodes report calls
// (CallListService.ReportCalls) through any instance, every instance lists a worker's calls
// (ListCalls), newest first, bounded per worker, none older than the retention; a record
// reported twice is stored once, across a leader failover too; a batch larger than one etcd
// transaction is cut by etcd's limits; who may read whose list. Also the directory fields of
// ring-both and of the desks' dispatchable location, and their bad input. Each case says which
// guard it was seen to fail without.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { credentials, status } from '@grpc/grpc-js'
import { CallDirection, CallListServiceClient, type CallRecord, type Device, type ListCallsRequest, unary, User } from '@flexseat/proto'
import { createEtcdClient, errorDetailOf, Keys } from '@flexseat/registry'
import { callError, eventually, RegistryCluster, type TokenRole, worker } from '../helpers/registry-cluster'

t.setTimeout(120_000)

const SIZE = 5

/** A call record as a node reports it. */
function call(userId: string, startedAt: Date, overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    recordId: randomUUID(),
    userId,
    direction: CallDirection.CALL_DIRECTION_INCOMING,
    startedAt,
    otherParty: '2103',
    otherPartyName: 'Reception',
    answered: false,
    durationSeconds: 0,
    siteId: 'amsterdam',
    deviceId: 'ams-desk-1',
    ...overrides,
  }
}

/** `n` calls of `userId`, one a second apart, the newest `endMs` ago. */
function calls(userId: string, n: number, endMs = 0): CallRecord[] {
  const now = Date.now() - endMs
  return Array.from({ length: n }, (_, i) => call(userId, new Date(now - (n - 1 - i) * 1_000)))
}

t.test('call lists over gRPC', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1, logLevel: 'info', env: { FLEXSEAT_CALL_LIST_SIZE: String(SIZE) } })
  t.teardown(() => cluster.stop())
  const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 3_000 })
  t.teardown(() => etcd.close())
  const keys = new Keys(cluster.prefix)
  const callClients = new Map<string, CallListServiceClient>()
  t.teardown(() => callClients.forEach((c) => c.close()))
  const callsOf = (index: number): CallListServiceClient => {
    const address = cluster.instances[index]!.address
    let client = callClients.get(address)
    if (!client) callClients.set(address, (client = new CallListServiceClient(address, credentials.createInsecure())))
    return client
  }
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const admin = cluster.metadata('admin')
  const { directory, seat } = cluster.clients(follower)
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 2)
  const device = (id: string, siteId: string, extra: Partial<Device> = {}): Device => ({ id, siteId, extension: '', label: id, model: 'test', flexHost: true, revision: '0', ...extra })
  for (const d of [device('ams-desk-1', 'amsterdam'), device('ams-desk-2', 'amsterdam'), device('ber-desk-1', 'berlin')]) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: d }, { metadata: admin })
  }
  for (const ext of ['1001', '1002', '1003']) await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker(ext), pin: '4711' }, { metadata: admin })

  const report = (records: CallRecord[], index = follower, role: TokenRole = 'sip-node', siteId = 'amsterdam') =>
    unary(callsOf(index).reportCalls.bind(callsOf(index)), { siteId, nodeId: `${siteId}-1a2b3c4d`, calls: records }, { metadata: cluster.metadata(role), timeoutMs: 20_000 })
  const list = async (userId: string, index = follower, extra: Partial<ListCallsRequest> = {}, role: TokenRole = 'admin'): Promise<CallRecord[]> =>
    (await unary(callsOf(index).listCalls.bind(callsOf(index)), { userId, deviceId: '', limit: 0, ...extra }, { metadata: cluster.metadata(role), timeoutMs: 5_000 })).calls
  const stored = async (userId: string): Promise<number> => Number((await etcd.kv.range({ key: Buffer.from(keys.calls(userId)), range_end: prefixEnd(keys.calls(userId)), count_only: true })).count as unknown as string | number)

  // Guards tried: the dedupe by key in CallList.#plan removed (the second report stores 3 more and
  // the list shows duplicates); the descending read in list() (oldest first).
  await t.test('a node reports through a follower; every instance lists newest first; a repeat is stored once', async (t) => {
    const records = calls('u1001', 3, 60_000)
    const first = await report(records)
    t.equal(first.stored, 3, 'three stored')
    const again = await report(records)
    t.equal(again.stored, 0, 'the same records again: nothing more')
    for (const index of [leader, follower]) {
      const listed = await list('u1001', index)
      t.same(listed.map((c) => c.recordId), records.map((r) => r.recordId).reverse(), `instance ${index}: newest first, each once`)
    }
    t.match((await list('u1001'))[0], { userId: 'u1001', direction: CallDirection.CALL_DIRECTION_INCOMING, otherParty: '2103', otherPartyName: 'Reception', answered: false, siteId: 'amsterdam', deviceId: 'ams-desk-1' })
    t.equal((await list('u1001', follower, { limit: 2 })).length, 2, 'limit')
  })

  // Guard tried: the `kept` slice in #plan removed (the list grows past the bound in etcd).
  await t.test('the list keeps the newest calls within its bound, in etcd too', async (t) => {
    const older = calls('u1002', 4, 120_000)
    await report(older)
    const newer = calls('u1002', 4, 0)
    await report(newer)
    t.equal(await stored('u1002'), SIZE, `${SIZE} keys in etcd`)
    const listed = await list('u1002')
    t.same(listed.map((c) => c.recordId), [...newer.reverse(), older.at(-1)!].map((r) => r.recordId), 'the newest five')
    // A late report of a call older than the whole list is not stored at all.
    const late = await report([call('u1002', new Date(Date.now() - 3_600_000))])
    t.equal(late.stored, 0, 'a call older than the kept ones is not stored')
    t.equal(await stored('u1002'), SIZE)
  })

  // Guard tried: the user read in #plan removed (u9999's calls are stored).
  await t.test('calls of unknown users are skipped; bad records are refused naming the field, nothing written', async (t) => {
    const result = await report([call('u9999', new Date()), call('u1003', new Date())])
    t.equal(result.stored, 1, 'only the known user')
    t.equal(await stored('u9999'), 0)
    const cases: [string, CallRecord[]][] = [
      ['calls[1].record_id', [call('u1003', new Date()), call('u1003', new Date(), { recordId: 'has space' })]],
      ['calls[0].direction', [call('u1003', new Date(), { direction: CallDirection.CALL_DIRECTION_UNSPECIFIED })]],
      ['calls[0].started_at', [call('u1003', new Date(Date.now() + 2 * 3_600_000))]],
      ['calls[0].duration_seconds', [call('u1003', new Date(), { durationSeconds: 12 })]],
      ['calls[0].other_party', [call('u1003', new Date(), { otherParty: '1'.repeat(65) })]],
    ]
    const before = await stored('u1003')
    for (const [field, records] of cases) {
      const error = await callError(report(records))
      t.equal(error.code, status.INVALID_ARGUMENT, `${field}: INVALID_ARGUMENT`)
      t.equal(errorDetailOf(error)?.field, field, `naming ${field}`)
    }
    t.equal(await stored('u1003'), before, 'nothing of the refused reports was written')
  })

  // Guards tried: ListCalls added to the viewer's READS (the viewer reads); the seat / home device
  // check in #mayList removed (the node reads any worker's list).
  await t.test('who may read a list', async (t) => {
    t.equal((await callError(list('u1001', follower, {}, 'viewer'))).code, status.PERMISSION_DENIED, 'not a viewer')
    const noDesk = await callError(list('u1001', follower, {}, 'sip-node'))
    t.equal(noDesk.code, status.INVALID_ARGUMENT, 'a node names the desk')
    t.equal(errorDetailOf(noDesk)?.field, 'device_id')
    t.equal((await callError(list('u1001', follower, { deviceId: 'ams-desk-1' }, 'sip-node'))).code, status.PERMISSION_DENIED, 'not for a worker who does not sit there')
    await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ams-desk-1', extension: '1001', pin: '', durationHours: 0 }, { metadata: admin, timeoutMs: 10_000 })
    t.equal((await list('u1001', follower, { deviceId: 'ams-desk-1' }, 'sip-node')).length, 3, 'the desk where the worker sits')
    // Guards tried: mustActFor left out of CallList.validate (Berlin's node reports for Amsterdam);
    // the desk's site not compared with the token's in #mayList (Berlin's node reads the list).
    const berlin = cluster.metadata('sip-node', 'berlin')
    const calls = callsOf(follower)
    t.equal((await callError(unary(calls.reportCalls.bind(calls), { siteId: 'amsterdam', nodeId: 'berlin-1', calls: [] }, { metadata: berlin, timeoutMs: 5_000 }))).code, status.PERMISSION_DENIED, "Berlin's node does not report for Amsterdam")
    t.equal((await callError(unary(calls.listCalls.bind(calls), { userId: 'u1001', deviceId: 'ams-desk-1', limit: 0 }, { metadata: berlin, timeoutMs: 5_000 }))).code, status.PERMISSION_DENIED, "nor read the list of a worker at an Amsterdam desk")
    t.equal((await callError(list('u1001', follower, { deviceId: 'ams-desk-2' }, 'sip-node'))).code, status.PERMISSION_DENIED, 'not another desk')
    await unary(directory.updateUser.bind(directory), { requestId: randomUUID(), user: User.fromPartial({ id: 'u1001', homeDeviceId: 'ams-desk-2' }), updateMask: ['home_device_id'] }, { metadata: admin })
    t.equal((await list('u1001', follower, { deviceId: 'ams-desk-2' }, 'sip-node')).length, 3, 'nor the home device')

    // The provisioning service (the desk's call-list page): only the worker seated at one of its
    // own branch's desks. Guards tried: ListCalls left out of PROVISIONING in auth.ts (Amsterdam's
    // service is refused); mustActFor left out of #mayList (Berlin's service reads the list); the
    // home-device clause open to provisioning (the page at the home desk shows the list).
    const amsProv = cluster.metadata('provisioning', 'amsterdam')
    const berProv = cluster.metadata('provisioning', 'berlin')
    const listAs = (metadata: typeof amsProv, deviceId: string) => unary(calls.listCalls.bind(calls), { userId: 'u1001', deviceId, limit: 0 }, { metadata, timeoutMs: 5_000 })
    t.equal((await listAs(amsProv, 'ams-desk-1')).calls.length, 3, "Amsterdam's provisioning service reads the list of the worker seated at its desk")
    t.equal((await callError(listAs(berProv, 'ams-desk-1'))).code, status.PERMISSION_DENIED, "Berlin's provisioning token is refused the list of a worker at an Amsterdam desk")
    t.equal((await callError(listAs(amsProv, 'ams-desk-2'))).code, status.PERMISSION_DENIED, 'nor at the home device: the page shows the seated worker only')
    t.equal((await callError(listAs(amsProv, ''))).code, status.INVALID_ARGUMENT, 'a provisioning service names the desk')
    t.equal((await callError(listAs(berProv, 'ber-desk-1'))).code, status.PERMISSION_DENIED, 'nor at its own desk where the worker does not sit')
  })

  // Guard tried: the per-worker share cap (chunk) and EXTRA_TRIM left out of perItem (etcd refuses
  // a part: "too many operations in txn request").
  await t.test('a report larger than one etcd transaction is cut by etcd\'s limits', async (t) => {
    for (let i = 0; i < 60; i += 1) await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker(String(3000 + i)), pin: '4711' }, { metadata: admin })
    // u1003's 100 end a minute ahead (the registry takes up to an hour): newer than the call the
    // validation case above stored for u1003 just now, however fast this machine gets here.
    const records = [...Array.from({ length: 60 }, (_, i) => calls(`u${3000 + i}`, 15)).flat(), ...calls('u1003', 100, -60_000)]
    t.equal(records.length, 1_000)
    const result = await report(records)
    t.equal(result.stored, 61 * SIZE, `${SIZE} per worker stored`)
    t.equal(await stored('u3042'), SIZE)
    t.same((await list('u1003')).map((c) => c.recordId), records.slice(-SIZE).map((r) => r.recordId).reverse(), 'the newest of the 100')
  })

  // Guard tried: the calls range delete left out of planDeleteUser (the new u1003 sees the old calls).
  await t.test('deleting a user deletes their list', async (t) => {
    t.ok((await stored('u1003')) > 0)
    await unary(directory.deleteUser.bind(directory), { requestId: randomUUID(), userId: 'u1003' }, { metadata: admin })
    t.equal(await stored('u1003'), 0, 'gone from etcd')
    await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('1003'), pin: '4711' }, { metadata: admin })
    t.same(await list('u1003'), [], 'a new user of the same id starts empty')
  })

  // Guards tried: the existence check of home_device_id (an unknown device is stored); the
  // LOCATION_PART check (a floor with '<' is stored).
  await t.test('ring-both and location fields: stored, returned, bad ones refused naming the field', async (t) => {
    const updated = await unary(directory.updateUser.bind(directory), { requestId: randomUUID(), user: User.fromPartial({ id: 'u1002', homeDeviceId: 'ber-desk-1', ringHomeDevice: true }), updateMask: ['home_device_id', 'ring_home_device'] }, { metadata: admin })
    t.match(updated.user, { homeDeviceId: 'ber-desk-1', ringHomeDevice: true })
    const unknown = await callError(unary(directory.updateUser.bind(directory), { requestId: randomUUID(), user: User.fromPartial({ id: 'u1002', homeDeviceId: 'no-such-desk' }), updateMask: ['home_device_id'] }, { metadata: admin }))
    t.equal(unknown.code, status.INVALID_ARGUMENT)
    t.equal(errorDetailOf(unknown)?.field, 'user.home_device_id')
    const created = await callError(unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('1009', { homeDeviceId: 'no-such-desk' }), pin: '4711' }, { metadata: admin }))
    t.equal(errorDetailOf(created)?.field, 'user.home_device_id', 'on create too')
    const bad = await callError(unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('1009', { homeDeviceId: 'Not An Id' }), pin: '4711' }, { metadata: admin }))
    t.equal(errorDetailOf(bad)?.field, 'user.home_device_id', 'a malformed id')
    t.equal((await callError(unary(directory.getUser.bind(directory), { key: { $case: 'userId', value: 'u1009' } }, { metadata: admin }))).code, status.NOT_FOUND, 'nothing was created')

    const desk = await unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: device('ams-desk-1', 'amsterdam', { floor: '4', room: '4.12 (north)' }), updateMask: ['floor', 'room'] }, { metadata: admin })
    t.match(desk.device, { floor: '4', room: '4.12 (north)' })
    for (const [field, extra] of [['device.floor', { floor: '<script>' }], ['device.room', { room: 'x'.repeat(33) }], ['device.floor', { floor: '   ' }]] as const) {
      const error = await callError(unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: device('ams-desk-1', 'amsterdam', extra), updateMask: [field.slice('device.'.length)] }, { metadata: admin }))
      t.equal(error.code, status.INVALID_ARGUMENT, `${JSON.stringify(extra)}: INVALID_ARGUMENT`)
      t.equal(errorDetailOf(error)?.field, field, `naming ${field}`)
    }
    const read = await unary(directory.getDevice.bind(directory), { deviceId: 'ams-desk-1' }, { metadata: admin })
    t.match(read.device, { floor: '4', room: '4.12 (north)' }, 'the refused updates changed nothing')
  })

  // Guard tried: a random key suffix instead of the record id's hash (the re-sent report doubles).
  await t.test('a report cut short by a leader failover, repeated: each call once', async (t) => {
    const fresh = cluster.clients(follower).directory
    for (let i = 0; i < 40; i += 1) await unary(fresh.createUser.bind(fresh), { requestId: randomUUID(), user: worker(String(4000 + i)), pin: '4711' }, { metadata: admin })
    const records = Array.from({ length: 40 }, (_, i) => calls(`u${4000 + i}`, SIZE)).flat()
    const now = await cluster.leader()
    const other = now === 0 ? 1 : 0
    const under = report(records, other).catch((error: unknown) => error)
    await cluster.kill(now)
    const first = await under
    t.comment(`the first report ${first instanceof Error ? `failed: ${first.message}` : `stored ${(first as { stored: number }).stored}`}`)
    await cluster.waitForLeader({ not: now })
    const retry = await eventually('the report goes through after the failover', () => report(records, other).catch(() => undefined), 20_000, 200)
    t.ok(retry.stored <= records.length, `the repeat stored ${retry.stored}`)
    for (let i = 0; i < 40; i += 1) {
      const listed = await list(`u${4000 + i}`, other)
      const ids = listed.map((c) => c.recordId)
      if (ids.length !== SIZE || new Set(ids).size !== SIZE) t.fail(`u${4000 + i}: ${ids.length} calls, ${new Set(ids).size} distinct`)
    }
    t.pass('every worker has each of the five calls exactly once')
  })
})

// Guards tried: the retention filter in list() removed (the old call is listed until etcd deletes
// it); the lease on the put removed (the key is never deleted by etcd).
t.test('the retention: older calls are neither stored nor listed, and etcd deletes them', async (t) => {
  const RETENTION = 4
  const cluster = await RegistryCluster.start({ instances: 1, etcdMembers: 1, logLevel: 'info', env: { FLEXSEAT_CALL_LIST_RETENTION_SECONDS: String(RETENTION) } })
  t.teardown(() => cluster.stop())
  const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 3_000 })
  t.teardown(() => etcd.close())
  const keys = new Keys(cluster.prefix)
  const client = new CallListServiceClient(cluster.instances[0]!.address, credentials.createInsecure())
  t.teardown(() => client.close())
  const admin = cluster.metadata('admin')
  const { directory } = cluster.clients(0)
  await eventually('the site exists', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 1)
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('1001'), pin: '4711' }, { metadata: admin })
  const report = (records: CallRecord[]) => unary(client.reportCalls.bind(client), { siteId: 'amsterdam', nodeId: 'amsterdam-1', calls: records }, { metadata: cluster.metadata('sip-node') })
  const list = async () => (await unary(client.listCalls.bind(client), { userId: 'u1001', deviceId: '', limit: 0 }, { metadata: admin })).calls
  const keysNow = async () => (await etcd.kv.range({ key: Buffer.from(keys.calls('u1001')), range_end: prefixEnd(keys.calls('u1001')), keys_only: true })).kvs.length

  t.equal((await report([call('u1001', new Date(Date.now() - (RETENTION + 1) * 1_000))])).stored, 0, 'a call already past the retention is not stored')
  const fresh = call('u1001', new Date())
  t.equal((await report([fresh])).stored, 1)
  t.same((await list()).map((c) => c.recordId), [fresh.recordId], 'listed while within the retention')
  await eventually('the call is no longer listed', async () => (await list()).length === 0, (RETENTION + 3) * 1_000, 100)
  t.pass('no longer listed once past the retention')
  await eventually('etcd deleted the call (retention lease)', async () => (await keysNow()) === 0, (RETENTION + 8) * 1_000, 200)
  t.pass('and etcd deleted it')
})

function prefixEnd(prefix: string): Buffer {
  const buffer = Buffer.from(prefix)
  buffer[buffer.length - 1]! += 1
  return buffer
}
