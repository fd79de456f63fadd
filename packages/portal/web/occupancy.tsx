// The administrators' occupancy report: a branch and a period of local days, then the hours
// seated per day and by hour of day as bar charts (SVG drawn here, nothing fetched), the peak,
// the desks nobody used, and every desk's hours. The figures are the registry's
// (ReportService.GetOccupancyReport); the page only draws them.
import { useState } from 'preact/hooks'
import { get } from './api'
import { Field, Message, type Notice, noticeOf, Section } from './components'
import { when } from './format'

interface Hours { perDay: number[]; byHour: number[]; total: number; seats: number }
export interface Occupancy { siteId: string; timezone: string; days: string[]; branch: Hours; peakSeats: number; peakAt: string | null; desks: { deviceId: string; label: string; hours: Hours }[]; unusedDeviceIds: string[]; until: string }
interface Site { id: string; name: string }

const HOURS = Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}:00`)
const hours = (value: number): string => value.toFixed(1)

/** A date `days` before today, YYYY-MM-DD (the browser's calendar: a default only). */
function daysAgo(days: number): string {
  const d = new Date(Date.now() - days * 86_400_000)
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`
}

/** A bar chart of `values` labelled `labels`: one bar each, the largest value on the scale. */
function BarChart({ id, title, labels, values, every }: { id: string; title: string; labels: string[]; values: number[]; every: number }) {
  const width = 640
  const height = 180
  const left = 40
  const bottom = 24
  const max = Math.max(1, ...values)
  const step = (width - left) / Math.max(1, values.length)
  const y = (v: number): number => (height - bottom) * (1 - v / max)
  return (
    <figure class="chart" id={id}>
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title}: at most ${hours(max)} h`} preserveAspectRatio="none">
        <line x1={left} y1={height - bottom} x2={width} y2={height - bottom} class="axis" />
        <text x={left - 4} y={10} class="tick" text-anchor="end">{hours(max)}</text>
        <text x={left - 4} y={height - bottom} class="tick" text-anchor="end">0</text>
        {values.map((v, i) => (
          <rect key={labels[i]} class="bar" x={left + i * step + step * 0.1} y={y(v)} width={step * 0.8} height={height - bottom - y(v)} data-label={labels[i]} data-hours={v}>
            <title>{`${labels[i]}: ${hours(v)} h`}</title>
          </rect>
        ))}
        {labels.map((label, i) => (i % every === 0 ? <text key={label} x={left + i * step + step / 2} y={height - 6} class="tick" text-anchor="middle">{label}</text> : null))}
      </svg>
    </figure>
  )
}

export function OccupancyReport({ sites }: { sites: Site[] }) {
  const [site, setSite] = useState('')
  const [from, setFrom] = useState(daysAgo(6))
  const [to, setTo] = useState(daysAgo(0))
  const [report, setReport] = useState<Occupancy | undefined>(undefined)
  const [notice, setNotice] = useState<Notice | undefined>(undefined)
  const [busy, setBusy] = useState(false)
  const chosen = site || sites[0]?.id || ''
  const run = async (e: Event): Promise<void> => {
    e.preventDefault()
    setBusy(true)
    setNotice(undefined)
    try {
      setReport(await get<Occupancy>(`/api/admin/reports/occupancy?${new URLSearchParams({ site: chosen, from, to }).toString()}`))
    } catch (error) {
      setReport(undefined)
      // The registry names `site_id`, `from` or `to`: mark that field.
      const n = noticeOf(error)
      setNotice(n.field === 'site_id' ? { ...n, field: 'site' } : n)
    } finally {
      setBusy(false)
    }
  }
  const siteName = (id: string): string => sites.find((s) => s.id === id)?.name ?? id
  return (
    <Section id="occupancy" title="Occupancy">
      <form onSubmit={run} class="row" aria-describedby="occupancy-message">
        <div class="field">
          <label for="occupancy-site">Branch</label>
          <select id="occupancy-site" name="site" value={chosen} onChange={(e) => setSite((e.currentTarget as HTMLSelectElement).value)}>
            {sites.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
          </select>
        </div>
        <Field id="occupancy-from" name="from" label="From" hint="YYYY-MM-DD" value={from} onInput={setFrom} notice={notice} messageId="occupancy-message" />
        <Field id="occupancy-to" name="to" label="To" hint="YYYY-MM-DD, inclusive" value={to} onInput={setTo} notice={notice} messageId="occupancy-message" />
        {/* No branch until the map has loaded: asking then would ask for no branch. */}
        <button type="submit" disabled={busy || chosen === ''}>Show</button>
      </form>
      <Message notice={notice} id="occupancy-message" />
      {report === undefined ? null : (
        <div class="report" data-site={report.siteId}>
          <p class="summary">
            {siteName(report.siteId)} ({report.timezone}), {report.days[0]} to {report.days[report.days.length - 1]}: <strong>{hours(report.branch.total)} h</strong> seated in {report.branch.seats} {report.branch.seats === 1 ? 'seat' : 'seats'}
            {' · '}
            <span class="peak">{report.peakSeats === 0 ? 'nobody seated' : `peak ${report.peakSeats} at once, from ${when(report.peakAt)}`}</span>
            {' · '}counted until {when(report.until)}
          </p>
          <BarChart id="occupancy-days" title="Hours seated per day" labels={report.days.map((d) => d.slice(5))} values={report.branch.perDay} every={Math.max(1, Math.ceil(report.days.length / 10))} />
          <BarChart id="occupancy-hours" title="Hours seated by hour of day" labels={HOURS} values={report.branch.byHour} every={3} />
          <p class="unused">Desks not used: {report.unusedDeviceIds.length === 0 ? 'none' : report.unusedDeviceIds.join(', ')}</p>
          <table>
            <caption class="visually-hidden">Hours seated per desk</caption>
            <thead>
              <tr><th scope="col">Desk</th><th scope="col">Seats</th><th scope="col">Hours</th></tr>
            </thead>
            <tbody>
              {report.desks.map((d) => (
                <tr key={d.deviceId} data-desk={d.deviceId}>
                  <th scope="row">{d.label || d.deviceId}<span class="sub">{d.deviceId}</span></th><td>{d.hours.seats}</td><td>{hours(d.hours.total)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  )
}
