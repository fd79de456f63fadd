import t, { type Test as Tap } from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { credentials } from '@grpc/grpc-js'
import { BranchServiceClient, unary } from '@flexseat/proto'
import { freePorts } from '@flexseat/sim'
import { Cli, type CliResult } from '../helpers/cli'
import { RegistryCluster } from '../helpers/registry-cluster'

// The real `flexseat` command (packages/cli/dist/main.js, built first) as a child process against
// a real registry cluster (etcd and registry processes). Build: npx tsc -b packages/cli packages/registry

// The last case outwaits a leader's lease (3 s) after killing it; the file takes some 15 s.
t.setTimeout(60_000)

t.test('flexseat against a registry cluster', async (t) => {
  // The harness waits on unref'd timers and unref'd child processes: hold the event loop open
  // until the cluster has stopped, or the test process could end in the middle of a wait.
  const keepAlive = setInterval(() => undefined, 1_000)
  // One etcd member is enough here: these tests are about the command, not etcd's quorum.
  // A long confirmation lease: the branch node of the phones case holds it without renewing.
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1, logLevel: 'info', nodeSites: ['oslo'], env: { FLEXSEAT_CONFIRMATION_LEASE_SECONDS: '30' } }).catch((error: unknown) => {
    clearInterval(keepAlive)
    throw error
  })
  t.teardown(async () => {
    await cluster.stop()
    clearInterval(keepAlive)
  })
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const leaderAddress = cluster.instances[leader]!.address
  const followerAddress = cluster.instances[follower]!.address
  // Through the follower: every write below is forwarded to the leader.
  const admin = { FLEXSEAT_REGISTRY: followerAddress, FLEXSEAT_TOKEN: cluster.tokens.admin }
  const cli = async (args: readonly string[], env: Record<string, string> = admin, stdinLines?: readonly string[]): Promise<CliResult> => {
    const cliProcess = await Cli.start(args, env, stdinLines)
    try {
      return await cliProcess.result()
    } finally {
      await cliProcess.process.kill()
    }
  }
  const ok = (t: Tap, result: CliResult, what: string): void => {
    t.equal(result.code, 0, `${what} exits 0${result.code === 0 ? '' : `: ${result.stderr}`}`)
    // A busy cluster may ask for a retry (the command says so on stderr); nothing else is expected.
    const unexpected = result.stderr.split('\n').filter((line) => line !== '' && !/; retrying in \d+\.\d s \(retry \d+\)$/.test(line))
    t.same(unexpected, [], `${what} prints no error`)
  }

  await t.test('site, users and devices are created, updated and read back', async (t) => {
    const site = await cli(['site', 'create', '--id', 'oslo', '--name', 'Oslo', '--timezone', 'Europe/Oslo', '--emergency', '112,113', '--location', 'Karl Johans gate 1, Oslo', '--trunk', 'sip:127.0.0.1:5999'])
    ok(t, site, 'site create')
    t.match(site.stdout, /^id\s+oslo$/m)
    t.match(site.stdout, /^emergency numbers\s+112, 113$/m)

    const ada = await cli(['user', 'create', '--id', 'ada', '--ext', '1001', '--name', 'Ada Lovelace', '--home', 'oslo', '--roaming'], admin, ['2468'])
    ok(t, ada, 'user create with the PIN on stdin')
    t.match(ada.stdout, /^extension\s+1001$/m)
    t.notMatch(ada.stdout + ada.stderr, '2468', 'the PIN is not printed')

    ok(t, await cli(['user', 'create', '--id', 'bob', '--ext', '1002', '--name', 'Bob Babbage', '--home', 'oslo', '--pin', '1357']), 'user create with --pin')
    ok(t, await cli(['device', 'create', '--id', 'desk-1', '--site', 'oslo', '--ext', '2001', '--label', 'desk 1', '--flex-host']), 'device create desk-1')
    const desk2 = await cli(['device', 'create', '--id', 'desk-2', '--site', 'oslo', '--ext', '2002', '--flex-host', '--json'])
    ok(t, desk2, 'device create desk-2')
    t.match(JSON.parse(desk2.stdout), { device: { id: 'desk-2', siteId: 'oslo', extension: '2002', flexHost: true } })

    ok(t, await cli(['user', 'update', 'ada', '--department', 'Engineering']), 'user update')
    const got = await cli(['user', 'get', '--ext', '1001', '--json'])
    ok(t, got, 'user get --ext')
    const { user } = JSON.parse(got.stdout) as { user: Record<string, unknown> }
    t.match(user, { id: 'ada', extension: '1001', displayName: 'Ada Lovelace', department: 'Engineering', homeSiteId: 'oslo', roamingAllowed: true }, 'the update changed only the department')
    t.match(user.revision, /^\d+$/, 'int64 as a string')
    t.notOk('pin' in user || 'pinHash' in user, 'no PIN material in the record')
    // Guard tried: lampCallerFromOptions not applied (the setting stayed unset).
    const hiding = await cli(['user', 'update', 'ada', '--lamp-caller', 'hide'])
    ok(t, hiding, 'user update --lamp-caller hide')
    t.match(hiding.stdout, /^caller on lamps\s+hidden$/m, "the worker's lamps withhold the caller")
    const branchDefault = await cli(['user', 'update', 'ada', '--lamp-caller', 'branch', '--json'])
    ok(t, branchDefault, 'user update --lamp-caller branch')
    t.notOk('showCallerOnLamps' in (JSON.parse(branchDefault.stdout) as { user: object }).user, "unset again: the branch's switch")
    const wrong = await cli(['user', 'update', 'ada', '--lamp-caller', 'maybe'])
    t.equal(wrong.code, 2, `a bad --lamp-caller is a usage error: ${wrong.stderr}`)

    const users = await cli(['user', 'list', '--home', 'oslo'])
    ok(t, users, 'user list')
    t.match(users.stdout, /^ada\s+1001\s+Ada Lovelace\s+oslo\s+yes\s/m)
    t.match(users.stdout, /^bob\s+1002\s+Bob Babbage\s+oslo\s+no\s/m)

    const bad = await cli(['user', 'create', '--ext', '1x', '--name', 'X', '--home', 'oslo', '--pin', '1234'])
    t.equal(bad.code, 1, `a bad field is a refusal: ${bad.stderr}`)
    t.match(bad.stderr, /^flexseat: user\.extension: .+\n$/, 'one line naming the field')

    const status = await cli(['cluster', 'status'])
    ok(t, status, 'cluster status')
    t.match(status.stdout, new RegExp(`^leader\\s+${cluster.instances[leader]!.instanceId} \\(${cluster.instances[leader]!.siteId}, ${leaderAddress}\\)$`, 'm'))
    t.match(status.stdout, new RegExp(`^${cluster.instances[follower]!.instanceId}\\s+${cluster.instances[follower]!.siteId}\\s+${followerAddress}\\s+serving\\s`, 'm'))
  })

  await t.test('admin login; the seats table and --json show it', async (t) => {
    const login = await cli(['login', '1001', '--device', 'desk-1'])
    ok(t, login, 'admin login without a PIN')
    t.match(login.stdout, /^seated\s+1001 \(Ada Lovelace\) at desk-1@oslo since \S+Z, via admin, epoch \d+$/m)

    const table = await cli(['seats', '--site', 'oslo'])
    ok(t, table, 'seats')
    t.match(table.stdout, /^EXTENSION\s+NAME\s+DEVICE\s+SITE\s+SINCE\s+EXPIRES\s+VIA\s+EPOCH\n/)
    t.match(table.stdout, /^1001\s+Ada Lovelace\s+desk-1\s+oslo\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+-\s+admin\s+\d+$/m)

    const json = await cli(['seats', '--json'])
    ok(t, json, 'seats --json')
    const doc = JSON.parse(json.stdout) as { seats: Record<string, string>[]; revision: string }
    const seat = doc.seats.find((s) => s.extension === '1001')
    t.match(seat, { userId: 'ada', deviceId: 'desk-1', siteId: 'oslo', via: 'SEAT_VIA_ADMIN', epoch: /^\d+$/ })
    t.ok(!Number.isNaN(Date.parse(seat?.since ?? '')), 'since is an ISO time')
    t.match(doc.revision, /^\d+$/)

    const one = await cli(['seat', '--user', 'ada', '--json'])
    ok(t, one, 'seat --user')
    t.match(JSON.parse(one.stdout), { seat: { deviceId: 'desk-1', epoch: seat?.epoch } })
  })

  await t.test('a wrong PIN exits 1 with the attempts left; the right one seats', async (t) => {
    const wrong = await cli(['login', '1002', '--device', 'desk-2', '--pin-stdin'], admin, ['0000'])
    t.equal(wrong.code, 1, `wrong PIN is a refusal (exit 1): ${wrong.stderr}`)
    t.match(wrong.stderr, /^flexseat: wrong PIN \(\d+ attempts? left\)\n$/)
    t.notMatch(wrong.stderr, '0000')
    const right = await cli(['login', '1002', '--device', 'desk-2', '--pin-stdin'], admin, ['1357'])
    ok(t, right, 'login with the right PIN')
    t.match(right.stdout, /^seated\s+1002 \(Bob Babbage\) at desk-2@oslo since /m)
  })

  // Guards tried: the phones command left out of COMMANDS (exit 2, unknown command); the
  // branch lines left out of formatClusterStatus (no "branch oslo" line).
  await t.test('phones lists the bindings a branch node reported; cluster status shows the branch', async (t) => {
    // As oslo's SIP node would: take the branch's lease, report two phones.
    const branch = new BranchServiceClient(leaderAddress, credentials.createInsecure())
    t.teardown(() => branch.close())
    const sipNode = cluster.metadata('sip-node', 'oslo')
    const node = { siteId: 'oslo', nodeId: 'oslo-1a2b3c4d' }
    await unary(branch.renewLease.bind(branch), { ...node, appliedRevision: '0' }, { metadata: sipNode })
    const expiresAt = new Date(Date.now() + 600_000)
    const phone = (deviceId: string, host: string) => ({ deviceId, siteId: 'oslo', contact: `sip:${deviceId}@${host}:5060`, source: `udp:${host}:5060`, userAgent: 'test phone', expiresAt, registeredAt: undefined })
    await unary(branch.reportBindings.bind(branch), { ...node, bindings: [phone('desk-1', '192.0.2.1'), phone('desk-2', '192.0.2.2')], removedDeviceIds: [] }, { metadata: sipNode })
    const expires = expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z')

    const table = await cli(['phones'], { FLEXSEAT_REGISTRY: followerAddress, FLEXSEAT_TOKEN: cluster.tokens.viewer })
    ok(t, table, 'phones (viewer)')
    t.match(table.stdout, /^DEVICE\s+SITE\s+CONTACT\s+EXPIRES\n/)
    t.match(table.stdout, new RegExp(`^desk-1\\s+oslo\\s+sip:desk-1@192\\.0\\.2\\.1:5060\\s+${expires}$`, 'm'))
    t.match(table.stdout, new RegExp(`^desk-2\\s+oslo\\s+sip:desk-2@192\\.0\\.2\\.2:5060\\s+${expires}$`, 'm'))
    const json = await cli(['phones', '--site', 'oslo', '--json'])
    ok(t, json, 'phones --site --json')
    t.match(JSON.parse(json.stdout), { bindings: [{ deviceId: 'desk-1', siteId: 'oslo', source: 'udp:192.0.2.1:5060', userAgent: 'test phone', expiresAt: expiresAt.toISOString() }, { deviceId: 'desk-2' }] })
    const none = await cli(['phones', '--site', 'amsterdam', '--json'])
    ok(t, none, 'phones of a site without phones')
    t.same(JSON.parse(none.stdout), { bindings: [] }, 'the list is there even when empty')

    const status = await cli(['cluster', 'status'])
    ok(t, status, 'cluster status')
    t.match(status.stdout, /^branch oslo\s+SIP node: held by oslo-1a2b3c4d, 2 phones online$/m)
    const statusJson = await cli(['cluster', 'status', '--json'])
    t.match(JSON.parse(statusJson.stdout), { branches: [{ siteId: 'oslo', nodeId: 'oslo-1a2b3c4d', leaseHeld: true, grantedRevision: /^\d+$/, onlinePhones: 2 }] })

    // The node stops cleanly: its phones stay bound until they expire, the lease is gone.
    await unary(branch.releaseLease.bind(branch), node, { metadata: sipNode })
    const released = await cli(['cluster', 'status'])
    ok(t, released, 'cluster status after the release')
    t.match(released.stdout, /^branch oslo\s+no SIP node, 2 phones online$/m)
  })

  await t.test('no token exits 4, a viewer may not write (4), a token file works', async (t) => {
    const anonymous = await cli(['seats'], { FLEXSEAT_REGISTRY: followerAddress })
    t.equal(anonymous.code, 4, `exit 4: ${anonymous.stderr}`)
    t.match(anonymous.stderr, /^flexseat: .*no token given.*\n$/)
    const viewer = await cli(['user', 'delete', 'ada'], { FLEXSEAT_REGISTRY: leaderAddress, FLEXSEAT_TOKEN: cluster.tokens.viewer })
    t.equal(viewer.code, 4, `permission denied: ${viewer.stderr}`)
    t.match(viewer.stderr, /^flexseat: .+\n$/)
    t.notMatch(viewer.stderr, cluster.tokens.viewer, 'the token is not printed')
    const dir = await mkdtemp(join(tmpdir(), 'flexseat-cli-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    await writeFile(join(dir, 'token'), `${cluster.tokens.viewer}\n`, { mode: 0o600 })
    ok(t, await cli(['seats', '--registry', leaderAddress, '--token-file', join(dir, 'token')], {}), 'seats with --token-file (viewer)')
  })

  await t.test('an unreachable registry exits 3', async (t) => {
    const [port] = await freePorts(1)
    const down = await cli(['seats', '--registry', `127.0.0.1:${port}`, '--timeout', '2000'])
    t.equal(down.code, 3, `exit 3: ${down.stderr}`)
    t.match(down.stderr, new RegExp(`^flexseat: the registry at 127\\.0\\.0\\.1:${port} is unavailable.*\\n$`))
  })

  await t.test('watch prints seat events, resumes on another instance, exits 0 on SIGINT', async (t) => {
    // The follower first: when it dies the watch must fail over to the leader and resume there.
    const watch = await Cli.start(['watch', '--site', 'oslo', '--registry', `${followerAddress},${leaderAddress}`], { FLEXSEAT_TOKEN: cluster.tokens.admin })
    t.teardown(() => watch.process.kill())
    await watch.waitFor(/^# snapshot at revision \d+: 2 seats$/m)
    t.match(watch.stdout, /^\S+Z  SEATED    1001    desk-1@oslo  admin  epoch \d+$/m, 'the snapshot lists the seats')

    // Ada moves to desk-2, bumping Bob: one transaction.
    ok(t, await cli(['login', '1001', '--device', 'desk-2']), 'login that moves and bumps')
    await watch.waitFor(/^\S+Z  SEATED    1001    desk-2@oslo  admin  epoch \d+$/m)
    await watch.waitFor(/^\S+Z  RELEASED  1002    desk-2@oslo  bumped  epoch \d+$/m)

    await cluster.kill(follower)
    await watch.waitFor(/watch interrupted: .*; resuming after revision \d+/, 'stderr')
    ok(t, await cli(['login', '1002', '--device', 'desk-1'], { FLEXSEAT_REGISTRY: leaderAddress, FLEXSEAT_TOKEN: cluster.tokens.admin }), 'login after the failover')
    await watch.waitFor(/^\S+Z  SEATED    1002    desk-1@oslo  admin  epoch \d+$/m)

    watch.process.signal('SIGINT')
    const result = await watch.result()
    t.equal(result.code, 0, `Ctrl-C ends the watch with 0: ${result.stderr}`)
    const count = (pattern: RegExp): number => result.stdout.split('\n').filter((line) => pattern.test(line)).length
    t.equal(count(/SEATED +1001 +desk-2@oslo/), 1, 'no duplicate after the reconnection')
    t.equal(count(/RELEASED +1002 +desk-2@oslo +bumped/), 1)
    t.equal(count(/SEATED +1002 +desk-1@oslo/), 1, 'no gap: the event after the failover arrived once')
  })

  await t.test('a write during a leader change is retried (same request id) until a new leader takes it', async (t) => {
    // Only the old leader and the restarted follower remain; kill the leader and write at once
    // through the other: it answers UNAVAILABLE / NOT_LEADER until the election is over.
    await cluster.restart(follower)
    await cluster.waitForLeader({ on: [leader, follower] })
    const other = cluster.instances[follower]!.address
    await cluster.kill(leader)
    const update = await cli(['user', 'update', 'ada', '--department', 'Research', '--json'], { FLEXSEAT_REGISTRY: other, FLEXSEAT_TOKEN: cluster.tokens.admin })
    t.equal(update.code, 0, `user update across the leader change exits 0: ${update.stderr}`)
    t.match(update.stderr, /^flexseat: .+; retrying in \d+\.\d s \(retry 1\)$/m, 'it was refused at first and retried')
    t.match(JSON.parse(update.stdout), { user: { id: 'ada', department: 'Research' } })
    const seats = await cli(['seats', '--json'], { FLEXSEAT_REGISTRY: other, FLEXSEAT_TOKEN: cluster.tokens.admin })
    t.equal((JSON.parse(seats.stdout) as { seats: unknown[] }).seats.length, 2, 'the seats survived the change')
  })

  await t.test('PIN change and reset, logout, watch --json --from, deletes', async (t) => {
    const env = { FLEXSEAT_REGISTRY: cluster.instances[follower]!.address, FLEXSEAT_TOKEN: cluster.tokens.admin }
    const changed = await cli(['pin', 'change', '--ext', '1002'], env, ['1357', '8642'])
    ok(t, changed, 'pin change with old and new PIN on stdin')
    t.equal(changed.stdout, 'PIN of 1002 changed\n')
    const stale = await cli(['pin', 'change', '--ext', '1002'], env, ['1357', '1111'])
    t.equal(stale.code, 1, `the old PIN no longer works: ${stale.stderr}`)
    t.match(stale.stderr, /^flexseat: wrong PIN \(\d+ attempts? left\)\n$/)
    ok(t, await cli(['user', 'reset-pin', 'bob', '--pin-stdin'], env, ['9753']), 'user reset-pin')
    ok(t, await cli(['login', '1002', '--device', 'desk-1', '--pin-stdin'], env, ['9753']), 'login with the reset PIN')

    const before = JSON.parse((await cli(['seats', '--json'], env)).stdout) as { revision: string }
    const watch = await Cli.start(['watch', '--json', '--from', before.revision], env)
    t.teardown(() => watch.process.kill())
    const released = await cli(['logout', '--ext', '1002'], env)
    ok(t, released, 'logout')
    t.match(released.stdout, /^released 1002 \(Bob Babbage\) at desk-1@oslo /)
    const again = await cli(['logout', '--ext', '1002', '--reason', 'logout'], env)
    ok(t, again, 'a second logout')
    t.equal(again.stdout, 'no seat to release\n', 'logout is idempotent')
    await watch.waitFor(/RELEASED/)
    watch.process.signal('SIGINT')
    const stream = await watch.result()
    t.equal(stream.code, 0, `exit 0: ${stream.stderr}`)
    const lines = stream.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>)
    t.notOk(lines.some((line) => 'snapshot' in line), 'with --from there is no snapshot')
    t.match(lines[0], { changes: { revision: /^\d+$/, events: [{ type: 'SEAT_EVENT_TYPE_RELEASED', reason: 'RELEASE_REASON_ADMIN', seat: { extension: '1002', deviceId: 'desk-1' }, revision: /^\d+$/ }] } })
    const first = lines[0] as { changes?: { revision: string; events: { revision: string }[] } }
    t.ok(first.changes?.events.every((e) => e.revision === first.changes?.revision), 'one message holds the changes of one revision')

    ok(t, await cli(['device', 'delete', 'desk-1'], env), 'device delete')
    const gone = await cli(['device', 'get', 'desk-1'], env)
    t.equal(gone.code, 1, `a deleted device is not found: ${gone.stderr}`)
    ok(t, await cli(['user', 'delete', 'ada'], env), 'user delete')
    t.match(JSON.parse((await cli(['seats', '--json'], env)).stdout), { seats: [], revision: /^\d+$/ }, 'deleting Ada released her seat: no seats left')
    const inUse = await cli(['site', 'delete', 'oslo'], env)
    t.equal(inUse.code, 1, `a site with devices cannot be deleted: ${inUse.stderr}`)
    ok(t, await cli(['device', 'delete', 'desk-2'], env), 'device delete desk-2')
    const homed = await cli(['site', 'delete', 'oslo'], env)
    t.equal(homed.code, 1, `a site that is a user's home cannot be deleted: ${homed.stderr}`)
    ok(t, await cli(['user', 'delete', 'bob'], env), 'user delete bob')
    ok(t, await cli(['site', 'delete', 'oslo'], env), 'site delete')
    const sites = await cli(['site', 'list'], env)
    ok(t, sites, 'site list')
    t.notMatch(sites.stdout, /^oslo\s/m)
  })
})
