// The confirmation lease of a branch's SIP node, end to end (real etcd, registries, engines, nodes;
// sipp phones): a branch cut off and back with its worker still seated suspends and resumes the
// seat (MESSAGEs, ringing); a takeover away from a branch whose node was killed waits for that
// node's lease to run out; one away from a node that stopped cleanly (ReleaseLease) does not wait.
import t from 'tap'
import { unary } from '@flexseat/proto'
import { Branches, PIN, type Phone, statusLine } from '../helpers/branches'
import { uriUser } from '../helpers/sipp'

const LEASE_SECONDS = 3
const RENEW_INTERVAL_MS = (LEASE_SECONDS * 1_000) / 3

function invitesFor(phone: Phone, extension: string, after = 0): number {
  return phone.invites().filter((m) => uriUser(m.header('to')) === extension && m.time >= after).length
}

t.setTimeout(60_000)

t.test('confirmation lease: suspend and resume, killed and stopped nodes', async (t) => {
  const branches = await Branches.start(t, { confirmationLeaseSeconds: LEASE_SECONDS })
  const [amsDesk, berDesk, chiDesk, chiFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-2').start(),
    branches.phone('berlin', 'ber-desk-2').start(),
    branches.phone('chicago', 'chi-desk-2').start(),
    branches.phone('chicago', 'chi-fixed').start(),
  ])
  t.equal(statusLine(await amsDesk.dial(`*51*1002*${PIN['1002']}`)), '480 Signed in as 1002', '1002 signs in at Amsterdam')

  await t.test('cut off and back: the seat is suspended, then resumes', async (t) => {
    const mark = branches.nodeLogMark('amsterdam')
    const cutAt = Date.now()
    await branches.stopRegistry('amsterdam')
    await branches.waitForNodeLog('amsterdam', (l) => l.msg === 'lease suspended', { since: mark, timeoutMs: LEASE_SECONDS * 1_000 + 2_000, what: '`lease suspended`' })
    t.ok(await amsDesk.waitForMessage('Flex sign-in suspended: branch offline', 3_000, cutAt), 'the desk is told the sign-in is suspended')
    const call = await chiFixed.dial('1002')
    t.notOk(call.answered, `a call to 1002 is not answered while Amsterdam is suspended (${statusLine(call)})`)
    t.equal(statusLine(call), '480 1002 is unreachable (branch offline)', 'the caller hears why')
    t.equal(invitesFor(amsDesk, '1002', cutAt), 0, 'the Amsterdam desk did not ring')

    const rejoinAt = Date.now()
    await branches.startRegistry('amsterdam')
    await branches.waitForNodeLog('amsterdam', (l) => l.msg === 'lease active', { since: mark, timeoutMs: 10_000, what: '`lease active`' })
    t.ok(await amsDesk.waitForMessage('Signed in as 1002 again', 5_000, rejoinAt), 'and that it is back')
    const again = await chiFixed.dial('1002')
    t.ok(again.answered && amsDesk.invites().some((m) => m.header('call-id') === again.callId), `1002 rings at Amsterdam again (${statusLine(again)})`)
  })

  await t.test("a takeover away from a killed node waits for that node's lease", async (t) => {
    const killedAt = Date.now()
    await branches.killNode('amsterdam')
    const signIn = await berDesk.dial(`*51*1002*${PIN['1002']}`, { timeoutSec: 20 })
    t.equal(statusLine(signIn), '480 Signed in as 1002')
    const waited = signIn.finalAt! - killedAt
    t.comment(`Berlin's sign-in completed ${Math.round(waited)} ms after Amsterdam's node was killed (lease ${LEASE_SECONDS * 1_000} ms)`)
    t.ok(waited >= LEASE_SECONDS * 1_000 - RENEW_INTERVAL_MS - 100, `not before lease − renew interval (${Math.round(waited)} ms)`)
    t.ok(waited <= LEASE_SECONDS * 1_000 + 3_000, 'but within the lease and a few seconds')
    const seat = await branches.seat('1002')
    t.equal(seat?.deviceId, 'ber-desk-2')
    t.same(seat?.pending ?? [], [], 'active')
  })

  await t.test('a takeover away from a node that stopped cleanly does not wait', async (t) => {
    await branches.stopNode('berlin')
    // The stopped node gave its lease up (SIGTERM): the cluster no longer holds one for Berlin, so
    // nothing is left to wait for (the structural check; the timing below is only its consequence).
    const { cluster } = branches.admin()
    const status = await unary(cluster.getClusterStatus.bind(cluster), {}, { metadata: branches.registry.metadata('admin'), timeoutMs: 3_000 })
    t.notOk(status.branches.find((b) => b.siteId === 'berlin')?.leaseHeld, 'Berlin holds no lease after a clean stop')
    const signIn = await chiDesk.dial(`*51*1002*${PIN['1002']}`)
    t.equal(statusLine(signIn), '480 Signed in as 1002')
    const took = signIn.finalAt! - signIn.lastInviteAt!
    // Waiting for the lease would take at least lease − renew interval after the stop (2 s).
    t.ok(took < LEASE_SECONDS * 1_000 - RENEW_INTERVAL_MS, `completed in ${Math.round(took)} ms: not held up by a lease`)
    t.equal((await branches.seat('1002'))?.deviceId, 'chi-desk-2')
    t.equal(invitesFor(berDesk, '1002'), 0, 'the Berlin desk never rang for 1002')
  })
})
