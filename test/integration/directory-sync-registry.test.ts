// The directory sync end to end: a real slapd (test/helpers/ldap.ts), real etcd and two real
// registry processes over gRPC; the sync runs on the leader, asked for through the follower, and
// the `flexseat` CLI reads what it did. Here: the dry run, creation with the departments'
// templates, the conflicts (per entry, the rest goes on), users created by hand left alone, and
// the missing PIN.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { status as GrpcStatus } from '@grpc/grpc-js'
import {
  DirectoryChangeKind,
  DirectorySyncMode,
  DirectorySyncState,
  ErrorCode,
  errorDetailOf,
  unary,
  User,
  UserSource,
} from '@flexseat/proto'
import { Cli } from '../helpers/cli'
import { listAllUsers, startSyncCluster } from '../helpers/directory-sync'
import { Slapd } from '../helpers/ldap'
import { callError, eventually } from '../helpers/registry-cluster'

t.test('dry run, sync, conflicts, templates; users created by hand are left alone; no PIN until an administrator sets one', async (t) => {
  const slapd = await Slapd.start()
  t.teardown(() => slapd.stop())
  const { cluster, sync } = await startSyncCluster(slapd)
  t.teardown(async () => {
    sync.close()
    await cluster.stop()
  })
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const { directory, seat } = cluster.clients(follower)
  const admin = { metadata: cluster.metadata('admin') }
  const first = await sync.status(follower)
  t.match(first, { configured: true, last: { state: DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED, mode: DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL, entries: 0 } }, 'the leader synced on being elected (nothing to do yet)')

  // What exists before the directory has these people: sites, desks, a worker created by hand.
  await eventually('both sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, admin)).sites.length === 2)
  for (const [id, siteId, extension] of [['ams-desk-1', 'amsterdam', '2011'], ['ber-desk-1', 'berlin', '2021']] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId, extension, label: id, model: '', flexHost: true, revision: '0' } }, admin)
  }
  const root = (await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: User.fromPartial({ id: 'root', extension: '1999', displayName: 'Root', homeSiteId: 'amsterdam' }), pin: '4321' }, admin)).user!
  await slapd.add({ username: 'Ada', ipPhone: '1001', givenName: 'Ada', sn: 'Lovelace', displayName: 'Ada Lovelace', mail: 'ada@example.com', telephoneNumber: '+31 20 555 1001', mobile: '+31 6 1234 5678', department: 'Sales' })
  await slapd.add({ username: 'alan', ipPhone: '1002', department: 'Support' })
  await slapd.add({ username: 'grace', ipPhone: '1003' })
  await slapd.add({ username: 'edsger', ipPhone: '1004', telephoneNumber: '030 1234' })
  await slapd.add({ username: 'nophone' })
  await slapd.add({ username: 'twin1', ipPhone: '1005' })
  await slapd.add({ username: 'twin2', ipPhone: '1005' })
  await slapd.add({ username: 'deskclash', ipPhone: '2011' })
  await slapd.add({ username: 'userclash', ipPhone: '1999' })
  await slapd.add({ username: 'root', ipPhone: '1006' })
  await slapd.add({ username: 'leaver', ipPhone: '1007', disabled: true })

  const dry = await sync.sync(follower, { dryRun: true })
  t.match(dry.run, { dryRun: true, state: DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED, entries: 11, created: 3, conflictCount: 7 })
  t.same(dry.changes.map((c) => [c.kind, c.userId]), [[DirectoryChangeKind.DIRECTORY_CHANGE_KIND_CREATE, 'ada'], [DirectoryChangeKind.DIRECTORY_CHANGE_KIND_CREATE, 'alan'], [DirectoryChangeKind.DIRECTORY_CHANGE_KIND_CREATE, 'grace']], 'the dry run lists what it would apply')
  const reasons = Object.fromEntries(dry.run!.conflicts.map((c) => [c.username, c.reason]))
  t.match(reasons, {
    nophone: /^no ipPhone/,
    twin1: /^ipPhone 1005 is also that of twin2/,
    twin2: /^ipPhone 1005 is also that of twin1/,
    deskclash: /extension 2011 belongs to another user or device/,
    userclash: /extension 1999 belongs to another user or device/,
    root: /user id root belongs to a user created by hand; the directory sync leaves it alone/,
    edsger: /^telephoneNumber: user\.did: must be an E\.164 number/,
  }, 'the planner\'s conflicts and the registry\'s, per entry')
  t.equal(dry.run!.conflicts.length, 7)
  t.same((await listAllUsers(cluster, follower)).map((u) => u.id), ['root'], 'a dry run writes nothing')
  t.equal((await sync.status(follower)).last?.runId, first.last?.runId, 'nor is it recorded')

  const { run } = await sync.syncToEnd(follower)
  t.match(run, { state: DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED, dryRun: false, entries: 11, created: 3, updated: 0, deleted: 0, conflictCount: 7 })
  t.equal(run.instanceId, cluster.instances[leader]!.instanceId, 'run by the leader, asked through the follower')
  const users = new Map((await listAllUsers(cluster, follower)).map((u) => [u.id, u]))
  t.same([...users.keys()].sort(), ['ada', 'alan', 'grace', 'root'])
  t.match(users.get('ada'), {
    extension: '1001',
    displayName: 'Ada Lovelace',
    givenName: 'Ada',
    surname: 'Lovelace',
    username: 'Ada',
    email: 'ada@example.com',
    did: '+31205551001',
    mobile: '+31612345678',
    department: 'Sales',
    homeSiteId: 'berlin',
    roamingAllowed: true,
    maxSeatHours: 10,
    functionKeyProfile: 'sales',
    source: UserSource.USER_SOURCE_DIRECTORY,
    directoryKey: slapd.keyOf('Ada'),
    disabled: false,
    hasPin: false,
  }, 'the entry and the Sales template')
  t.match(users.get('alan'), { homeSiteId: 'amsterdam', roamingAllowed: false, maxSeatHours: 0, functionKeyProfile: 'standard' }, 'the default template')
  t.same(users.get('root'), root, 'the user created by hand is untouched (same revision)')
  t.notOk(users.has('leaver'), 'a disabled account the sync never saw is not created')

  // PINs are not in the directory: a phone sign-in is refused clearly until an administrator sets one.
  const login = () => unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ber-desk-1', extension: '1001', pin: '2468', durationHours: 0 }, { metadata: cluster.metadata('sip-node') })
  const noPin = await callError(login())
  t.equal(noPin.code, GrpcStatus.FAILED_PRECONDITION)
  t.equal(errorDetailOf(noPin)?.code, ErrorCode.ERROR_CODE_NO_PIN)
  await unary(directory.resetPin.bind(directory), { requestId: randomUUID(), userId: 'ada', newPin: '2468' }, admin)
  t.equal((await login()).seat?.deviceId, 'ber-desk-1', 'with a PIN set, she signs in')

  // Again: nothing changed, nothing written; the conflicts are reported again.
  const again = await sync.syncToEnd(follower)
  t.match(again.run, { created: 0, updated: 0, unchanged: 3, conflictCount: 7 })
  t.same(new Map((await listAllUsers(cluster, follower)).map((u) => [u.id, u.revision])).get('alan'), users.get('alan')?.revision, 'an unchanged user is not rewritten')

  // The CLI, through the follower.
  const env = { FLEXSEAT_REGISTRY: cluster.clients(follower).address, FLEXSEAT_TOKEN: cluster.tokens.admin }
  const status = await (await Cli.start(['directory', 'status'], env)).result()
  t.equal(status.code, 0, status.stderr)
  t.match(status.stdout, /^last run\nrun +full sync, succeeded, .* by [a-z]+-[0-9a-f]{8} \(run [0-9a-f-]{36}\)\nentries read +11\ncreated +0\n/m)
  t.match(status.stdout, /\nconflicts +7\n/)
  t.match(status.stdout, /deskclash +2011 +deskclash +ipPhone: extension 2011 belongs to another user or device/)
  t.notMatch(status.stdout, /last full sync/, 'the last full sync is the same run: listed once')
  await slapd.modify('grace', { ipPhone: '1013' })
  const dryCli = await (await Cli.start(['directory', 'sync', '--dry-run'], env)).result()
  t.equal(dryCli.code, 0, dryCli.stderr)
  t.match(dryCli.stdout, /^CHANGE +USER +EXTENSION +REASONS\nupdate +grace +1013 +extension 1003 -> 1013\n/)
  t.match(dryCli.stdout, /\nCONFLICT: USERNAME +EXTENSION +USER +REASON\n/)
  t.match(dryCli.stdout, /run +full dry run, succeeded/)
  t.equal((await listAllUsers(cluster, follower)).find((u) => u.id === 'grace')?.extension, '1003', 'the CLI\'s dry run wrote nothing')
  const real = await (await Cli.start(['directory', 'sync'], env)).result()
  t.equal(real.code, 0, real.stderr)
  t.match(real.stdout, /^run +full sync, succeeded.*\n.*\ncreated +0\nupdated +1\n/)
  t.equal((await listAllUsers(cluster, follower)).find((u) => u.id === 'grace')?.extension, '1013')
  const user = await (await Cli.start(['user', 'get', 'ada'], env)).result()
  t.match(user.stdout, /\nsource +directory\ndirectory key +[0-9a-f-]{36}\nPIN +set\n/)
  t.match(user.stdout, /\nfunction keys +sales\n/)

  // Who may: a viewer reads the status but runs no sync; a request needs its id.
  const client = sync.client(follower)
  const denied = await callError(unary(client.syncDirectory.bind(client), { requestId: randomUUID(), dryRun: true, mode: 0 }, { metadata: cluster.metadata('viewer') }))
  t.equal(denied.code, GrpcStatus.PERMISSION_DENIED)
  t.ok((await unary(client.getDirectorySyncStatus.bind(client), {}, { metadata: cluster.metadata('viewer') })).configured)
  const bad = await callError(unary(client.syncDirectory.bind(client), { requestId: '', dryRun: true, mode: 0 }, admin))
  t.equal(errorDetailOf(bad)?.field, 'request_id')
})
