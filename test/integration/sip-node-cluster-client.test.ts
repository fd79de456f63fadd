// The SIP node's cluster side against a real registry cluster (real etcd, registry processes,
// gRPC): RegistryClient (token, domain errors, address failover), SeatStream + SeatView resumed
// across a registry restart, and DirectoryCache's refresh on a miss.
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import t from 'tap'
import pino from 'pino'
import { type Device, ErrorCode, unary } from '@flexseat/proto'
import { DirectoryCache, RegistryCallError, RegistryClient, type SeatChange, SeatStream, SeatView } from '@flexseat/sip-node'
import { eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(120_000)

const logger = pino({ level: 'silent' })
const device = (id: string, siteId: string, extension: string, sipPassword?: string): Device => ({ id, siteId, extension, label: '', model: '', flexHost: true, revision: '0', sipPassword })

/** A 127.0.0.1 port nobody listens on (bound, then closed). */
async function deadAddress(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return `127.0.0.1:${port}`
}

async function rejection(call: Promise<unknown>): Promise<RegistryCallError> {
  const error = await call.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`)
    },
    (e: unknown) => e,
  )
  if (!(error instanceof RegistryCallError)) throw error
  return error
}

t.test('the cluster side against a registry cluster', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1 })
  t.teardown(() => cluster.stop())
  const admin = cluster.metadata('admin')
  const leader = await cluster.leader()
  const { directory, seat } = cluster.clients(leader)
  // Each instance registers its own site: amsterdam and berlin.
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 2)
  for (const extension of ['7401', '7402', '7403']) {
    await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker(extension), pin: '2468' }, { metadata: admin })
  }
  for (const [id, site, extension] of [['ams-d1', 'amsterdam', '9401'], ['ams-d2', 'amsterdam', '9402'], ['ber-d1', 'berlin', '9411']] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: device(id, site, extension, 'secret-pass-1') }, { metadata: admin })
  }
  const adminLogin = async (extension: string, deviceId: string) =>
    (await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId, extension, pin: '', durationHours: 0 }, { metadata: admin })).seat!

  t.test('RegistryClient: calls with the sip-node token, domain errors decoded', async (t) => {
    const client = new RegistryClient({ addresses: cluster.instances.map((i) => i.address), token: cluster.tokens['sip-node'], logger })
    t.teardown(() => client.close())
    const wrong = await rejection(client.login({ requestId: randomUUID(), deviceId: 'ams-d1', extension: '7401', pin: '0000', durationHours: 0 }))
    t.equal(wrong.code, ErrorCode.ERROR_CODE_WRONG_PIN, 'WRONG_PIN from the trailer')
    t.equal(wrong.grpcCode, 7, 'gRPC PERMISSION_DENIED')
    t.equal(wrong.detail?.attemptsLeft, 4, 'attemptsLeft decoded (5 allowed, 1 used)')
    t.equal(wrong.retryable, false)
    t.equal(wrong.transport, false)
    const unknown = await rejection(client.login({ requestId: randomUUID(), deviceId: 'ams-d1', extension: '7499', pin: '2468', durationHours: 0 }))
    t.equal(unknown.code, ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION)
    const seated = await client.login({ requestId: randomUUID(), deviceId: 'ams-d1', extension: '7401', pin: '2468', durationHours: 0 })
    t.equal(seated.seat?.deviceId, 'ams-d1', 'the right PIN signs in')
    const out = await client.logout({ requestId: randomUUID(), target: { $case: 'deviceId', value: 'ams-d1' }, reason: 0 })
    t.equal(out.released?.userId, 'u7401')
    t.equal((await client.getUserByExtension('7402'))?.id, 'u7402')
    t.equal(await client.getUserByExtension('7499'), undefined, 'unknown extension: undefined')
    t.ok((await client.listDevices()).some((d) => d.id === 'ber-d1'))
    t.same((await client.listSites()).map((s) => s.id).sort(), ['amsterdam', 'berlin'])
    t.equal((await client.getDeviceCredentials('ams-d1')).ha1.length, 32)
    const noDevice = await rejection(client.getDeviceCredentials('nope'))
    t.equal(noDevice.code, ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND)
    const badToken = new RegistryClient({ addresses: [cluster.instances[0]!.address], token: 'wrong', logger })
    t.teardown(() => badToken.close())
    const refused = await rejection(badToken.listSites())
    t.equal(refused.code, ErrorCode.ERROR_CODE_UNAUTHENTICATED)
    t.notMatch(refused.message, cluster.tokens['sip-node'])
  })

  t.test('RegistryClient: fails over to the second address when the first is dead', async (t) => {
    const dead = await deadAddress()
    const live = cluster.instances[leader]!.address
    const client = new RegistryClient({ addresses: [dead, live], token: cluster.tokens['sip-node'], logger })
    t.teardown(() => client.close())
    t.equal(client.address, dead)
    const sites = await client.listSites()
    t.equal(sites.length, 2, 'the call succeeded through the second address')
    t.equal(client.address, live, 'later calls go to the second address')
    // A write with a request id, repeated once on the live address.
    const again = new RegistryClient({ addresses: [dead, live], token: cluster.tokens['sip-node'], logger })
    t.teardown(() => again.close())
    const res = await again.login({ requestId: randomUUID(), deviceId: 'ams-d2', extension: '7403', pin: '2468', durationHours: 0 })
    t.equal(res.seat?.deviceId, 'ams-d2')
    const onlyDead = new RegistryClient({ addresses: [dead], token: cluster.tokens['sip-node'], logger, deadlineMs: 2_000 })
    t.teardown(() => onlyDead.close())
    const down = await rejection(onlyDead.listSites())
    t.equal(down.code, ErrorCode.ERROR_CODE_UNAVAILABLE, 'transport failure: UNAVAILABLE')
    t.equal(down.transport, true)
    t.equal(down.detail, undefined)
  })

  t.test('DirectoryCache: a miss refreshes once and answers from it', async (t) => {
    const client = new RegistryClient({ addresses: [cluster.instances[leader]!.address], token: cluster.tokens['sip-node'], logger })
    t.teardown(() => client.close())
    const cache = await DirectoryCache.create({ client, logger, refreshMs: 60_000 })
    t.teardown(() => cache.stop())
    t.equal((await cache.device('ams-d1'))?.extension, '9401')
    t.equal((await cache.deviceByExtension('9411'))?.id, 'ber-d1')
    t.equal((await cache.site('berlin'))?.name, 'Berlin')
    t.equal((await cache.userByExtension('7402'))?.id, 'u7402')
    t.equal((await cache.user('u7401'))?.extension, '7401')
    // Created after the cache loaded: found through the refresh the miss triggers.
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: device('ber-new', 'berlin', '9421') }, { metadata: admin })
    await new Promise((resolve) => setTimeout(resolve, 1_100)) // past the once-per-second bound
    t.equal((await cache.device('ber-new'))?.siteId, 'berlin', 'a new device is found on a miss')
    t.equal(await cache.device('never-there'), undefined, 'a device that does not exist: undefined')
    t.equal((await cache.credentials('ams-d1'))?.realm, 'amsterdam.flexseat.test')
    t.equal(await cache.credentials('ber-new'), undefined, 'no password: undefined')
    t.equal(await cache.credentials('never-there'), undefined, 'unknown device: undefined')
  })

  t.test('SeatStream: the view follows every seat change across a registry restart, no gap, no duplicate', async (t) => {
    // The stream starts on the follower and fails over to the leader when the follower is killed.
    const follower = leader === 0 ? 1 : 0
    const client = new RegistryClient({ addresses: [cluster.instances[follower]!.address, cluster.instances[leader]!.address], token: cluster.tokens['sip-node'], logger })
    t.teardown(() => client.close())
    const view = new SeatView()
    const applied: SeatChange[] = []
    view.on('changes', (list) => applied.push(...list))
    const stream = SeatStream.start({ client, view, logger })
    t.teardown(() => stream.stop())
    await eventually('the view is live', () => stream.live, 10_000)
    const initial = applied.length
    const epochs: string[] = []
    epochs.push((await adminLogin('7401', 'ams-d1')).epoch)
    epochs.push((await adminLogin('7402', 'ber-d1')).epoch)
    await eventually('the view saw both logins', () => BigInt(view.revision) >= BigInt(epochs[1]!))
    await cluster.kill(follower)
    // Changes while the stream is broken: the resumed stream must deliver them.
    epochs.push((await adminLogin('7401', 'ber-d1')).epoch) // moves 7401 and bumps 7402
    epochs.push((await adminLogin('7402', 'ams-d1')).epoch)
    await eventually('the view caught up on the other instance', () => BigInt(view.revision) >= BigInt(epochs[3]!), 15_000)
    t.equal(client.address, cluster.instances[leader]!.address, 'the stream moved to the live instance')
    const seatedEpochs = applied.slice(initial).filter((c) => c.kind === 'seated').map((c) => c.seat.epoch)
    t.same(seatedEpochs, epochs, 'every login seen exactly once, in order')
    const bump = applied.slice(initial).find((c) => c.kind === 'released')
    t.equal(bump?.seat.userId, 'u7402', 'the bumped worker was released')
    t.equal(view.byExtension('7401')?.deviceId, 'ber-d1')
    t.equal(view.byExtension('7402')?.deviceId, 'ams-d1')
    t.equal(view.byDevice('ams-d2')?.userId, 'u7403')
    await cluster.restart(follower)
    t.ok(stream.live, 'still live')
  })
})
