// One branch end to end: a real registry (one instance on a one-member etcd), the embedded SIP
// engine, the SIP node as production runs it (`node packages/sip-node/dist/main.js`), and sipp
// phones. Covers the registrar (digest, wrong password, unknown device), feature codes (wrong PIN,
// not a flex desk, malformed, sign-in with the phone's display text) and a call to the seated
// worker's extension ringing the desk phone. Multi-branch behaviour is test/integration/branch-*.
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { unary } from '@flexseat/proto'
import { eventually, REPO_ROOT, RegistryCluster, worker } from '../helpers/registry-cluster'
import { freePort, kill, startEngine, waitFor, type EngineHandle, type TestLike } from '../helpers/sip-engine'
import { runSipp, startSipp } from '../helpers/sipp'

t.setTimeout(120_000)

const SIP_NODE_MAIN = join(REPO_ROOT, 'packages', 'sip-node', 'dist', 'main.js')
const DOMAIN = 'amsterdam.flexseat.test'
// Distinctive, so that the logs can be searched for them.
const PIN = '73190462'
const FLEX = { id: 'ams-flex-7', extension: '2701', password: 'Flex7-desk-pw!' }
const PLAIN = { id: 'ams-plain-8', extension: '2802', password: 'Plain8-desk-pw!' }

interface NodeLog {
  msg: string
  [field: string]: unknown
}

/** Starts the SIP node for amsterdam against the cluster and the engine; killed at teardown. */
async function startNode(t: { teardown(fn: () => unknown): void }, cluster: RegistryCluster, engine: EngineHandle) {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_') && !name.startsWith('OTEL_')))
  const proc = spawn(process.execPath, [SIP_NODE_MAIN, '--site', 'amsterdam', '--sites-dir', join(REPO_ROOT, 'sites')], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...inherited,
      FLEXSEAT_REGISTRY_ADDRESSES: cluster.instances[0]!.address,
      FLEXSEAT_SIP_NODE_TOKEN: cluster.tokens['sip-node'],
      FLEXSEAT_DRACHTIO_ADDRESS: `127.0.0.1:${engine.controlPort}`,
      FLEXSEAT_DRACHTIO_SECRET: engine.secret,
      FLEXSEAT_TRUNK_SECRET: 'single-branch-trunk-secret',
      FLEXSEAT_LOG_LEVEL: 'debug',
    },
  })
  t.teardown(() => kill(proc))
  const raw: string[] = []
  const logs: NodeLog[] = []
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    raw.push(line)
    try {
      logs.push(JSON.parse(line) as NodeLog)
    } catch {
      // not JSON: kept in raw
    }
  })
  createInterface({ input: proc.stderr! }).on('line', (line) => raw.push(line))
  const waitForLog = async (test: (line: NodeLog) => boolean, what: string, ms = 10_000): Promise<NodeLog> => {
    let found: NodeLog | undefined
    await waitFor(() => {
      if (proc.exitCode !== null) throw new Error(`sip node exited (${proc.exitCode}): ${raw.slice(-20).join('\n')}`)
      found = logs.find(test)
      return found !== undefined
    }, ms, what).catch((error: Error) => {
      throw new Error(`${error.message}; last node logs:\n${raw.slice(-30).join('\n')}`)
    })
    return found!
  }
  return { proc, raw, logs, waitForLog }
}

/** The final response (not 100/407) of a sipp message log. */
async function finalResponse(file: string): Promise<{ status: number; reason: string }> {
  const text = (await readFile(file, 'utf8')).replace(/\r/g, '')
  const finals = [...text.matchAll(/^SIP\/2\.0 (\d{3}) (.*)$/gm)].map((m) => ({ status: Number(m[1]), reason: m[2]!.trim() })).filter((r) => r.status >= 300 && r.status !== 407)
  if (finals.length === 0) throw new Error(`no final response in ${file}`)
  return finals[finals.length - 1]!
}

