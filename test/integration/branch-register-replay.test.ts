// A captured REGISTER replayed from another address (real engine, SIP node, registry and etcd
// processes; sipp for the phone and for the attacker): the replay carries a right digest, so it
// used to get 200 and move the phone's binding, and with it the phone's calls, to the attacker.
// Now the nonce count was used already: 401 with stale=true, the node logs it, and the binding
// and calls stay with the phone.
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { credentials } from '@grpc/grpc-js'
import { BranchServiceClient, type PhoneBinding, unary } from '@flexseat/proto'
import { Branches, statusLine } from '../helpers/branches'
import { eventually } from '../helpers/registry-cluster'
import { parseSippTrace, runSipp } from '../helpers/sipp'

t.setTimeout(60_000)

const SITE = 'amsterdam'
const ATTACKER = '127.0.0.2'

// Guard tried: DigestVerifier.#accept() answering true for every count: the replay gets 200, the
// binding's contact becomes the attacker's, and the call below rings the attacker.
t.test('a captured REGISTER replayed from another address is refused', async (t) => {
  const branches = await Branches.start(t, { sites: [SITE] })
  const desk = branches.phone(SITE, 'ams-desk-1')
  const caller = branches.phone(SITE, 'ams-fixed')
  const registered = await desk.register()
  t.equal(statusLine(registered), '200 OK', 'the phone registers')
  await desk.answer()
  const captured = registered.trace.filter((m) => m.direction === 'sent' && m.method === 'REGISTER').map((m) => m.header('authorization')).find((h) => h !== '')
  t.match(captured, /^Digest .*nc=00000001/, 'its Authorization, as on the wire')

  const dir = await mkdtemp(join(tmpdir(), 'flexseat-replay-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const mark = branches.nodeLogMark(SITE)
  const trace = join(dir, 'replay.log')
  const result = await runSipp(t, {
    scenario: 'register-replay.xml',
    transport: 'udp',
    remote: desk.registrar,
    args: ['-i', ATTACKER, '-key', 'device', desk.deviceId, '-key', 'domain', desk.domain, '-key', 'authorization', captured!, '-trace_msg', '-message_file', trace],
  })
  const answers = parseSippTrace(await readFile(trace, 'utf8').catch(() => ''))
  const final = answers.find((m) => m.direction === 'received' && m.status !== undefined && m.status >= 200)
  t.equal(final?.status, 401, `the replay is challenged (${final?.status ?? `no answer: ${result.stderr.slice(-300)}`})`)
  t.match(final?.header('www-authenticate'), /stale=true/, 'with stale=true: a fresh nonce, which the attacker cannot answer')
  const logged = await branches.waitForNodeLog(SITE, (l) => l.msg === 'register refused: replayed credentials', { since: mark, what: 'the replay log line' })
  t.match(logged, { device: 'ams-desk-1', source: new RegExp(`^${ATTACKER.replace(/\./g, '\\.')}:`) }, 'the node logs the device and where the replay came from')

  const client = new BranchServiceClient(branches.branch(SITE).registryAddress, credentials.createInsecure())
  t.teardown(() => client.close())
  const binding = await eventually('the binding is reported', async () => {
    const { bindings } = await unary(client.listBindings.bind(client), { siteId: SITE, pageSize: 0, pageToken: '' }, { metadata: branches.registry.metadata('viewer'), timeoutMs: 3_000 })
    return bindings.find((b: PhoneBinding) => b.deviceId === 'ams-desk-1')
  })
  t.equal(binding.contact, `sip:ams-desk-1@127.0.0.1:${desk.port}`, "the binding is still the phone's")
  const call = await caller.dial(desk.extension)
  t.ok(call.answered, `a call to ${desk.extension} is answered (${statusLine(call)})`)
  t.ok(desk.invites().some((m) => m.header('call-id') === call.callId), 'by the phone, not the attacker')
  t.same(branches.nodeLogsMatching(SITE, (l) => l.msg === 'phone registered' && String(l['contact'] ?? '').includes(ATTACKER), mark), [], 'no binding at the attacker\'s address')
})
