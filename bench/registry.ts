/**
 * Seat registry benchmark, through gRPC against a three-member etcd cluster and three registry
 * processes on this machine (loopback):
 *
 * - login latency (median, p99) at 1, 32 and 64 concurrent clients, and logins per second, for
 *   administrator logins (no PIN: the etcd path alone) and phone logins (PIN checked with scrypt),
 *   sent to the leader and to a follower (which forwards to the leader), with the leader's group
 *   commit of logins off (FLEXSEAT_GROUP_COMMIT=false: one etcd transaction per login) and on
 *   (the default: concurrent logins share transactions), each on a cluster of its own started in
 *   the same run, one after the other; the `perTxn` column is the mean number of logins per
 *   transaction, from the leader's flexseat_registry_login_batch_size;
 * - time from kill -9 of the leader to the next successful login through a surviving instance;
 * - time from SIGTERM of the leader (it resigns at once, its successor campaigns) to the next
 *   successful login through a surviving instance;
 * - time from SIGSTOP of the leader to the answer of a login a follower had forwarded to it
 *   (the follower moves it to the new leader once one is elected).
 *
 *   npx tsc -b packages/registry && npx tsx bench/registry.ts [--seconds 5] [--failovers 3] [--terminations 5] [--pauses 3]
 *       [--scenarios admin,pin] [--targets leader,follower] [--concurrency 1,32,64] [--group-commit false,true] [--cpu-prof <dir>]
 *       [--cpu-prof-rows <dir>]
 *
 * The failover, termination and pause runs use the cluster of the last --group-commit value.
 * `--cpu-prof` profiles every registry process for its whole life (start and seeding included);
 * `--cpu-prof-rows` the leader (and the follower a row goes through) during each row's timed
 * logins only, one file per process and row (the row's name and the files are printed).
 *
 * Each row also gives the CPU time spent per login by the leader's registry process, the
 * follower's (when the row goes through one), the three etcd members together and this client,
 * read from /proc before and after the row: on a 2-core machine running everything, CPU per
 * login bounds throughput more than any latency does.
 *
 * Every login moves a worker between two flex desks, so each one revokes a seat (a full takeover
 * transaction). Every process is killed at the end.
 */
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CreateDeviceRequest, CreateUserRequest, Device, LoginRequest, unary, User } from '@flexseat/proto'
import { RegistryCluster } from '../test/helpers/registry-cluster'
import { cpuMs, cpuProfilePreload, cpuProfileWindowPreload, rssMiB, since, summary } from './stats'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    failovers: { type: 'string', default: '3' },
    terminations: { type: 'string', default: '5' },
    pauses: { type: 'string', default: '3' },
    'lease-ttl': { type: 'string', default: '3' },
    scenarios: { type: 'string', default: 'admin,pin' },
    targets: { type: 'string', default: 'leader,follower' },
    concurrency: { type: 'string', default: '1,32,64' },
    /** FLEXSEAT_GROUP_COMMIT of the registries: each value on a cluster of its own, in this order. */
    'group-commit': { type: 'string', default: 'false,true' },
    /** Write a V8 CPU profile of every registry process into this directory (on exit). */
    'cpu-prof': { type: 'string' },
    /** Write a V8 CPU profile of the leader (and follower) during each row's timed logins into this directory. */
    'cpu-prof-rows': { type: 'string' },
  },
})
const SECONDS = Number(values.seconds)
const FAILOVERS = Number(values.failovers)
const TERMINATIONS = Number(values.terminations)
const PAUSES = Number(values.pauses)
const LEASE_TTL = Number(values['lease-ttl'])
const SCENARIOS = values.scenarios.split(',') as ('admin' | 'pin')[]
const TARGETS = values.targets.split(',') as ('leader' | 'follower')[]
const CONCURRENCY = values.concurrency.split(',').map(Number)
const GROUP_COMMIT = values['group-commit'].split(',').map((v) => {
  if (v !== 'true' && v !== 'false') throw new Error(`--group-commit: "${v}" is not true or false`)
  return v
})
const WORKERS = Math.max(32, ...CONCURRENCY)
const PIN = '2468'

