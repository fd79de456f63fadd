// A bindings report of 2,000 phones over a real registry process (gRPC) and etcd, with etcd's
// transaction limits set to other values than its defaults (--max-txn-ops 64) and the registry
// told the same (FLEXSEAT_ETCD_MAX_TXN_OPS=64): a report is written in parts that fit the
// cluster's limits, whatever they are. Before, the registry wrote 40 phones per transaction
// (82 compares), a number that fits etcd's default of 128 only, so this report failed.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { credentials } from '@grpc/grpc-js'
import { BranchServiceClient, type PhoneBinding, unary } from '@flexseat/proto'
import { createEtcdClient, Keys } from '@flexseat/registry'
import { ETCD_TXN_LIMITS } from '@flexseat/sim'
import { eventually, RegistryCluster } from '../helpers/registry-cluster'

const PHONES = 2_000
const LIMITS = { maxTxnOps: 64, maxRequestBytes: ETCD_TXN_LIMITS.maxRequestBytes }

t.setTimeout(120_000)

/** A binding with long (valid) fields, as a busy branch's phones report them. */
function binding(deviceId: string, seconds: number): PhoneBinding {
  return {
    deviceId,
    siteId: '',
    contact: `sip:${deviceId}@192.0.2.10:5060;transport=tcp;ob;${'x-vendor-param=abcdefghij;'.repeat(12)}line=1`,
    source: 'tcp:192.0.2.10:51234',
    userAgent: `Yealink SIP-T54W 96.86.0.70 ${'build-info '.repeat(15)}`.slice(0, 200),
    expiresAt: new Date(Date.now() + seconds * 1_000),
    registeredAt: undefined,
  }
}

/** Runs `fn` over `items`, at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!)
  }))
}

// Guard tried: PhoneBindings.report on the old fixed batch of 40 phones per transaction: etcd
// refuses every part (82 compares over 64) and the report fails (UNAVAILABLE).
t.test(`a bindings report of ${PHONES} phones`, async (t) => {
  const logs: string[] = []
  const cluster = await RegistryCluster.start({
    instances: 1,
    sites: ['amsterdam'],
    etcdMembers: 1,
    etcdTxnLimits: LIMITS,
    env: { FLEXSEAT_CONFIRMATION_LEASE_SECONDS: '30' },
    logLevel: 'info',
    onLog: (_instance, line) => void logs.push(line),
  })
  t.teardown(() => cluster.stop())
  const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 5_000 })
  t.teardown(() => etcd.close())
  const keys = new Keys(cluster.prefix)
  const admin = cluster.metadata('admin')
  const sipNode = cluster.metadata('sip-node')
  const { directory } = cluster.clients(0)
  const branch = new BranchServiceClient(cluster.instances[0]!.address, credentials.createInsecure())
  t.teardown(() => branch.close())
  await eventually('the site exists', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 1)

  const phones = Array.from({ length: PHONES }, (_, i) => `desk-${String(i).padStart(4, '0')}`)
  const seedStart = performance.now()
  await pool(phones, 32, (id) =>
    unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId: 'amsterdam', extension: '', label: id, model: 'test', flexHost: true, revision: '0' } }, { metadata: admin, timeoutMs: 10_000 }),
  )
  t.comment(`${PHONES} desks created in ${Math.round(performance.now() - seedStart)} ms`)
  const node = { siteId: 'amsterdam', nodeId: 'amsterdam-scale' }
  await unary(branch.renewLease.bind(branch), { ...node, appliedRevision: '0' }, { metadata: sipNode, timeoutMs: 5_000 })
  const report = async (bindings: PhoneBinding[], removedDeviceIds: string[]) => {
    const startedAt = performance.now()
    await unary(branch.reportBindings.bind(branch), { ...node, bindings, removedDeviceIds }, { metadata: sipNode, timeoutMs: 30_000 })
    return Math.round(performance.now() - startedAt)
  }
  const bound = async () => Number((await etcd.kv.range({ key: Buffer.from(keys.siteBindings('amsterdam')), range_end: Buffer.from(`${keys.siteBindings('amsterdam').slice(0, -1)}0`), count_only: true })).count)
  const first = phones.slice(0, PHONES / 2)
  const second = phones.slice(PHONES / 2)

  const a = await report(first.map((id) => binding(id, 600)), second)
  t.equal(await bound(), PHONES / 2, `one report of ${PHONES} phones: ${PHONES / 2} bound, ${PHONES / 2} removed`)
  const b = await report(second.map((id) => binding(id, 600)), [])
  t.equal(await bound(), PHONES, `then all ${PHONES} bound`)
  const status = await cluster.status(0)
  t.equal(status.branches[0]?.onlinePhones, PHONES, `the cluster status counts ${PHONES} phones online`)
  const c = await report(first.map((id) => binding(id, 900)), second)
  t.equal(await bound(), PHONES / 2, `a refresh of ${PHONES / 2} and a removal of ${PHONES / 2} in one report`)
  t.same(logs.filter((line) => /write failed|internal error/.test(line)).length, 0, 'no write failed')
  t.comment(`reports of ${PHONES} phones took ${a} and ${c} ms (the 1,000-phone one ${b} ms)`)
})
