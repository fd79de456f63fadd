import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BranchClock, buildReport, ChaosError, dialRequestIds, formatFigures, formatHtml, formatText, type HistoryOp, nemesesOf, NEMESIS_NAMES, parseChaosArgs, phoneLines, runFigures } from '@flexseat/chaos'
import type { TracedMessage } from '@flexseat/sim'
import { featureRequestId } from '@flexseat/sip-node'

// The chaos runner's pure parts: what a desk phone's messages mean (phones.jsonl), the report's
// figures per phase, the command line, the fault names; and the clock step (libfaketime) on a real
// child process.

const workers = [
  { id: 'w1001', extension: '1001', pin: '1234', homeSiteId: 'amsterdam' },
  { id: 'w1002', extension: '1002', pin: '2345', homeSiteId: 'berlin' },
]

function message(at: number, startLine: string, headers: Record<string, string>, body = ''): TracedMessage {
  return { at, direction: 'received', startLine, headers: Object.entries(headers).map(([k, v]) => `${k}: ${v}`), body }
}

t.test('phone events: rings for a worker, presenting and revoked from the MESSAGEs, a suspension revokes whoever the desk presents', async (t) => {
  const received = [
    message(1_000, 'MESSAGE sip:ams-desk-1@127.0.0.1 SIP/2.0', { 'Call-ID': 'a', CSeq: '1 MESSAGE' }, 'Signed in as 1001 (Worker 1001)'),
    message(1_001, 'MESSAGE sip:ams-desk-1@127.0.0.1 SIP/2.0', { 'Call-ID': 'a', CSeq: '1 MESSAGE' }, 'Signed in as 1001 (Worker 1001)'),
    message(1_100, 'NOTIFY sip:ams-desk-1@127.0.0.1 SIP/2.0', { 'Call-ID': 'n', CSeq: '1 NOTIFY', Event: 'check-sync' }),
    message(2_000, 'INVITE sip:ams-desk-1@127.0.0.1:5070 SIP/2.0', { 'Call-ID': 'c1', CSeq: '1 INVITE', To: '<sip:1001@amsterdam.flexseat.test>' }),
    message(2_500, 'INVITE sip:ams-desk-1@127.0.0.1:5070 SIP/2.0', { 'Call-ID': 'c2', CSeq: '1 INVITE', To: '<sip:5001@amsterdam.flexseat.test>' }),
    message(3_000, 'MESSAGE sip:ams-desk-1@127.0.0.1 SIP/2.0', { 'Call-ID': 'b', CSeq: '1 MESSAGE' }, '1001 signed out: signed in at Berlin, desk-1'),
    message(4_000, 'MESSAGE sip:ams-desk-1@127.0.0.1 SIP/2.0', { 'Call-ID': 'd', CSeq: '1 MESSAGE' }, 'Signed in as 1002 (Worker 1002)'),
    message(5_000, 'MESSAGE sip:ams-desk-1@127.0.0.1 SIP/2.0', { 'Call-ID': 'e', CSeq: '1 MESSAGE' }, 'Flex sign-in suspended: branch offline'),
    message(6_000, 'MESSAGE sip:ams-desk-1@127.0.0.1 SIP/2.0', { 'Call-ID': 'f', CSeq: '1 MESSAGE' }, 'Flex sign-in suspended: branch offline'),
  ]
  const lines = phoneLines('ams-desk-1', received, workers)
  t.same(
    lines.map((l) => [l.atMs, l.event, l.userId]),
    [
      [1_000, 'presenting', 'w1001'],
      [2_000, 'ringing', 'w1001'],
      [3_000, 'revoked', 'w1001'],
      [4_000, 'presenting', 'w1002'],
      [5_000, 'revoked', 'w1002'],
    ],
    'a retransmission once; the desk\'s own extension and a NOTIFY are no seat events; a second suspension revokes nobody',
  )
  t.equal(lines.every((l) => l.deviceId === 'ams-desk-1'), true)
})

function op(partial: Partial<HistoryOp> & Pick<HistoryOp, 'id' | 'invokeMs' | 'completeMs' | 'outcome'>): HistoryOp {
  return { process: 'grpc:amsterdam', kind: 'login', userId: 'w1001', deviceId: 'amsterdam-desk-3', via: 'grpc', ...partial }
}

