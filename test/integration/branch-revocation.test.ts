// Invariant 4 (bounded revocation) with a branch cut off from the cluster, end to end: real etcd,
// registries, SIP engines and nodes, sipp phones. Amsterdam's node talks only to Amsterdam's
// registry, so stopping that registry cuts Amsterdam off while its phones and SIP trunk still
// work. Then:
// - Amsterdam's node suspends its flex seats on its own (`lease suspended`, and the phone's
//   MESSAGE) within the lease after the cut;
// - a takeover at Berlin completes only once Amsterdam's lease has run out: Berlin's final
//   response comes after Amsterdam suspended and not before lease − renew interval after the cut,
//   and a call to the worker meanwhile rings no phone;
// - Amsterdam rejoins (its registry restarts) and resumes without ever ringing for the worker.
import t, { type Test } from 'tap'
import { Branches, PIN, type Phone, statusLine } from '../helpers/branches'
import { uriUser } from '../helpers/sipp'

/** Short, so that the file stays well within its timeout; the node renews every third of it. */
const LEASE_SECONDS = 3
const RENEW_INTERVAL_MS = (LEASE_SECONDS * 1_000) / 3
/** Timer and scheduling slack on a busy 2-core machine. */
const SLACK_MS = 300

function invitesFor(phone: Phone, extension: string, after = 0): number {
  return phone.invites().filter((m) => uriUser(m.header('to')) === extension && m.time >= after).length
}

// Two harnesses of ~15 s each, one after the other.
t.setTimeout(90_000)

t.test('a branch cut off from the cluster (its registry a follower): suspension, takeover after its lease, rejoin', async (t) => {
  await cutOff(t, { not: 'amsterdam' })
})

t.test('a branch cut off from the cluster with the registry leader: the same, across a leader failover', async (t) => {
  await cutOff(t, { is: 'amsterdam' })
})

