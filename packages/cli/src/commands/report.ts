import { GetOccupancyReportResponse, type OccupancyHours } from '@flexseat/proto'
import { UsageError } from '../errors'
import { formatTable, formatTime } from '../format-table'
import type { CommandSpec } from './command'

/** Hours as the table prints them: two decimals. */
function hours(value: number): string {
  return value.toFixed(2)
}

/** `at` on the site's wall clock, e.g. "2026-12-03 10:15". */
function localTime(at: Date | undefined, timeZone: string): string {
  if (at === undefined) return '-'
  const f = new Intl.DateTimeFormat('en-CA', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
  const p = Object.fromEntries(f.formatToParts(at).map((part) => [part.type, part.value]))
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`
}

const HOURS = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}:00`)

/** The plain report: a summary, hours per day, by hour of day, per desk. */
export function formatOccupancy(r: GetOccupancyReportResponse): string {
  const branch = r.branch as OccupancyHours
  const summary = [
    `occupancy of ${r.siteId} (${r.timezone}), ${r.days[0]} to ${r.days[r.days.length - 1]}, counted until ${formatTime(r.until)}`,
    `hours seated: ${hours(branch.total)} in ${branch.seats} seats`,
    r.peakSeats === 0 ? 'peak: nobody seated' : `peak: ${r.peakSeats} seated at once, from ${localTime(r.peakAt, r.timezone)} (${formatTime(r.peakAt)})`,
    `desks not used: ${r.unusedDeviceIds.length === 0 ? 'none' : r.unusedDeviceIds.join(', ')}`,
  ].join('\n')
  const days = formatTable(['DAY', { heading: 'HOURS', align: 'right' }], r.days.map((day, i) => [day, hours(branch.perDay[i] ?? 0)]))
  const byHour = formatTable(['HOUR', { heading: 'HOURS', align: 'right' }], HOURS.map((h, i) => [h, hours(branch.byHour[i] ?? 0)]))
  const desks = formatTable(
    ['DESK', 'LABEL', { heading: 'SEATS', align: 'right' }, { heading: 'HOURS', align: 'right' }, { heading: 'BUSIEST DAY', align: 'left' }],
    r.desks.map((d) => {
      const h = d.hours as OccupancyHours
      const top = h.perDay.reduce((best, value, i) => (value > (h.perDay[best] ?? 0) ? i : best), 0)
      return [d.deviceId, d.label, String(h.seats), hours(h.total), h.total === 0 ? '' : `${r.days[top]} (${hours(h.perDay[top] ?? 0)})`]
    }),
  )
  return `${summary}\n\n${days}\n${byHour}\n${desks}`
}

/** One CSV field (RFC 4180: quoted when it holds a comma, quote or line break). */
function field(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value
}

/**
 * The report as one CSV table: a row for the branch (desk `*`) then one per desk; columns desk,
 * label, seats, hours, one per day (the date), one per hour of day (h00–h23), and the branch's
 * peak (empty on desk rows). Hours with four decimals. CRLF line ends (RFC 4180).
 */
export function occupancyCsv(r: GetOccupancyReportResponse): string {
  const n = (value: number): string => String(Math.round(value * 10_000) / 10_000)
  const header = ['desk', 'label', 'seats', 'hours', ...r.days, ...HOURS.map((_, h) => `h${String(h).padStart(2, '0')}`), 'peak_seats', 'peak_at']
  const row = (desk: string, label: string, h: OccupancyHours, peak: string[]): string[] => [desk, label, String(h.seats), n(h.total), ...h.perDay.map(n), ...h.byHour.map(n), ...peak]
  const rows = [
    header,
    row('*', r.siteId, r.branch as OccupancyHours, [String(r.peakSeats), r.peakAt === undefined ? '' : formatTime(r.peakAt)]),
    ...r.desks.map((d) => row(d.deviceId, d.label, d.hours as OccupancyHours, ['', ''])),
  ]
  return rows.map((cells) => cells.map(field).join(',')).join('\r\n') + '\r\n'
}

const occupancy: CommandSpec = {
  path: ['report', 'occupancy'],
  synopsis: '--site SITE --from YYYY-MM-DD --to YYYY-MM-DD [--csv | --json]',
  summary: 'how a branch\'s desks were used: hours per day and hour, peak, unused desks (admin)',
  details:
    'From the seat history, in the site\'s time zone (days are local calendar days, 23 or 25 hours\n' +
    'long across a change of clock). A seat still open counts up to now; a seat that began before\n' +
    '--from counts from the period\'s start. The period may reach back only as far as the registry\n' +
    'keeps the history (FLEXSEAT_SEAT_HISTORY_RETENTION_SECONDS, default 90 days).\n' +
    'Example: flexseat report occupancy --site berlin --from 2026-12-01 --to 2026-12-07 --csv',
  options: ['site', 'from', 'to', 'csv'],
  async run(context) {
    const { input } = context
    const siteId = input.string('site')
    const from = input.string('from')
    const to = input.string('to')
    for (const [name, value] of [['site', siteId], ['from', from], ['to', to]] as const) {
      if (value === undefined || value === '') throw new UsageError(`${input.command}: --${name} is required`, input.command)
    }
    if (input.flag('csv') && context.json) throw new UsageError(`${input.command}: give --csv or --json, not both`, input.command)
    const client = context.client()
    const reports = client.reports
    const response = await client.call(reports.getOccupancyReport.bind(reports), { siteId: siteId!, from: from!, to: to! }, context.signal)
    if (context.json) context.printJson(GetOccupancyReportResponse.toJSON(response))
    else if (input.flag('csv')) context.print(occupancyCsv(response))
    else context.print(formatOccupancy(response))
  },
}

/** The `report` commands (ReportService). */
export const REPORT_COMMANDS: readonly CommandSpec[] = [occupancy]