t.test('report: per phase the rates, the success rate and the time to the first success after the fault; violations placed in their phase', async (t) => {
  const phases = [
    { name: 'before', kind: 'before' as const, startMs: 0, endMs: 10_000 },
    { name: 'during x', kind: 'during' as const, fault: 'x', startMs: 10_000, endMs: 20_000 },
    { name: 'after x', kind: 'after' as const, fault: 'x', startMs: 20_000, endMs: 30_000 },
  ]
  const history = [
    op({ id: 'a', invokeMs: 1_000, completeMs: 1_100, outcome: 'ok' }),
    op({ id: 'b', invokeMs: 2_000, completeMs: 2_300, outcome: 'ok', via: 'sip', process: 'sip:amsterdam:desk-1' }),
    op({ id: 'c', invokeMs: 11_000, completeMs: 16_000, outcome: 'info' }),
    op({ id: 'd', invokeMs: 12_000, completeMs: 14_500, outcome: 'ok' }),
    op({ id: 'e', invokeMs: 13_000, completeMs: 13_200, outcome: 'fail', kind: 'read', deviceId: '' }),
    op({ id: 'f', invokeMs: 21_000, completeMs: 21_400, outcome: 'ok', via: 'sip' }),
    op({ id: 'g', invokeMs: 22_000, completeMs: null, outcome: 'info' }),
  ]
  const check = { violations: [{ checker: 'linearizability', message: 'boom', atMs: 12_500, ops: ['d'] }], checked: { linearizability: 6 } }
  const report = buildReport({ runDir: '/r', startedAt: 'then', options: {}, phases, faults: [{ name: 'x', startMs: 10_000, endMs: 20_000, target: 'registry:amsterdam' }], history, calls: [], check })
  const [before, during, after] = report.phases
  t.same(before!.writes, { sip: { total: 1, ok: 1, fail: 0, info: 0 }, grpc: { total: 1, ok: 1, fail: 0, info: 0 } })
  t.equal(before!.okPerSecond, 0.2)
  t.equal(during!.writeSuccess, 0.5, 'one ok of two writes')
  t.equal(during!.readSuccess, 0)
  t.equal(during!.firstSuccessMs.grpc, 4_500, 'the first ok gRPC write invoked after the start completed 4.5 s in')
  t.equal(during!.firstSuccessMs.sip, 11_400, 'the first ok SIP write after the start is the one after the fault')
  t.equal(after!.firstSuccessMs.sip, 1_400)
  t.equal(after!.firstSuccessMs.grpc, undefined, 'no ok gRPC write after the heal')
  t.same(during!.violations.map((v) => v.message), ['boom'])
  t.equal(report.totals.neverCompleted, 1)
  const text = formatText(report)
  t.match(text, /VIOLATIONS: 1/)
  t.match(text, /\[linearizability\] .* boom \(ops d\)/)
  t.match(formatHtml(report, history), /1 violation\(s\)/)
  const unchecked = buildReport({ runDir: '/r', startedAt: 'then', options: {}, phases, faults: [], history, calls: [], check: undefined, uncheckedReason: 'no checker' })
  t.match(formatText(unchecked), /NOT CHECKED: no checker/)
  // A checker that could not decide is said as such in both reports, never as "no violation" alone.
  const undecided = buildReport({ runDir: '/r', startedAt: 'then', options: {}, phases, faults: [], history, calls: [], check: { violations: [], checked: { linearizability: 9 }, unknown: [{ checker: 'linearizability', message: 'bound reached' }] } })
  t.match(formatText(undecided), /UNDECIDED \[linearizability\] bound reached/)
  t.match(formatHtml(undecided, history), /Undecided<\/strong> \(not a pass\): <code>linearizability<\/code>/)
  t.match(formatHtml(unchecked, history), /Not checked/)
  const html = formatHtml({ ...report, runDir: '<script>' }, history)
  t.notMatch(html, /<script>/, 'text is escaped in the HTML')
})

