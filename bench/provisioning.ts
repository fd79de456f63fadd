/**
 * Provisioning benchmark: a seat change → the check-sync NOTIFY at the phone, and the phone's new
 * file, over the whole system on this machine (etcd, a registry, an embedded SIP engine, a SIP node
 * and a provisioning service per branch, two branches; the phones are sipp).
 *
 * One worker moves back and forth between desk A (Amsterdam, a Yealink) and desk B (Berlin, a
 * Snom) with `*51*<ext>*<pin>`, `--moves` times. For each move it measures, from the
 * authenticated INVITE of the sign-in leaving the phone (sipp's own clock):
 * - the NOTIFY (`Event: check-sync;reboot=...`) arriving at the desk signed in at (arriving);
 * - the NOTIFY arriving at the desk the worker left, at the other branch (departed);
 * and, after each NOTIFY, the time the phone takes to fetch its new file over HTTP with digest
 * (401 challenge + authenticated GET, as phones do).
 *
 *   npm run build && npx tsx bench/provisioning.ts [--moves 40]
 *
 * Prints figures, never asserts. Everything runs on the same 2 cores (sipp and the load generator
 * too). Every process is killed at the end.
 */
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { PhoneVendor } from '@flexseat/proto'
import { Branches, PIN } from '../test/helpers/branches'
import { fetchAsPhone, ProvisioningServices, setPhone } from '../test/helpers/provisioning'
import type { SippTraceEntry } from '../test/helpers/sipp'
import { summary } from './stats'

const { values } = parseArgs({ options: { moves: { type: 'string', default: '40' } } })
const MOVES = Number(values.moves)

const teardowns: (() => void | Promise<void>)[] = []
const t = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) }

function notifies(received: SippTraceEntry[]): SippTraceEntry[] {
  const seen = new Set<string>()
  return received.filter((m) => {
    if (m.method !== 'NOTIFY') return false
    const key = `${m.header('call-id')} ${m.header('cseq')}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

async function main(): Promise<void> {
  const load = loadavg()[0]!.toFixed(2)
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'], logLevel: 'info' })
  const prov = await ProvisioningServices.start(t, branches)
  const a = branches.device('ams-desk-1')
  const b = branches.device('ber-desk-1')
  await setPhone(branches, a.id, { mac: '805ec0000a01', vendor: PhoneVendor.PHONE_VENDOR_YEALINK })
  await setPhone(branches, b.id, { mac: '000413000b01', vendor: PhoneVendor.PHONE_VENDOR_SNOM })
  const phones = { a: await branches.phone('amsterdam', a.id).start(), b: await branches.phone('berlin', b.id).start() }
  const files = {
    a: () => fetchAsPhone(`${prov.url('amsterdam')}/805ec0000a01.cfg`, { username: a.id, password: a.password }),
    b: () => fetchAsPhone(`${prov.url('berlin')}/000413000b01.xml`, { username: b.id, password: b.password }),
  }
  const arriving: number[] = []
  const departed: number[] = []
  const fetches: number[] = []
  const waitNotify = async (phone: typeof phones.a, count: number): Promise<SippTraceEntry> => {
    const deadline = Date.now() + 10_000
    for (;;) {
      const all = notifies(phone.received())
      if (all.length > count) return all[count]!
      if (Date.now() > deadline) throw new Error('no NOTIFY within 10 s')
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
  for (let move = 0; move < MOVES + 2; move += 1) {
    const [to, from] = move % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)
    const seen = { to: notifies(phones[to].received()).length, from: notifies(phones[from].received()).length }
    const call = await phones[to].dial(`*51*1001*${PIN['1001']}`)
    if (call.status !== 480) throw new Error(`sign-in ${move}: ${call.status} ${call.reason}`)
    const invite = call.lastInviteAt!
    const atTo = await waitNotify(phones[to], seen.to)
    const started = performance.now()
    const file = await files[to]()
    const fetched = performance.now() - started
    if (file.status !== 200) throw new Error(`file: ${file.status}`)
    // The first move's departed desk had no seat; the first two warm up.
    const atFrom = move === 0 ? undefined : await waitNotify(phones[from], seen.from)
    if (move < 2) continue
    arriving.push(atTo.time - invite)
    if (atFrom !== undefined) departed.push(atFrom.time - invite)
    fetches.push(fetched)
  }
  const row = (what: string, s: ReturnType<typeof summary>): string => `  ${what.padEnd(58)} n=${String(s.n).padStart(3)}  median ${s.medianMs.toFixed(1).padStart(6)} ms  p99 ${s.p99Ms.toFixed(1).padStart(6)} ms`
  process.stdout.write(`provisioning benchmark: ${MOVES} moves of one worker between Amsterdam (Yealink) and Berlin (Snom); ${cpus().length} cores, load ${load} before start\n`)
  process.stdout.write(`${row('sign-in INVITE → check-sync NOTIFY at the arriving desk', summary(arriving))}\n`)
  process.stdout.write(`${row('sign-in INVITE → check-sync NOTIFY at the departed desk', summary(departed))}\n`)
  process.stdout.write(`${row('NOTIFY → new file fetched (401 + digest GET)', summary(fetches))}\n`)
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => undefined)
  })
