import type { Etcd3 } from 'etcd3'
import { ErrorCode, type GetOccupancyReportRequest, type GetOccupancyReportResponse } from '@flexseat/proto'
import { invalidArgument, RegistryError } from './errors'
import type { Keys } from './keys'
import { parseJson, prefixEnd } from './kv'
import { type CountedSeat, LocalClock, occupancy, parseDate } from './occupancy'
import type { DeviceRecord, SeatRecord, SiteRecord } from './records'
import * as v from './validate'

/**
 * ReportService.GetOccupancyReport on any instance: reads, at one revision, the site, its flex
 * desks, the seats that ended in or after the period (the site's occupancy index,
 * `occupancy/<site>/<end>/<start>/<device>/<user>`, keys only, from the period's start on) and the
 * seats still open (`seats/`), and counts them (occupancy.ts).
 *
 * The index is written by the seats' own transactions beside the history record (seat-history.ts,
 * historyEnd) on the same retention lease, so it agrees with the history at every revision. It
 * exists because the history is keyed by worker: reading every worker's history of every site
 * took 5.8 s (median) for 90 days of 1,000 desks at each of three sites (docs/PERFORMANCE.md).
 * Seats that ended before the index existed (an upgrade) are not in it.
 */

/** Records read per etcd range (bounds one response's size: values are a few hundred bytes). */
const PAGE = 5_000
/** Keys read per range of the occupancy index (about 80 bytes each: 1.6 MB a response at most). */
const KEYS_PAGE = 20_000
/** The longest period one report covers, in days. */
export const MAX_REPORT_DAYS = 400

/** Options of {@link OccupancyReport}. */
export interface OccupancyReportOptions {
  etcd: Etcd3
  keys: Keys
  /** The history's retention, in seconds (FLEXSEAT_SEAT_HISTORY_RETENTION_SECONDS). */
  retentionSeconds: number
  clock: () => number
}

export class OccupancyReport {
  readonly #o: OccupancyReportOptions

  constructor(options: OccupancyReportOptions) {
    this.#o = options
  }

  /** Validates the request (INVALID_ARGUMENT naming the field), then reads and counts. */
  async report(req: GetOccupancyReportRequest): Promise<GetOccupancyReportResponse> {
    v.id(req.siteId, 'site_id')
    const fromDay = parseDate(req.from)
    if (fromDay === undefined) throw invalidArgument('from', 'must be a date YYYY-MM-DD')
    const toDay = parseDate(req.to)
    if (toDay === undefined) throw invalidArgument('to', 'must be a date YYYY-MM-DD')
    if (toDay < fromDay) throw invalidArgument('to', `must not be before from (${req.from})`)
    const { etcd, keys, clock, retentionSeconds } = this.#o
    const siteKv = await etcd.kv.range({ key: Buffer.from(keys.site(req.siteId)) })
    const site = siteKv.kvs[0]
    if (site === undefined) throw invalidArgument('site_id', `no site "${req.siteId}"`)
    const timezone = parseJson<SiteRecord>(site).timezone || 'UTC'
    let zone: LocalClock
    try {
      zone = new LocalClock(timezone)
    } catch {
      throw new RegistryError(ErrorCode.ERROR_CODE_INVALID_ARGUMENT, `site_id: the site's time zone "${timezone}" is unknown here`, { field: 'site_id' })
    }
    const now = clock()
    const oldest = now - retentionSeconds * 1_000
    if (zone.startOf(fromDay) < oldest) {
      throw invalidArgument('from', `reaches further back than the seat history's retention (${Math.floor(retentionSeconds / 86_400)} days ${Math.floor((retentionSeconds % 86_400) / 3_600)} h; kept since ${new Date(oldest).toISOString()})`)
    }
    if (toDay - fromDay + 1 > MAX_REPORT_DAYS) throw invalidArgument('to', `a report covers at most ${MAX_REPORT_DAYS} days`)
    const revision = siteKv.header.revision
    const desks = new Map<string, string>()
    await scan(etcd, keys.devices, revision, (value) => {
      const device = JSON.parse(value) as DeviceRecord
      if (device.siteId === req.siteId && device.flexHost) desks.set(device.id, device.label)
    })
    const seats: CountedSeat[] = []
    const periodStart = zone.startOf(fromDay)
    // Ended seats: the site's occupancy index from the period's start on (keys only).
    const index = keys.occupancy(req.siteId)
    await scan(etcd, index, revision, (key) => {
      const [end, start, deviceId] = key.slice(index.length).split('/')
      seats.push({ deviceId: deviceId!, start: Number(start), end: Number(end) })
    }, { from: `${index}${String(periodStart).padStart(13, '0')}`, keysOnly: true })
    // Seats still open: the seats themselves (one per seated worker).
    await scan(etcd, keys.seats, revision, (value) => {
      const seat = JSON.parse(value) as SeatRecord
      if (seat.siteId === req.siteId) seats.push({ deviceId: seat.deviceId, start: Date.parse(seat.since) })
    })
    return occupancy({ siteId: req.siteId, timezone, fromDay, toDay, now, desks, seats })
  }
}

/** Every value (with `keysOnly`: every key) under `prefix` at `revision`, from `from` on, in pages of {@link PAGE}. */
async function scan(etcd: Etcd3, prefix: string, revision: string, each: (text: string) => void, options: { from?: string; keysOnly?: boolean } = {}): Promise<void> {
  let start = Buffer.from(options.from ?? prefix)
  const end = prefixEnd(prefix)
  for (;;) {
    const res = await etcd.kv.range({ key: start, range_end: end, limit: options.keysOnly === true ? KEYS_PAGE : PAGE, revision, ...(options.keysOnly === true ? { keys_only: true } : {}) })
    for (const kv of res.kvs) each((options.keysOnly === true ? kv.key : kv.value).toString('utf8'))
    const last = res.kvs[res.kvs.length - 1]
    if (!res.more || last === undefined) return
    start = Buffer.concat([last.key, Buffer.from([0])])
  }
}
