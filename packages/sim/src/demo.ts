#!/usr/bin/env node
/**
 * `npm run demo`: plays the hot-desking story over real SIP with simulated phones (sipp) on the
 * simulation of `npm start` — the running one, or one it starts for the story and stops after:
 *
 *   desks register in the first two branches (and a lobby phone in the third, to call from); worker 1001
 *   signs in at a desk of the first branch with *51; a call from the third branch rings there;
 *   1001 signs in at a desk of the second branch; the first desk is told and no longer rings for
 *   1001; a call now rings the second desk; 1001 signs out.
 *
 * It prints a timeline with the measured delays and exits 1 if any step misbehaves (0 when all
 * went as expected, 2 on bad flags or too few sites).
 * Flags: `--sites-dir <dir>`, `--state-dir <dir>`, `--engine <engine>` as `npm start` (the engine
 * only matters for a simulation the demo starts itself).
 */
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { credentials } from '@grpc/grpc-js'
import { type SiteConfig, loadSites } from '@flexseat/config'
import { bearer, ReleaseReason, SeatServiceClient, unary } from '@flexseat/proto'
import { fetchClusterStatus } from './cluster-status'
import { type DemoDirectory, type DemoUser, readDemoDirectory } from './demo-directory'
import { chooseEngine } from './engine-choice'
import { SimError } from './errors'
import { type DialOutcome, SippPhone, type TracedMessage } from './sipp-phone'
import { TetheredProcess } from './tethered-process'

const USAGE = 'usage: flexseat-demo [--sites-dir <dir>] [--state-dir <dir>] [--engine embedded|drachtio-server]\n'

/** How long a phone may take to show a MESSAGE the story expects. */
const MESSAGE_WAIT_MS = 5_000

interface Step {
  at: number
  text: string
  ok: boolean
}

