/**
 * Memory of a SIP engine through what issue 22 added: RFC 4475's torture messages, calls with
 * reliable provisional responses (PRACK) and subscription dialogs (SUBSCRIBE, NOTIFY, refresh,
 * unsubscribe). Each round sends the 49 messages --torture times (each copy with its own Call-ID,
 * so none is a retransmission), --calls PRACK calls and --subscriptions subscriptions (sipp, UDP,
 * at --rate per second), then waits --settle seconds (past Timer J's 32 s and a subscription's
 * grace) and reads the engine's RSS. The engine's memory "does not move" when the settled RSS of
 * the last rounds stays within a few MiB of the first round's.
 *
 *   npm run build, then (alone on the machine: flock /work/.heavy.lock ...):
 *   npx tsx bench/sip-engine-conformance.ts [--engines embedded,drachtio-server] [--rounds 4]
 *     [--torture 20] [--calls 300] [--subscriptions 300] [--rate 60] [--settle 40]
 *
 * The application (in this process) answers the torture messages 403, sends a reliable 180 and
 * answers the call once PRACKed, and accepts subscriptions (202, NOTIFY, refresh, unsubscribe).
 * drachtio-server is found as by the tests (DRACHTIO_SERVER_BIN, PATH, ../shared/drachtio).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import * as dgram from 'node:dgram'
import { readFileSync } from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseArgs } from 'node:util'
import { EMBEDDED_ENGINE_NODE_FLAGS, findDrachtioServer } from '@flexseat/sim'
import { createSrf, type SrfApp } from '../test/helpers/srf'
import { RFC4475_MESSAGES } from '../test/fixtures/rfc4475'

const ROOT = path.resolve(__dirname, '..')
const ENGINE_MAIN = path.join(ROOT, 'packages/sip-engine/dist/main.js')
const SIPP_DIR = path.join(ROOT, 'test/fixtures/sipp')

const { values: flags } = parseArgs({
  options: {
    engines: { type: 'string', default: 'embedded,drachtio-server' },
    rounds: { type: 'string', default: '4' },
    torture: { type: 'string', default: '20' },
    calls: { type: 'string', default: '300' },
    subscriptions: { type: 'string', default: '300' },
    rate: { type: 'string', default: '60' },
    settle: { type: 'string', default: '40' },
  },
})
const ROUNDS = Number(flags.rounds)
const TORTURE = Number(flags.torture)
const CALLS = Number(flags.calls)
const SUBSCRIPTIONS = Number(flags.subscriptions)
const RATE = Number(flags.rate)
const SETTLE = Number(flags.settle)

const children: ChildProcess[] = []
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function freePort(): Promise<number> {
  for (;;) {
    const srv = net.createServer().listen(0, '127.0.0.1')
    await new Promise((r) => srv.once('listening', r))
    const port = (srv.address() as net.AddressInfo).port
    await new Promise((r) => srv.close(r))
    const u = dgram.createSocket('udp4')
    const ok = await new Promise<boolean>((r) => {
      u.once('error', () => r(false))
      u.bind(port, '127.0.0.1', () => r(true))
    })
    u.close()
    if (ok) return port
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : NaN
}

interface Engine {
  proc: ChildProcess
  sipPort: number
  controlPort: number
}

async function startEngine(kind: string): Promise<Engine> {
  const sipPort = await freePort()
  let controlPort = await freePort()
  while (controlPort === sipPort) controlPort = await freePort()
  // drachtio-server logs its ready line at info (and then every message: only the tail is kept)
  const loglevel = kind === 'drachtio-server' ? 'info' : 'error'
  const args = ['--contact', `sip:127.0.0.1:${sipPort};transport=udp,tcp`, '--address', '127.0.0.1', '--port', String(controlPort), '--secret', 'cymru', '--loglevel', loglevel]
  const bin = kind === 'drachtio-server' ? findDrachtioServer(ROOT) : process.execPath
  if (bin === undefined) throw new Error('no drachtio-server on this machine')
  const proc = spawn(bin, kind === 'drachtio-server' ? args : [...EMBEDDED_ENGINE_NODE_FLAGS, ENGINE_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(proc)
  let out = ''
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-4096)
  }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  const ready = kind === 'drachtio-server' ? 'Starting sofia event loop' : '"event":"listening"'
  for (let i = 0; !out.includes(ready); i++) {
    if (i > 400 || proc.exitCode !== null) throw new Error(`${kind} did not start (exit ${proc.exitCode}): ${out.slice(-500)}`)
    await sleep(25)
  }
  return { proc, sipPort, controlPort }
}

/** The application: 403 to torture messages, reliable 180 then 200 once PRACKed, subscriptions. */
async function startApp(engine: Engine): Promise<SrfApp> {
  const srf = createSrf()
  await new Promise<void>((resolve, reject) => {
    srf.once('connect', (err) => (err ? reject(err) : resolve()))
    srf.connect({ host: '127.0.0.1', port: engine.controlPort, secret: 'cymru' })
  })
  srf.on('error', () => undefined)
  srf.invite((req, res) => {
    if (!/100rel/i.test(req.get('Supported') ?? '')) return res.send(403, 'Delivered')
    res.send(180, { headers: { Require: '100rel' } }, null, () => {
      void srf.createUAS(req, res, { localSdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n' }).catch(() => undefined)
    })
  })
  srf.subscribe((req, res) => {
    srf
      .createUAS(req, res, { headers: { Expires: req.get('Expires') } })
      .then((dlg) => {
        dlg.on('subscribe', (r, s) => s.send(200, { headers: { Expires: r.get('Expires') } }))
        dlg.on('unsubscribe', () => void dlg.destroy().catch(() => undefined))
        return dlg.request({ method: 'NOTIFY', headers: { Event: 'dialog', 'Subscription-State': 'active;expires=60' } })
      })
      .catch(() => undefined)
  })
  for (const m of ['register', 'options', 'message', 'notify', 'info', 'publish', 'refer']) srf.use(m, [(_req, res) => res.send(403, 'Delivered')])
  return srf
}

/** One copy of the torture messages, each with its own Call-ID, from its own 127.x address. */
async function torture(engine: Engine, copy: number): Promise<void> {
  const sockets: dgram.Socket[] = []
  const conns: net.Socket[] = []
  let n = 0
  for (const m of RFC4475_MESSAGES) {
    const text = m.message.toString('latin1')
    const data = Buffer.from(text.replace(/^((?:call-id|i)[ \t]*:[ \t]*)(\S+)/im, `$1$2.c${copy}`), 'latin1')
    const address = `127.${200 + (copy % 50)}.${Math.floor(n / 200)}.${(n++ % 200) + 20}`
    const unfolded = text.slice(0, text.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ')
    const tcp = /^(?:via|v)[ \t]*:[ \t]*SIP[ \t]*\/[ \t]*2\.0[ \t]*\/[ \t]*(TCP|TLS)\b/im.test(unfolded)
    if (tcp) {
      const s = net.connect({ host: '127.0.0.1', port: engine.sipPort, localAddress: address })
      s.on('error', () => undefined)
      s.on('data', () => undefined)
      conns.push(s)
      s.once('connect', () => s.write(data))
    } else {
      const s = dgram.createSocket('udp4')
      s.on('error', () => undefined)
      s.on('message', () => undefined)
      sockets.push(s)
      await new Promise<void>((r) => s.bind(5060, address, () => r()))
      s.send(data, engine.sipPort, '127.0.0.1')
    }
  }
  await sleep(300)
  for (const s of conns) s.destroy()
  // UDP sockets stay until the engine stops retransmitting final responses (no ICMP storms)
  setTimeout(() => {
    for (const s of sockets) s.close()
  }, 33_000).unref()
}

interface SippResult {
  code: number | null
  failed: number
}

async function sipp(scenario: string, engine: Engine, calls: number): Promise<SippResult> {
  const port = await freePort()
  const mp = await freePort()
  const p = spawn('sipp', [`127.0.0.1:${engine.sipPort}`, '-sf', path.join(SIPP_DIR, scenario), '-i', '127.0.0.1', '-p', String(port), '-mp', String(mp), '-t', 'u1', '-m', String(calls), '-r', String(RATE), '-l', String(RATE * 4), '-nostdin', '-timeout', `${Math.ceil(calls / RATE) + 40}s`, '-trace_screen', '-screen_file', path.join(os.tmpdir(), `conformance-${process.pid}-${port}.screen`)], {
    stdio: ['ignore', 'ignore', 'ignore'],
    cwd: os.tmpdir(),
  })
  children.push(p)
  const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)))
  let failed = 0
  try {
    const screen = readFileSync(path.join(os.tmpdir(), `conformance-${process.pid}-${port}.screen`), 'utf8')
    failed = Number(/Failed call\s*\|\s*\d+\s*\|\s*(\d+)/.exec(screen)?.[1] ?? 0)
  } catch {
    failed = code === 0 ? 0 : -1
  }
  return { code, failed }
}

