// Flex sign-in through SIP across three branches (real etcd, registries, SIP engines, SIP nodes;
// phones are sipp): *51*<ext>*<pin> at a desk seats the worker there, calls to the worker's
// extension ring that desk wherever the caller is, a sign-in at another branch moves the seat
// (the old desk is told by MESSAGE and stops ringing), the desk's own extension keeps ringing,
// *51 signs out.
import t from 'tap'
import { Etcd3 } from 'etcd3'
import { featureRequestId } from '@flexseat/sip-node'
import { Branches, PIN, type Phone, statusLine } from '../helpers/branches'
import { uriUser } from '../helpers/sipp'

/** INVITEs `phone` received for `extension` (To user) since `after` (ms since the epoch). */
function invitesFor(phone: Phone, extension: string, after = 0): number {
  return phone.invites().filter((m) => uriUser(m.header('to')) === extension && m.time >= after).length
}

t.test('sign-in, ringing and takeover across branches', async (t) => {
  const branches = await Branches.start(t, { confirmationLeaseSeconds: 3 })
  t.comment(`harness up in ${Math.round(branches.startup.total)} ms (${JSON.stringify(Object.fromEntries(Object.entries(branches.startup).map(([k, v]) => [k, Math.round(v)])))})`)
  const [amsDesk, berDesk, chiFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start(),
    branches.phone('berlin', 'ber-desk-1').start(),
    branches.phone('chicago', 'chi-fixed').start(),
  ])

  await t.test('an unseated worker is not reachable', async (t) => {
    const call = await chiFixed.dial('1001')
    t.equal(statusLine(call), '480 1001 is not signed in', 'the caller hears why')
    t.equal(invitesFor(amsDesk, '1001') + invitesFor(berDesk, '1001'), 0, 'no desk rang')
  })

  await t.test('*51*1001*PIN at an Amsterdam desk seats 1001 there', async (t) => {
    const signIn = await amsDesk.dial(`*51*1001*${PIN['1001']}`)
    t.equal(statusLine(signIn), '480 Signed in as 1001', 'final response names the outcome')
    t.notOk(signIn.answered, 'a feature code never sets up a call')
    t.ok(await amsDesk.waitForMessage('Signed in as 1001 (Ada Lovelace)', 5_000), 'the desk shows who is signed in (MESSAGE)')
    const seat = await branches.seat('1001')
    t.equal(seat?.deviceId, 'ams-desk-1', 'the registry seats 1001 at ams-desk-1')
    t.same(seat?.pending ?? [], [], 'the seat is active (no pending revocation)')
    // The Login's request id is the node's hash of the authenticated INVITE: what a client that
    // saw only the phone's messages (the chaos runner's checkers) can recompute to settle a dial.
    const invite = signIn.trace.filter((m) => m.direction === 'sent' && m.method === 'INVITE').at(-1)!
    const id = featureRequestId('login', 'ams-desk-1', { callId: invite.header('call-id'), cseq: invite.header('cseq').split(/\s+/)[0]!, fromTag: /;\s*tag=([^;>\s]+)/i.exec(invite.header('from'))![1]! })
    const etcd = new Etcd3({ hosts: [...branches.registry.etcd.endpoints] })
    try {
      const record = await etcd.get(`${branches.registry.prefix}requests/${id}`).string()
      t.ok(record !== null, 'etcd holds the Login\'s request record under the id the phone\'s INVITE gives')
    } finally {
      etcd.close()
    }
  })

  await t.test('a call from Chicago to 1001 rings the Amsterdam desk', async (t) => {
    const call = await chiFixed.dial('1001')
    t.ok(call.answered, `answered (${statusLine(call)})`)
    const rang = amsDesk.invites().filter((m) => m.header('call-id') === call.callId)
    t.equal(rang.length, 1, 'the Amsterdam desk got that INVITE')
    t.equal(uriUser(rang[0]?.header('to') ?? ''), '1001', 'addressed to 1001')
    t.equal(invitesFor(berDesk, '1001'), 0, 'the Berlin desk did not ring')
  })

  await t.test("the desk's own extension still rings while 1001 sits on it", async (t) => {
    const own = branches.device('ams-desk-1').extension
    const call = await chiFixed.dial(own)
    t.ok(call.answered, `answered (${statusLine(call)})`)
    t.equal(invitesFor(amsDesk, own), 1, `the desk rang for its own extension ${own}`)
    t.equal((await branches.seat('1001'))?.deviceId, 'ams-desk-1', '1001 is still seated there')
  })

  await t.test('*51*1001*PIN at a Berlin desk moves the seat; Amsterdam is told and stops ringing', async (t) => {
    const before = Date.now()
    const signIn = await berDesk.dial(`*51*1001*${PIN['1001']}`)
    t.equal(statusLine(signIn), '480 Signed in as 1001')
    t.ok(await berDesk.waitForMessage('Signed in as 1001 (Ada Lovelace)', 5_000), 'the Berlin desk is told')
    const told = await amsDesk.waitForMessage('1001 signed out: signed in at Berlin, desk-1', 5_000, before)
    t.ok(told, 'the Amsterdam desk got the MESSAGE for its display')
    t.equal((await branches.seat('1001'))?.deviceId, 'ber-desk-1', 'the registry seats 1001 at ber-desk-1')
    // Bounded revocation, connected case: Amsterdam acknowledged, so the sign-in did not wait
    // out Amsterdam's lease.
    t.ok(signIn.finalAt! - signIn.lastInviteAt! < 3_000, `the sign-in completed in ${Math.round(signIn.finalAt! - signIn.lastInviteAt!)} ms (< the 3 s lease)`)
    const revoked = branches.nodeLogsMatching('amsterdam', (l) => l.msg === 'seat revoked' && l['user'] !== undefined)
    t.ok(revoked.length >= 1, 'the Amsterdam node logged `seat revoked`')

    const after = Date.now()
    const call = await chiFixed.dial('1001')
    t.ok(call.answered, `a new call to 1001 is answered (${statusLine(call)})`)
    t.equal(berDesk.invites().filter((m) => m.header('call-id') === call.callId).length, 1, 'it rang the Berlin desk')
    t.equal(invitesFor(amsDesk, '1001', after), 0, 'the Amsterdam desk no longer rings for 1001')
    const fromAms = await amsDesk.dial(branches.device('chi-fixed').extension)
    t.equal(statusLine(fromAms), '403 Sign in with *51 to call', 'the old desk is an idle flex desk again: it no longer acts as 1001')
  })

  await t.test('*51 at the seated desk signs out', async (t) => {
    const signOut = await berDesk.dial('*51')
    t.equal(statusLine(signOut), '480 Signed out 1001')
    t.ok(await berDesk.waitForMessage('1001 signed out', 5_000), 'the desk is told (MESSAGE)')
    t.equal(await branches.seat('1001'), undefined, 'no seat any more')
    const call = await chiFixed.dial('1001')
    t.equal(statusLine(call), '480 1001 is not signed in')
  })
})
