/**
 * Bounded revocation at scale, as a user sees it: a three-member etcd cluster, three registry
 * processes, real gRPC. A branch is cut off and an administrator moves all its workers to
 * another branch at once; every takeover must wait for the cut-off branch's confirmation lease
 * to run out, and the published bound says each completes within lease + 0.25 s of the branch's
 * last renewal (README, docs/OPERATIONS.md).
 *
 *   npx tsc -b && flock /work/.heavy.lock npx tsx bench/revocation-scale.ts [--workers 1000]
 *       [--runs 3] [--lease 5]
 *
 * The cut-off branch's SIP node is played by a lease holder: a BranchService client that renews
 * the branch's confirmation lease (having applied every revision so far, as a connected node
 * would), then stops renewing, and the moves are sent right after that last renewal, so every
 * one of them waits the longest a takeover can. The moves are admin Logins (no PIN) spread over
 * all registry instances (followers forward to the leader), each with a 30 s deadline, all sent
 * at once. Runs alternate direction (amsterdam → berlin, berlin → amsterdam).
 *
 * Per run it prints: when the last move was written (pending), when etcd deleted the branch's
 * lease key (seen through a watch), when the leader logged the completion and when the last Login
 * returned its seat active, each relative to the node's last renewal (sent / answered) and to the
 * deletion; the Logins' median and p99; and the leader's RSS (before the moves, and its peak
 * during them, sampled every 100 ms). A Login that returns its seat still pending,
 * or fails, is counted and printed. Every process is killed at the end.
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { credentials, status } from '@grpc/grpc-js'
import { BranchServiceClient, CreateDeviceRequest, CreateUserRequest, Device, type LoginResponse, unary, User } from '@flexseat/proto'
import { createEtcdClient, Keys } from '@flexseat/registry'
import { RegistryCluster } from '../test/helpers/registry-cluster'
import { rssMiB, summary } from './stats'

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    lease: { type: 'string', default: '5' },
  },
})
const WORKERS = Number(values.workers)
const RUNS = Number(values.runs)
const LEASE = Number(values.lease)
const SITES = ['amsterdam', 'berlin'] as const
/** The leader's 'revocations completed' log lines (wall-clock ms). */
const completions: { site: string; at: number; count: number }[] = []

interface Run {
  from: string
  to: string
  moves: number
  active: number
  pendingReturned: number
  failed: number
  /** The failures' gRPC status codes and how many of each. */
  errors: string
  /** ms after the last renewal was sent: the last move written pending. */
  allWrittenMs: number
  /** ms after the last renewal was sent / answered: etcd deleted the lease key (seen by the watch). */
  deletedAfterSentMs: number
  deletedAfterAnsweredMs: number
  /** ms after the deletion: the leader logged its last completion of the branch's revocations (its sweeps' count). */
  completedAfterDeletionMs: number
  sweeps: number
  /** ms after the last renewal was sent / answered, and after the deletion: the last Login returned active. */
  lastAfterSentMs: number
  lastAfterAnsweredMs: number
  lastAfterDeletionMs: number
  loginMedianMs: number
  loginP99Ms: number
  /** The leader's RSS just before the moves, and its peak during them (every 100 ms). */
  leaderRssBeforeMiB: number
  leaderRssPeakMiB: number
}

async function main(): Promise<void> {
  const cluster = await RegistryCluster.start({
    instances: 3,
    logLevel: 'info',
    env: { FLEXSEAT_CONFIRMATION_LEASE_SECONDS: String(LEASE) },
    onLog: (_instance, line) => {
      if (!line.includes('revocations completed: the branch lease is gone')) return
      const record = JSON.parse(line) as { time: number; site: string; count: number }
      completions.push({ site: record.site, at: record.time, count: record.count })
    },
  })
  const stop = (): void => void cluster.stop().finally(() => process.exit(130))
  process.once('SIGINT', stop)
  const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 10_000 })
  const branches: BranchServiceClient[] = []
  try {
    const seedStart = performance.now()
    await seed(cluster)
    console.log(`seeded ${WORKERS} workers and ${2 * WORKERS} desks in ${Math.round((performance.now() - seedStart) / 1000)} s`)
    const keys = new Keys(cluster.prefix)
    const runs: Run[] = []
    for (let run = 0; run < RUNS; run += 1) {
      const from = SITES[run % 2]!
      const to = SITES[(run + 1) % 2]!
      const leader = await cluster.leader()
      const branch = new BranchServiceClient(cluster.instances[leader]!.address, credentials.createInsecure())
      branches.push(branch)
      runs.push(await moveAll(cluster, etcd, keys, branch, leader, from, to, run))
      console.table([runs.at(-1)])
    }
    console.log(`\n${WORKERS} workers moved away from a cut-off branch at once, lease ${LEASE} s (bound: lease + 250 ms = ${LEASE * 1_000 + 250} ms after the last renewal):`)
    console.table(runs)
    console.log(JSON.stringify({ workers: WORKERS, leaseSeconds: LEASE, runs }))
  } finally {
    branches.forEach((b) => b.close())
    etcd.close()
    await cluster.stop()
  }
}

