/**
 * SIP node benchmark: flex sign-ins through SIP across three branches on this machine (one etcd
 * cluster, a registry, an embedded SIP engine and a SIP node per branch; phones are sipp):
 *
 * - sign-in latency at the phone, from the `*51*<ext>*<pin>` INVITE to the final response
 *   (`480 Signed in as ...`), median and p99, both from the first INVITE (the 407 round trip
 *   included: what the user waits) and from the authenticated INVITE;
 * - sign-ins per second through SIP, with `--users` workers signing in concurrently. Each worker
 *   has two desks at two different branches and signs in at them in turn, one sipp call per
 *   sign-in; a dial waits until the desk's node has revoked the previous seat there (so its view
 *   knows the worker left: the dial is a takeover, not a renewal), then `--gap` ms (default 200).
 *   `--warmup N` dials more per worker first, left out of the figures (default 0: the first
 *   seconds of the processes, JIT and first calls, slow the first sign-ins several times over).
 *   Every sign-in but a row's first is thus a cross-branch takeover (the old branch revokes,
 *   tells its phone and acknowledges before Login returns); the latencies are the takeovers',
 *   and each row counts its dials by outcome (takeover, first, renewal, other);
 * - revocation at the old phone: from the old node's `seat revoked` log line, and from the new
 *   phone's authenticated INVITE, to the MESSAGE (`<ext> signed out: signed in at ...`) at the
 *   old phone (median, p99).
 *
 *   npm run build && npx tsx bench/sip-node.ts [--users 1,3,12] [--signins 40] [--gap 200] [--warmup 0] [--etcd-members 3]
 *       [--lease 5] [--leader <site>] [--cpu-prof <dir>] [--span-file <path>] [--registry-env K=V,...]
 *
 * `--cpu-prof` writes a V8 CPU profile of every SIP node and registry into the directory (at the
 * end of the run); `--span-file` makes the nodes and registries append their trace spans there
 * (FLEXSEAT_TEST_SPAN_FILE: synchronous writes, so the figures of such a run are slightly worse);
 * `--leader` chooses the registry that leads (default: whichever the election gave);
 * `--registry-env` adds environment to every registry (e.g. a setting compared old and new).
 * Each row also gives the CPU time per sign-in of the SIP nodes, the registries and the etcd
 * members (each kind summed), read from /proc before and after the row.
 *
 * Prints figures, never asserts. Everything runs on the same cores (the load generators too), so
 * the figures are those of a busy 2-core machine, not of the node alone. Every process is killed
 * at the end.
 */
