// Calls from desk phones through real SIP nodes (sipp phones, a sipp carrier gateway): an idle
// flex desk may call only emergency numbers (which leave through the desk's own branch with that
// branch's dispatchable location); a seated desk presents the worker's identity
// (P-Asserted-Identity, whatever the phone put there), an unseated one the desk's own extension;
// a worker who sits nowhere is reached at the directory's fallback, else gets a clear 480. The
// phone's digest credentials (its Proxy-Authorization, checked by its node) and its own identity
// claims never reach the callee: not in the branch, not over the trunk, not at the carrier.
import t, { type Test } from 'tap'
import { unary } from '@flexseat/proto'
import { Branches, PIN, type Phone, statusLine } from '../helpers/branches'
import { worker } from '../helpers/registry-cluster'
import type { SippTraceEntry } from '../helpers/sipp'

/** The INVITE of call `callId` as `phone` received it. */
async function inviteAt(phone: Phone, callId: string): Promise<SippTraceEntry> {
  return phone.waitFor((m) => m.method === 'INVITE' && m.header('call-id') === callId, 2_000, `INVITE ${callId}`)
}

/** The phone's credentials stayed at its node: the callee's INVITE carries none. */
function noCredentials(t: Test, invite: SippTraceEntry, where: string): void {
  t.same([...invite.headers('proxy-authorization'), ...invite.headers('authorization')], [], `${where}: no Proxy-Authorization or Authorization`)
}

