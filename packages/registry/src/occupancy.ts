import type { DeskOccupancy, GetOccupancyReportResponse, OccupancyHours } from '@flexseat/proto'

/**
 * The occupancy report's arithmetic (ReportService.GetOccupancyReport), pure: from seats (start,
 * end) to hours per local day and by local hour of day, per desk and for the branch, and the
 * peak of seats held at once. Local time is the site's IANA zone through `Intl` (no hand-made
 * offsets), so days are 23 or 25 hours long across a change of clock.
 *
 * Seats are cut into UTC quarter hours: every offset of today's zones is a whole number of
 * quarter hours, so each quarter lies in one local hour of one local day. The period's quarters
 * are labelled once (one `Intl` call each, ~8,640 for 90 days); a seat then costs one addition
 * per quarter it spans.
 */

const QUARTER_MS = 15 * 60_000
const HOUR_MS = 3_600_000
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

/** A calendar date `YYYY-MM-DD` as days since 1970-01-01; undefined when it is not one. */
export function parseDate(text: string): number | undefined {
  const m = DATE.exec(text)
  if (m === null) return undefined
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const ms = Date.UTC(y, mo - 1, d)
  const back = new Date(ms)
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined
  return ms / 86_400_000
}

/** Days since 1970-01-01 as `YYYY-MM-DD`. */
export function formatDate(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10)
}

/** Reads the local wall clock of instants in one IANA zone. */
export class LocalClock {
  readonly #format: Intl.DateTimeFormat

  /** Throws RangeError for a zone `Intl` does not know. */
  constructor(readonly timeZone: string) {
    this.#format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
  }

  /** The local calendar day (days since 1970-01-01) and the local hour (0–23) of `ms`. */
  local(ms: number): { day: number; hour: number; offsetMs: number } {
    const f: Record<string, number> = {}
    for (const part of this.#format.formatToParts(new Date(ms))) if (part.type !== 'literal') f[part.type] = Number(part.value)
    const wall = Date.UTC(f.year!, f.month! - 1, f.day!, f.hour!, f.minute!, f.second!)
    return { day: Math.floor(wall / 86_400_000), hour: f.hour!, offsetMs: wall - Math.floor(ms / 1_000) * 1_000 }
  }

  /**
   * The first instant of local day `day` (days since 1970-01-01): its midnight, or where a zone
   * skips midnight, the first instant that belongs to the day.
   */
  startOf(day: number): number {
    const wall = day * 86_400_000
    // The instant whose wall clock is midnight, with the offset there (tried twice: the offset at
    // the first guess may be the other side of a change).
    let t = wall - this.local(wall).offsetMs
    const second = wall - this.local(t).offsetMs
    if (second !== t) t = Math.min(t, second)
    while (this.local(t).day < day) t += QUARTER_MS
    while (this.local(t - QUARTER_MS).day >= day) t -= QUARTER_MS
    return t
  }
}

/** One seat as the report counts it. */
export interface CountedSeat {
  deviceId: string
  /** ms since epoch. */
  start: number
  /** ms since epoch; undefined while the seat lasts (counted up to `until`). */
  end?: number
}

/** What {@link occupancy} reports on. */
export interface OccupancyInput {
  siteId: string
  timezone: string
  /** First and last local day, days since 1970-01-01 (inclusive). */
  fromDay: number
  toDay: number
  /** Now, ms since epoch: open seats count up to it, and nothing after it. */
  now: number
  /** The branch's flex desks (device id → label), reported even when nobody sat at them. */
  desks: ReadonlyMap<string, string>
  seats: Iterable<CountedSeat>
}

interface Hours {
  perDay: number[]
  byHour: number[]
  total: number
  seats: number
}

function emptyHours(days: number): Hours {
  return { perDay: new Array<number>(days).fill(0), byHour: new Array<number>(24).fill(0), total: 0, seats: 0 }
}

function inHours(h: Hours): OccupancyHours {
  return { perDay: h.perDay.map((ms) => ms / HOUR_MS), byHour: h.byHour.map((ms) => ms / HOUR_MS), total: h.total / HOUR_MS, seats: h.seats }
}

/** The report over the period: see ReportService.GetOccupancyReport. Hours are summed in whole ms. */
export function occupancy(input: OccupancyInput): GetOccupancyReportResponse {
  const clock = new LocalClock(input.timezone)
  const dayCount = input.toDay - input.fromDay + 1
  const days = Array.from({ length: dayCount }, (_, i) => formatDate(input.fromDay + i))
  const periodStart = clock.startOf(input.fromDay)
  const periodEnd = clock.startOf(input.toDay + 1)
  const until = Math.max(periodStart, Math.min(input.now, periodEnd))
  // The period's quarters up to `until`, each labelled with its local day (index) and hour.
  const grid = Math.floor(periodStart / QUARTER_MS) * QUARTER_MS
  const quarters = Math.ceil((until - grid) / QUARTER_MS)
  const dayOf = new Int32Array(quarters)
  const hourOf = new Int8Array(quarters)
  for (let q = 0; q < quarters; q++) {
    const local = clock.local(grid + q * QUARTER_MS)
    dayOf[q] = local.day - input.fromDay
    hourOf[q] = local.hour
  }
  const branch = emptyHours(dayCount)
  const desks = new Map<string, Hours>()
  for (const id of input.desks.keys()) desks.set(id, emptyHours(dayCount))
  const events: Array<[number, number]> = []
  for (const seat of input.seats) {
    const start = Math.max(seat.start, periodStart)
    const end = Math.min(seat.end ?? until, until)
    if (end <= start) continue
    let desk = desks.get(seat.deviceId)
    if (desk === undefined) desks.set(seat.deviceId, (desk = emptyHours(dayCount)))
    desk.seats++
    branch.seats++
    events.push([start, 1], [end, -1])
    for (let q = Math.floor((start - grid) / QUARTER_MS); q < quarters; q++) {
      const qStart = grid + q * QUARTER_MS
      if (qStart >= end) break
      const ms = Math.min(end, qStart + QUARTER_MS) - Math.max(start, qStart)
      const d = dayOf[q]!
      // Before the period's first local midnight (a grid start not on a quarter): not counted.
      if (d < 0 || d >= dayCount) continue
      const h = hourOf[q]!
      desk.perDay[d]! += ms
      desk.byHour[h]! += ms
      desk.total += ms
      branch.perDay[d]! += ms
      branch.byHour[h]! += ms
      branch.total += ms
    }
  }
  // Ends before starts at the same instant: a seat that ends as another begins is not "at once".
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let current = 0
  let peak = 0
  let peakAt: number | undefined
  for (const [at, delta] of events) {
    current += delta
    if (current > peak) {
      peak = current
      peakAt = at
    }
  }
  const ids = [...desks.keys()].sort()
  const deskRows: DeskOccupancy[] = ids.map((deviceId) => ({ deviceId, label: input.desks.get(deviceId) ?? '', hours: inHours(desks.get(deviceId)!) }))
  return {
    siteId: input.siteId,
    timezone: input.timezone,
    days,
    branch: inHours(branch),
    peakSeats: peak,
    peakAt: peakAt === undefined ? undefined : new Date(peakAt),
    desks: deskRows,
    unusedDeviceIds: ids.filter((id) => input.desks.has(id) && desks.get(id)!.seats === 0),
    until: new Date(until),
  }
}