t.test('a branch: registrar, feature codes, a call to a seated worker', async (t) => {
  const keepAlive = setInterval(() => undefined, 1_000)
  const cluster = await RegistryCluster.start({ instances: 1, etcdMembers: 1, sites: ['amsterdam'] }).catch((error: unknown) => {
    clearInterval(keepAlive)
    throw error
  })
  t.teardown(async () => {
    await cluster.stop()
    clearInterval(keepAlive)
  })
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-sip-node-branch-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))

  const { directory } = cluster.clients(0)
  const admin = { metadata: cluster.metadata('admin') }
  // The registry creates its own site in the directory once it leads.
  await eventually('amsterdam in the directory', async () => (await unary(directory.getSite.bind(directory), { siteId: 'amsterdam' }, admin)).site?.sipDomain === DOMAIN)
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('1001', { id: 'ada', displayName: 'Ada Lovelace' }), pin: PIN }, admin)
  for (const [d, flexHost] of [
    [FLEX, true],
    [PLAIN, false],
  ] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id: d.id, siteId: 'amsterdam', extension: d.extension, label: `desk ${d.extension}`, model: 'sipp', flexHost, revision: '0', sipPassword: d.password } }, admin)
  }

  const engine = await startEngine(t)
  const node = await startNode(t, cluster, engine)
  await node.waitForLog((l) => l.msg === 'sip node ready', 'sip node ready', 20_000)
  const remote = `127.0.0.1:${engine.sipPort}`

  // The flex desk's phone: registers from its port (the node sends to where a REGISTER came
  // from), then a second sipp answers MESSAGEs and calls on that same port.
  const phoneLog = join(dir, 'flex-phone.log')
  const phone = { port: await freePort() }
  // The answering sipp lives as long as the whole test, not the subtest that starts it.
  const whole = t

  let run = 0
  // sipp's digest `uri` defaults to sip:<remote>, not the Request-URI (-auth_uri, which sipp prefixes with sip:, fixes that); the
  // node insists on the Request-URI, as RFC 2617 §3.2.2.5 asks.
  const dial = async (t: TestLike & { equal(...args: unknown[]): unknown }, device: { id: string; password: string }, number: string) => {
    const file = join(dir, `dial-${++run}.log`)
    const r = await runSipp(t, { scenario: 'node-dial-code.xml', transport: 'udp', remote, args: ['-s', number, '-key', 'device', device.id, '-au', device.id, '-ap', device.password, '-auth_uri', `${number}@${remote}`, '-trace_msg', '-message_file', file] })
    t.equal(r.code, 0, `sipp dialled ${/^[0-9]+$/.test(number) ? number : 'a feature code'}`, { stderr: r.stderr })
    return finalResponse(file)
  }

  await t.test('REGISTER: 401, then 200 with digest; wrong password and unknown device get 403', async (t) => {
    const registered = await runSipp(t, {
      scenario: 'node-register.xml',
      transport: 'udp',
      remote,
      port: phone.port,
      args: ['-s', FLEX.id, '-au', FLEX.id, '-ap', FLEX.password, '-key', 'contact_port', String(phone.port), '-key', 'expires', '300'],
    })
    t.equal(registered.code, 0, 'challenged, then registered', { stderr: registered.stderr })
    await startSipp(whole, { scenario: 'node-phone.xml', transport: 'udp', port: phone.port, calls: 100, timeoutSec: 110, args: ['-trace_msg', '-message_file', phoneLog] })
    const line = await node.waitForLog((l) => l.msg === 'phone registered' && l['device'] === FLEX.id, 'phone registered')
    t.match(line, { device: FLEX.id, contact: `sip:${FLEX.id}@127.0.0.1:${phone.port}`, expires: 300 })

    const byExtension = await runSipp(t, { scenario: 'node-register.xml', transport: 'udp', remote, args: ['-s', PLAIN.extension, '-au', PLAIN.id, '-ap', PLAIN.password, '-key', 'contact_port', '5999', '-key', 'expires', '300'] })
    t.equal(byExtension.code, 0, "a phone may register its own extension as AOR", { stderr: byExtension.stderr })

    const wrong = await runSipp(t, { scenario: 'node-register-refused.xml', transport: 'udp', remote, args: ['-s', PLAIN.id, '-au', PLAIN.id, '-ap', 'not-the-password'] })
    t.equal(wrong.code, 0, 'wrong password: 403 after the challenge', { stderr: wrong.stderr })
    const unknown = await runSipp(t, { scenario: 'node-register-refused.xml', transport: 'udp', remote, args: ['-s', 'no-such-desk', '-au', 'no-such-desk', '-ap', 'whatever-pw'] })
    t.equal(unknown.code, 0, 'unknown device: the same 403', { stderr: unknown.stderr })
    const other = await runSipp(t, { scenario: 'node-register-refused.xml', transport: 'udp', remote, args: ['-s', FLEX.id, '-au', PLAIN.id, '-ap', PLAIN.password] })
    t.equal(other.code, 0, "another device's AOR: 403", { stderr: other.stderr })
  })

  await t.test('feature codes', async (t) => {
    t.same(await dial(t, FLEX, '*51*1001*00000000'), { status: 403, reason: 'Wrong PIN - 4 tries left' }, 'wrong PIN')
    t.same(await dial(t, PLAIN, `*51*1001*${PIN}`), { status: 403, reason: 'Not a flex desk' }, 'not a flex desk')
    t.same(await dial(t, FLEX, '*51*1001'), { status: 484, reason: 'Dial *51*extension*PIN' }, 'malformed')
    t.same(await dial(t, FLEX, `*51*1009*${PIN}`), { status: 404, reason: 'Unknown extension 1009' }, 'unknown extension')
    t.same(await dial(t, FLEX, `%2A51%2A1001%2A${PIN}`), { status: 480, reason: 'Signed in as 1001' }, 'signed in (with %2A escaping)')
    // The desk phone's display.
    await waitFor(async () => (await readFile(phoneLog, 'utf8').catch(() => '')).includes('Signed in as 1001 (Ada Lovelace)'), 5_000, 'the MESSAGE on the desk phone')
    const feature = node.logs.filter((l) => l.msg === 'feature code')
    t.ok(feature.some((l) => l['dialled'] === `sip:*51*1001*****@127.0.0.1:${engine.sipPort}`), 'the dialled string is logged masked', { dialled: feature.map((l) => l['dialled']) })
  })

  await t.test("a call to the seated worker's extension rings the desk phone", async (t) => {
    await node.waitForLog((l) => l.msg === 'seat active' && l['user'] === 'ada' && l['lease'] === true, 'the seat active in the view, with a valid lease', 15_000)
    const file = join(dir, 'call.log')
    const call = await runSipp(t, { scenario: 'node-call.xml', transport: 'udp', remote, args: ['-s', '1001', '-key', 'device', PLAIN.id, '-au', PLAIN.id, '-ap', PLAIN.password, '-auth_uri', `1001@${remote}`, '-trace_msg', '-message_file', file] })
    t.equal(call.code, 0, 'INVITE, 407, INVITE, 180/200, ACK, BYE through the node', { stderr: call.stderr, node: node.raw.slice(-20) })
    const received = await readFile(phoneLog, 'utf8')
    const invite = received.split(/^-{10,}.*$/m).find((m) => /^\s*INVITE /m.test(m) && m.includes('INVITE sip:'))
    t.ok(invite, 'the desk phone got the INVITE')
    t.match(invite ?? '', /P-Asserted-Identity: <sip:2802@amsterdam\.flexseat\.test>/i, "the caller's identity: the plain desk's own extension")
    t.match(node.logs.find((l) => l.msg === 'call routed'), { to: '1001', target: 'phone', destinations: [`sip:${FLEX.id}@127.0.0.1:${phone.port}`] })
    // Announced by the feature code's reply and by the seat change it caused: shown once.
    t.equal(received.split('Signed in as 1001 (Ada Lovelace)').length - 1, 1, 'the sign-in text reached the phone once')
  })

  await t.test('an idle flex desk may not call; the PIN appears in no log line', async (t) => {
    t.same(await dial(t, PLAIN, '*51'), { status: 403, reason: 'Nobody signed in here' }, '*51 at a desk nobody sits at')
    t.same(await dial(t, FLEX, '*51'), { status: 480, reason: 'Signed out 1001' }, 'signed out')
    t.same(await dial(t, FLEX, PLAIN.extension), { status: 403, reason: 'Sign in with *51 to call' }, 'idle flex desk')
    t.notOk(node.raw.some((line) => line.includes(PIN)), 'no node log line carries the PIN')
    t.notOk(node.raw.some((line) => line.includes(FLEX.password) || line.includes(cluster.tokens['sip-node'])), 'nor a password or the token')
  })

  await t.test('SIGTERM: the node releases its lease and exits 0', async (t) => {
    const exited = new Promise<number | null>((resolve) => node.proc.once('exit', (code) => resolve(code)))
    node.proc.kill('SIGTERM')
    t.equal(await exited, 0, 'exit code 0')
    t.ok(node.logs.some((l) => l.msg === 'lease released'), 'lease released')
    t.ok(node.logs.some((l) => l.msg === 'sip node stopped'), 'sip node stopped')
  })
})
