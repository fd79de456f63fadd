/**
 * Web portal benchmark, over the whole system on this machine (etcd, a registry, an embedded SIP
 * engine and a SIP node per branch, two branches; the Amsterdam portal as a process; sipp phones;
 * Debian's chromium driven by playwright-core).
 *
 * The live map: one worker moves back and forth between Berlin desk 1 and desk 2 with
 * `*51*<ext>*<pin>`, `--moves` times, while an administrator's page at the Amsterdam portal is
 * open. For each move it measures, from the authenticated INVITE of the sign-in leaving the phone
 * (sipp's clock; the browser's Date.now() is the same machine's clock):
 * - the `seats` event carrying the new seat arriving on an EventSource of the page (the portal's
 *   SSE stream, fed by WatchSeats);
 * - the desk's row of the live map showing the worker (a MutationObserver on the page).
 *
 * Page loads (`--loads` each, signed in, a fresh page each time): the workers' page until it greets
 * the worker; the administrators' page until the live map lists every desk with its occupant and
 * the feed is live.
 *
 *   npm run build && npx tsx bench/portal.ts [--moves 40] [--loads 20]
 *
 * Prints figures, never asserts. Everything (sipp, chromium) runs on the same 2 cores.
 */
/// <reference lib="dom" />
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { Branches, PIN } from '../test/helpers/branches'
import { openBrowser, PortalServices, signInAdmin, signInWorker } from '../test/helpers/portal'
import { summary } from './stats'

const { values } = parseArgs({ options: { moves: { type: 'string', default: '40' }, loads: { type: 'string', default: '20' } } })
const MOVES = Number(values.moves)
const LOADS = Number(values.loads)

const teardowns: (() => void | Promise<void>)[] = []
const t = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) }

declare global {
  interface Window {
    benchSeats: { at: number; deviceId: string; extension: string }[]
    benchRows: { at: number; deviceId: string; occupant: string }[]
  }
}

async function main(): Promise<void> {
  const load = loadavg()[0]!.toFixed(2)
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'], logLevel: 'info' })
  const portals = await PortalServices.start(t, branches, { sites: ['amsterdam'], env: { FLEXSEAT_LOG_LEVEL: 'info' } })
  const url = portals.url('amsterdam')
  const browser = await openBrowser(t)
  const phones = { a: await branches.phone('berlin', 'ber-desk-1').start(), b: await branches.phone('berlin', 'ber-desk-2').start() }

  const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const admin = await adminContext.newPage()
  await signInAdmin(admin, url, branches.registry.tokens.admin)
  await admin.locator('[data-feed="live"]').waitFor()
  await admin.locator('tr[data-desk="ber-desk-2"]').waitFor()
  await admin.evaluate(() => {
    window.benchSeats = []
    window.benchRows = []
    const source = new EventSource('/api/admin/events')
    source.addEventListener('seats', (e) => {
      const at = Date.now()
      const data = JSON.parse((e as MessageEvent<string>).data) as { events: { type: string; seat: { deviceId: string; extension: string } }[] }
      for (const event of data.events) if (event.type === 'seated') window.benchSeats.push({ at, deviceId: event.seat.deviceId, extension: event.seat.extension })
    })
    new MutationObserver((records) => {
      const at = Date.now()
      for (const record of records) {
        const row = record.target as HTMLElement
        if (record.attributeName === 'data-occupant') window.benchRows.push({ at, deviceId: row.dataset['desk'] ?? '', occupant: row.dataset['occupant'] ?? '' })
      }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-occupant'] })
  })

  const toEvent: number[] = []
  const toRow: number[] = []
  for (let move = 0; move < MOVES + 2; move += 1) {
    const [phone, deviceId] = move % 2 === 0 ? [phones.a, 'ber-desk-1'] : [phones.b, 'ber-desk-2']
    const marks = await admin.evaluate(() => ({ seats: window.benchSeats.length, rows: window.benchRows.length }))
    const call = await phone.dial(`*51*1001*${PIN['1001']}`)
    if (call.status !== 480) throw new Error(`sign-in ${move}: ${call.status} ${call.reason}`)
    const invite = call.lastInviteAt!
    const seen = await admin.waitForFunction(
      ({ marks, deviceId }) => {
        const event = window.benchSeats.slice(marks.seats).find((s) => s.deviceId === deviceId && s.extension === '1001')
        const row = window.benchRows.slice(marks.rows).find((r) => r.deviceId === deviceId && r.occupant === '1001')
        return event !== undefined && row !== undefined ? { event: event.at, row: row.at } : undefined
      },
      { marks, deviceId },
      { timeout: 10_000, polling: 20 },
    )
    const at = (await seen.jsonValue())!
    if (move < 2) continue // warm-up
    toEvent.push(at.event - invite)
    toRow.push(at.row - invite)
  }

  // Page loads, signed in: a fresh page of a context that holds the session cookie.
  const workerContext = await browser.newContext({ viewport: { width: 390, height: 844 } })
  await signInWorker(await workerContext.newPage(), url, '1002', PIN['1002']!)
  const workerLoads: number[] = []
  const adminLoads: number[] = []
  const desks = branches.branches.flatMap((b) => b.devices).length
  for (let i = 0; i < LOADS + 2; i += 1) {
    const page = await workerContext.newPage()
    let started = performance.now()
    await page.goto(url)
    await page.getByRole('heading', { name: 'Hello, Alan Turing (1002)' }).waitFor()
    if (i >= 2) workerLoads.push(performance.now() - started)
    await page.close()
    const map = await adminContext.newPage()
    started = performance.now()
    await map.goto(`${url}/admin`)
    await map.waitForFunction((n) => document.querySelector('[data-feed="live"]') !== null && document.querySelectorAll('tr[data-desk]').length >= n && document.querySelector('tr[data-occupant="1001"]') !== null, desks, { polling: 'raf' })
    if (i >= 2) adminLoads.push(performance.now() - started)
    await map.close()
  }

  const row = (what: string, s: ReturnType<typeof summary>): string => `  ${what.padEnd(62)} n=${String(s.n).padStart(3)}  median ${s.medianMs.toFixed(1).padStart(6)} ms  p99 ${s.p99Ms.toFixed(1).padStart(6)} ms`
  process.stdout.write(`portal benchmark: ${MOVES} sign-ins of one worker at Berlin desks, the live map open at the Amsterdam portal; ${LOADS} loads of each page; ${cpus().length} cores, load ${load} before start\n`)
  process.stdout.write(`${row('sign-in INVITE at a phone → seats event in the browser (SSE)', summary(toEvent))}\n`)
  process.stdout.write(`${row('sign-in INVITE at a phone → the live map\'s row shows the worker', summary(toRow))}\n`)
  process.stdout.write(`${row('workers\' page load (signed in) → greeting shown', summary(workerLoads))}\n`)
  process.stdout.write(`${row(`administrators' page load → live map of ${desks} desks, feed live`, summary(adminLoads))}\n`)
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => undefined)
  })