t.test('command line: defaults, branch counts, fault lists; bad values refused naming the flag', async (t) => {
  const options = parseChaosArgs([], new Date('2026-12-07T15:00:00Z'))
  if (options === 'help') throw new Error('help')
  t.same(options.branches, ['amsterdam', 'berlin', 'chicago'])
  t.equal(options.dir, join('chaos-runs', '2026-12-07T15-00-00-000Z'))
  t.equal(options.check, true)
  t.equal(options.leaseTtlSeconds, 3)
  t.equal(options.moveEtcdLeader, true, "the leading registry moves etcd's leader to its member, as in the simulation")
  const off = parseChaosArgs(['--move-etcd-leader', 'off'])
  t.equal(off !== 'help' && off.moveEtcdLeader, false)
  t.throws(() => parseChaosArgs(['--move-etcd-leader', 'yes']), { code: 'BAD_OPTION', message: /--move-etcd-leader: "yes" is not on or off/ })
  const ten = parseChaosArgs(['--branches', '10', '--faults', 'branch-cut,registry-leader-kill+wan', '--duration', '120', '--seed', '7', '--wan-delay', '15', '--leader-lease', '10'])
  if (ten === 'help') throw new Error('help')
  t.same(ten.branches, ['amsterdam', 'berlin', 'chicago', ...Array.from({ length: 7 }, (_, i) => `branch-${i + 4}`)])
  t.same(ten.faults, ['branch-cut', 'registry-leader-kill+wan'])
  t.equal(ten.durationMs, 120_000)
  t.equal(ten.seed, 7)
  t.equal(ten.wan.delayMs, 15)
  t.equal(ten.leaseTtlSeconds, 10)
  const all = parseChaosArgs(['--faults', 'all'])
  t.same(all !== 'help' && all.faults, [...NEMESIS_NAMES])
  const more = parseChaosArgs(['--faults', 'all,wan+branch-cut'])
  t.same(more !== 'help' && more.faults, [...NEMESIS_NAMES, 'wan+branch-cut'])
  t.equal(parseChaosArgs(['--help']), 'help')
  for (const [args, flag] of [
    [['--faults', 'meteor'], /unknown fault "meteor"/],
    [['--branches', '0'], /--branches/],
    [['--branches', 'Amsterdam'], /--branches/],
    [['--wan-loss', '101'], /--wan-loss/],
    [['--fault-branch', 'paris'], /--fault-branch/],
    [['--seed', 'x'], /--seed/],
    [['--leader-lease', '1'], /--leader-lease/],
    [['--frobnicate'], /frobnicate/],
  ] as const) {
    t.throws(() => parseChaosArgs(args), { name: 'ChaosError', code: 'BAD_OPTION', message: flag }, args.join(' '))
  }
  t.throws(() => nemesesOf('wan+nothing'), ChaosError)
  t.same(nemesesOf('registry-leader-kill+wan').map((n) => n.name), ['registry-leader-kill', 'wan'])
})

t.test('branch clock: a process started on it sees its wall clock stepped, its monotonic clock not', { skip: BranchClock.available() ? false : 'libfaketime is not installed' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-chaos-clock-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const clock = await BranchClock.create(join(dir, 'clock'))
  // The child prints its Date.now() and its monotonic time every 100 ms; the skew is its wall
  // clock against ours when the line arrives (a pipe's delay, so a little below 0 without a step).
  const script = 'setInterval(()=>console.log(JSON.stringify({now:Date.now(),mono:performance.now()})),100)'
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, ...clock.env }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => child.kill('SIGKILL'))
  const readings: { skew: number; mono: number }[] = []
  child.stdout.setEncoding('utf8')
  let rest = ''
  child.stdout.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n')
    rest = lines.pop() ?? ''
    for (const line of lines) {
      if (line.trim() === '') continue
      const { now, mono } = JSON.parse(line) as { now: number; mono: number }
      readings.push({ skew: now - Date.now(), mono })
    }
  })
  const until = async (test: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 10_000
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`${what}: not within 10 s (${JSON.stringify(readings.slice(-3))})`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  await until(() => readings.length >= 2, 'first readings')
  t.ok(Math.abs(readings.at(-1)!.skew) < 3_000, `offset 0: the child's clock is the real one (skew ${readings.at(-1)!.skew} ms)`)
  await clock.step(30)
  t.equal(clock.offsetSeconds, 30)
  await until(() => readings.at(-1)!.skew > 25_000, 'the step to +30 s')
  const stepped = readings.findIndex((r) => r.skew > 25_000)
  t.ok(readings[stepped]!.mono - readings[stepped - 1]!.mono < 5_000, 'the monotonic clock did not jump with it')
  await clock.step(0)
  await until(() => Math.abs(readings.at(-1)!.skew) < 3_000, 'the step back')
})