async function cutOff(t: Test, leader: { is?: string; not?: string }): Promise<void> {
  const branches = await Branches.start(t, { confirmationLeaseSeconds: LEASE_SECONDS, leader })
  t.comment(`the registry leader is ${await branches.leaderSite()}'s`)
  const [amsDesk, amsFixed, berDesk, chiFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start(),
    branches.phone('amsterdam', 'ams-fixed').start(),
    branches.phone('berlin', 'ber-desk-1').start(),
    branches.phone('chicago', 'chi-fixed').start(),
  ])
  const signIn = await amsDesk.dial(`*51*1001*${PIN['1001']}`)
  t.equal(statusLine(signIn), '480 Signed in as 1001', '1001 signs in at Amsterdam')
  const ring = await chiFixed.dial('1001')
  t.ok(ring.answered && invitesFor(amsDesk, '1001') === 1, `a call to 1001 rings Amsterdam before the cut (${statusLine(ring)})`)

  // --- the cut --------------------------------------------------------------------------
  const mark = branches.nodeLogMark('amsterdam')
  const cutAt = Date.now()
  await branches.stopRegistry('amsterdam')
  const cutDone = Date.now()
  t.comment(`Amsterdam's registry stopped in ${cutDone - cutAt} ms`)

  // Berlin's sign-in starts at once and must wait for Amsterdam's lease.
  const takeover = berDesk.dial(`*51*1001*${PIN['1001']}`, { timeoutSec: 20 })
  let takeoverDone = false
  void takeover.then(() => (takeoverDone = true), () => (takeoverDone = true))
  let duringWait: number | undefined

  await t.test('meanwhile the seat is pending and a call to 1001 rings no phone', async (t) => {
    const pending = await waitForPending(branches)
    t.equal(pending.deviceId, 'ber-desk-1', 'the new seat is written pending at Berlin')
    t.equal(pending.pending[0]?.siteId, 'amsterdam', 'waiting for Amsterdam')
    const call = await chiFixed.dial('1001')
    t.notOk(call.answered, `the call is not answered (${statusLine(call)})`)
    t.equal(call.status, 480, 'it gets 480')
    t.equal(invitesFor(amsDesk, '1001', cutAt), 0, 'Amsterdam did not ring for 1001')
    t.equal(invitesFor(berDesk, '1001'), 0, 'nor did Berlin (the seat is not active yet)')
    t.notOk(takeoverDone, 'the takeover was still waiting when that call ended')
    duringWait = call.finalAt
  })

  const suspended = await branches.waitForNodeLog('amsterdam', (l) => l.msg === 'lease suspended', { since: mark, timeoutMs: LEASE_SECONDS * 1_000 + 5_000, what: '`lease suspended`' })
  const suspendedMessage = await amsDesk.waitForMessage('Flex sign-in suspended: branch offline', 5_000, cutAt)
  const berlin = await takeover

  await t.test('Amsterdam suspends on its own within the lease', async (t) => {
    t.comment(`suspended ${suspended.time - cutAt} ms after the cut (MESSAGE at ${suspendedMessage.time - cutAt} ms), lease ${LEASE_SECONDS * 1_000} ms`)
    t.ok(suspended.time - cutDone <= LEASE_SECONDS * 1_000 + SLACK_MS, `\`lease suspended\` within the lease (${suspended.time - cutDone} ms after the registry was gone)`)
    t.ok(suspendedMessage.time - cutDone <= LEASE_SECONDS * 1_000 + SLACK_MS, 'the phone is told within the lease too')
    // Still cut off, its view still seats 1001 at ams-desk-1: a local call must not ring it.
    const local = await amsFixed.dial('1001')
    t.notOk(local.answered, `a call from an Amsterdam phone to 1001 is refused while suspended (${statusLine(local)})`)
    t.equal(statusLine(local), '480 1001 is unreachable (branch offline)', 'with the reason the README gives')
    t.equal(invitesFor(amsDesk, '1001', cutAt), 0, 'and rang no Amsterdam desk')
  })

  await t.test("Berlin's sign-in completes only after Amsterdam's lease expired", async (t) => {
    t.equal(statusLine(berlin), '480 Signed in as 1001')
    const finalAt = berlin.finalAt!
    t.comment(`Berlin's final response ${Math.round(finalAt - cutAt)} ms after the cut, ${Math.round(finalAt - suspended.time)} ms after Amsterdam suspended`)
    t.ok(finalAt > suspended.time, "after Amsterdam's suspension")
    t.ok(duringWait !== undefined && duringWait < finalAt, 'the call that rang nobody was answered before the sign-in completed')
    t.ok(finalAt - cutAt >= LEASE_SECONDS * 1_000 - RENEW_INTERVAL_MS - 100, `not before lease − renew interval after the cut (${Math.round(finalAt - cutAt)} ms ≥ ${LEASE_SECONDS * 1_000 - RENEW_INTERVAL_MS - 100} ms)`)
    t.ok(await berDesk.waitForMessage('Signed in as 1001 (Ada Lovelace)', 5_000), 'the Berlin desk is told')
    const seat = await branches.seat('1001', 'berlin')
    t.equal(seat?.deviceId, 'ber-desk-1')
    t.same(seat?.pending ?? [], [], 'active')
    const call = await chiFixed.dial('1001')
    t.ok(call.answered && berDesk.invites().some((m) => m.header('call-id') === call.callId), `a call to 1001 now rings Berlin (${statusLine(call)})`)
    t.equal(invitesFor(amsDesk, '1001', cutAt), 0, 'and not Amsterdam')
  })

  await t.test('Amsterdam rejoins and resumes without ringing for 1001', async (t) => {
    const rejoinMark = branches.nodeLogMark('amsterdam')
    const rejoinAt = Date.now()
    await branches.startRegistry('amsterdam')
    await branches.waitForNodeLog('amsterdam', (l) => l.msg === 'lease active', { since: rejoinMark, timeoutMs: 15_000, what: '`lease active` after the rejoin' })
    const fromAmsterdam = await amsFixed.dial('1001')
    t.ok(fromAmsterdam.answered && berDesk.invites().some((m) => m.header('call-id') === fromAmsterdam.callId), `a call from Amsterdam to 1001 rings Berlin (${statusLine(fromAmsterdam)})`)
    const fromChicago = await chiFixed.dial('1001')
    t.ok(fromChicago.answered && berDesk.invites().some((m) => m.header('call-id') === fromChicago.callId), `so does one from Chicago (${statusLine(fromChicago)})`)
    t.equal(invitesFor(amsDesk, '1001', cutAt), 0, 'the Amsterdam desk never rang for 1001 after the cut')
    t.notOk(amsDesk.messages().some((m) => m.time >= rejoinAt && m.text.startsWith('Signed in as 1001')), 'the Amsterdam desk is not told it is 1001 again')
    const own = await chiFixed.dial(branches.device('ams-desk-1').extension)
    t.ok(own.answered && amsDesk.invites().some((m) => m.header('call-id') === own.callId), `the desk's own extension rings again (${statusLine(own)})`)
  })
}

/** Polls the registry (Berlin's instance) until 1001's seat is pending; resolves with it. */
async function waitForPending(branches: Branches): Promise<{ deviceId: string; pending: { siteId: string }[] }> {
  const deadline = Date.now() + 3_000
  for (;;) {
    const seat = await branches.seat('1001', 'berlin').catch(() => undefined)
    if (seat !== undefined && seat.pending.length > 0) return seat
    if (Date.now() > deadline) throw new Error(`1001's seat did not become pending (last: ${JSON.stringify(seat)})`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
