/**
 * Occupancy report benchmark (ReportService.GetOccupancyReport), through gRPC as an
 * administrator's CLI or portal sees it, against a three-member etcd cluster and two registry
 * processes on this machine (loopback).
 *
 * It writes a realistic history as the registry's transactions write it (seat-history.ts: the
 * worker's record `seat-history/<user>/<start>-<device>` and the site's occupancy key, as a
 * release puts them; an open seat's record and its `seats/<user>`): per site `--desks`
 * flex desks and as many workers, over `--days` days back from now; on a weekday each desk has
 * one to three seats of 1–6 hours between 07:00 and 19:00 local time (a tenth of the desks stay
 * unused), none at weekends, a tenth of the workers still seated now. The report's site is berlin;
 * `--other-sites` more sites get the same history (the report reads only its own site's
 * occupancy index, and the seats still open of every site). Then it asks for the report over the whole period `--runs`
 * times, from a follower, and prints latency (median, p99), the registry's resident memory before
 * and at its highest during the runs, and the size of what it read.
 *
 *   npm run build && flock /work/.heavy.lock npx tsx bench/occupancy.ts [--desks 1000] [--days 90]
 *       [--other-sites 2] [--runs 20]
 *
 * Every process is killed at the end.
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { credentials } from '@grpc/grpc-js'
import { Device, ReportServiceClient, Site, unary } from '@flexseat/proto'
import { createEtcdClient, historyKey, Keys, type SeatHistoryEntry } from '@flexseat/registry'
import { RegistryCluster } from '../test/helpers/registry-cluster'
import { endedSeatPuts } from '../test/helpers/seat-history'
import { rssMiB, since, summary } from './stats'

const { values } = parseArgs({
  options: {
    desks: { type: 'string', default: '1000' },
    days: { type: 'string', default: '90' },
    'other-sites': { type: 'string', default: '2' },
    runs: { type: 'string', default: '20' },
  },
})
const DESKS = Number(values.desks)
const DAYS = Number(values.days)
const OTHER_SITES = Number(values['other-sites'])
const RUNS = Number(values.runs)
const H = 3_600_000
const DAY = 86_400_000

/** A small deterministic generator (mulberry32), so that every run writes the same history. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** The history of one site: its seats, as the registry stores them. */
function history(siteId: string, offsetHours: number, now: number, seed: number): SeatHistoryEntry[] {
  const next = random(seed)
  const entries: SeatHistoryEntry[] = []
  const today = Math.floor(now / DAY) * DAY
  for (let desk = 0; desk < DESKS; desk++) {
    if (next() < 0.1) continue // never used
    const deviceId = `${siteId}-desk-${desk}`
    const userId = `${siteId}-w${desk}`
    for (let d = DAYS; d >= 0; d--) {
      const midnight = today - d * DAY - offsetHours * H
      const weekday = new Date(today - d * DAY).getUTCDay()
      if (weekday === 0 || weekday === 6) continue
      let at = midnight + 7 * H + Math.floor(next() * 2 * H)
      const seats = 1 + Math.floor(next() * 3)
      for (let s = 0; s < seats && at < midnight + 19 * H; s++) {
        const end = Math.min(at + H + Math.floor(next() * 5 * H), midnight + 19 * H)
        const open = d === 0 && s === seats - 1 && next() < 0.1
        if (at >= now) break
        entries.push({
          userId, extension: String(10_000 + desk), deviceId, siteId, start: new Date(at).toISOString(),
          ...(open || end >= now ? {} : { end: new Date(end).toISOString(), reason: 1 }),
          via: 'phone',
        })
        at = end + Math.floor(next() * H)
      }
    }
  }
  return entries
}