interface Row {
  groupCommit: string
  scenario: string
  target: string
  concurrency: number
  logins: number
  errors: number
  perSecond: number
  medianMs: number
  p99Ms: number
  /** CPU ms per login: the leader's registry process, the follower's, the etcd members, this client. */
  cpuLeader: number
  cpuFollower: number
  cpuEtcd: number
  cpuClient: number
  /** Logins per etcd transaction of the leader (group commit on; '-' when off). */
  perTxn: number | string
  /** etcd calls (Range and Txn, all members, every client) per login, from etcd's own metrics. */
  etcdCalls: number
}

async function main(): Promise<void> {
  const profile = values['cpu-prof']
  const rows: Row[] = []
  for (const [i, groupCommit] of GROUP_COMMIT.entries()) {
    const last = i === GROUP_COMMIT.length - 1
    const cluster = await RegistryCluster.start({
      instances: 3,
      leaseTtlSeconds: LEASE_TTL,
      logLevel: 'info',
      env: { FLEXSEAT_GROUP_COMMIT: groupCommit, FLEXSEAT_METRICS_LISTEN: '127.0.0.1:0', ...preloads(profile, groupCommit) },
    })
    const stop = (): void => void cluster.stop().finally(() => process.exit(130))
    process.once('SIGINT', stop)
    try {
      metricsAddresses.set(cluster, await Promise.all(cluster.instances.map(async (i) => String((await cluster.waitForLog(i.index, (l) => l['msg'] === 'metrics listening'))['address']))))
      await seed(cluster)
      for (const via of SCENARIOS) {
        for (const target of TARGETS) {
          for (const concurrency of CONCURRENCY) rows.push(await loginLoad(cluster, groupCommit, via, target, concurrency))
        }
      }
      console.log(`\nLogin latency and rate, FLEXSEAT_GROUP_COMMIT=${groupCommit} (each row runs ${SECONDS} s):`)
      console.table(rows.filter((r) => r.groupCommit === groupCommit))
      const memory = cluster.instances.map((i) => ({ instance: i.siteId, registryRssMiB: rssMiB(i.process!.pid) }))
      memory.push(...cluster.etcd.members.map((m) => ({ instance: m.name, registryRssMiB: rssMiB(m.process!.pid) })))
      console.log('Memory after the load (RSS, MiB):')
      console.table(memory)
      if (!last) continue
      const failovers = await failoverTimes(cluster)
      const terminations = await terminationTimes(cluster)
      const pauses = await pauseTimes(cluster)
      if (failovers.length > 0) {
        console.log(`\nkill -9 of the leader → next successful login (lease TTL ${LEASE_TTL} s), ${failovers.length} runs:`)
        console.log(`  each: ${failovers.map((ms) => `${Math.round(ms)} ms`).join(', ')}; median ${Math.round(summary(failovers).medianMs)} ms`)
      }
      if (terminations.length > 0) {
        const loginMs = terminations.map((r) => r.loginMs)
        console.log(`\nSIGTERM of the leader → next successful login (it resigns; lease TTL ${LEASE_TTL} s), ${terminations.length} runs:`)
        console.log(`  each: ${loginMs.map((ms) => `${Math.round(ms)} ms`).join(', ')}; median ${Math.round(summary(loginMs).medianMs)} ms, p99 ${Math.round(summary(loginMs).p99Ms)} ms`)
        console.log(`  the successor's 'elected leader' after the signal: ${terminations.map((r) => `${Math.round(r.electedMs)} ms`).join(', ')}`)
        console.log(`  logins refused meanwhile: ${terminations.map((r) => r.failures.length).join(', ')}${terminations.some((r) => r.failures.length > 0) ? `; e.g. ${terminations.flatMap((r) => r.failures).slice(0, 4).join('; ')}` : ''}`)
      }
      if (pauses.length > 0) {
        console.log(`\nSIGSTOP of the leader → answer of a login forwarded to it by a follower (lease TTL ${LEASE_TTL} s), ${pauses.length} runs:`)
        console.log(`  each: ${pauses.map((ms) => `${Math.round(ms)} ms`).join(', ')}; median ${Math.round(summary(pauses).medianMs)} ms`)
      }
      console.log(JSON.stringify({ rows, failoverMs: failovers, terminations, pauseMs: pauses, leaseTtlSeconds: LEASE_TTL, memory }))
    } finally {
      process.removeListener('SIGINT', stop)
      await cluster.stop()
    }
  }
}

