/**
 * Directory sync benchmark, as an administrator sees it: a real slapd holding N entries (Active
 * Directory's attributes, test/helpers/ldap.ts), three etcd members and two registry processes
 * (the RegistryCluster harness) with the directory sync configured, the sync asked for through
 * gRPC (SyncDirectory) and followed through GetDirectorySyncStatus:
 *
 * - the first full sync (every entry a new user: the entries are added after the registries started);
 * - full syncs that find nothing to do (median of `--repeat`);
 * - a full sync after `--changes` entries changed (a new department: a new template);
 * - an incremental sync after `--changes` other entries changed;
 * - a dry run of a full sync (nothing written).
 *
 * For each: the wall time from the call to the run's end, entries per second, the leader's CPU
 * time and resident memory (VmRSS after, VmHWM: the peak of the process so far), and slapd's CPU.
 *
 *   npx tsc -b && flock /work/.heavy.lock npx tsx bench/directory-sync.ts [--entries 10000] [--repeat 3] [--changes 100]
 *
 * Every process is killed at the end.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { DirectorySyncMode, type DirectorySyncRun, DirectorySyncServiceClient, DirectorySyncState, unary } from '@flexseat/proto'
import { credentials } from '@grpc/grpc-js'
import { type Person, Slapd } from '../test/helpers/ldap'
import { eventually, RegistryCluster } from '../test/helpers/registry-cluster'
import { cpuMs, rssMiB } from './stats'

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '10000' },
    repeat: { type: 'string', default: '3' },
    changes: { type: 'string', default: '100' },
  },
})
const N = Number(values.entries)
const REPEAT = Number(values.repeat)
const CHANGES = Number(values.changes)

function peakMiB(pid: number): number {
  const kb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])
  return Math.round((kb / 1024) * 10) / 10
}

function slapdPid(dir: string): number {
  return Number(readFileSync(`${dir}/slapd.pid`, 'utf8').trim())
}

interface Row {
  what: string
  seconds: number
  entriesPerSecond: number
  created: number
  updated: number
  unchanged: number
  leaderCpuS: number
  slapdCpuS: number
  leaderRssMiB: number
  leaderPeakMiB: number
}

async function main(): Promise<void> {
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  const people: Person[] = Array.from({ length: N }, (_, i) => ({
    username: `worker${100_000 + i}`,
    ipPhone: String(100_000 + i),
    givenName: `Given${i}`,
    sn: `Surname${i}`,
    displayName: `Given${i} Surname${i}`,
    mail: `worker${100_000 + i}@example.com`,
    telephoneNumber: `+31 20 ${String(5_000_000 + i)}`,
    mobile: `+31 6 ${String(10_000_000 + i)}`,
    department: i % 3 === 0 ? 'Sales' : 'Support',
  }))
  // The registries start on an empty directory (the leader's sync on being elected has nothing to
  // do) and the entries are added once both sites' records exist: the first sync measured creates
  // every user, none skipped for a home site not created yet.
  const slapd = await Slapd.start()
  const file = await slapd.writeSyncConfig({ ldap: 'page_size: 1000', extra: 'schedule:\n  full_every: 24h\n  incremental_every: 0s\n  max_deletions: 0' })
  const cluster = await RegistryCluster.start({ instances: 2, logLevel: 'info', env: { FLEXSEAT_DIRECTORY_SYNC_FILE: file } })
  const rows: Row[] = []
  const sync = new Map<number, DirectorySyncServiceClient>()
  const client = (index: number): DirectorySyncServiceClient => {
    let c = sync.get(index)
    if (c === undefined) {
      c = new DirectorySyncServiceClient(cluster.clients(index).address, credentials.createInsecure())
      sync.set(index, c)
    }
    return c
  }
  try {
    const leader = await cluster.leader()
    const pid = cluster.instances[leader]!.process!.pid
    const status = async () => unary(client(leader).getDirectorySyncStatus.bind(client(leader)), {}, { metadata: cluster.metadata('viewer') })
    const { directory } = cluster.clients(leader)
    await eventually('both sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: cluster.metadata('admin') })).sites.length === 2, 20_000)
    await eventually('the election-time sync ended', async () => (await status()).last !== undefined, 20_000)
    const rssBefore = rssMiB(pid)
    const added = performance.now()
    await slapd.addMany(people)
    console.error(`${N} entries added to slapd in ${((performance.now() - added) / 1000).toFixed(1)} s; leader RSS before the first sync: ${rssBefore} MiB`)

    const measure = async (what: string, mode: DirectorySyncMode, dryRun = false): Promise<Row> => {
      const cpuBefore = cpuMs(pid)
      const slapdBefore = cpuMs(slapdPid(slapd.dir))
      const t0 = performance.now()
      const c = client(leader)
      const response = await unary(c.syncDirectory.bind(c), { requestId: randomUUID(), dryRun, mode }, { metadata: cluster.metadata('admin'), timeoutMs: 600_000 })
      let run = response.run!
      if (run.state === DirectorySyncState.DIRECTORY_SYNC_STATE_RUNNING) {
        run = await eventually('the run ended', async () => [(await status()).last].find((r) => r?.runId === run.runId), 600_000, 50)
      }
      const seconds = (performance.now() - t0) / 1000
      if (run.state !== DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED) throw new Error(`${what}: ${run.error}`)
      return {
        ...row(what, run, seconds, pid, slapd),
        leaderCpuS: Math.round(cpuMs(pid) - cpuBefore) / 1000,
        slapdCpuS: Math.round(cpuMs(slapdPid(slapd.dir)) - slapdBefore) / 1000,
      }
    }
    rows.push(await measure('first full sync: every entry a new user', DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL))
    const idle: Row[] = []
    for (let i = 0; i < REPEAT; i++) idle.push(await measure('full sync, nothing to do', DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL))
    rows.push(median(idle))
    rows.push(await measure('dry run of a full sync, nothing to do', DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL, true))
    for (let i = 0; i < CHANGES; i++) await slapd.modify(`worker${100_000 + i}`, { department: 'Logistics', ipPhone: String(900_000 + i) })
    rows.push(await measure(`dry run of a full sync, ${CHANGES} changed`, DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL, true))
    rows.push(await measure(`full sync, ${CHANGES} changed (new extension and department)`, DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL))
    for (let i = 0; i < CHANGES; i++) await slapd.modify(`worker${100_000 + CHANGES + i}`, { mail: `changed${i}@example.com` })
    rows.push(await measure(`incremental sync, ${CHANGES} changed`, DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL))
  } finally {
    for (const c of sync.values()) c.close()
    await cluster.stop()
    await slapd.stop()
  }
  console.log(`directory sync, ${N} entries, 3 etcd members, 2 registries; load average before: ${loadBefore}, after: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
  console.log('| run | wall time | entries/s | created | updated | unchanged | leader CPU | slapd CPU | leader RSS after | leader peak RSS |')
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${r.what} | ${r.seconds.toFixed(2)} s | ${r.entriesPerSecond} | ${r.created} | ${r.updated} | ${r.unchanged} | ${Number.isNaN(r.leaderCpuS) ? '–' : `${r.leaderCpuS.toFixed(2)} s`} | ${Number.isNaN(r.slapdCpuS) ? '–' : `${r.slapdCpuS.toFixed(2)} s`} | ${r.leaderRssMiB} MiB | ${r.leaderPeakMiB} MiB |`)
  }
}

function row(what: string, run: DirectorySyncRun, seconds: number, pid: number, _slapd: Slapd): Row {
  return {
    what,
    seconds,
    entriesPerSecond: Math.round(run.entries / seconds),
    created: run.created,
    updated: run.updated,
    unchanged: run.unchanged,
    leaderCpuS: Number.NaN,
    slapdCpuS: Number.NaN,
    leaderRssMiB: rssMiB(pid),
    leaderPeakMiB: peakMiB(pid),
  }
}

function median(rows: Row[]): Row {
  const sorted = [...rows].sort((a, b) => a.seconds - b.seconds)
  const mid = sorted[Math.floor(sorted.length / 2)]!
  return { ...mid, what: `${mid.what} (median of ${rows.length})` }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
