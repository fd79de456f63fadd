import type { User } from '@flexseat/proto'
// Leadership across process failures of real registry processes: SIGTERM of the leader hands over
// at once (it resigns), and SIGKILL of the leader under login traffic loses no acknowledged login.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { type ServiceError, status } from '@grpc/grpc-js'
import { Etcd3 } from 'etcd3'
import { type LoginRequest, type LoginResponse, unary } from '@flexseat/proto'
import { eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(120_000)

const user = (extension: string): User => worker(extension)

/** Creates `count` users u<ext> (PIN 1234) and flex desks d<ext>, through instance `via`. */
async function provision(cluster: RegistryCluster, via: number, first: number, count: number): Promise<string[]> {
  const { directory } = cluster.clients(via)
  const admin = cluster.metadata('admin')
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 3)
  const extensions = Array.from({ length: count }, (_, i) => String(first + i))
  await Promise.all(
    extensions.map(async (extension) => {
      await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: user(extension), pin: '1234' }, { metadata: admin })
      await unary(
        directory.createDevice.bind(directory),
        { requestId: randomUUID(), device: { id: `d${extension}`, siteId: 'berlin', extension: `9${extension}`, label: '', model: '', flexHost: true, revision: '0' } },
        { metadata: admin },
      )
    }),
  )
  return extensions
}

/**
 * Sends `request` to the instances in `via` in turn until one acknowledges it (same request id:
 * idempotent), retrying on UNAVAILABLE/DEADLINE_EXCEEDED for at most `timeoutMs`.
 */