/** NODE_OPTIONS of the registries for --cpu-prof (whole life) or --cpu-prof-rows (each row's window). */
function preloads(profile: string | undefined, groupCommit: string): Record<string, string> {
  const rowsDir = values['cpu-prof-rows']
  if (profile !== undefined && rowsDir !== undefined) throw new Error('--cpu-prof and --cpu-prof-rows: one or the other')
  if (profile !== undefined) return { NODE_OPTIONS: `--require ${cpuProfilePreload(join(profile, `group-commit-${groupCommit}`))}` }
  if (rowsDir !== undefined) return { NODE_OPTIONS: `--require ${cpuProfileWindowPreload(rowsDir)}` }
  return {}
}

/** Two flex desks per worker at amsterdam, and the workers, roaming allowed. */
async function seed(cluster: RegistryCluster): Promise<void> {
  const leader = await cluster.leader()
  const { directory } = cluster.clients(leader)
  const metadata = cluster.metadata('admin')
  const settings = { metadata, timeoutMs: 30_000 }
  // Sites register themselves when their instance starts; wait for amsterdam's record.
  for (let i = 0; i < 100; i += 1) {
    try {
      await unary(directory.getSite.bind(directory), { siteId: 'amsterdam' }, { metadata })
      break
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  for (let w = 0; w < WORKERS; w += 1) {
    await unary(directory.createUser.bind(directory), CreateUserRequest.fromPartial({
      requestId: randomUUID(),
      user: User.fromPartial({ id: `w${w}`, extension: String(1000 + w), displayName: `Worker ${w}`, homeSiteId: 'amsterdam', roamingAllowed: true }),
      pin: PIN,
    }), settings)
    for (const side of [0, 1]) {
      await unary(directory.createDevice.bind(directory), CreateDeviceRequest.fromPartial({
        requestId: randomUUID(),
        device: Device.fromPartial({ id: `d${w}-${side}`, siteId: 'amsterdam', extension: String(5000 + 2 * w + side), flexHost: true }),
      }), settings)
    }
  }
}

/** Each instance's metrics address, by cluster (from its `metrics listening` line, read at start: the harness keeps only the last lines). */
const metricsAddresses = new Map<RegistryCluster, string[]>()

/** The leader's flexseat_registry_login_batch_size: logins (sum) and transactions (count) so far. */
async function batchTotals(cluster: RegistryCluster, leader: number): Promise<{ logins: number; txns: number }> {
  const text = await (await fetch(`http://${metricsAddresses.get(cluster)![leader]!}/metrics`)).text()
  const sample = (name: string): number => Number(text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))?.split(' ').at(-1) ?? 0)
  return { logins: sample('flexseat_registry_login_batch_size_sum'), txns: sample('flexseat_registry_login_batch_size_count') }
}

/** etcd's grpc_server_handled_total for Range and Txn, summed over the members. */
async function etcdCalls(cluster: RegistryCluster): Promise<number> {
  let total = 0
  for (const endpoint of cluster.etcd.endpoints) {
    const text = await (await fetch(`${endpoint}/metrics`)).text()
    for (const line of text.split('\n')) {
      if (line.startsWith('grpc_server_handled_total{') && /grpc_method="(Range|Txn)"/.test(line)) total += Number(line.split(' ').at(-1))
    }
  }
  return total
}