import { readFileSync } from 'node:fs'
import { mkdir, readFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { User } from '@flexseat/proto'
import { TetheredProcess } from '@flexseat/sim'
import { Branches, type LogLine, Phone } from '../test/helpers/branches'
import { REPO_ROOT } from '../test/helpers/registry-cluster'
import { freePort } from '../test/helpers/sip-engine'
import { processesMentioning } from '../test/helpers/sim-run'
import { parseSippTrace, type SippTraceEntry } from '../test/helpers/sipp'
import { cpuMs, cpuProfilePreload, summary } from './stats'

const { values } = parseArgs({
  options: {
    /** Concurrent workers, one row each. */
    users: { type: 'string', default: '1,3,12' },
    /** Sign-ins per worker and row. */
    signins: { type: 'string', default: '40' },
    /** Pause between a worker's sign-ins (after the previous one's revocation), ms. */
    gap: { type: 'string', default: '200' },
    /** A worker's first sign-ins left out of the figures (the processes' first seconds: JIT, first calls). */
    warmup: { type: 'string', default: '0' },
    'etcd-members': { type: 'string', default: '3' },
    /** FLEXSEAT_CONFIRMATION_LEASE_SECONDS (default the registry's). */
    lease: { type: 'string' },
    leader: { type: 'string' },
    'cpu-prof': { type: 'string' },
    'span-file': { type: 'string' },
    'registry-env': { type: 'string' },
  },
})
const USERS = values.users.split(',').map(Number)
const SIGNINS = Number(values.signins)
const GAP_MS = Number(values.gap)
const WARMUP = Number(values.warmup)
const MAX_USERS = Math.max(...USERS)
const PIN = '2468'
const FIXTURES = join(REPO_ROOT, 'packages', 'sim', 'sipp')

let branchesRef: Branches | undefined

/** A cleanup list run at the end, whatever happens (the tap `t` of the harness). */
const teardowns: (() => void | Promise<void>)[] = []
const t = { teardown: (fn: () => void | Promise<void>) => void teardowns.push(fn) }

interface Desk {
  id: string
  siteId: string
  password: string
  domain: string
  sipPort: number
}

interface Worker {
  extension: string
  desks: [Desk, Desk]
}

async function main(): Promise<void> {
  const started = performance.now()
  const loadBefore = loadavg()[0]!
  const extraEnv: Record<string, string> = {
    ...(values['cpu-prof'] === undefined ? {} : { NODE_OPTIONS: `--require ${cpuProfilePreload(values['cpu-prof'])}` }),
    ...(values['span-file'] === undefined ? {} : { FLEXSEAT_TEST_SPAN_FILE: values['span-file'] }),
  }
  const registryEnv = Object.fromEntries((values['registry-env'] ?? '').split(',').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
  const branches = await Branches.start(t, {
    etcdMembers: Number(values['etcd-members']),
    logLevel: 'info',
    startNodes: false,
    nodeEnv: extraEnv,
    registryEnv: { ...extraEnv, ...registryEnv },
    ...(values.leader === undefined ? {} : { leader: { is: values.leader } }),
    ...(values.lease === undefined ? {} : { confirmationLeaseSeconds: Number(values.lease) }),
  })
  branchesRef = branches
  const ids = branches.branches.map((b) => b.id)
  // Worker k alternates between a desk at branch k and one at the next branch.
  const workers: Worker[] = []
  for (let k = 0; k < MAX_USERS; k += 1) {
    const extension = String(3000 + k)
    const desks = [0, 1].map((side) => {
      const branch = branches.branch(ids[(k + side) % ids.length]!)
      return { id: `bench-${k}-${side}`, siteId: branch.id, password: `bench-pw-${k}-${side}-x`, domain: branch.domain, sipPort: branch.sipPort }
    }) as [Desk, Desk]
    workers.push({ extension, desks })
  }
  await inBatches(workers.flatMap((w) => w.desks), 8, (desk, i) =>
    branches.addDevice({ id: desk.id, siteId: desk.siteId, extension: String(5000 + i), label: `bench desk ${i}`, flexHost: true, password: desk.password }).then(() => undefined),
  )
  await inBatches(workers, 8, (w, k) => branches.addWorker(User.fromPartial({ id: `bench-${k}`, extension: w.extension, displayName: `Bench ${k}`, homeSiteId: ids[0]!, roamingAllowed: true }), PIN))
  await Promise.all(ids.map((id) => branches.startNode(id)))
  const setupMs = performance.now() - started

  // Every desk registers with the same Contact port, where one sipp then answers for all of
  // them (one registration run per desk: sipp takes digest credentials per process, -au/-ap).
  const dir = join(branches.dir, 'bench')
  await mkdir(dir, { recursive: true })
  const phonePort = await freePort()
  for (const desk of workers.flatMap((w) => w.desks)) {
    const run = await sipp(dir, `register-${desk.id}`, ['phone-register.xml', `127.0.0.1:${desk.sipPort}`, '-p', String(phonePort), '-m', '1', ...deskKeys(desk), '-key', 'expires', '3600'])
    const final = run.trace.filter((m) => m.direction === 'received' && (m.status ?? 0) >= 200).at(-1)
    if (final?.status !== 200) throw new Error(`${desk.id} could not register: ${final?.status} ${final?.reason} ${run.output}`)
  }
  const phones = await Phone.answeringMachine(dir, 'bench-phones', phonePort)
  teardowns.push(() => phones.stop())

  const rows: string[] = []
  const cpuRows: string[] = []
  const pids = {
    nodes: processesMentioning('sip-node/dist/main.js', branches.sitesDir),
    registries: processesMentioning('registry/dist/main.js', branches.sitesDir),
    etcd: branches.registry.etcd.members.map((m) => m.process!.pid),
  }
  const cpu = (): number[] => Object.values(pids).map((list) => list.reduce((sum, pid) => sum + cpuMs(pid), 0))
  const leaderSite = branches.registry.instances[await branches.registry.leader()]!.siteId
  for (const users of USERS) {
    const mark = Object.fromEntries(ids.map((id) => [id, branches.nodeLogMark(id)]))
    const cpuBefore = cpu()
    const rowStart = Date.now()
    // Per worker, one sign-in after another, alternating between its two desks; each dial waits
    // until the desk's node has revoked the previous sign-in's seat there (its `seat revoked`
    // line), so its view knows the worker left and the dial is a takeover, not a renewal.
    const outcomes = (await Promise.all(workers.slice(0, users).map((w, k) => signInLoop(dir, w, k, users)))).flatMap((mine) => mine.slice(WARMUP))
    const signIns = outcomes.map((o) => o.signIn)
    const takeovers = outcomes.filter((o) => o.kind === 'takeover').map((o) => o.signIn)
    const ok = signIns.filter((s) => s.status === 480 && s.reason.startsWith('Signed in as'))
    const firstInvite = Math.min(...signIns.map((s) => s.firstInviteAt))
    const lastFinal = Math.max(...signIns.map((s) => s.finalAt))
    const perSecond = ok.length / ((lastFinal - firstInvite) / 1_000)
    const fromFirst = summary(takeovers.map((s) => s.finalAt - s.firstInviteAt))
    const fromAuth = summary(takeovers.map((s) => s.finalAt - s.authInviteAt))
    const counts = (['takeover', 'first', 'renewal', 'other'] as const).map((kind) => `${kind} ${outcomes.filter((o) => o.kind === kind).length}`).join(', ')
    const unrevoked = outcomes.filter((o) => o.kind === 'takeover' && !o.revokedSeen).length

    // Revocation: MESSAGEs at the old desks, against the old nodes' `seat revoked` lines and
    // the new desks' authenticated INVITEs.
    const messages = dedupe(phones.received().filter((m) => m.method === 'MESSAGE' && m.time >= Math.max(rowStart, firstInvite) && /signed out: signed in at/.test(m.body)))
    const revokedLogs = ids.flatMap((id) => branches.nodeLogsMatching(id, (l) => l.msg === 'seat revoked' && l['reason'] === 'moved', mark[id]))
    const fromLog: number[] = []
    const fromInvite: number[] = []
    /** MESSAGE at the old desk minus the final response at the new one: < 0 when the old desk knew first. */
    const afterFinal: number[] = []
    for (const message of messages) {
      const device = /^sip:([^@]+)@/.exec(message.uri ?? '')?.[1] ?? ''
      const extension = message.body.trim().split(' ')[0] ?? ''
      const log = latestBefore(revokedLogs.filter((l) => l['device'] === device), message.time)
      if (log !== undefined) fromLog.push(message.time - log.time)
      const worker = workers.find((w) => w.extension === extension)
      const newDesk = worker?.desks.find((d) => d.id !== device)
      const signIn = newDesk === undefined ? undefined : latestSignInBefore(signIns.filter((s) => s.device === newDesk.id), message.time)
      if (signIn !== undefined) {
        fromInvite.push(message.time - signIn.authInviteAt)
        afterFinal.push(message.time - signIn.finalAt)
      }
    }
    const revLog = summary(fromLog)
    const revInvite = summary(fromInvite)
    const beforeFinal = afterFinal.filter((d) => d <= 0).length
    rows.push(
      [
        String(users).padStart(5),
        `${takeovers.length}/${signIns.length}`.padStart(9),
        perSecond.toFixed(1).padStart(8),
        `${fromFirst.medianMs} / ${fromFirst.p99Ms}`.padStart(15),
        `${fromAuth.medianMs} / ${fromAuth.p99Ms}`.padStart(15),
        `${revLog.medianMs} / ${revLog.p99Ms} (n=${revLog.n})`.padStart(22),
        `${revInvite.medianMs} / ${revInvite.p99Ms} (n=${revInvite.n})`.padStart(22),
        `${afterFinal.length === 0 ? '-' : Math.round((100 * beforeFinal) / afterFinal.length)}%`.padStart(8),
      ].join(' '),
    )
    const cpuPer = cpu().map((after, i) => ((after - cpuBefore[i]!) / Math.max(1, ok.length)).toFixed(1))
    cpuRows.push(`${String(users).padStart(5)}  SIP nodes ${cpuPer[0]}, registries ${cpuPer[1]}, etcd members ${cpuPer[2]} ms of CPU per sign-in`)
    rows.push(`      dials: ${counts}${unrevoked === 0 ? '' : `; ${unrevoked} takeovers whose old desk's node logged no revocation within 10 s`}`)
    const failed = outcomes.filter((o) => o.kind === 'other').map((o) => o.signIn)
    if (failed.length > 0) rows.push(`      not sign-ins: ${[...new Set(failed.map((s) => `${s.status} ${s.reason}`))].slice(0, 5).join('; ')}`)
  }

  console.log(`flexseat SIP node benchmark — ${new Date().toISOString()}`)
  console.log(`3 branches (${ids.join(', ')}), etcd members ${values['etcd-members']}, ${MAX_USERS} workers x 2 desks seeded, ${SIGNINS} sign-ins per worker and row`)
  console.log(`harness start ${Math.round(branches.startup.total)} ms (engines ${Math.round(branches.startup.engines)}, etcd+registries ${Math.round(branches.startup.registries)}); with bench seed and nodes ${Math.round(setupMs)} ms`)
  console.log(`load average (1 min) ${loadBefore.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end, on ${cpus().length} cores`)
  console.log(`per worker one sign-in at a time, alternating between its desks at two branches, each after the previous one's revocation at the desk and a ${GAP_MS} ms pause: all but the first are cross-branch takeovers`)
  console.log(`(latencies: over the takeovers only; sign-ins: takeovers / dials${WARMUP > 0 ? `; each worker's first ${WARMUP} dials not counted` : ''})`)
  console.log('')
  console.log('users  sign-ins   per s  INVITE→final ms  auth→final ms  seat revoked→MESSAGE ms  new INVITE→old MESSAGE ms  old told first')
  console.log('                         median / p99     median / p99       median / p99             median / p99')
  console.log('(old told first: share of takeovers whose old desk got its MESSAGE before the new desk got its final response)')
  for (const row of rows) console.log(row)
  console.log('')
  console.log(`registry leader: ${leaderSite}; CPU per sign-in (each kind summed, from /proc):`)
  for (const row of cpuRows) console.log(row)
  console.log('')
  console.log(`memory, peak RSS (VmHWM) per process: ${memoryLine(branches.sitesDir)}`)
}

/** Peak resident memory of this run's SIP nodes, engines and registries (from /proc), in MiB. */
function memoryLine(sitesDir: string): string {
  const peak = (pid: number): number => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024
    } catch {
      return 0
    }
  }
  const group = (name: string, pids: number[]): string => `${name} ${pids.map((pid) => `${Math.round(peak(pid))}`).join('/')} MiB`
  return [
    group('SIP nodes', processesMentioning('sip-node/dist/main.js', sitesDir)),
    group('engines', processesMentioning('sip-engine/dist/main.js', '--secret')),
    group('registries', processesMentioning('registry/dist/main.js', sitesDir)),
  ].join(', ')
}

interface SignIn {
  callId: string
  device: string
  firstInviteAt: number
  authInviteAt: number
  finalAt: number
  status: number
  reason: string
}

/** A dial's outcome: a takeover (from the worker's other desk), the row's first sign-in, a renewal, or anything else. */
interface Outcome {
  kind: 'takeover' | 'first' | 'renewal' | 'other'
  signIn: SignIn
  /** For a takeover: whether the old desk's node logged its revocation. */
  revokedSeen: boolean
}

/**
 * Signs worker `k` in SIGNINS times, alternating between its desks, one sipp call each. Before
 * the next dial: the old desk's node has logged `seat revoked` for the desk (its view knows the
 * worker left, so a dial there is a sign-in, not a renewal), then a pause of GAP_MS.
 */
async function signInLoop(dir: string, w: Worker, k: number, users: number): Promise<Outcome[]> {
  const dial = `*51*${w.extension}*${PIN}`
  const outcomes: Outcome[] = []
  let seatedAt: Desk | undefined
  for (let i = 0; i < WARMUP + SIGNINS; i += 1) {
    const desk = w.desks[i % 2]!
    const old = seatedAt !== undefined && seatedAt.id !== desk.id ? seatedAt : undefined
    const mark = old === undefined ? 0 : branchesRef!.nodeLogMark(old.siteId)
    const run = await sipp(dir, `signin-${users}-${k}-${i}`, [
      'phone-dial.xml', `127.0.0.1:${desk.sipPort}`, '-s', dial, '-d', '200', '-auth_uri', `${dial}@127.0.0.1:${desk.sipPort}`,
      ...deskKeys(desk), '-key', 'extra', 'X-Bench: 1', '-m', '1', '-l', '1', '-timeout', '30s',
    ])
    const signIn = signInTimings(run.trace)[0]
    if (signIn === undefined) throw new Error(`sign-in ${i} of worker ${k} at ${desk.id}: no final response ${run.output}`)
    const signedIn = signIn.status === 480 && signIn.reason.startsWith('Signed in as')
    let revokedSeen = false
    if (signedIn && old !== undefined) {
      revokedSeen = await branchesRef!
        .waitForNodeLog(old.siteId, (l) => l.msg === 'seat revoked' && l['device'] === old.id && l['reason'] === 'moved', { since: mark, timeoutMs: 10_000 })
        .then(() => true, () => false)
    }
    const kind = signedIn ? (old === undefined ? 'first' : 'takeover') : signIn.reason === 'Seat renewed' ? 'renewal' : 'other'
    outcomes.push({ kind, signIn, revokedSeen })
    if (signedIn) seatedAt = desk
    await new Promise((resolve) => setTimeout(resolve, GAP_MS))
  }
  return outcomes
}

/** sipp arguments naming a desk and its credentials (phone-register.xml, phone-dial.xml). */
function deskKeys(desk: Desk): string[] {
  return ['-key', 'device', desk.id, '-key', 'domain', desk.domain, '-au', desk.id, '-ap', desk.password]
}

/** Per call of a sign-in trace: the INVITEs sent and the final response to the authenticated one. */
function signInTimings(trace: SippTraceEntry[]): SignIn[] {
  const calls = new Map<string, Partial<SignIn>>()
  for (const m of trace) {
    const callId = m.header('call-id')
    const call = calls.get(callId) ?? { callId }
    calls.set(callId, call)
    if (m.direction === 'sent' && m.method === 'INVITE') {
      call.firstInviteAt ??= m.time
      call.device = /sip:([^@]+)@/.exec(m.header('from'))?.[1] ?? ''
      if (m.header('cseq').startsWith('2 ')) call.authInviteAt ??= m.time
    }
    if (m.direction === 'received' && m.status !== undefined && m.status >= 200 && m.cseqMethod === 'INVITE' && m.header('cseq').startsWith('2 ')) {
      call.finalAt ??= m.time
      call.status ??= m.status
      call.reason ??= m.reason ?? ''
    }
  }
  return [...calls.values()].filter((c): c is SignIn => c.finalAt !== undefined && c.authInviteAt !== undefined && c.firstInviteAt !== undefined)
}

function dedupe(messages: SippTraceEntry[]): SippTraceEntry[] {
  const seen = new Set<string>()
  return messages.filter((m) => {
    const key = `${m.header('call-id')} ${m.header('cseq')}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

function latestBefore(lines: LogLine[], time: number): LogLine | undefined {
  let best: LogLine | undefined
  for (const line of lines) if (line.time <= time && (best === undefined || line.time > best.time)) best = line
  return best
}

function latestSignInBefore(signIns: SignIn[], time: number): SignIn | undefined {
  let best: SignIn | undefined
  for (const s of signIns) if (s.authInviteAt <= time && (best === undefined || s.authInviteAt > best.authInviteAt)) best = s
  return best
}

/** Runs one sipp UAC to its end (tethered); returns its exit code, error output and message log. */
async function sipp(dir: string, name: string, [scenario, remote, ...args]: string[]): Promise<{ code: number | null; output: string; trace: SippTraceEntry[] }> {
  const trace = join(dir, `${name}.messages.log`)
  const child = await TetheredProcess.spawn(
    'sipp',
    [remote!, '-sf', join(FIXTURES, scenario!), '-i', '127.0.0.1', '-t', 'u1', '-nostdin', '-mp', String(await freePort()), '-trace_msg', '-message_file', trace, ...(args.includes('-p') ? [] : ['-p', String(await freePort())]), ...(args.includes('-timeout') ? [] : ['-timeout', '60s']), ...args],
    { cwd: dir },
  )
  teardowns.push(() => void child.kill())
  let output = ''
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => (output = (output + chunk).slice(-3_000)))
  }
  const hold = setInterval(() => undefined, 1_000)
  const exit = await child.exited
  clearInterval(hold)
  const text = await readFile(trace, 'utf8').catch(() => '')
  return { code: exit.code, output: output.split('\n').filter((l) => /error|unexpected|aborted|failed/i.test(l)).slice(-5).join('\n') || output.slice(-500), trace: parseSippTrace(text) }
}

async function inBatches<T>(items: readonly T[], size: number, run: (item: T, index: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map((item, j) => run(item, i + j)))
}

main()
  .catch((error: unknown) => {
    console.error(error)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const teardown of teardowns.reverse()) await Promise.resolve(teardown()).catch(() => undefined)
  })
