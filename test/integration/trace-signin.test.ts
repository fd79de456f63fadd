// One trace per sign-in, over real SIP (sipp phones, SIP engines, SIP nodes, registries, etcd):
// every process writes its finished spans to a file (FLEXSEAT_TEST_SPAN_FILE, OTel's SDK with a
// span processor of ours), and the test reads the span tree back. The *51 INVITE's span at the
// node is an ancestor of the registry's Login span (W3C trace context in the gRPC metadata),
// whose children are the etcd transactions of the write; the old branch's node applies a move in
// a span of its own, linked to the sign-in's trace, whose children are its acknowledgement (with
// the registry's AckRevocations below it), the MESSAGE and the check-sync NOTIFY to the old
// phone; the INVITE's span ends with the final response to the new phone; a call routed to
// another branch is one trace (traceparent on the trunk). Log lines written inside a span carry
// its trace id. Guards tried: without the ack's span, or without the apply span's context around
// the old phone's MESSAGE, the takeover's subtest fails naming the spans it found.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { SpanRecord } from '@flexseat/telemetry'
import { Branches, PIN, statusLine } from '../helpers/branches'

/** The spans written so far to `files`. */
async function spansOf(files: string[]): Promise<SpanRecord[]> {
  const spans: SpanRecord[] = []
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '')
    for (const line of text.split('\n')) if (line.trim() !== '') spans.push(JSON.parse(line) as SpanRecord)
  }
  return spans
}