async function loginLoad(cluster: RegistryCluster, groupCommit: string, via: 'admin' | 'pin', target: 'leader' | 'follower', concurrency: number): Promise<Row> {
  const leader = await cluster.leader()
  const index = target === 'leader' ? leader : cluster.live.find((i) => i !== leader)!
  const { seat } = cluster.clients(index)
  const metadata = cluster.metadata(via === 'admin' ? 'admin' : 'sip-node')
  const cpu = (): number[] => [
    cpuMs(cluster.instances[leader]!.process!.pid),
    target === 'follower' ? cpuMs(cluster.instances[index]!.process!.pid) : 0,
    cluster.etcd.members.reduce((sum, m) => sum + cpuMs(m.process!.pid), 0),
    (process.cpuUsage().user + process.cpuUsage().system) / 1000,
  ]
  const batchesBefore = await batchTotals(cluster, leader)
  const callsBefore = await etcdCalls(cluster)
  // --cpu-prof-rows: the processes the row goes through profile its timed logins (SIGUSR2 starts, the next stops).
  const profiled = values['cpu-prof-rows'] === undefined ? [] : [...new Set([leader, index])].map((i) => cluster.instances[i]!.process!.pid)
  for (const pid of profiled) process.kill(pid, 'SIGUSR2')
  const cpuBefore = cpu()
  const latencies: number[] = []
  let errors = 0
  const started = performance.now()
  const until = started + SECONDS * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      let side = 0
      while (performance.now() < until) {
        side = 1 - side
        const request = LoginRequest.fromPartial({ requestId: randomUUID(), deviceId: `d${w}-${side}`, extension: String(1000 + w), pin: via === 'pin' ? PIN : '' })
        const t0 = performance.now()
        try {
          await unary(seat.login.bind(seat), request, { metadata, timeoutMs: 10_000 })
          latencies.push(since(t0))
        } catch {
          errors += 1
        }
      }
    }),
  )
  const elapsed = since(started) / 1000
  const s = summary(latencies)
  const perLogin = cpu().map((after, i) => Math.round(((after - cpuBefore[i]!) / Math.max(1, latencies.length)) * 100) / 100)
  for (const pid of profiled) process.kill(pid, 'SIGUSR2')
  if (profiled.length > 0) console.log(`--cpu-prof-rows: group commit ${groupCommit}, ${via}, ${target}, ${concurrency} client(s): ${latencies.length} logins; profiles of pid ${profiled.join(', ')} (leader ${profiled[0]}) in ${values['cpu-prof-rows']}`)
  const batchesAfter = await batchTotals(cluster, leader)
  const calls = (await etcdCalls(cluster)) - callsBefore
  const txns = batchesAfter.txns - batchesBefore.txns
  return {
    groupCommit,
    scenario: via === 'admin' ? 'admin login' : 'phone login (PIN)',
    target,
    concurrency,
    logins: latencies.length,
    errors,
    perSecond: Math.round(latencies.length / elapsed),
    medianMs: s.medianMs,
    p99Ms: s.p99Ms,
    cpuLeader: perLogin[0]!,
    cpuFollower: perLogin[1]!,
    cpuEtcd: perLogin[2]!,
    cpuClient: perLogin[3]!,
    perTxn: txns > 0 ? Math.round(((batchesAfter.logins - batchesBefore.logins) / txns) * 10) / 10 : '-',
    etcdCalls: Math.round((calls / Math.max(1, latencies.length)) * 100) / 100,
  }
}

/**
 * Logs in through `login` until one succeeds (each failure noted with its time since `start` and
 * retried 20 ms later); throws after 30 s. Returns the ms from `start` to that success.
 */