async function benchEngine(kind: string): Promise<void> {
  const engine = await startEngine(kind)
  const srf = await startApp(engine)
  const pid = engine.proc.pid!
  console.log(`\n${kind}: start RSS ${rssMiB(pid).toFixed(1)} MiB`)
  const settled: number[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    let peak = rssMiB(pid)
    const sample = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 500)
    for (let c = 0; c < TORTURE; c++) await torture(engine, round * 1000 + c)
    const [calls, subs] = await Promise.all([sipp('uac-invite-100rel.xml', engine, CALLS), sipp('uac-subscribe-dialog.xml', engine, SUBSCRIPTIONS)])
    clearInterval(sample)
    await sleep(SETTLE * 1000)
    const rss = rssMiB(pid)
    settled.push(rss)
    const alive = engine.proc.exitCode === null
    console.log(
      `  round ${round}: ${TORTURE * RFC4475_MESSAGES.length} torture messages, ${CALLS} PRACK calls (failed ${calls.failed}), ${SUBSCRIPTIONS} subscriptions (failed ${subs.failed}); ` +
        `peak ${peak.toFixed(1)} MiB, settled ${rss.toFixed(1)} MiB${alive ? '' : ' - ENGINE EXITED'}`,
    )
  }
  const first = settled[0]!
  const last = settled[settled.length - 1]!
  console.log(`  settled RSS round 1 -> ${ROUNDS}: ${first.toFixed(1)} -> ${last.toFixed(1)} MiB (${(last - first >= 0 ? '+' : '') + (last - first).toFixed(1)} MiB)`)
  srf.disconnect()
  engine.proc.kill('SIGKILL')
}

async function main(): Promise<void> {
  console.log(`sip-engine conformance memory: ${ROUNDS} rounds of ${TORTURE}x49 torture messages, ${CALLS} PRACK calls, ${SUBSCRIPTIONS} subscriptions at ${RATE}/s; settle ${SETTLE} s`)
  for (const kind of String(flags.engines).split(',')) await benchEngine(kind)
}

main()
  .catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
    setTimeout(() => process.exit(), 500).unref()
  })
