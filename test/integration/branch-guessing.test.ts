// SIP password guessing against a real branch (engine, SIP node, registry and etcd processes; sipp
// plays the guesser from 127.0.0.2 and the real phone from 127.0.0.1 at once): the guesser's
// answers are delayed once it failed `failures_before_delay` times, and it is banned at
// `failures_before_ban` (everything it sends gets 403, even the right password); the phone whose
// account is being guessed keeps registering and calling, and the ban is logged (no password,
// nonce or digest in the line) and counted.
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Branches, statusLine } from '../helpers/branches'
import { parseSippTrace, runSipp } from '../helpers/sipp'

// A branch (etcd, registry, engine, node) starts in 10-20 s on a loaded machine, as in
// branch-register-replay.test.ts.
t.setTimeout(60_000)

const SITE = 'amsterdam'
const ATTACKER = '127.0.0.2'
const GUESSES = 8

// Guards tried: AuthGuard.failed() never banning (the right password from the guesser gets 200,
// no ban log, no ban counted); AuthGuard.delayFor() answering 0 (no `sip source delayed` line, no
// delayed answers counted); admit() banning every source once one is banned (the phone's
// REGISTER gets 403).
t.test('a password guesser is delayed, then banned; the phone it guesses keeps working', async (t) => {
  const branches = await Branches.start(t, {
    sites: [SITE],
    nodeEnv: { FLEXSEAT_METRICS_LISTEN: '127.0.0.1:0' },
    sitePatch: (_site, doc) => {
      doc.set('sip_security', { failures_before_delay: 2, failures_before_ban: 5, first_delay_ms: 20, max_delay_ms: 80, ban_seconds: 600 })
    },
  })
  // The reception phone (not a flex desk: it may call without a worker seated) is the one guessed.
  const desk = await branches.phone(SITE, 'ams-fixed').start()
  const callee = await branches.phone(SITE, 'ams-desk-1').start()
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-guess-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const mark = branches.nodeLogMark(SITE)

  // The guesser and the phone at once: the phone registers while the guesses come in.
  const traceFile = join(dir, 'guess.log')
  const attack = runSipp(t, {
    scenario: 'register-guess.xml',
    transport: 'udp',
    remote: desk.registrar,
    localAddress: ATTACKER,
    calls: GUESSES,
    rate: 20,
    timeoutSec: 20,
    args: ['-s', desk.deviceId, '-au', desk.deviceId, '-ap', 'wrong-guess', '-key', 'user_agent', 'guesser', '-trace_msg', '-message_file', traceFile],
  })
  const during = await desk.register()
  t.equal(statusLine(during), '200 OK', 'the phone registers during the attack')
  await attack
  const answers = parseSippTrace(await readFile(traceFile, 'utf8')).filter((m) => m.direction === 'received' && m.status !== undefined && m.status >= 200)
  t.equal(answers.filter((m) => m.status === 200).length, 0, 'no guess succeeds')
  t.ok(answers.filter((m) => m.status === 403).length >= GUESSES, `every guess ends in 403 (${answers.map((m) => m.status).join(' ')})`)

  const delayed = await branches.waitForNodeLog(SITE, (l) => l.msg === 'sip source delayed: authentication failures', { since: mark, what: 'the delay log line' })
  t.match(delayed, { source: ATTACKER, failures: 2, delayMs: 20 }, 'the guesser is delayed after 2 failures')
  const banned = await branches.waitForNodeLog(SITE, (l) => l.msg === 'sip source banned: too many authentication failures', { since: mark, what: 'the ban log line' })
  t.match(banned, { source: ATTACKER, failures: 5, banSeconds: 600 }, 'and banned at 5')
  t.notMatch(JSON.stringify(banned), /wrong-guess|nonce|response|ams-fixed/, 'the ban line names no password, nonce, digest or account')
  t.equal(branches.nodeLogsMatching(SITE, (l) => l.msg === 'sip source banned: too many authentication failures', mark).length, 1, 'one ban, logged once')

  // Banned: even the right password from the guesser's address is refused, unverified.
  const rightTrace = join(dir, 'right.log')
  await runSipp(t, {
    scenario: 'register-guess.xml',
    transport: 'udp',
    remote: desk.registrar,
    localAddress: ATTACKER,
    args: ['-s', desk.deviceId, '-au', desk.deviceId, '-ap', desk.password, '-key', 'user_agent', 'guesser', '-trace_msg', '-message_file', rightTrace],
  })
  const right = parseSippTrace(await readFile(rightTrace, 'utf8')).filter((m) => m.direction === 'received')
  t.same(right.map((m) => m.status), [403], 'the banned source gets 403 at once, even with the right password')

  // The account is not locked: the phone registers and calls from its own address.
  const after = await desk.register()
  t.equal(statusLine(after), '200 OK', 'the phone registers after the ban')
  await callee.register()
  await callee.answer()
  const call = await desk.dial(callee.extension)
  t.ok(call.answered, `the phone calls (${statusLine(call)})`)

  const listening = await branches.waitForNodeLog(SITE, (l) => l.msg === 'metrics listening', { what: 'the metrics address' })
  const metrics = await (await fetch(`http://${String(listening['address'])}/metrics`)).text()
  t.match(metrics, /^flexseat_sip_auth_bans_total\{[^}]*\} 1$/m, 'the ban is counted')
  t.match(metrics, /^flexseat_sip_auth_delayed_total\{[^}]*\} [1-9]/m, 'so are the delayed answers')
  t.match(metrics, /^flexseat_sip_auth_banned_sources\{[^}]*\} 1$/m, 'one source banned now')
})