async function untilLogin(login: () => Promise<void>, start: number, what: string, failures: string[] = []): Promise<number> {
  for (;;) {
    try {
      await login()
      return since(start)
    } catch (error) {
      failures.push(`${Math.round(since(start))} ms: ${(error as Error).message.slice(0, 80)}`)
      if (since(start) > 30_000) throw new Error(`no successful login within 30 s of ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}

/** A login of worker `w` through `instance`, alternating between its two desks, each with a 1 s deadline. */
function alternatingLogin(cluster: RegistryCluster, instance: number, w: number): () => Promise<void> {
  const { seat } = cluster.clients(instance)
  const metadata = cluster.metadata('admin')
  let side = 0
  return async () => {
    side = 1 - side
    await unary(seat.login.bind(seat), LoginRequest.fromPartial({ requestId: randomUUID(), deviceId: `d${w}-${side}`, extension: String(1000 + w) }), { metadata, timeoutMs: 1_000 })
  }
}

/** kill -9 the leader while one client logs in continuously through a survivor; measure the gap. */
async function failoverTimes(cluster: RegistryCluster): Promise<number[]> {
  const times: number[] = []
  for (let run = 0; run < FAILOVERS; run += 1) {
    const leader = await cluster.leader()
    const login = alternatingLogin(cluster, cluster.live.find((i) => i !== leader)!, 0)
    await login()
    const killed = performance.now()
    await cluster.kill(leader)
    times.push(await untilLogin(login, killed, 'the kill'))
    await cluster.restart(leader)
    await cluster.waitForLeader()
  }
  return times
}

/**
 * SIGTERM the leader while one client logs in continuously (every 20 ms after a failure, each
 * attempt with a 1 s deadline) through a survivor; measure until a login succeeds, and until a
 * survivor logs `elected leader` (its log line's time, this machine's clock). The old leader is
 * started again afterwards.
 */
async function terminationTimes(cluster: RegistryCluster): Promise<{ loginMs: number; electedMs: number; failures: string[] }[]> {
  const results: { loginMs: number; electedMs: number; failures: string[] }[] = []
  for (let run = 0; run < TERMINATIONS; run += 1) {
    const leader = await cluster.leader()
    const login = alternatingLogin(cluster, cluster.live.find((i) => i !== leader)!, 2)
    await login()
    const marks = cluster.live.map((i) => ({ index: i, since: cluster.instances[i]!.logs.length }))
    const signalled = Date.now()
    const start = performance.now()
    const stopped = cluster.terminate(leader)
    const failures: string[] = []
    const loginMs = await untilLogin(login, start, 'the SIGTERM', failures)
    const elected = await Promise.any(
      marks.filter((m) => m.index !== leader).map((m) => cluster.waitForLog(m.index, (line) => line['msg'] === 'elected leader', { since: m.since, timeoutMs: 5_000 })),
    )
    results.push({ loginMs, electedMs: Number(elected['time']) - signalled, failures })
    await stopped
    await cluster.restart(leader)
    await cluster.waitForLeader()
  }
  return results
}

/**
 * SIGSTOP the leader right after a login through a follower (so the follower knows the leader and
 * forwards the next one to it), send one more login through that follower, and measure until it
 * is answered; then resume the old leader and let it rejoin.
 */
async function pauseTimes(cluster: RegistryCluster): Promise<number[]> {
  const times: number[] = []
  for (let run = 0; run < PAUSES; run += 1) {
    const leader = await cluster.leader()
    const follower = cluster.live.find((i) => i !== leader)!
    const { seat } = cluster.clients(follower)
    const metadata = cluster.metadata('admin')
    let side = 0
    const login = (timeoutMs: number) => {
      side = 1 - side
      return unary(seat.login.bind(seat), LoginRequest.fromPartial({ requestId: randomUUID(), deviceId: `d1-${side}`, extension: '1001' }), { metadata, timeoutMs })
    }
    await login(2_000)
    cluster.pause(leader)
    const paused = performance.now()
    await login(30_000)
    times.push(since(paused))
    cluster.resume(leader)
    await cluster.waitForLeader({ on: [0, 1, 2] })
  }
  return times
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
