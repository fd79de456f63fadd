/**
 * SIP engine benchmark: the same drachtio-srf application (bench/sip-engine-app.ts: REGISTER
 * answered 200, INVITE proxied with Record-Route to a sipp UAS) on the embedded engine and on
 * drachtio-server, and Kamailio (bench/kamailio/kamailio.cfg, stateless: the upper anchor), each
 * under the same sipp load, one after the other in one run:
 *
 * 1. REGISTER ladder: offered rates held STEP_SECONDS each; a step passes when < 0.5 % of calls
 *    fail and >= 90 % of the offered rate is achieved; the figure is the highest passing step.
 * 2. Proxied calls ladder (INVITE/180/200/ACK/BYE), the same rule.
 * 3. Sustained REGISTERs at --sustained-rate (default 12,000/s) for --sustained-seconds (default
 *    60): the engine's RSS every second (its value after 500,000 REGISTERs, its peak, its last),
 *    and the failures.
 * 4. Overload: --overload-seconds (default 20) of REGISTERs offered at twice the engine's best
 *    ladder step (sipp processes that keep up to 6 s of calls open), then a normal rate
 *    (--normal-rate, default 4,000/s) from fresh sipp processes for 15 s: the seconds until the
 *    normal rate is served again (the first of 3 seconds in a row with >= 95 % of it answered),
 *    the failures, and whether the engine is still the same process.
 *
 *   npm run build, then (alone on the machine: flock /work/.heavy.lock ...):
 *   npx tsx bench/sip-engine.ts [--engines embedded,drachtio-server,kamailio] [--profile]
 *
 * The embedded engine runs with the Node flags it is started with everywhere
 * (`EMBEDDED_ENGINE_NODE_FLAGS` of @flexseat/sim); `--embedded-node-args='...'` replaces them
 * (`--embedded-node-args=` alone: Node's defaults).
 *
 * drachtio-server is `DRACHTIO_SERVER_BIN`, else `drachtio` on the PATH, else
 * `../shared/drachtio/drachtio` (skipped where there is none); `--profile` runs the embedded
 * engine under `node --cpu-prof` and prints where its time went. Every process is killed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import * as dgram from 'node:dgram'
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseArgs } from 'node:util'
import { EMBEDDED_ENGINE_NODE_FLAGS, findDrachtioServer } from '@flexseat/sim'

const ROOT = path.resolve(__dirname, '..')
const DEFAULT_ENGINE_MAIN = path.join(ROOT, 'packages/sip-engine/dist/main.js')
const APP = path.join(__dirname, 'sip-engine-app.ts')
const SIPP_DIR = path.join(ROOT, 'test/fixtures/sipp')
const STEP_SECONDS = 3
/** One sipp process sends at most about this many transactions per second here. */
const PER_SIPP = 4_500

