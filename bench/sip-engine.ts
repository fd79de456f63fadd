/**
 * SIP engine benchmark (loopback, bounded to < 3 minutes): sustained REGISTER/s answered 200 by a
 * trivial drachtio-srf registrar, and proxied calls/s (INVITE/180/200/ACK/BYE through
 * srf.proxyRequest with Record-Route to a sipp UAS), at < 0.5 % failures, with CPU and memory of
 * the engine and the app; then the same load on Kamailio (bench/kamailio/kamailio.cfg: stateless
 * REGISTER 200 / stateless forwarding) for comparison.
 *
 *   npm run build (or npx tsc -b packages/sip-engine), then: npx tsx bench/sip-engine.ts [--profile]
 *
 * Method: a ladder of offered rates, each held for STEP_SECONDS with sipp (UDP); a step passes
 * when failed calls are < 0.5 % and the achieved rate is >= 90 % of the offered one. The figure
 * printed is the achieved rate of the highest passing step. --profile runs the engine under
 * `node --cpu-prof` and prints where its time went. Every process is killed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import * as dgram from 'node:dgram'

const ROOT = path.resolve(__dirname, '..')
const ENGINE_MAIN = path.join(ROOT, 'packages/sip-engine/dist/main.js')
const APP = path.join(__dirname, 'sip-engine-app.ts')
const SIPP_DIR = path.join(ROOT, 'test/fixtures/sipp')
const STEP_SECONDS = 3
const BUDGET_MS = 170_000
const started = Date.now()
const children: ChildProcess[] = []
const groups: ChildProcess[] = []
const profile = process.argv.includes('--profile')

interface StepResult {
  offered: number
  achieved: number
  ok: number
  failed: number
  pass: boolean
}

interface Usage {
  cpuPercent: number
  rssMb: number
  /** Per measured process (same order as given): CPU % and RSS MB. */
  perProcess: { cpuPercent: number; rssMb: number }[]
}