/** Waits (polling, up to 10 s) until `find` returns something from the spans of `files`. */
async function waitForSpans<T>(files: string[], find: (spans: SpanRecord[]) => T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const found = find(await spansOf(files))
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`spans not found; have: ${[...new Set((await spansOf(files)).map((s) => `${s.service}:${s.name}`))].join(', ')}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The chain of spans from `span` up to its trace's root (as far as the spans in `all` go). */
function ancestors(span: SpanRecord, all: SpanRecord[]): SpanRecord[] {
  const byId = new Map(all.filter((s) => s.traceId === span.traceId).map((s) => [s.spanId, s]))
  const chain: SpanRecord[] = []
  for (let parent = span.parentSpanId === undefined ? undefined : byId.get(span.parentSpanId); parent !== undefined; parent = parent.parentSpanId === undefined ? undefined : byId.get(parent.parentSpanId)) {
    chain.push(parent)
  }
  return chain
}

// Eight seconds on an idle machine; a broken trace waits out a 10 s poll before it says which
// spans it found, which must be reported rather than cut off by tap's 30 s.
t.setTimeout(60_000)

t.test('a sign-in is one trace from the INVITE to etcd; a call between branches is one trace', async (t) => {
  // A folder of our own, removed after the services have stopped (teardowns run last-registered
  // first). t.testdir removed its folder before the teardowns ran, while the registry and node
  // still wrote spans into it: rimraf then failed with ENOTEMPTY, the failure cut the teardowns
  // short, and the file timed out with the services still running (once in a CI run).
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-trace-'))
  t.teardown(() => rm(dir, { recursive: true, force: true, maxRetries: 3 }))
  const nodeSpans = join(dir, 'node-spans.jsonl')
  const registrySpans = join(dir, 'registry-spans.jsonl')
  const files = [nodeSpans, registrySpans]
  const branches = await Branches.start(t, {
    sites: ['amsterdam', 'berlin'],
    confirmationLeaseSeconds: 3,
    logLevel: 'info',
    nodeEnv: { FLEXSEAT_TEST_SPAN_FILE: nodeSpans },
    registryEnv: { FLEXSEAT_TEST_SPAN_FILE: registrySpans },
  })
  const [amsDesk, berDesk, amsFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start(),
    branches.phone('berlin', 'ber-desk-1').start(),
    branches.phone('amsterdam', 'ams-fixed').start(),
  ])

  let signInTrace = ''
  await t.test('*51 at a desk: INVITE span → Login span → etcd transaction spans', async (t) => {
    const signIn = await amsDesk.dial(`*51*1001*${PIN['1001']}`)
    t.equal(statusLine(signIn), '480 Signed in as 1001')
    const invite = await waitForSpans(files, (spans) => spans.find((s) => s.name === 'sip.feature_code' && s.attributes['sip.call_id'] === signIn.callId))
    t.equal(invite.service, 'flexseat-sip-node', 'the INVITE span is the node\'s')
    t.equal(invite.parentSpanId, undefined, 'it is the root of the trace')
    t.equal(invite.attributes['flexseat.feature'], 'login')
    t.equal(invite.attributes['sip.status'], 480, 'with the final response sent')
    signInTrace = invite.traceId

    const logins = await waitForSpans(files, (spans) => {
      const found = spans.filter((s) => s.name === 'registry.Login' && s.traceId === invite.traceId)
      return found.length === 0 ? undefined : found
    })
    const all = await spansOf(files)
    for (const login of logins) {
      t.equal(login.service, 'flexseat-registry', 'the Login span is the registry\'s')
      t.ok(ancestors(login, all).some((s) => s.spanId === invite.spanId), 'the INVITE span is an ancestor of the Login span (trace context in the gRPC metadata)')
    }
    const txns = await waitForSpans(files, (spans) => {
      const found = spans.filter((s) => s.name === 'etcd.txn' && s.traceId === invite.traceId)
      return found.length === 0 ? undefined : found
    })
    t.ok(txns.some((s) => s.attributes['flexseat.outcome'] === 'committed'), 'an etcd transaction of the sign-in committed')
    for (const txn of txns) t.ok(logins.some((login) => login.spanId === txn.parentSpanId), `etcd.txn ${String(txn.attributes['flexseat.txn'])} is a child of a Login span`)

    const logged = branches.nodeLogsMatching('amsterdam', (l) => l.msg === 'feature code' && l['callId'] === signIn.callId)
    t.equal(logged[0]?.['trace_id'], invite.traceId, 'the node\'s log line of the sign-in carries the trace id')
  })

  await t.test('a takeover: the old branch applies the move in a span of its own, linked to the sign-in; its ack and MESSAGE below it', async (t) => {
    const signIn = await berDesk.dial(`*51*1001*${PIN['1001']}`)
    t.equal(statusLine(signIn), '480 Signed in as 1001')
    const invite = await waitForSpans(files, (spans) => spans.find((s) => s.name === 'sip.feature_code' && s.attributes['sip.call_id'] === signIn.callId))
    t.not(invite.traceId, signInTrace, 'each sign-in is a trace of its own')
    const apply = await waitForSpans(files, (spans) => spans.find((s) => s.name === 'seat.revocation_apply' && (s.attributes['flexseat.users'] as string[] | undefined)?.includes('ada') === true))
    t.equal(apply.service, 'flexseat-sip-node')
    t.ok(apply.links.some((link) => link.traceId === invite.traceId), 'it is linked to the takeover\'s trace (traceparent stored with the pending revocation)')
    const all = await spansOf(files)
    const linkedTo = all.find((s) => s.traceId === apply.links[0]?.traceId && s.spanId === apply.links[0]?.spanId)
    t.equal(linkedTo?.service, 'flexseat-registry', 'the link names a span of the registry\'s write')
    const revoked = branches.nodeLogsMatching('amsterdam', (l) => l.msg === 'seat revoked' && l['user'] === 'ada')
    t.equal(revoked.at(-1)?.['trace_id'], apply.traceId, 'the `seat revoked` log line carries the apply span\'s trace id')

    // The old node's acknowledgement: a child of the apply span, and the registry's handling of it below.
    const ack = await waitForSpans(files, (spans) => spans.find((s) => s.name === 'seat.revocation_ack' && s.parentSpanId === apply.spanId))
    t.equal(ack.service, 'flexseat-sip-node', 'the acknowledgement span is the old node\'s')
    t.equal(ack.traceId, apply.traceId)
    const ackHandled = await waitForSpans(files, (spans) => spans.find((s) => s.name === 'registry.AckRevocations' && s.traceId === apply.traceId))
    t.equal(ackHandled.service, 'flexseat-registry')
    t.ok(ancestors(ackHandled, await spansOf(files)).some((s) => s.spanId === ack.spanId), 'registry.AckRevocations descends from the acknowledgement span (trace context in the gRPC metadata)')

    // The MESSAGE telling the old phone: a child of the apply span, ended by the phone's answer.
    await amsDesk.waitForMessage(/signed in at/)
    const told = await waitForSpans(files, (spans) => spans.find((s) => s.name === 'sip.message' && s.parentSpanId === apply.spanId))
    t.equal(told.service, 'flexseat-sip-node')
    t.equal(told.attributes['flexseat.device'], 'ams-desk-1', 'to the old phone')
    t.equal(told.attributes['sip.status'], 200, 'with the phone\'s final response')
    const synced = await waitForSpans(files, (spans) => spans.find((s) => s.name === 'sip.notify' && s.parentSpanId === apply.spanId))
    t.equal(synced.attributes['flexseat.device'], 'ams-desk-1', 'the old phone\'s check-sync NOTIFY is a child of the apply span too')

    // The new phone: the INVITE's span ends once the final response is handed to the engine, and says which.
    t.equal(invite.attributes['sip.status'], 480, 'the INVITE span carries the final response to the new phone')
    t.ok(invite.end >= ack.start, 'the INVITE span outlasts the old node\'s acknowledgement (the registry answers the Login once the old branch acknowledged)')
  })

  await t.test('a call routed to another branch is one trace (traceparent on the trunk)', async (t) => {
    const call = await amsFixed.dial('1001')
    t.ok(call.answered, `answered (${statusLine(call)})`)
    const caller = await waitForSpans(files, (spans) => spans.find((s) => s.name === 'sip.invite' && s.attributes['sip.call_id'] === call.callId))
    t.equal(caller.attributes['flexseat.source'], 'phone')
    const callee = await waitForSpans(files, (spans) => spans.find((s) => s.name === 'sip.invite' && s.attributes['flexseat.source'] === 'trunk' && s.traceId === caller.traceId))
    t.equal(callee.parentSpanId, caller.spanId, 'the Berlin node\'s INVITE span is a child of the Amsterdam node\'s')
    t.ok(amsDesk.invites().length + berDesk.invites().length >= 1, 'a desk rang')
  })
})