t.test('calls from desk phones', async (t) => {
  const branches = await Branches.start(t, { confirmationLeaseSeconds: 3, carrier: true })
  const carrier = branches.carrier!
  const amsterdam = branches.branch('amsterdam')
  const chicago = branches.branch('chicago')
  const [amsDesk, amsDesk2, chiDesk, berFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start(),
    branches.phone('amsterdam', 'ams-desk-2').start(),
    branches.phone('chicago', 'chi-desk-1').start(),
    branches.phone('berlin', 'ber-fixed').start(),
  ])

  await t.test('an idle flex desk may not call a normal number', async (t) => {
    const external = await amsDesk2.dial('0201234567')
    t.equal(statusLine(external), '403 Sign in with *51 to call')
    const internal = await amsDesk2.dial(branches.device('ber-fixed').extension)
    t.equal(statusLine(internal), '403 Sign in with *51 to call', 'nor an internal one')
    t.equal(berFixed.invites().length, 0, 'nothing rang')
    t.equal(carrier.invites().length, 0, 'nothing reached the carrier')
  })

  await t.test('an idle flex desk reaches the emergency number through its own branch', async (t) => {
    const call = await amsDesk2.dial('112')
    t.ok(call.answered, `answered by the carrier (${statusLine(call)})`)
    const invite = await inviteAt(carrier, call.callId)
    t.equal(invite.header('x-flexseat-location'), amsterdam.dispatchableLocation, "with Amsterdam's dispatchable location")
    t.ok(call.trace.some((m) => m.direction === 'sent' && m.method === 'INVITE' && m.header('proxy-authorization') !== ''), 'the phone did authenticate its INVITE')
    noCredentials(t, invite, 'at the carrier')

    const call911 = await chiDesk.dial('911')
    t.ok(call911.answered, `Chicago's 911 is answered (${statusLine(call911)})`)
    const invite911 = await inviteAt(carrier, call911.callId)
    t.equal(invite911.header('x-flexseat-location'), chicago.dispatchableLocation, "with Chicago's dispatchable location")
    t.match(invite911.uri ?? '', /^sip:911@/, 'to 911')
  })

  await t.test("a seated desk presents the worker's identity", async (t) => {
    const signIn = await amsDesk.dial(`*51*1001*${PIN['1001']}`)
    t.equal(statusLine(signIn), '480 Signed in as 1001')
    // A phone may put anything in P-Asserted-Identity: the node replaces it.
    const call = await amsDesk.dial(branches.device('ber-fixed').extension, { header: 'P-Asserted-Identity: <sip:9999@evil.example>' })
    t.ok(call.answered, `the Berlin reception answered (${statusLine(call)})`)
    const invite = await inviteAt(berFixed, call.callId)
    t.same(invite.headers('p-asserted-identity'), [`"Ada Lovelace" <sip:1001@${amsterdam.domain}>`], 'exactly one PAI: the worker 1001')
    // Nor does a phone's own claim in P-Preferred-Identity reach the callee.
    const preferred = await amsDesk.dial(branches.device('ber-fixed').extension, { header: 'P-Preferred-Identity: <sip:9999@evil.example>' })
    t.ok(preferred.answered, `answered (${statusLine(preferred)})`)
    const withPreferred = await inviteAt(berFixed, preferred.callId)
    t.same(withPreferred.headers('p-preferred-identity'), [], 'no P-Preferred-Identity at the callee')
    t.same(withPreferred.headers('p-asserted-identity'), [`"Ada Lovelace" <sip:1001@${amsterdam.domain}>`])
    noCredentials(t, withPreferred, 'over the trunk')
    const rpid = await amsDesk.dial(branches.device('ber-fixed').extension, { header: 'Remote-Party-ID: <sip:9999@evil.example>;party=calling' })
    t.same((await inviteAt(berFixed, rpid.callId)).headers('remote-party-id'), [], 'nor its Remote-Party-ID')

    const external = await amsDesk.dial('0201234567')
    t.ok(external.answered, `an external number goes out through the carrier (${statusLine(external)})`)
    const out = await inviteAt(carrier, external.callId)
    t.same(out.headers('p-asserted-identity'), [`"Ada Lovelace" <sip:1001@${amsterdam.domain}>`], 'as 1001')
    noCredentials(t, out, 'at the carrier')
  })

  await t.test("an unseated desk presents its own extension", async (t) => {
    const call = await chiDesk.dial(branches.device('ber-fixed').extension)
    t.equal(statusLine(call), '403 Sign in with *51 to call', 'an idle flex desk first')
    const fixed = branches.phone('amsterdam', 'ams-fixed')
    await fixed.start()
    const fromFixed = await fixed.dial(branches.device('ber-fixed').extension)
    t.ok(fromFixed.answered, `a fixed phone calls freely (${statusLine(fromFixed)})`)
    const invite = await inviteAt(berFixed, fromFixed.callId)
    const pai = invite.headers('p-asserted-identity')
    t.equal(pai.length, 1, 'one PAI')
    t.match(pai[0] ?? '', new RegExp(`<sip:${branches.device('ams-fixed').extension}@`), "the fixed phone's own extension")
    noCredentials(t, invite, 'over the trunk')
    const inBranch = await fixed.dial(branches.device('ams-desk-2').extension)
    t.ok(inBranch.answered, `a desk of its own branch answers (${statusLine(inBranch)})`)
    noCredentials(t, await inviteAt(amsDesk2, inBranch.callId), 'in the branch')
  })

  await t.test("a worker who sits nowhere: the directory's fallback, else a clear 480", async (t) => {
    const { directory } = branches.admin()
    const metadata = branches.registry.metadata('admin')
    const reception = branches.device('ber-fixed').extension
    // Created after the nodes loaded the directory: a lookup that misses refreshes it.
    for (const user of [worker('1007', { fallback: reception, homeSiteId: 'berlin' }), worker('1008', { homeSiteId: 'berlin' })]) {
      await unary(directory.createUser.bind(directory), { requestId: `calls-${user.extension}`, user, pin: '2468' }, { metadata, timeoutMs: 5_000 })
    }
    const fixed = branches.phone('amsterdam', 'ams-fixed')
    await fixed.start()
    const before = berFixed.invites().length
    const toFallback = await fixed.dial('1007')
    t.ok(toFallback.answered, `1007 is not signed in: the call goes to the fallback, Berlin's reception (${statusLine(toFallback)})`)
    t.equal(berFixed.invites().length, before + 1, 'the reception rang')
    const nowhere = await fixed.dial('1008')
    t.equal(statusLine(nowhere), '480 1008 is not signed in', 'no fallback: a clear 480')
    t.equal(berFixed.invites().length, before + 1, 'and nothing else rang')
  })
})