/** Spawns a child; `group` puts it in its own process group (Kamailio forks workers) so the whole group is killed. */
function run(cmd: string, args: string[], opts: { quiet?: boolean; group?: boolean } = {}): ChildProcess {
  const p = spawn(cmd, args, { stdio: ['ignore', opts.quiet ? 'ignore' : 'pipe', 'ignore'], cwd: cmd === 'sipp' ? os.tmpdir() : ROOT, detached: opts.group === true })
  if (opts.group) groups.push(p)
  p.stdout?.resume()
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

async function waitLine(p: ChildProcess, re: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}`)), ms)
    p.stdout!.on('data', (d: Buffer) => {
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

function childPids(pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      const ppid = Number(stat.split(') ')[1]!.split(' ')[1])
      if (ppid === pid) out.push(Number(d))
    } catch {
      // gone
    }
  }
  return out
}

/**
 * Runs one step: the offered rate split over up to 3 parallel sipp UACs (one sipp process tops
 * out around 5,000 transactions/s here); returns the summed counts and the CPU/RSS of the
 * measured processes.
 */
async function step(scenario: string, target: string, rate: number, measured: number[]): Promise<StepResult & Usage> {
  const n = rate >= 3000 ? 3 : rate >= 800 ? 2 : 1
  const per = Math.ceil(rate / n)
  const t0 = Date.now()
  const c0 = ticks(measured)
  const c0each = measured.map((pid) => ticks([pid]))
  const runs: Promise<string>[] = []
  for (let i = 0; i < n; i++) {
    const port = await freePort()
    const sipp = run('sipp', [
      target, '-sf', path.join(SIPP_DIR, scenario), '-i', '127.0.0.1', '-p', String(port), '-t', 'u1',
      '-r', String(per), '-m', String(per * STEP_SECONDS), '-l', String(Math.max(200, per * 2)),
      '-nostdin', '-recv_timeout', '4000', '-timeout', `${STEP_SECONDS + 8}s`, '-max_recv_loops', '5000',
      // a stateless multi-process proxy (Kamailio) may deliver a 180 after the 200: ignore such
      // strays instead of aborting the call
      '-default_behaviors', 'all,-abortunexp',
      '-buff_size', '4194304', '-cp', String(await freePort()), '-mp', String(await freePort()), '-s', 'bench',
    ])
    let out = ''
    sipp.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    runs.push(new Promise((r) => sipp.once('exit', () => r(out))))
  }
  const outs = await Promise.all(runs)
  const secs = (Date.now() - t0) / 1000
  const cpu = ticks(measured) - c0 // clock ticks, 100 per CPU-second
  const ok = outs.reduce((a, o) => a + lastCount(o, 'Successful call'), 0)
  const failed = outs.reduce((a, o) => a + lastCount(o, 'Failed call'), 0)
  const achieved = ok / Math.max(secs - 0.3, 0.5)
  const pass = ok > 0 && failed / Math.max(ok + failed, 1) < 0.005 && achieved >= 0.9 * rate
  const perProcess = measured.map((pid, i) => ({ cpuPercent: ((ticks([pid]) - c0each[i]!) / 100 / secs) * 100, rssMb: rssMb([pid]) }))
  return { offered: rate, achieved, ok, failed, pass, cpuPercent: (cpu / 100 / secs) * 100, rssMb: rssMb(measured), perProcess }
}

function lastCount(screen: string, label: string): number {
  const re = new RegExp(`${label}\\s*\\|\\s*\\d+\\s*\\|\\s*(\\d+)`, 'g')
  let m: RegExpExecArray | null
  let v = 0
  while ((m = re.exec(screen))) v = Number(m[1])
  return v
}

async function ladder(name: string, scenario: string, target: string, rates: number[], measured: () => number[]): Promise<(StepResult & Usage) | undefined> {
  let best: (StepResult & Usage) | undefined
  for (const rate of rates) {
    if (Date.now() - started > BUDGET_MS) {
      console.log(`  ${name}: time budget reached, stopping the ladder`)
      break
    }
    const r = await step(scenario, target, rate, measured())
    console.log(
      `  ${name} offered ${rate}/s: achieved ${r.achieved.toFixed(0)}/s, ok ${r.ok}, failed ${r.failed}, cpu ${r.cpuPercent.toFixed(0)}%, rss ${r.rssMb.toFixed(0)} MB ${r.pass ? 'PASS' : 'FAIL'}`,
    )
    if (!r.pass) break
    best = r
  }
  return best
}

async function startUas(): Promise<number> {
  const port = await freePort()
  // a UAS that answers indefinitely: -m 0 is unlimited
  run('sipp', ['-sf', path.join(SIPP_DIR, 'uas-invite.xml'), '-i', '127.0.0.1', '-p', String(port), '-t', 'u1', '-nostdin', '-max_recv_loops', '5000', '-cp', String(await freePort()), '-mp', String(await freePort())], { quiet: true })
  await new Promise((r) => setTimeout(r, 300))
  return port
}

async function startEngine(): Promise<{ proc: ChildProcess; sipPort: number; controlPort: number; profDir: string }> {
  const sipPort = await freePort()
  const controlPort = await freePort()
  const profDir = mkdtempSync(path.join(os.tmpdir(), 'sip-engine-prof-'))
  const nodeArgs = profile ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []
  const proc = run(process.execPath, [...nodeArgs, ENGINE_MAIN, '--contact', `sip:127.0.0.1:${sipPort};transport=udp,tcp`, '--address', '127.0.0.1', '--port', String(controlPort), '--loglevel', 'error'])
  await waitLine(proc, /"event":"listening"/, 5000)
  return { proc, sipPort, controlPort, profDir }
}

async function startApp(mode: string, controlPort: number, dest = ''): Promise<ChildProcess> {
  const p = run(process.execPath, ['--import', 'tsx', APP, mode, String(controlPort), dest])
  await waitLine(p, /ready/, 10000)
  return p
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
  console.log(`  engine CPU profile (${dir}/${files[0]}), top self time:`)
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

async function main(): Promise<void> {
  if (!existsSync(ENGINE_MAIN)) throw new Error('build first: npx tsc -b packages/sip-engine')
  console.log(`SIP engine benchmark on ${os.cpus().length} cores (${os.cpus()[0]?.model}), node ${process.version}, steps of ${STEP_SECONDS}s`)

  // --- engine: REGISTER
  const e1 = await startEngine()
  const reg = await startApp('register', e1.controlPort)
  const regBest = await ladder('engine REGISTER', 'uac-register-plain.xml', `127.0.0.1:${e1.sipPort}`, [2000, 4000, 6000, 8000, 10000, 12000], () => [e1.proc.pid!, reg.pid!])
  reg.kill('SIGKILL')
  e1.proc.kill('SIGINT')
  await new Promise((r) => setTimeout(r, 700))
  if (profile) summarizeProfile(e1.profDir)

  // --- engine: proxied calls
  const uas = await startUas()
  const e2 = await startEngine()
  const prox = await startApp('proxy', e2.controlPort, `sip:bench@127.0.0.1:${uas}`)
  const callBest = await ladder('engine proxied calls', 'uac-invite-bye.xml', `127.0.0.1:${e2.sipPort}`, [200, 400, 700, 1000, 1300, 1600, 2000, 2500], () => [e2.proc.pid!, prox.pid!])
  prox.kill('SIGKILL')
  e2.proc.kill('SIGINT')
  await new Promise((r) => setTimeout(r, 700))
  if (profile) summarizeProfile(e2.profDir)

  // --- Kamailio
  let kReg: (StepResult & Usage) | undefined
  let kCall: (StepResult & Usage) | undefined
  const kbin = ['/usr/sbin/kamailio', '/usr/local/sbin/kamailio'].find((p) => existsSync(p))
  if (!kbin) console.log('kamailio not installed (apt-get install kamailio): skipping the comparison')
  else {
    const kport = await freePort()
    const kuas = await startUas() // a fresh UAS: calls that failed in the engine run leave state behind
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kamailio-'))
    const cfg = readFileSync(path.join(__dirname, 'kamailio/kamailio.cfg'), 'utf8')
      .replace(/__LISTEN_PORT__/g, String(kport))
      .replace(/__UAS_PORT__/g, String(kuas))
      .replace(/__MPATH__/g, '/usr/lib/x86_64-linux-gnu/kamailio/modules/')
    writeFileSync(path.join(dir, 'kamailio.cfg'), cfg)
    const k = run(kbin, ['-f', path.join(dir, 'kamailio.cfg'), '-DD', '-E', '-w', dir, '-P', path.join(dir, 'k.pid'), '-m', '256', '-M', '16'], { quiet: true, group: true })
    await new Promise((r) => setTimeout(r, 1200))
    const kpids = (): number[] => [k.pid!, ...childPids(k.pid!)]
    kReg = await ladder('kamailio REGISTER', 'uac-register-plain.xml', `127.0.0.1:${kport}`, [5000, 10000, 15000, 20000, 30000, 45000, 60000], kpids)
    kCall = await ladder('kamailio stateless calls', 'uac-invite-bye.xml', `127.0.0.1:${kport}`, [500, 1000, 1500, 2000, 3000, 5000], kpids)
    killGroup(k)
  }

  console.log('\nResults (loopback, UDP, sipp; failures < 0.5 %):')
  const split = (r: (StepResult & Usage) | undefined): string | undefined =>
    r && r.perProcess.length === 2
      ? `engine ${r.perProcess[0]!.cpuPercent.toFixed(0)}% cpu ${r.perProcess[0]!.rssMb.toFixed(0)} MB, app ${r.perProcess[1]!.cpuPercent.toFixed(0)}% cpu ${r.perProcess[1]!.rssMb.toFixed(0)} MB`
      : undefined
  const row = (label: string, r: (StepResult & Usage) | undefined): void => {
    const parts = split(r)
    console.log(`  ${label.padEnd(34)} ${r ? `${r.achieved.toFixed(0).padStart(6)}/s  (cpu ${r.cpuPercent.toFixed(0)}%, rss ${r.rssMb.toFixed(0)} MB${parts ? `: ${parts}` : ''})` : '   n/a'}`)
  }
  row('engine + srf app REGISTER', regBest)
  row('engine + srf app proxied calls', callBest)
  row('kamailio REGISTER (stateless)', kReg)
  row('kamailio calls (stateless fwd)', kCall)
  console.log('  (CPU: % of one core over the step; RSS at the end of the step. The engine keeps completed')
  console.log('   non-INVITE transactions 32 s (Timer J), so its RSS grows with the rate.)')
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
