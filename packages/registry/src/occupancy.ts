import type { DeskOccupancy, GetOccupancyReportResponse, OccupancyHours } from '@flexseat/proto'

/**
 * The occupancy report's arithmetic (ReportService.GetOccupancyReport), pure: from seats (start,
 * end) to hours per local day and by local hour of day, per desk and for the branch, and the
 * peak of seats held at once. Local time is the site's IANA zone through `Intl` (no hand-made
 * offsets), so days are 23 or 25 hours long across a change of clock.
 *
 * Seats are cut into UTC quarter hours: every offset of today's zones is a whole number of
 * quarter hours, so each quarter lies in one local hour of one local day. The period's quarters
 * are labelled once (labelQuarters); a seat then costs one addition per quarter it spans.
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
  perDay: Float64Array
  byHour: Float64Array
  total: number
  seats: number
}

function emptyHours(days: number): Hours {
  return { perDay: new Float64Array(days), byHour: new Float64Array(24), total: 0, seats: 0 }
}

function inHours(h: Hours): OccupancyHours {
  return { perDay: Array.from(h.perDay, (ms) => ms / HOUR_MS), byHour: Array.from(h.byHour, (ms) => ms / HOUR_MS), total: h.total / HOUR_MS, seats: h.seats }
}

/**
 * The local day (index from `fromDay`) and hour of each quarter from `grid`. The offset is asked
 * of `Intl` only where it may change: a span whose ends have the same offset and that is at most a
 * day long is taken to have that offset throughout (no zone changes its clock twice in a day);
 * other spans are halved. About 150 `Intl` calls for 90 days instead of 8,640.
 */
function labelQuarters(clock: LocalClock, grid: number, quarters: number, fromDay: number): { dayOf: Int32Array; hourOf: Int8Array } {
  const dayOf = new Int32Array(quarters)
  const hourOf = new Int8Array(quarters)
  const offsetAt = (q: number): number => clock.local(grid + q * QUARTER_MS).offsetMs
  const fill = (q0: number, q1: number, offset: number): void => {
    for (let q = q0; q < q1; q++) {
      const wall = grid + q * QUARTER_MS + offset
      const day = Math.floor(wall / 86_400_000)
      dayOf[q] = day - fromDay
      hourOf[q] = Math.floor((wall - day * 86_400_000) / HOUR_MS)
    }
  }
  const span = (q0: number, q1: number, o0: number, o1: number): void => {
    if ((o0 === o1 && q1 - q0 <= 96) || q1 - q0 === 1) return fill(q0, q1, o0)
    const mid = (q0 + q1) >> 1
    const om = offsetAt(mid)
    span(q0, mid, o0, om)
    span(mid, q1, om, o1)
  }
  if (quarters > 0) span(0, quarters, offsetAt(0), offsetAt(quarters))
  return { dayOf, hourOf }
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
  const { dayOf, hourOf } = labelQuarters(clock, grid, quarters, input.fromDay)
  const branch = emptyHours(dayCount)
  const desks = new Map<string, Hours>()
  for (const id of input.desks.keys()) desks.set(id, emptyHours(dayCount))
  const starts: number[] = []
  const ends: number[] = []
  for (const seat of input.seats) {
    const start = Math.max(seat.start, periodStart)
    const end = Math.min(seat.end ?? until, until)
    if (end <= start) continue
    let desk = desks.get(seat.deviceId)
    if (desk === undefined) desks.set(seat.deviceId, (desk = emptyHours(dayCount)))
    desk.seats++
    branch.seats++
    starts.push(start)
    ends.push(end)
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
  // A sweep over the sorted starts and ends; at the same instant ends go first: a seat that ends
  // as another begins is not "at once" with it.
  const s = Float64Array.from(starts).sort()
  const e = Float64Array.from(ends).sort()
  let current = 0
  let peak = 0
  let peakAt: number | undefined
  for (let i = 0, j = 0; i < s.length; i++) {
    while (j < e.length && e[j]! <= s[i]!) {
      j++
      current--
    }
    current++
    if (current > peak) {
      peak = current
      peakAt = s[i]
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
