// Invariant 4 for calls already ringing, end to end (real etcd, registries, SIP engines and
// nodes; phones are sipp, the seated desk one that rings and is never picked up,
// packages/sim/sipp/phone-ring.xml). A call that rings a phone because a worker sits there is
// carried back to back by that phone's node, so the node can stop it:
// - the worker signs in at another branch: the old desk gets a CANCEL before the other branch's
//   sign-in completes (the old branch stops the ringing before it acknowledges the revocation),
//   and the caller hears `480 1001 signed in elsewhere`;
// - an answered call is the desk's conversation: it survives the worker moving away, and hangs
//   up end to end afterwards;
// - the branch is cut off from the cluster: once its lease lapses (within the lease), the desk
//   gets a CANCEL and the caller `480 1001 is unreachable (branch offline)`.
// Also: a phone may not choose the next hop of its calls (a Route header is refused).
import t from 'tap'
import { Branches, PIN, type Phone, statusLine } from '../helpers/branches'
import type { SippTraceEntry } from '../helpers/sipp'

const LEASE_SECONDS = 3
/** Timer and scheduling slack on a busy 2-core machine. */
const SLACK_MS = 300

/** The first message of call `callId` with `method` that `phone` received (waits up to `timeoutMs`). */
function received(phone: Phone, callId: string, method: string, timeoutMs = 5_000): Promise<SippTraceEntry> {
  return phone.waitFor((m) => m.method === method && m.header('call-id') === callId, timeoutMs, `${method} of ${callId}`)
}

/** The Call-ID of the first INVITE `phone` received after `since` (waits up to `timeoutMs`). */
async function ringing(phone: Phone, since: number, timeoutMs = 5_000): Promise<string> {
  const invite = await phone.waitFor((m) => m.method === 'INVITE' && m.time >= since, timeoutMs, 'an INVITE')
  return invite.header('call-id')
}

t.setTimeout(120_000)