async function main(): Promise<void> {
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 3, logLevel: 'info', env: { FLEXSEAT_SEAT_HISTORY_RETENTION_SECONDS: String((DAYS + 2) * 86_400) } })
  const etcd = createEtcdClient(cluster.etcd.endpoints, { callTimeoutMs: 30_000 })
  const reports: ReportServiceClient[] = []
  try {
    const leader = await cluster.leader()
    const follower = leader === 0 ? 1 : 0
    const admin = cluster.metadata('admin')
    const { directory } = cluster.clients(follower)
    await cluster.waitForSites()
    const keys = new Keys(cluster.prefix)
    const now = Date.now()
    const sites = ['berlin', ...Array.from({ length: OTHER_SITES }, (_, i) => `other-${i}`)]
    for (const site of sites.slice(1)) await unary(directory.createSite.bind(directory), { requestId: randomUUID(), site: Site.fromPartial({ id: site, name: site, timezone: 'America/Chicago' }) }, { metadata: admin, timeoutMs: 10_000 })
    let records = 0
    let bytes = 0
    const written = performance.now()
    for (const [i, site] of sites.entries()) {
      // Devices through the registry's own API (the report lists them), in batches.
      for (let from = 0; from < DESKS; from += 50) {
        await Promise.all(Array.from({ length: Math.min(50, DESKS - from) }, (_, k) => unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: Device.fromPartial({ id: `${site}-desk-${from + k}`, siteId: site, extension: '', label: `${site} desk ${from + k}`, model: 'bench', flexHost: true }) }, { metadata: admin, timeoutMs: 30_000 })))
      }
      const entries = history(site, site === 'berlin' ? 1 : -6, now, 42 + i)
      // The history as the releases write it (two puts a seat), 128 puts per transaction (etcd's limit).
      for (let from = 0; from < entries.length; from += 64 * 8) {
        await Promise.all(Array.from({ length: 8 }, (_, k) => {
          const batch = entries.slice(from + k * 64, from + (k + 1) * 64)
          if (batch.length === 0) return undefined
          const txn = etcd.if(keys.site(site), 'Create', '>', 0)
          // An open seat: its history record, and its seat (the report reads open seats there).
          return txn.then(...batch.flatMap((e) => {
            bytes += JSON.stringify(e).length
            if (e.end !== undefined) return endedSeatPuts(etcd, keys, { userId: e.userId, deviceId: e.deviceId, siteId: e.siteId, start: Date.parse(e.start), end: Date.parse(e.end), reason: 1 })
            return [
              etcd.put(historyKey(keys, { userId: e.userId, since: e.start, deviceId: e.deviceId })).value(JSON.stringify(e)),
              etcd.put(keys.seat(e.userId)).value(JSON.stringify({ userId: e.userId, extension: e.extension, displayName: e.userId, deviceId: e.deviceId, siteId: e.siteId, since: e.start, via: 'phone' })),
            ]
          })).commit()
        }))
      }
      records += entries.length
    }
    console.log(JSON.stringify({ phase: 'history written', sites: sites.length, desksPerSite: DESKS, days: DAYS, records, MiB: Math.round((bytes / 1_048_576) * 10) / 10, seconds: Math.round(since(written) / 100) / 10 }))

    const address = cluster.instances[follower]!.address
    const client = new ReportServiceClient(address, credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1_048_576 })
    reports.push(client)
    const pid = cluster.instances[follower]!.process!.pid
    const from = new Date(now - DAYS * DAY + DAY).toISOString().slice(0, 10)
    const to = new Date(now).toISOString().slice(0, 10)
    const rssBefore = rssMiB(pid)
    let rssPeak = rssBefore
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(pid))), 20)
    const samples: number[] = []
    let last
    for (let run = 0; run < RUNS; run++) {
      const start = performance.now()
      last = await unary(client.getOccupancyReport.bind(client), { siteId: 'berlin', from, to }, { metadata: admin, timeoutMs: 60_000 })
      samples.push(since(start))
    }
    clearInterval(sampler)
    console.log(JSON.stringify({
      phase: 'report', site: 'berlin', from, to, days: last!.days.length, desks: last!.desks.length, seats: last!.branch?.seats, unused: last!.unusedDeviceIds.length, peak: last!.peakSeats,
      ...summary(samples), registryRssMiB: { before: rssBefore, peak: rssPeak },
    }))
  } finally {
    reports.forEach((c) => c.close())
    etcd.close()
    await cluster.stop()
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