async function main(): Promise<number> {
  let values: { 'sites-dir'?: string; 'state-dir'?: string; engine?: string; help?: boolean }
  const repoRoot = resolve(__dirname, '..', '..', '..')
  try {
    values = parseArgs({ options: { 'sites-dir': { type: 'string' }, 'state-dir': { type: 'string' }, engine: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values
    chooseEngine(values.engine, repoRoot)
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}`)
    return 2
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return 0
  }
  const sitesDir = resolve(values['sites-dir'] ?? resolve(repoRoot, 'sites'))
  const stateDir = resolve(values['state-dir'] ?? resolve(repoRoot, '.state'))
  const sites = await loadSites(sitesDir)
  if (sites.length < 3) {
    process.stderr.write(`flexseat-demo: the story needs three sites (${sitesDir} has ${sites.length})\n`)
    return 2
  }

  let simulation: TetheredProcess | undefined
  const phones: SippPhone[] = []
  try {
    if (!(await running(sites[0] as SiteConfig, stateDir))) {
      process.stdout.write('no simulation is running: starting one (npm start) for the story; it stops afterwards\n')
      simulation = await startSimulation(repoRoot, sitesDir, stateDir, values.engine)
    }
    const directory = await readDemoDirectory(stateDir)
    if (directory === undefined) throw new SimError('DEMO_FAILED', `no simulated phones in ${stateDir} (start the simulation with npm start first)`)
    const token = (await readFile(resolve(stateDir, 'admin-token'), 'utf8')).trim()
    return await playStory(sites, directory, token, phones)
  } finally {
    await Promise.all(phones.map((phone) => phone.stop()))
    if (simulation !== undefined) {
      simulation.signal('SIGINT')
      await simulation.stop(20_000)
    }
  }
}

async function playStory(sites: readonly SiteConfig[], directory: DemoDirectory, token: string, phones: SippPhone[]): Promise<number> {
  const [first, second, third] = sites as [SiteConfig, SiteConfig, SiteConfig]
  const worker = directory.users.find((user) => user.roamingAllowed) as DemoUser
  const steps: Step[] = []
  const t0 = Date.now()
  const step = (at: number, ok: boolean, text: string): boolean => {
    steps.push({ at, text, ok })
    process.stdout.write(`  ${ok ? '✓' : '✗'} +${((at - t0) / 1000).toFixed(3)} s  ${text}\n`)
    return ok
  }
  process.stdout.write(`\nflexseat demo: worker ${worker.extension} (${worker.displayName}) hot-desks from ${first.name} to ${second.name}\n\n`)

  // A repeatable story: whatever seat the worker has from an earlier run is released first.
  await releaseSeat(first, token, worker)

  // The caller at the third branch is its lobby phone: an idle flex desk may call only
  // emergency numbers (site policy), a phone that hosts nobody calls anyone as itself.
  const desk = (site: SiteConfig, flexHost = true): { id: string; phone: Promise<SippPhone> } => {
    const device = directory.devices.find((d) => d.siteId === site.id && d.flexHost === flexHost)
    if (device === undefined) throw new SimError('DEMO_FAILED', `no ${flexHost ? 'flex desk' : 'plain phone'} at ${site.id} in the simulation's directory`)
    const registrar = /^sips?:(?:[^@;]*@)?([^;]+)/.exec(site.sip.contact)?.[1] ?? site.sip.contact
    return { id: device.id, phone: SippPhone.register({ deviceId: device.id, password: device.sipPassword, domain: site.sip.domain, registrar }) }
  }
  const started = Date.now()
  const [deskA, deskB, deskC] = [desk(first), desk(second), desk(third, false)]
  const [phoneA, phoneB, phoneC] = await Promise.all([deskA.phone, deskB.phone, deskC.phone])
  phones.push(phoneA, phoneB, phoneC)
  step(Date.now(), true, `phones registered with digest auth: ${deskA.id}, ${deskB.id}, ${deskC.id} (${Date.now() - started} ms)`)

  const code = `*51*${worker.extension}*${worker.pin}`
  const masked = `*51*${worker.extension}*${'•'.repeat(worker.pin.length)}`
  const signIn = async (phone: SippPhone, id: string): Promise<DialOutcome | undefined> => {
    const outcome = await phone.dial(code)
    const ok = outcome.status === 480 && outcome.reason.startsWith(`Signed in as ${worker.extension}`)
    return step(outcome.finalAt, ok, `${id} dials ${masked} → ${outcome.status} ${outcome.reason}  (${ms(outcome.finalAt - outcome.sentAt)})`) ? outcome : undefined
  }
  const told = async (phone: SippPhone, id: string, text: string, after: number, since: string): Promise<boolean> => {
    const message = await phone.waitFor((m) => isMessage(m) && m.at >= after - 1_000 && m.body.includes(text), MESSAGE_WAIT_MS)
    if (message === undefined) return step(Date.now(), false, `${id} was not told "${text}" within ${MESSAGE_WAIT_MS} ms`)
    return step(message.at, true, `${id} shows "${message.body}"  (${relative(message.at - after)} ${since})`)
  }
  const call = async (from: SippPhone, fromId: string, ringing: SippPhone, ringingId: string, silent: SippPhone, silentId: string): Promise<boolean> => {
    const before = Date.now()
    const outcome = await from.dial(worker.extension)
    const rang = (await ringing.received()).find((m) => m.startLine.startsWith('INVITE ') && m.at >= before)
    const wrong = (await silent.received()).find((m) => m.startLine.startsWith('INVITE ') && m.at >= before)
    const ok = outcome.status === 200 && rang !== undefined && wrong === undefined
    const what = rang === undefined ? `${ringingId} did not ring` : `rang ${ringingId} after ${ms(rang.at - outcome.sentAt)}`
    return step(outcome.finalAt, ok, `${fromId} calls ${worker.extension} → ${outcome.status} ${outcome.reason}; ${what}${wrong === undefined ? `, not ${silentId}` : `, and ${silentId} rang too`}`)
  }

  const inA = await signIn(phoneA, deskA.id)
  if (inA) await told(phoneA, deskA.id, `Signed in as ${worker.extension}`, inA.finalAt, 'the sign-in response')
  await call(phoneC, deskC.id, phoneA, deskA.id, phoneB, deskB.id)
  const inB = await signIn(phoneB, deskB.id)
  if (inB) await told(phoneA, deskA.id, `${worker.extension} signed out`, inB.finalAt, `${second.name}'s sign-in response`)
  await call(phoneC, deskC.id, phoneB, deskB.id, phoneA, deskA.id)
  const out = await phoneB.dial('*51')
  step(out.finalAt, out.status === 480 && out.reason.startsWith(`Signed out ${worker.extension}`), `${deskB.id} dials *51 → ${out.status} ${out.reason}  (${ms(out.finalAt - out.sentAt)})`)

  const failed = steps.filter((s) => !s.ok).length
  process.stdout.write(`\n${failed === 0 ? `every step as expected (${steps.length} steps)` : `${failed} of ${steps.length} steps misbehaved`}\n`)
  return failed === 0 ? 0 : 1
}

function isMessage(message: TracedMessage): boolean {
  return message.startLine.startsWith('MESSAGE ')
}

function ms(value: number): string {
  return `${Math.round(value)} ms`
}

/** `12 ms after` / `3 ms before`: a display text may arrive just before the dialling phone's answer. */
function relative(value: number): string {
  return value >= 0 ? `${Math.round(value)} ms after` : `${Math.round(-value)} ms before`
}

/** Whether the first site's registry answers with the state folder's admin token. */
async function running(site: SiteConfig, stateDir: string): Promise<boolean> {
  try {
    const token = (await readFile(resolve(stateDir, 'admin-token'), 'utf8')).trim()
    await fetchClusterStatus(site.registry.listen, token, { timeoutMs: 1_000 })
    return true
  } catch {
    return false
  }
}

/** Starts `npm start`'s simulation as a child and waits for its `ready` line (up to 120 s). */
async function startSimulation(repoRoot: string, sitesDir: string, stateDir: string, engine: string | undefined): Promise<TetheredProcess> {
  const args = [resolve(repoRoot, 'packages', 'sim', 'dist', 'main.js'), '--sites-dir', sitesDir, '--state-dir', stateDir, ...(engine === undefined ? [] : ['--engine', engine])]
  const child = await TetheredProcess.spawn(process.execPath, args, { cwd: repoRoot })
  child.stderr.resume()
  let output = ''
  const ready = await new Promise<boolean>((done) => {
    const timer = setTimeout(() => done(false), 120_000)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      output = (output + chunk).slice(-20_000)
      if (/│ ready$/m.test(output)) {
        clearTimeout(timer)
        done(true)
      }
    })
    void child.exited.then(() => {
      clearTimeout(timer)
      done(false)
    })
  })
  if (!ready) {
    await child.stop(5_000)
    throw new SimError('DEMO_FAILED', `the simulation did not start:\n${output.split('\n').slice(-15).join('\n')}`)
  }
  child.stdout.resume()
  return child
}

async function releaseSeat(site: SiteConfig, token: string, worker: DemoUser): Promise<void> {
  const client = new SeatServiceClient(site.registry.listen, credentials.createInsecure())
  try {
    await unary(
      client.logout.bind(client),
      { requestId: randomUUID(), target: { $case: 'userId', value: worker.id }, reason: ReleaseReason.RELEASE_REASON_ADMIN },
      { metadata: bearer(token), timeoutMs: 5_000 },
    )
  } finally {
    client.close()
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`flexseat-demo: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  },
)