/** A flex desk per worker at each of the two sites, and the workers, seated at the first. */
async function seed(cluster: RegistryCluster): Promise<void> {
  const leader = await cluster.leader()
  const { directory, seat } = cluster.clients(leader)
  const settings = { metadata: cluster.metadata('admin'), timeoutMs: 30_000 }
  for (const siteId of SITES) {
    for (let i = 0; ; i += 1) {
      try {
        await unary(directory.getSite.bind(directory), { siteId }, settings)
        break
      } catch (error) {
        if (i > 100) throw error
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }
  await pool(WORKERS, 32, async (w) => {
    await unary(directory.createUser.bind(directory), CreateUserRequest.fromPartial({
      requestId: randomUUID(),
      user: User.fromPartial({ id: `w${w}`, extension: String(10_000 + w), displayName: `Worker ${w}`, homeSiteId: 'amsterdam', roamingAllowed: true }),
      pin: '2468',
    }), settings)
    for (const siteId of SITES) {
      await unary(directory.createDevice.bind(directory), CreateDeviceRequest.fromPartial({
        requestId: randomUUID(),
        device: Device.fromPartial({ id: desk(siteId, w), siteId, flexHost: true }),
      }), settings)
    }
    await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: desk('amsterdam', w), extension: String(10_000 + w), pin: '', durationHours: 0 }, settings)
  })
}

function desk(siteId: string, w: number): string {
  return `${siteId.slice(0, 3)}-${w}`
}

async function moveAll(cluster: RegistryCluster, etcd: ReturnType<typeof createEtcdClient>, keys: Keys, branch: BranchServiceClient, leader: number, from: string, to: string, run: number): Promise<Run> {
  const sipNode = { metadata: cluster.metadata('sip-node'), timeoutMs: 10_000 }
  const node = { siteId: from, nodeId: `${from}-bench-${run}` }
  const revision = async (): Promise<string> => (await etcd.kv.range({ key: Buffer.from(keys.seats), count_only: true })).header.revision
  // The node holds the lease, having applied everything so far; its last renewal, then the cut.
  await unary(branch.renewLease.bind(branch), { ...node, appliedRevision: await revision() }, sipNode)
  let deletedAt: number | undefined
  let deletedWallAt = 0
  const watcher = await etcd.watch().key(keys.node(from)).create()
  watcher.on('delete', () => {
    deletedAt ??= performance.now()
    deletedWallAt ||= Date.now()
  })
  const completedBefore = completions.length
  let written: number | undefined
  const index = await etcd.watch().prefix(keys.siteRevocations(from)).create()
  let indexed = 0
  index.on('put', () => {
    if (++indexed === WORKERS) written = performance.now()
  })
  const leaderPid = cluster.instances[leader]!.process!.pid
  const rssBefore = rssMiB(leaderPid)
  let rssPeak = rssBefore
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(leaderPid))), 100)

  const lastSent = performance.now()
  await unary(branch.renewLease.bind(branch), { ...node, appliedRevision: await revision() }, sipNode)
  const lastAnswered = performance.now()
  // Cut off: no more renewals. The administrator's clients, one channel per registry instance.
  const clients = cluster.live.map((i) => cluster.clients(i).seat)
  const admin = cluster.metadata('admin')
  const outcomes: { ms: number; at: number; res?: LoginResponse; code?: number }[] = await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      const seat = clients[w % clients.length]!
      const t0 = performance.now()
      try {
        const res = await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: desk(to, w), extension: String(10_000 + w), pin: '', durationHours: 0 }, { metadata: admin, timeoutMs: 30_000 })
        return { ms: performance.now() - t0, at: performance.now(), res }
      } catch (error) {
        return { ms: performance.now() - t0, at: performance.now(), code: (error as { code?: number }).code ?? -1 }
      }
    }),
  )
  clearInterval(sampler)
  await watcher.cancel()
  await index.cancel()
  const active = outcomes.filter((o) => o.res?.seat?.siteId === to && o.res.seat.pending.length === 0)
  const lastAt = Math.max(...active.map((o) => o.at))
  const sweeps = completions.slice(completedBefore).filter((c) => c.site === from)
  const s = summary(outcomes.map((o) => o.ms))
  const round = (ms: number): number => Math.round(ms)
  return {
    from,
    to,
    moves: WORKERS,
    active: active.length,
    pendingReturned: outcomes.filter((o) => o.res !== undefined && o.res.seat!.pending.length > 0).length,
    failed: outcomes.filter((o) => o.res === undefined).length,
    errors: [...new Map(outcomes.filter((o) => o.code !== undefined).map((o) => [o.code, 0])).keys()]
      .map((code) => `${status[code!] ?? code}×${outcomes.filter((o) => o.code === code).length}`)
      .join(' '),
    allWrittenMs: written === undefined ? Number.NaN : round(written - lastSent),
    deletedAfterSentMs: deletedAt === undefined ? Number.NaN : round(deletedAt - lastSent),
    deletedAfterAnsweredMs: deletedAt === undefined ? Number.NaN : round(deletedAt - lastAnswered),
    completedAfterDeletionMs: sweeps.length === 0 ? Number.NaN : Math.max(...sweeps.map((c) => c.at)) - deletedWallAt,
    sweeps: sweeps.length,
    lastAfterSentMs: round(lastAt - lastSent),
    lastAfterAnsweredMs: round(lastAt - lastAnswered),
    lastAfterDeletionMs: deletedAt === undefined ? Number.NaN : round(lastAt - deletedAt),
    loginMedianMs: round(s.medianMs),
    loginP99Ms: round(s.p99Ms),
    leaderRssBeforeMiB: rssBefore,
    leaderRssPeakMiB: rssPeak,
  }
}

/** Runs `fn(0..n-1)`, at most `limit` at once. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < n) await fn(next++)
  }))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