async function loginWithRetry(cluster: RegistryCluster, via: () => number[], request: LoginRequest, timeoutMs = 20_000): Promise<LoginResponse> {
  const deadline = Date.now() + timeoutMs
  for (let attempt = 0; ; attempt += 1) {
    const targets = via()
    const index = targets[attempt % targets.length]!
    const { seat } = cluster.clients(index)
    try {
      return await unary(seat.login.bind(seat), request, { metadata: cluster.metadata('sip-node'), timeoutMs: 3_000 })
    } catch (error) {
      const code = (error as ServiceError).code
      if ((code !== status.UNAVAILABLE && code !== status.DEADLINE_EXCEEDED && code !== status.CANCELLED) || Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
}

t.test('SIGTERM of the leader hands over without waiting for its lease', async (t) => {
  // Order of events by etcd's own clock, not the test's: right before the SIGTERM the test takes a
  // lease of its own, never renewed, that ends before the leader's election lease could (etcd3
  // renews that one every third of its TTL, so at any moment it has at least two thirds left).
  // The successor must lead while the test's lease still lives: only the old leader revoking its
  // own lease (resigning) lets that happen; an expiry would come after the test's lease is gone.
  const leaseTtlSeconds = 15
  const cluster = await RegistryCluster.start({ instances: 3, etcdMembers: 1, leaseTtlSeconds })
  t.teardown(() => cluster.stop())
  const etcd = new Etcd3({ hosts: [...cluster.etcd.endpoints] })
  t.teardown(() => etcd.close())
  const leader = await cluster.leader()
  const others = [0, 1, 2].filter((i) => i !== leader)
  const [extension] = await provision(cluster, others[0]!, 5100, 1)

  const election = `${cluster.prefix}election/registry/`
  const candidates = async () => (await etcd.getAll().prefix(election).exec()).kvs.sort((a, b) => Number(a.create_revision) - Number(b.create_revision))
  const old = (await candidates())[0]!
  const observer = await etcd.leaseClient.leaseGrant({ TTL: Math.floor((leaseTtlSeconds * 2) / 3) - 2, ID: '0' })
  const exit = await cluster.terminate(leader)
  t.same(exit, { code: 0, signal: null }, 'the leader exits 0 on SIGTERM')
  t.ok(cluster.instances[leader]!.logs.some((line) => line.includes('"resigned leadership"')), 'the old leader logged that it resigned')
  const successor = await cluster.waitForLeader({ not: leader, on: others, timeoutMs: 30_000 })
  t.ok(others.includes(successor), 'one of the others leads')
  const now = await candidates()
  t.notOk(now.some((kv) => kv.lease === old.lease), 'the old leader\'s election key is gone')
  const left = await etcd.leaseClient.leaseTimeToLive({ ID: observer.ID, keys: false })
  t.ok(Number(left.TTL) > 0, `the successor leads while a lease that ends before the old leader's could is still alive (${left.TTL} s left): the old one was revoked, not expired`)
  const oldLease = await etcd.leaseClient.leaseTimeToLive({ ID: old.lease, keys: false })
  t.equal(Number(oldLease.TTL), -1, 'the old election lease is gone (revoked)')

  const { seat } = cluster.clients(others.find((i) => i !== successor)!)
  const login = await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: `d${extension}`, extension: extension!, pin: '1234', durationHours: 0 }, { metadata: cluster.metadata('sip-node') })
  t.equal(login.seat?.deviceId, `d${extension}`, 'a login through the remaining follower succeeds')
})

t.test('SIGKILL of the leader under login traffic loses no acknowledged login', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 3, etcdMembers: 1, leaseTtlSeconds: 3 })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const others = [0, 1, 2].filter((i) => i !== leader)
  const extensions = await provision(cluster, others[0]!, 5200, 24)

  // Logins go through the followers (which survive), each with its own request id, retried with
  // the same id while the cluster fails over.
  const acknowledged = new Map<string, LoginResponse>()
  const queue = [...extensions]
  // Phases of the kill, to tell which logins were sent before it and answered only after it.
  let killing = false
  let killed = false
  let spanned = 0
  let answeredAfterKill = 0
  const worker = async (): Promise<void> => {
    for (let extension = queue.shift(); extension !== undefined; extension = queue.shift()) {
      const sentBeforeKill = !killing
      const request = { requestId: randomUUID(), deviceId: `d${extension}`, extension, pin: '1234', durationHours: 0 }
      acknowledged.set(extension, await loginWithRetry(cluster, () => others, request))
      if (killed) answeredAfterKill += 1
      if (sentBeforeKill && killed) spanned += 1
    }
  }
  // Three logins in flight at any time; the leader dies once a third of them are acknowledged.
  const traffic = Promise.all([worker(), worker(), worker()])
  await eventually('a third of the logins acknowledged', () => acknowledged.size >= extensions.length / 3, 30_000, 5)
  const inFlight = extensions.length - queue.length - acknowledged.size
  killing = true
  await cluster.kill(leader)
  killed = true
  t.ok(inFlight > 0 || queue.length > 0, 'logins were under way when the leader was killed')
  await traffic
  t.ok(answeredAfterKill > 0, `${answeredAfterKill} login(s) were acknowledged after the leader had died`)
  // Three logins are in flight when the kill starts; a dead leader answers none of them, so
  // (unless all three answers were already on the wire) some were retried across the failover.
  t.ok(spanned > 0, `${spanned} login(s) sent before the kill were acknowledged only after it`)
  t.equal(acknowledged.size, extensions.length, 'every login was eventually acknowledged')

  const successor = await cluster.waitForLeader({ not: leader, on: others })
  t.ok(others.includes(successor), 'a successor leads')
  for (const index of others) {
    const { seat } = cluster.clients(index)
    for (const [extension, response] of acknowledged) {
      const seen = await eventually(`seat of ${extension} on instance ${index}`, async () =>
        (await unary(seat.getSeat.bind(seat), { target: { $case: 'extension', value: extension } }, { metadata: cluster.metadata('viewer') })).seat,
      )
      t.equal(seen.deviceId, `d${extension}`, `instance ${index}: ${extension} still seated where acknowledged`)
      t.equal(seen.epoch, response.seat?.epoch, `instance ${index}: ${extension} has the acknowledged epoch`)
    }
  }
  const { seat } = cluster.clients(successor)
  const listed = await unary(seat.listSeats.bind(seat), { siteId: '', pageSize: 1000, pageToken: '' }, { metadata: cluster.metadata('viewer') })
  t.equal(listed.seats.length, extensions.length, 'exactly the acknowledged seats exist')
})