t.test('figures: sign-in at the phone, revocation at the desk left, a cut branch suspending and its workers taken over', async (t) => {
  const history = [
    op({ id: 'l1', via: 'sip', process: 'sip:amsterdam:desk-1', deviceId: 'amsterdam-desk-1', invokeMs: 1_000, completeMs: 1_120, outcome: 'ok' }),
    op({ id: 'l2', via: 'sip', process: 'sip:berlin:desk-1', userId: 'w1001', deviceId: 'berlin-desk-1', invokeMs: 2_000, completeMs: 2_200, outcome: 'ok' }),
    op({ id: 'l2b', via: 'sip', process: 'sip:amsterdam:desk-1', userId: 'w1001', deviceId: 'amsterdam-desk-1', invokeMs: 2_050, completeMs: null, outcome: 'info' }),
    op({ id: 'l3', via: 'sip', process: 'sip:berlin:desk-2', userId: 'w1002', deviceId: 'berlin-desk-2', invokeMs: 2_500, completeMs: 2_600, outcome: 'fail' }),
    op({ id: 'l4', process: 'grpc:amsterdam', userId: 'w1001', deviceId: 'chicago-desk-3', invokeMs: 11_000, completeMs: 16_400, outcome: 'ok' }),
  ]
  const phones = [
    { atMs: 2_090, deviceId: 'amsterdam-desk-1', event: 'revoked' as const, userId: 'w1001', detail: '1001 signed out: signed in at Berlin, desk-1' },
    { atMs: 2_700, deviceId: 'amsterdam-desk-2', event: 'revoked' as const, userId: 'w1002', detail: '1002 signed out' },
  ]
  const faults = [{ name: 'branch-cut', startMs: 10_000, endMs: 17_000, target: 'branch:berlin' }]
  const suspensions = [{ site: 'berlin', atMs: 14_800 }, { site: 'amsterdam', atMs: 15_000 }, { site: 'berlin', atMs: 30_000 }]
  const figures = runFigures(history, phones, faults, suspensions, (id) => id.split('-')[0])
  t.same(figures.signInAtPhoneMs, { n: 2, p50: 120, p99: 200, max: 200 }, 'the ok SIP logins only')
  t.same(figures.revocationAtOldPhoneMs, { n: 1, p50: 90, p99: 90, max: 90 }, 'from the move\'s call to the desk left told (not from a later login at the desk left itself); a plain sign-out is no revocation')
  t.equal(figures.cuts.length, 1)
  t.equal(figures.cuts[0]!.suspendedAfterMs, 4_800, 'the cut branch\'s own suspension, within the cut')
  t.same(figures.cuts[0]!.takeoverMs, { n: 1, p50: 5_400, p99: 5_400, max: 5_400 }, 'the login of a worker seated at the cut branch, elsewhere, during the cut')
  t.match(formatFigures(figures).join('\n'), /cut of berlin: lease suspended after 4800 ms/)
})

t.test('a *51 dial\'s request ids: one per INVITE the phone sent and request the node may make', async (t) => {
  const sent = (startLine: string, headers: Record<string, string>): TracedMessage => ({ ...message(1_000, startLine, headers), direction: 'sent' })
  const from = '"desk" <sip:ams-desk-1@amsterdam.flexseat.test>;tag=8714SIPpTag001'
  const messages = [
    sent('INVITE sip:*51*1001*1234@amsterdam.flexseat.test SIP/2.0', { 'Call-ID': '1-42@127.0.0.1', CSeq: '1 INVITE', From: from }),
    message(1_001, 'SIP/2.0 407 Proxy Authentication Required', { 'Call-ID': '1-42@127.0.0.1', CSeq: '1 INVITE' }),
    sent('ACK sip:*51*1001*1234@amsterdam.flexseat.test SIP/2.0', { 'Call-ID': '1-42@127.0.0.1', CSeq: '1 ACK', From: from }),
    sent('INVITE sip:*51*1001*1234@amsterdam.flexseat.test SIP/2.0', { 'Call-ID': '1-42@127.0.0.1', CSeq: '2 INVITE', From: from }),
  ]
  const ids = dialRequestIds(['login', 'renew'], 'amsterdam-desk-1', { messages })
  const invite = (cseq: string) => ({ callId: '1-42@127.0.0.1', cseq, fromTag: '8714SIPpTag001' })
  t.same(ids, [
    featureRequestId('login', 'amsterdam-desk-1', invite('1')),
    featureRequestId('renew', 'amsterdam-desk-1', invite('1')),
    featureRequestId('login', 'amsterdam-desk-1', invite('2')),
    featureRequestId('renew', 'amsterdam-desk-1', invite('2')),
  ], 'the CSeq number and the From tag, as the node reads them; the ACK is no request of its own')
  t.same(dialRequestIds(['logout'], 'amsterdam-desk-1', { messages: messages.slice(0, 2) }), [featureRequestId('logout', 'amsterdam-desk-1', invite('1'))])
  t.same(dialRequestIds(['logout'], 'amsterdam-desk-1', { messages: [message(1, 'SIP/2.0 503 Sign-in unavailable', {})] }), [], 'nothing sent: no id')
})
