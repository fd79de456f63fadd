// Emergency calls carry the desk's dispatchable location in the standard form (US MLTS rules:
// RAY BAUM'S Act; RFC 6442, RFC 4119/5491, RFC 5139), end to end over real SIP: the carrier (a
// sipp gateway) receives the INVITE with `Geolocation: <cid:...>`, a multipart/mixed body whose
// PIDF-LO part (found by that Content-ID) holds the site's address plus the desk's floor and room
// as the directory has them, and P-Asserted-Identity with the seated worker and a call-back
// number; and the branch's security desk gets a MESSAGE (Kari's Law) saying who called from where.
// A branch without a civic address still sends its text location. Each case names the guard it
// was seen to fail without.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { type Device, unary, User } from '@flexseat/proto'
import { Branches, PIN, type Phone, statusLine } from '../helpers/branches'
import { civicOf, parts } from '../helpers/pidf'
import type { SippTraceEntry } from '../helpers/sipp'

t.setTimeout(120_000)

/** The INVITE of call `callId` as `phone` received it. */
function inviteAt(phone: Phone, callId: string): Promise<SippTraceEntry> {
  return phone.waitFor((m) => m.method === 'INVITE' && m.header('call-id') === callId, 5_000, `INVITE ${callId}`)
}

/**
 * The civic address elements of the location the INVITE carries, found as RFC 6442 says, after
 * checking the PIDF-LO's structure (RFC 5491: presence / dm:device / gp:geopriv /
 * gp:location-info / ca:civicAddress, a method, a dm:deviceID) and its presentity.
 */
function locationOf(t: Test, invite: SippTraceEntry, entity: string): Map<string, string> {
  const geolocation = invite.header('geolocation')
  const cid = /^<cid:([^>]+)>$/.exec(geolocation)?.[1]
  t.ok(cid, `Geolocation names a body part: ${geolocation}`)
  t.match(invite.header('content-type'), /^multipart\/mixed;\s*boundary=/i, 'a multipart body')
  const all = parts(invite.header('content-type'), invite.body)
  t.equal(all[0]?.headers['content-type'], 'application/sdp', 'the SDP first')
  const part = all.find((p) => p.headers['content-id'] === `<${cid}>`)
  t.equal(part?.headers['content-type'], 'application/pidf+xml', 'the named part is a PIDF-LO')
  const pidf = civicOf(part?.body ?? '', t)
  t.equal(pidf.entity, entity, 'the presentity')
  t.equal(pidf.method, 'Manual', 'a location an administrator configured')
  t.match(pidf.deviceId, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'the desk as a stable device URN')
  return new Map(pidf.elements)
}