t.test('calls ringing for a worker stop when the seat moves or the branch loses its lease', async (t) => {
  const branches = await Branches.start(t, { confirmationLeaseSeconds: LEASE_SECONDS })
  const [amsDesk, berDesk, chiFixed, amsFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start({ mode: 'ring' }),
    branches.phone('berlin', 'ber-desk-1').start(),
    branches.phone('chicago', 'chi-fixed').start(),
    branches.phone('amsterdam', 'ams-fixed').start(),
  ])
  const berFixedExtension = branches.device('ber-fixed').extension

  await t.test('a phone may not route its own calls (Route header)', async (t) => {
    const call = await amsFixed.dial(berFixedExtension, { header: 'Route: <sip:127.0.0.1:9;lr>' })
    t.equal(statusLine(call), '403 Route not allowed', 'refused with the reason')
    const plain = await amsFixed.dial('1001')
    t.equal(statusLine(plain), '480 1001 is not signed in', 'the same phone without a Route is routed as usual')
  })

  const signIn = await amsDesk.dial(`*51*1001*${PIN['1001']}`)
  t.equal(statusLine(signIn), '480 Signed in as 1001', '1001 signs in at the Amsterdam desk (which rings and is never picked up)')

  await t.test('a sign-in at Berlin stops the call ringing in Amsterdam before it completes', async (t) => {
    const before = Date.now()
    const call = chiFixed.dial('1001', { timeoutSec: 10 })
    const callId = await ringing(amsDesk, before)
    const invite = await received(amsDesk, callId, 'INVITE')
    t.match(invite.header('to'), /sip:1001@/, 'the Amsterdam desk rings for 1001')
    t.match(invite.header('p-asserted-identity'), new RegExp(`<sip:${branches.device('chi-fixed').extension}@`), "with the caller's identity")

    const takeover = await berDesk.dial(`*51*1001*${PIN['1001']}`)
    t.equal(statusLine(takeover), '480 Signed in as 1001', '1001 signs in at Berlin')
    const cancel = await received(amsDesk, callId, 'CANCEL', 1_000).catch(() => undefined)
    t.ok(cancel, 'the Amsterdam desk got a CANCEL')
    if (cancel !== undefined) {
      t.comment(`CANCEL at the desk ${Math.round(cancel.time - takeover.lastInviteAt!)} ms after Berlin's INVITE, ${Math.round(takeover.finalAt! - cancel.time)} ms before its final response`)
      t.ok(cancel.time <= takeover.finalAt!, "before Berlin's sign-in completed")
    }
    const outcome = await call
    t.equal(statusLine(outcome), '480 1001 signed in elsewhere', 'the caller hears why')
    t.ok(outcome.status === 480 && outcome.finalAt! <= takeover.finalAt! + SLACK_MS, "the caller's 480 came with the revocation, not after a timeout")
    t.notOk(outcome.answered, 'nothing was answered')
    t.ok(await amsDesk.waitForMessage('1001 signed out: signed in at Berlin, desk-1', 5_000, before), 'the desk is told afterwards')
    t.equal(branches.nodeLogsMatching('amsterdam', (l) => l.msg === 'worker call stopped while ringing' && l['callId'] === callId).length, 1, 'the Amsterdam node logged the stop')
  })

  await t.test('an answered call to 1001 survives a later move and hangs up end to end', async (t) => {
    const before = Date.now()
    const call = chiFixed.dial('1001', { holdMs: 3_000, timeoutSec: 15 })
    const callId = await ringing(berDesk, before)
    await received(berDesk, callId, 'ACK')
    const moveMark = branches.nodeLogMark('berlin')
    const back = await amsDesk.dial(`*51*1001*${PIN['1001']}`)
    t.equal(statusLine(back), '480 Signed in as 1001', '1001 moves back to Amsterdam while the call is up')
    await branches.waitForNodeLog('berlin', (l) => l.msg === 'seat revoked' && l['user'] === 'ada', { since: moveMark, what: '`seat revoked` at Berlin' })
    const outcome = await call
    t.ok(outcome.answered, `the call was answered (${statusLine(outcome)})`)
    t.equal(outcome.code, 0, "the caller's BYE got its 200 (sipp's dialogue completed)")
    const bye = await received(berDesk, callId, 'BYE')
    t.ok(bye.time > back.finalAt!, 'the BYE reached the Berlin desk after the move')
    t.notOk(berDesk.received().some((m) => m.method === 'CANCEL' && m.header('call-id') === callId), 'the answered call was never cancelled')
  })

  await t.test("Amsterdam cut off: once its lease lapses, the call ringing there stops", async (t) => {
    const before = Date.now()
    const call = chiFixed.dial('1001', { timeoutSec: 15 })
    const callId = await ringing(amsDesk, before)
    const mark = branches.nodeLogMark('amsterdam')
    const cutAt = Date.now()
    await branches.stopRegistry('amsterdam')
    const cutDone = Date.now()
    const cancel = await received(amsDesk, callId, 'CANCEL', LEASE_SECONDS * 1_000 + 5_000).catch(() => undefined)
    t.ok(cancel, 'the Amsterdam desk got a CANCEL')
    const suspended = await branches.waitForNodeLog('amsterdam', (l) => l.msg === 'lease suspended', { since: mark, timeoutMs: 5_000, what: '`lease suspended`' })
    if (cancel !== undefined) {
      t.comment(`registry stopped in ${cutDone - cutAt} ms; lease suspended ${suspended.time - cutAt} ms, CANCEL at the desk ${Math.round(cancel.time - cutAt)} ms after the cut`)
      t.ok(cancel.time - cutDone <= LEASE_SECONDS * 1_000 + SLACK_MS, `within the lease (${Math.round(cancel.time - cutDone)} ms ≤ ${LEASE_SECONDS * 1_000 + SLACK_MS} ms after the registry was gone)`)
      t.ok(cancel.time >= suspended.time - 50, 'when the lease was suspended, not before')
    }
    const outcome = await call
    t.equal(statusLine(outcome), '480 1001 is unreachable (branch offline)', 'the caller hears why')
    t.ok(await amsDesk.waitForMessage('Flex sign-in suspended: branch offline', 5_000, cutAt), 'the desk is told afterwards')
  })
})
