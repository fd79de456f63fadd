// Group commit through gRPC (a registry process over etcd, FLEXSEAT_GROUP_COMMIT at its default):
// waves of concurrent administrator logins of distinct workers at distinct desks all succeed, the
// seats and hosts agree after each (invariant 1), and the leader's
// flexseat_registry_login_batch_size shows that logins shared transactions; concurrent logins of
// ONE worker at many desks leave one seat, and of many workers at ONE desk leave one occupant.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { CreateDeviceRequest, CreateUserRequest, Device, LoginRequest, unary, User } from '@flexseat/proto'
import { createEtcdClient } from '@flexseat/registry'
import { RegistryCluster } from '../helpers/registry-cluster'

t.setTimeout(60_000)

/** Each answer: `ok`, or the gRPC status and message of the failure. */
function outcomes(answers: PromiseSettledResult<unknown>[]): string[] {
  return answers.map((a) => (a.status === 'fulfilled' ? 'ok' : `${(a.reason as { code?: number }).code}: ${(a.reason as Error).message}`))
}

const WORKERS = 24
const SPARE = 12

t.test('concurrent logins through gRPC with group commit', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 1, etcdMembers: 1, logLevel: 'info', env: { FLEXSEAT_METRICS_LISTEN: '127.0.0.1:0' } })
  t.teardown(() => cluster.stop())
  const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 5_000 })
  t.teardown(() => etcd.close())
  const leader = await cluster.leader()
  const { seat, directory } = cluster.clients(leader)
  const metadata = cluster.metadata('admin')
  const settings = { metadata, timeoutMs: 20_000 }
  const metricsAt = String((await cluster.waitForLog(leader, (line) => line['msg'] === 'metrics listening'))['address'])
  await cluster.waitForSites()
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      await unary(directory.createUser.bind(directory), CreateUserRequest.fromPartial({ requestId: randomUUID(), pin: '2468', user: User.fromPartial({ id: `w${w}`, extension: String(1000 + w), displayName: `W${w}`, homeSiteId: 'amsterdam', roamingAllowed: true }) }), settings)
      for (const side of [0, 1]) {
        await unary(directory.createDevice.bind(directory), CreateDeviceRequest.fromPartial({ requestId: randomUUID(), device: Device.fromPartial({ id: `d${w}-${side}`, siteId: 'amsterdam', extension: String(5000 + 2 * w + side), flexHost: true }) }), settings)
      }
    }),
  )
  for (let s = 0; s < SPARE; s += 1) {
    await unary(directory.createDevice.bind(directory), CreateDeviceRequest.fromPartial({ requestId: randomUUID(), device: Device.fromPartial({ id: `spare-${s}`, siteId: 'amsterdam', extension: String(6000 + s), flexHost: true }) }), settings)
  }
  const login = (extension: string, deviceId: string) => unary(seat.login.bind(seat), LoginRequest.fromPartial({ requestId: randomUUID(), deviceId, extension }), settings)

  /** seats/ by worker and hosts/ by desk, as etcd holds them now; fails the test where they disagree. */
  const seats = async (): Promise<Map<string, string>> => {
    const list = async (folder: string) => (await etcd.getAll().prefix(`${cluster.prefix}${folder}/`).strings())
    const [seatKvs, hostKvs] = await Promise.all([list('seats'), list('hosts')])
    const byWorker = new Map(Object.entries(seatKvs).map(([key, value]) => [key.slice(`${cluster.prefix}seats/`.length), (JSON.parse(value) as { deviceId: string }).deviceId]))
    const byDesk = new Map(Object.entries(hostKvs).map(([key, value]) => [key.slice(`${cluster.prefix}hosts/`.length), value]))
    const mirrored = byWorker.size === byDesk.size && [...byWorker].every(([worker, desk]) => byDesk.get(desk) === worker)
    if (!mirrored) t.fail(`seats/ and hosts/ disagree: ${JSON.stringify([...byWorker])} / ${JSON.stringify([...byDesk])}`)
    return byWorker
  }

  /** The leader's batch-size histogram: logins counted, and how many went alone. */
  const batches = async (): Promise<{ count: number; alone: number }> => {
    const text = await (await fetch(`http://${metricsAt}/metrics`)).text()
    const sample = (pattern: RegExp) => Number(text.split('\n').find((line) => pattern.test(line))?.split(' ').at(-1) ?? 0)
    return { count: sample(/^flexseat_registry_login_batch_size_count\b/), alone: sample(/^flexseat_registry_login_batch_size_bucket\{.*le="1"/) }
  }

  // Guard tried: GroupCommit.#flush sending every entry alone (`alone.push(entry)` for all): the
  // histogram never counts a batch above 1 and this test fails after its waves.
  await t.test('waves of distinct workers at distinct desks: all succeed, and logins shared transactions', async (t) => {
    let waves = 0
    let shared = false
    while (!shared && waves < 10) {
      const side = waves % 2
      waves += 1
      const answers = await Promise.all(Array.from({ length: WORKERS }, (_, w) => login(String(1000 + w), `d${w}-${side}`)))
      t.equal(answers.filter((a) => a.seat?.deviceId !== undefined).length, WORKERS, `wave ${waves}: ${WORKERS} logins seated`)
      t.same([...(await seats())].sort(), Array.from({ length: WORKERS }, (_, w) => [`w${w}`, `d${w}-${side}`]).sort(), `wave ${waves}: each worker at the desk of the wave`)
      const { count, alone } = await batches()
      shared = count > alone
    }
    t.ok(shared, `after ${waves} wave(s), flexseat_registry_login_batch_size counted transactions of more than one login`)
  })

  // Guard tried: Footprint.overlaps answering false: the logins of w0 go in one batch, etcd refuses
  // it (duplicate key) and they fail UNAVAILABLE. (The read/write half of the check alone is tried in
  // registry-group-commit.test.ts: two logins of one worker always write the same keys.)
  await t.test('one worker at many desks at once: one seat', async (t) => {
    const answers = await Promise.allSettled(Array.from({ length: SPARE }, (_, s) => login('1000', `spare-${s}`)))
    // Twelve moves of one worker at once: each commits after the one before; one that lost the
    // race eight times answers CONFLICT (retry), as without group commit. Nothing else.
    const seen = outcomes(answers)
    t.same(seen.filter((o) => o !== 'ok' && !o.startsWith('10: ')), [], 'every login succeeded or answered CONFLICT')
    t.ok(seen.includes('ok'), 'logins succeeded')
    const now = await seats()
    const desk = now.get('w0')
    t.ok(desk?.startsWith('spare-'), `w0 is seated at one spare desk (${desk})`)
    const epochs = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value.seat!.epoch] : []))
    t.equal(new Set(epochs).size, epochs.length, 'every successful login is a move of its own (distinct epochs)')
  })

  await t.test('many workers at one desk at once: one occupant', async (t) => {
    const answers = await Promise.allSettled(Array.from({ length: 8 }, (_, w) => login(String(1001 + w), 'spare-0')))
    const seen = outcomes(answers)
    t.same(seen.filter((o) => o !== 'ok' && !o.startsWith('10: ')), [], 'every login succeeded (bumping the one before) or answered CONFLICT')
    t.ok(seen.includes('ok'), 'logins succeeded')
    const now = await seats()
    const atDesk = [...now].filter(([, desk]) => desk === 'spare-0')
    t.equal(atDesk.length, 1, 'spare-0 hosts one worker')
  })
})