t.test('emergency calls carry the desk\'s location and alert the security desk', async (t) => {
  const branches = await Branches.start(t, {
    confirmationLeaseSeconds: 3,
    carrier: true,
    sitePatch: (siteId, doc) => {
      // Chicago's security desk is its reception phone; Amsterdam's a SIP URI (here the carrier
      // gateway stands in for a console); Berlin has no emergency section at all.
      if (siteId === 'chicago') doc.setIn(['emergency', 'security_desk'], '2303')
      if (siteId === 'amsterdam') doc.setIn(['emergency', 'security_desk'], String(doc.getIn(['sip', 'carrier_uri'])).replace('sip:', 'sip:security@'))
    },
  })
  const carrier = branches.carrier!
  const { directory } = branches.admin()
  const metadata = branches.registry.metadata('admin')
  const marks = branches.branches.map((b) => branches.nodeLogMark(b.id))
  const desk = (id: string, floor: string, room: string): Device => {
    const d = branches.device(id)
    return { id, siteId: d.siteId, extension: d.extension, label: d.label, model: 'sipp', flexHost: d.flexHost, revision: '0', floor, room }
  }
  await unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: desk('chi-desk-1', '41', '4102'), updateMask: ['floor', 'room'] }, { metadata, timeoutMs: 5_000 })
  await unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: desk('ams-desk-2', '2', 'B.14'), updateMask: ['floor', 'room'] }, { metadata, timeoutMs: 5_000 })
  await unary(directory.updateUser.bind(directory), { requestId: randomUUID(), user: User.fromPartial({ id: 'edsger', did: '+13125550142' }), updateMask: ['did'] }, { metadata, timeoutMs: 5_000 })
  await Promise.all(branches.branches.map((b, i) => branches.waitForNodeLog(b.id, (l) => l.msg === 'directory refreshed', { since: marks[i], timeoutMs: 15_000, what: '`directory refreshed`' })))
  const [chiDesk1, chiDesk2, chiFixed, amsDesk2, berDesk1] = await Promise.all([
    branches.phone('chicago', 'chi-desk-1').start(),
    branches.phone('chicago', 'chi-desk-2').start(),
    branches.phone('chicago', 'chi-fixed').start(),
    branches.phone('amsterdam', 'ams-desk-2').start(),
    branches.phone('berlin', 'ber-desk-1').start(),
  ])

  // Guards tried: X-Flexseat-Location kept beside the PIDF-LO (the header is there); the desk's
  // floor left out of the location (no FLR); the worker's DID left out of PAI (no tel URI).
  await t.test('a seated worker dials 911: the carrier gets the location by value and the worker to call back', async (t) => {
    t.equal(statusLine(await chiDesk1.dial(`*51*1004*${PIN['1004']}`)), '480 Signed in as 1004', '1004 signs in at Chicago desk 1')
    const since = Date.now()
    const call = await chiDesk1.dial('911')
    t.ok(call.answered, `the carrier answered (${statusLine(call)})`)
    const invite = await inviteAt(carrier, call.callId)
    const civic = locationOf(t, invite, 'pres:1004@chicago.flexseat.test')
    t.match(Object.fromEntries(civic), { country: 'US', A1: 'IL', A3: 'Chicago', RD: 'S Wacker', HNO: '233', PC: '60606', FLR: '41', ROOM: '4102', SEAT: 'desk-1' }, "the site's address with the desk's floor, room and label")
    t.equal(invite.header('geolocation-routing'), 'yes', 'the location may route the call (to the PSAP)')
    t.same(invite.headers('x-flexseat-location'), [], 'no text location beside it')
    t.same(invite.headers('p-asserted-identity').join(', '), '"Edsger Dijkstra" <sip:1004@chicago.flexseat.test>, <tel:+13125550142>', 'the worker, and their DID to call back')
    const alert = await chiFixed.waitForMessage(/^EMERGENCY call to 911/, 5_000, since)
    t.equal(alert.text, 'EMERGENCY call to 911 from desk-1 (chi-desk-1, 2301), Chicago: flexseat Chicago, Willis Tower, 233 S Wacker Dr, Chicago, IL 60606, US, floor 41, room 4102; 1004 Edsger Dijkstra; call back +13125550142', 'the security desk is told who, from where')
    const message = chiFixed.received().find((m) => m.method === 'MESSAGE' && m.body.startsWith('EMERGENCY'))
    t.equal(message?.header('priority'), 'emergency')
  })

  // Guard tried: the site's callback_number left out (the idle desk gives no number to call back).
  await t.test('an idle desk dials 933: its own extension, the branch\'s number to call back, no floor it does not have', async (t) => {
    const since = Date.now()
    const call = await chiDesk2.dial('933')
    t.ok(call.answered, `answered (${statusLine(call)})`)
    const invite = await inviteAt(carrier, call.callId)
    t.same(invite.headers('p-asserted-identity').join(', '), '<sip:2302@chicago.flexseat.test>, <tel:+13125550100>')
    const civic = locationOf(t, invite, 'pres:2302@chicago.flexseat.test')
    t.equal(civic.get('FLR'), undefined, 'no floor')
    t.equal(civic.get('SEAT'), 'desk-2')
    t.match((await chiFixed.waitForMessage(/^EMERGENCY call to 933/, 5_000, since)).text, /desk-2 \(chi-desk-2, 2302\).*; nobody signed in; call back \+13125550100$/)
  })

  // Guard tried: a SIP URI security desk looked up as an extension (nothing is sent).
  await t.test('a security desk given as a SIP URI; a branch without a civic address keeps its text location', async (t) => {
    const call = await amsDesk2.dial('112')
    t.ok(call.answered, `Amsterdam's 112 (${statusLine(call)})`)
    const invite = await inviteAt(carrier, call.callId)
    t.match(Object.fromEntries(locationOf(t, invite, 'pres:2102@amsterdam.flexseat.test')), { country: 'NL', A3: 'Amsterdam', RD: 'Herengracht', FLR: '2', ROOM: 'B.14' })
    const alert = await carrier.waitFor((m) => m.method === 'MESSAGE' && m.body.includes('(ams-desk-2, 2102)'), 5_000, "Amsterdam's alert at the console")
    t.match(alert.uri ?? '', /^sip:security@/, 'sent to the URI configured')

    const berlin = await berDesk1.dial('112')
    t.ok(berlin.answered, `Berlin's 112 (${statusLine(berlin)})`)
    const plain = await inviteAt(carrier, berlin.callId)
    t.equal(plain.header('x-flexseat-location'), branches.branch('berlin').dispatchableLocation, 'the text location, as before')
    t.same(plain.headers('geolocation'), [], 'no Geolocation without an address to point to')
    t.match(plain.header('content-type'), /^application\/sdp/)
  })
})