const { values: flags } = parseArgs({
  options: {
    engines: { type: 'string', default: 'embedded,drachtio-server,kamailio' },
    'sustained-rate': { type: 'string', default: '12000' },
    'sustained-seconds': { type: 'string', default: '60' },
    'overload-seconds': { type: 'string', default: '20' },
    'normal-rate': { type: 'string', default: '4000' },
    phases: { type: 'string', default: 'register,sustained,overload,calls' },
    'embedded-main': { type: 'string' },
    'embedded-node-args': { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
})
/** The embedded engine's entry point (`--embedded-main`: another build, to compare two). */
/** Node's flags for the embedded engine: those it is started with everywhere, unless `--embedded-node-args` (`=` alone: none). */
const ENGINE_NODE_ARGS = flags['embedded-node-args'] === undefined ? [...EMBEDDED_ENGINE_NODE_FLAGS] : flags['embedded-node-args'].split(' ').filter(Boolean)
const ENGINE_MAIN = path.resolve(flags['embedded-main'] ?? DEFAULT_ENGINE_MAIN)
const PHASES = new Set((flags.phases ?? '').split(','))
const SUSTAINED_RATE = Number(flags['sustained-rate'])
const SUSTAINED_SECONDS = Number(flags['sustained-seconds'])
const OVERLOAD_SECONDS = Number(flags['overload-seconds'])
const NORMAL_RATE = Number(flags['normal-rate'])
const NORMAL_SECONDS = 15

const children: ChildProcess[] = []
const groups: ChildProcess[] = []

/** Spawns a child; `group` puts it in its own process group (Kamailio forks workers) so the whole group is killed. */
function run(cmd: string, args: string[], opts: { quiet?: boolean; group?: boolean; stderr?: boolean } = {}): ChildProcess {
  const p = spawn(cmd, args, { stdio: ['ignore', opts.quiet ? 'ignore' : 'pipe', opts.stderr ? 'pipe' : 'ignore'], cwd: cmd === 'sipp' ? os.tmpdir() : ROOT, detached: opts.group === true })
  if (opts.group) groups.push(p)
  p.stdout?.resume()
  p.stderr?.resume()
  children.push(p)
  return p
}

async function freePort(): Promise<number> {
  for (;;) {
    const srv = net.createServer().listen(0, '127.0.0.1')
    await new Promise((r) => srv.once('listening', r))
    const port = (srv.address() as net.AddressInfo).port
    srv.close()
    const u = dgram.createSocket('udp4')
    const ok = await new Promise<boolean>((r) => {
      u.once('error', () => r(false))
      u.bind(port, '127.0.0.1', () => r(true))
    })
    u.close()
    if (ok) return port
  }
}

async function waitLine(p: ChildProcess, re: RegExp, ms: number, stream: 'stdout' | 'stderr' = 'stdout'): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}`)), ms)
    p[stream]!.on('data', (d: Buffer) => {
      buf += d.toString()
      const m = re.exec(buf)
      if (m) {
        clearTimeout(t)
        resolve(m[0])
      }
    })
    p.once('exit', () => reject(new Error(`process exited waiting for ${re}`)))
  })
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function ticks(pids: number[]): number {
  let sum = 0
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      sum += Number(f[11]) + Number(f[12])
    } catch {
      // process gone
    }
  }
  return sum
}

function rssMb(pids: number[]): number {
  let kb = 0
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
      kb += Number(m?.[1] ?? 0)
    } catch {
      // process gone
    }
  }
  return kb / 1024
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function childPids(pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      if (Number(stat.split(') ')[1]!.split(' ')[1]) === pid) out.push(Number(d))
    } catch {
      // gone
    }
  }
  return out
}

// --- what is measured ---------------------------------------------------------------------

/** An engine under load, with the application it runs (none for Kamailio). */
interface Target {
  name: string
  sipPort: number
  /** The engine's processes (Kamailio: its main process and workers). */
  enginePids(): number[]
  /** The application's process, when there is one. */
  appPid: number | undefined
  stop(): Promise<void>
}

type TargetKind = 'embedded' | 'drachtio-server' | 'kamailio'

async function startApp(mode: 'register' | 'proxy', controlPort: number, dest = ''): Promise<ChildProcess> {
  const p = run(process.execPath, ['--import', 'tsx', APP, mode, String(controlPort), dest])
  await waitLine(p, /ready/, 15_000)
  return p
}

async function stopProcess(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const exited = new Promise((r) => p.once('exit', r))
  p.kill(signal)
  const timer = setTimeout(() => p.kill('SIGKILL'), 3_000)
  await exited
  clearTimeout(timer)
}

let profileDir: string | undefined

async function startTarget(kind: TargetKind, mode: 'register' | 'proxy', uasPort: number): Promise<Target> {
  const sipPort = await freePort()
  if (kind === 'kamailio') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kamailio-'))
    const cfg = readFileSync(path.join(__dirname, 'kamailio/kamailio.cfg'), 'utf8')
      .replace(/__LISTEN_PORT__/g, String(sipPort))
      .replace(/__UAS_PORT__/g, String(uasPort))
      .replace(/__MPATH__/g, '/usr/lib/x86_64-linux-gnu/kamailio/modules/')
    writeFileSync(path.join(dir, 'kamailio.cfg'), cfg)
    const k = run('/usr/sbin/kamailio', ['-f', path.join(dir, 'kamailio.cfg'), '-DD', '-E', '-w', dir, '-P', path.join(dir, 'k.pid'), '-m', '256', '-M', '16'], { quiet: true, group: true })
    await pause(1_200)
    return { name: 'Kamailio', sipPort, enginePids: () => [k.pid!, ...childPids(k.pid!)], appPid: undefined, stop: async () => killGroup(k) }
  }
  const controlPort = await freePort()
  const flagsOf = ['--contact', `sip:127.0.0.1:${sipPort};transport=udp,tcp`, '--address', '127.0.0.1', '--port', String(controlPort), '--secret', 'cymru']
  let engine: ChildProcess
  if (kind === 'embedded') {
    profileDir = flags.profile ? mkdtempSync(path.join(os.tmpdir(), 'sip-engine-prof-')) : undefined
    const nodeArgs = [...ENGINE_NODE_ARGS, ...(profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])]
    engine = run(process.execPath, [...nodeArgs, ENGINE_MAIN, ...flagsOf, '--loglevel', 'error'])
    await waitLine(engine, /"event":"listening"/, 5_000)
  } else {
    // drachtio-server logs to stderr
    engine = run(drachtioBin!, [...flagsOf, '--loglevel', 'notice'], { stderr: true })
    await waitLine(engine, /Starting sofia event loop/, 5_000, 'stderr')
  }
  const app = await startApp(mode, controlPort, `sip:bench@127.0.0.1:${uasPort}`)
  return {
    name: kind === 'embedded' ? 'embedded engine' : 'drachtio-server',
    sipPort,
    enginePids: () => [engine.pid!],
    appPid: app.pid!,
    stop: async () => {
      await stopProcess(app, 'SIGKILL')
      await stopProcess(engine, 'SIGINT')
    },
  }
}

/** Per-second sipp statistics: successful and failed calls in each second. */
interface PerSecond {
  ok: number[]
  failed: number[]
}

interface SippRun {
  done: Promise<{ ok: number; failed: number; perSecond: PerSecond }>
  /** Date.now() once every sipp process was spawned. */
  startedAt: number
  kill(): void
}

/**
 * Runs a REGISTER or call scenario at `rate`/s for `calls` calls, split over enough sipp
 * processes; `-l` keeps up to `openSeconds` of calls open (overload keeps offering).
 */
async function sipp(scenario: string, target: number, rate: number, calls: number, opts: { openSeconds?: number; timeoutSeconds?: number } = {}): Promise<SippRun> {
  const n = Math.max(1, Math.ceil(rate / PER_SIPP))
  const per = Math.ceil(rate / n)
  const procs: ChildProcess[] = []
  const results: Promise<{ ok: number; failed: number; perSecond: PerSecond }>[] = []
  // ports first, so that the processes start together
  const ports: number[][] = []
  for (let i = 0; i < n; i++) ports.push([await freePort(), await freePort(), await freePort()])
  for (let i = 0; i < n; i++) {
    const statFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'bench-sipp-')), 'stat.csv')
    const [sipPort, controlPort, mediaPort] = ports[i]!
    const p = run('sipp', [
      `127.0.0.1:${target}`, '-sf', path.join(SIPP_DIR, scenario), '-i', '127.0.0.1', '-p', String(sipPort), '-t', 'u1',
      '-r', String(per), '-m', String(Math.ceil(calls / n)), '-l', String(Math.max(200, Math.round(per * (opts.openSeconds ?? 2)))),
      '-nostdin', '-recv_timeout', '4000', '-timeout', `${opts.timeoutSeconds ?? Math.ceil(calls / rate) + 10}s`, '-max_recv_loops', '5000',
      // a stateless multi-process proxy (Kamailio) may deliver a 180 after the 200: ignore such
      // strays instead of aborting the call
      '-default_behaviors', 'all,-abortunexp',
      '-buff_size', '4194304', '-cp', String(controlPort), '-mp', String(mediaPort), '-s', 'bench',
      '-trace_stat', '-stf', statFile, '-fd', '1',
    ])
    procs.push(p)
    let out = ''
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    results.push(new Promise((resolve) => p.once('exit', () => resolve({ ok: lastCount(out, 'Successful call'), failed: lastCount(out, 'Failed call'), perSecond: readStats(statFile) }))))
  }
  return {
    startedAt: Date.now(),
    done: Promise.all(results).then((all) => ({
      ok: all.reduce((a, r) => a + r.ok, 0),
      failed: all.reduce((a, r) => a + r.failed, 0),
      perSecond: sumPerSecond(all.map((r) => r.perSecond)),
    })),
    kill: () => procs.forEach((p) => p.kill('SIGINT')),
  }
}

function lastCount(screen: string, label: string): number {
  const re = new RegExp(`${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`, 'g')
  let m: RegExpExecArray | null
  let v = 0
  while ((m = re.exec(screen))) v = Number(m[1])
  return v
}

/** sipp's `-trace_stat` file: the periodic (P) successful and failed counts, one row a second. */
function readStats(file: string): PerSecond {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return { ok: [], failed: [] }
  }
  const [header, ...rows] = text.trim().split('\n')
  const columns = (header ?? '').split(';')
  const okAt = columns.indexOf('SuccessfulCall(P)')
  const failedAt = columns.indexOf('FailedCall(P)')
  const per: PerSecond = { ok: [], failed: [] }
  // the first row is the start (all zero); each later row covers one second
  for (const row of rows.slice(1)) {
    const cells = row.split(';')
    per.ok.push(Number(cells[okAt] ?? 0))
    per.failed.push(Number(cells[failedAt] ?? 0))
  }
  return per
}

function sumPerSecond(all: PerSecond[]): PerSecond {
  const length = Math.max(0, ...all.map((p) => p.ok.length))
  const sum: PerSecond = { ok: Array(length).fill(0), failed: Array(length).fill(0) }
  for (const p of all) p.ok.forEach((v, i) => (sum.ok[i]! += v))
  for (const p of all) p.failed.forEach((v, i) => (sum.failed[i]! += v))
  return sum
}

interface StepResult {
  offered: number
  achieved: number
  ok: number
  failed: number
  pass: boolean
  engineCpu: number
  engineRss: number
  appCpu: number | undefined
  appRss: number | undefined
}

async function step(target: Target, scenario: string, rate: number): Promise<StepResult> {
  const enginePids = target.enginePids()
  const e0 = ticks(enginePids)
  const a0 = target.appPid === undefined ? 0 : ticks([target.appPid])
  const s = await sipp(scenario, target.sipPort, rate, rate * STEP_SECONDS, { timeoutSeconds: STEP_SECONDS + 8 })
  const { ok, failed } = await s.done
  const secs = (Date.now() - s.startedAt) / 1000
  // less sipp's own start (about 0.1 s)
  const achieved = ok / Math.max(secs - 0.1, 0.5)
  const cpu = (t: number): number => (t / 100 / secs) * 100
  return {
    offered: rate,
    achieved,
    ok,
    failed,
    pass: ok > 0 && failed / Math.max(ok + failed, 1) < 0.005 && achieved >= 0.9 * rate,
    engineCpu: cpu(ticks(target.enginePids()) - e0),
    engineRss: rssMb(target.enginePids()),
    appCpu: target.appPid === undefined ? undefined : cpu(ticks([target.appPid]) - a0),
    appRss: target.appPid === undefined ? undefined : rssMb([target.appPid]),
  }
}

function describeStep(r: StepResult): string {
  const app = r.appCpu === undefined ? '' : `, app ${r.appCpu.toFixed(0)} % / ${r.appRss!.toFixed(0)} MiB`
  return `achieved ${r.achieved.toFixed(0)}/s, ok ${r.ok}, failed ${r.failed}; engine ${r.engineCpu.toFixed(0)} % CPU / ${r.engineRss.toFixed(0)} MiB${app}`
}

async function ladder(target: Target, label: string, scenario: string, rates: number[]): Promise<StepResult | undefined> {
  let best: StepResult | undefined
  for (const rate of rates) {
    const r = await step(target, scenario, rate)
    console.log(`  ${target.name} ${label} offered ${rate}/s: ${describeStep(r)} ${r.pass ? 'PASS' : 'FAIL'}`)
    if (!r.pass) break
    best = r
    // let retransmissions and Timer J of the step settle before the next one
    await pause(1_000)
  }
  return best
}

interface Sustained {
  rate: number
  seconds: number
  ok: number
  failed: number
  rssAt500k: number | undefined
  peakRss: number
  lastRss: number
  startRss: number
}

async function sustained(target: Target): Promise<Sustained> {
  const startRss = rssMb(target.enginePids())
  const calls = SUSTAINED_RATE * SUSTAINED_SECONDS
  const samples: { at: number; rss: number }[] = []
  const t0 = Date.now()
  const sampler = setInterval(() => samples.push({ at: (Date.now() - t0) / 1000, rss: rssMb(target.enginePids()) }), 1_000)
  const s = await sipp('uac-register-plain.xml', target.sipPort, SUSTAINED_RATE, calls, { timeoutSeconds: SUSTAINED_SECONDS + 15 })
  const { ok, failed } = await s.done
  clearInterval(sampler)
  const at500k = samples.find((x) => x.at * SUSTAINED_RATE >= 500_000)
  return { rate: SUSTAINED_RATE, seconds: SUSTAINED_SECONDS, ok, failed, rssAt500k: at500k?.rss, peakRss: Math.max(startRss, ...samples.map((x) => x.rss)), lastRss: samples.at(-1)?.rss ?? startRss, startRss }
}

interface Recovery {
  offered: number
  overloadOk: number
  overloadFailed: number
  /** Seconds after the overload until the normal rate was served again, or undefined (never). */
  recoveredAfter: number | undefined
  normalOk: number
  normalFailed: number
  perSecond: number[]
  sameProcess: boolean
  peakRss: number
}

async function overload(target: Target, best: number): Promise<Recovery> {
  const pidsBefore = target.enginePids()
  const offered = Math.round(Math.max(2 * best, NORMAL_RATE * 3))
  let peakRss = 0
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(target.enginePids()))), 1_000)
  const heavy = await sipp('uac-register-plain.xml', target.sipPort, offered, offered * OVERLOAD_SECONDS, { openSeconds: 6, timeoutSeconds: OVERLOAD_SECONDS + 30 })
  await pause(OVERLOAD_SECONDS * 1000)
  heavy.kill()
  const normal = await sipp('uac-register-plain.xml', target.sipPort, NORMAL_RATE, NORMAL_RATE * NORMAL_SECONDS, { timeoutSeconds: NORMAL_SECONDS + 10 })
  const [h, n] = await Promise.all([heavy.done, normal.done])
  clearInterval(sampler)
  // the first of three seconds in a row with >= 95 % of the normal rate answered
  const good = n.perSecond.ok.map((v) => v >= 0.95 * NORMAL_RATE)
  const first = good.findIndex((_g, i) => good[i] && good[i + 1] && good[i + 2])
  return {
    offered,
    overloadOk: h.ok,
    overloadFailed: h.failed,
    recoveredAfter: first < 0 ? undefined : first + 1,
    normalOk: n.ok,
    normalFailed: n.failed,
    perSecond: n.perSecond.ok,
    sameProcess: pidsBefore.length > 0 && alive(pidsBefore[0]!) && target.enginePids()[0] === pidsBefore[0],
    peakRss,
  }
}

async function startUas(): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort()
  // a UAS that answers indefinitely: -m 0 is unlimited
  const proc = run('sipp', ['-sf', path.join(SIPP_DIR, 'uas-invite.xml'), '-i', '127.0.0.1', '-p', String(port), '-t', 'u1', '-nostdin', '-max_recv_loops', '5000', '-cp', String(await freePort()), '-mp', String(await freePort())], { quiet: true })
  await pause(300)
  return { port, proc }
}

function summarizeProfile(dir: string): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  if (files.length === 0) return console.log('  (no profile written)')
  const prof = JSON.parse(readFileSync(path.join(dir, files[0]!), 'utf8')) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]
    samples: number[]
    timeDeltas: number[]
  }
  const byId = new Map(prof.nodes.map((n) => [n.id, n]))
  const self = new Map<string, number>()
  let total = 0
  prof.samples.forEach((id, i) => {
    const n = byId.get(id)!
    const key = `${n.callFrame.functionName || '(anonymous)'} ${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`
    const dt = prof.timeDeltas[i] ?? 0
    self.set(key, (self.get(key) ?? 0) + dt)
    total += dt
  })
  console.log(`  embedded engine CPU profile (${dir}/${files[0]}), top self time:`)
  for (const [k, v] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`    ${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`)
}

function killGroup(p: ChildProcess): void {
  try {
    process.kill(-p.pid!, 'SIGKILL')
  } catch {
    // already gone
  }
}

function killAll(): void {
  for (const g of groups) killGroup(g)
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
}

const drachtioBin = findDrachtioServer(ROOT)

interface Report {
  name: string
  register?: StepResult
  calls?: StepResult
  sustained?: Sustained
  recovery?: Recovery
}

async function benchTarget(kind: TargetKind): Promise<Report> {
  const registerRates = kind === 'kamailio' ? [5000, 10000, 15000, 20000, 30000, 45000] : [2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 18000]
  const callRates = [200, 400, 700, 1000, 1300, 1600, 2000, 2500, 3000]
  const uas = await startUas()
  const report: Report = { name: kind }

  let target = await startTarget(kind, 'register', uas.port)
  report.name = target.name
  console.log(`\n${target.name}:`)
  if (PHASES.has('register')) report.register = await ladder(target, 'REGISTER', 'uac-register-plain.xml', registerRates)
  if (PHASES.has('sustained')) {
    await pause(2_000)
    report.sustained = await sustained(target)
    const s = report.sustained
    console.log(`  ${target.name} sustained ${s.rate}/s for ${s.seconds} s: ok ${s.ok}, failed ${s.failed}; engine RSS ${s.startRss.toFixed(0)} MiB before, ${s.rssAt500k?.toFixed(0) ?? '-'} MiB after 500,000, peak ${s.peakRss.toFixed(0)}, last ${s.lastRss.toFixed(0)} MiB`)
  }
  if (PHASES.has('overload')) {
    await pause(2_000)
    report.recovery = await overload(target, report.register?.achieved ?? 4000)
    const r = report.recovery
    console.log(`  ${target.name} overload ${r.offered.toFixed(0)}/s offered for ${OVERLOAD_SECONDS} s (ok ${r.overloadOk}, failed ${r.overloadFailed}, peak RSS ${r.peakRss.toFixed(0)} MiB), then ${NORMAL_RATE}/s: ${r.recoveredAfter === undefined ? 'NOT served again' : `served again after ${r.recoveredAfter} s`} (ok ${r.normalOk}, failed ${r.normalFailed}; per second ${r.perSecond.join(' ')}); ${r.sameProcess ? 'same process' : 'PROCESS GONE'}`)
  }
  await target.stop()
  if (kind === 'embedded' && profileDir !== undefined) summarizeProfile(profileDir)

  if (PHASES.has('calls')) {
    target = await startTarget(kind, 'proxy', uas.port)
    report.calls = await ladder(target, 'proxied calls', 'uac-invite-bye.xml', callRates)
    await target.stop()
  }
  await stopProcess(uas.proc, 'SIGKILL')
  return report
}

async function main(): Promise<void> {
  const started = Date.now()
  if (!existsSync(ENGINE_MAIN)) throw new Error('build first: npm run build')
  const kinds = (flags.engines ?? '').split(',').filter(Boolean) as TargetKind[]
  console.log(`SIP engine benchmark on ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, ladder steps of ${STEP_SECONDS} s; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; embedded engine's node flags: ${ENGINE_NODE_ARGS.join(' ') || '(none)'}`)
  const reports: Report[] = []
  for (const kind of kinds) {
    if (kind === 'drachtio-server' && drachtioBin === undefined) {
      console.log('\ndrachtio-server: not found (DRACHTIO_SERVER_BIN, drachtio on the PATH, ../shared/drachtio/drachtio): skipped')
      continue
    }
    if (kind === 'kamailio' && !existsSync('/usr/sbin/kamailio')) {
      console.log('\nKamailio: not installed (apt-get install kamailio): skipped')
      continue
    }
    reports.push(await benchTarget(kind))
  }

  console.log(`\nResults (loopback, UDP, sipp on the same ${os.cpus().length} cores; a rate counts at < 0.5 % failures and >= 90 % of the offered rate):`)
  const col = (text: string, width: number): string => text.padEnd(width)
  console.log(`  ${col('', 18)}${reports.map((r) => col(r.name, 26)).join('')}`)
  const line = (label: string, cell: (r: Report) => string): void => console.log(`  ${col(label, 18)}${reports.map((r) => col(cell(r), 26)).join('')}`)
  line('REGISTER/s', (r) => (r.register ? `${r.register.achieved.toFixed(0)}/s` : 'n/a'))
  line('  engine CPU, RSS', (r) => (r.register ? `${r.register.engineCpu.toFixed(0)} %, ${r.register.engineRss.toFixed(0)} MiB` : ''))
  line('proxied calls/s', (r) => (r.calls ? `${r.calls.achieved.toFixed(0)}/s` : 'n/a'))
  line('  engine CPU, RSS', (r) => (r.calls ? `${r.calls.engineCpu.toFixed(0)} %, ${r.calls.engineRss.toFixed(0)} MiB` : ''))
  line(`RSS, ${SUSTAINED_RATE}/s`, (r) => (r.sustained ? `${r.sustained.rssAt500k?.toFixed(0) ?? '-'} MiB at 500k, peak ${r.sustained.peakRss.toFixed(0)}` : ''))
  line('  failed', (r) => (r.sustained ? `${r.sustained.failed} of ${r.sustained.ok + r.sustained.failed}` : ''))
  line('after overload', (r) => (r.recovery ? (r.recovery.recoveredAfter === undefined ? 'not recovered' : `${r.recovery.recoveredAfter} s`) : ''))
  line('  same process', (r) => (r.recovery ? String(r.recovery.sameProcess) : ''))
  console.log(`  total bench time ${((Date.now() - started) / 1000).toFixed(0)} s`)
}

main()
  .catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(() => {
    killAll()
    setTimeout(() => process.exit(), 200).unref()
  })
