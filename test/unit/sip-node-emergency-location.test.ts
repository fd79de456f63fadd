// The dispatchable location in the standard form (RFC 6442, RFC 4119/5491, RFC 5139), built by
// emergency-location.ts and parsed back the way a PSAP's system would: the multipart body split
// at its boundary, the part the Geolocation header's cid names found by Content-ID, its PIDF-LO
// parsed as XML (namespaces, element order), the civic address read back.
import t from 'tap'
import type { CivicAddress } from '@flexseat/config'
import { deviceUrn, geolocationValue, locationText, pidfLo, withLocation } from '@flexseat/sip-node'
import { civicOf, parts } from '../helpers/pidf'

const ADDRESS: CivicAddress = { country: 'US', state: 'IL', county: 'Cook', city: 'Chicago', street: 'S Wacker', streetSuffix: 'Dr', houseNumber: '233', postalCode: '60606', building: 'Willis Tower', name: 'flexseat <Chicago> & co' }
const SDP = 'v=0\no=phone 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 6000 RTP/AVP 0\n'

t.test('a PIDF-LO document of a desk: RFC 5139 elements in schema order, escaped, a device URN', async (t) => {
  const urn = deviceUrn('chi-desk-1', 'chicago.flexseat.test')
  t.match(urn, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a name-based (version 5) UUID URN')
  t.equal(deviceUrn('chi-desk-1', 'chicago.flexseat.test'), urn, 'the same desk, the same URN')
  t.not(deviceUrn('chi-desk-2', 'chicago.flexseat.test'), urn)
  const pidf = pidfLo({ entity: 'pres:1004@chicago.flexseat.test', location: { address: ADDRESS, floor: '41', room: '4102 (north)', seat: 'desk-1' }, deviceId: '2301', deviceUrn: urn, timestamp: new Date('2026-12-01T10:00:00Z') })
  const read = civicOf(pidf, t)
  t.equal(read.entity, 'pres:1004@chicago.flexseat.test')
  t.same(read.elements, [
    ['country', 'US'],
    ['A1', 'IL'],
    ['A2', 'Cook'],
    ['A3', 'Chicago'],
    ['RD', 'S Wacker'],
    ['STS', 'Dr'],
    ['HNO', '233'],
    ['FLR', '41'],
    ['NAM', 'flexseat <Chicago> & co'],
    ['PC', '60606'],
    ['BLD', 'Willis Tower'],
    ['ROOM', '4102 (north)'],
    ['SEAT', 'desk-1'],
  ], 'every element, in RFC 5139 schema order, text escaped and read back as given')
  t.equal(read.deviceId, urn)
  t.equal(read.method, 'Manual')
  t.match(pidf, /<dm:device id="d-2301">/, 'a device id that starts with a digit is made a valid XML ID')
  const bare = civicOf(pidfLo({ entity: 'pres:2301@x', location: { address: { country: 'NL' }, floor: '', room: '', seat: '' }, deviceId: 'd', deviceUrn: urn, timestamp: new Date(0) }))
  t.same(bare.elements, [['country', 'NL']], 'empty parts are left out')
})

t.test('the multipart body: the SDP first, the PIDF-LO by Content-ID, as the Geolocation header names it', async (t) => {
  const pidf = pidfLo({ entity: 'pres:1004@chicago.flexseat.test', location: { address: ADDRESS, floor: '41', room: '', seat: '' }, deviceId: 'chi-desk-1', deviceUrn: 'urn:uuid:x', timestamp: new Date() })
  const { contentType, body } = withLocation(SDP, 'application/sdp', { contentId: 'abc123@chicago.flexseat.test', pidf }, 'flexseat-b1')
  t.equal(contentType, 'multipart/mixed;boundary=flexseat-b1')
  t.notMatch(body, /[^\r]\n/, 'every line ends with CRLF')
  const [sdp, location, ...rest] = parts(contentType, body)
  t.same(rest, [], 'two parts')
  t.equal(sdp!.headers['content-type'], 'application/sdp')
  t.equal(sdp!.body, SDP.replace(/\n/g, '\r\n').replace(/\r\n$/, ''), 'the SDP unchanged')
  t.equal(location!.headers['content-type'], 'application/pidf+xml')
  const geolocation = geolocationValue('abc123@chicago.flexseat.test')
  t.equal(geolocation, '<cid:abc123@chicago.flexseat.test>')
  t.equal(`<cid:${/^<(.*)>$/.exec(location!.headers['content-id']!)![1]}>`, geolocation, "the header's cid names this part's Content-ID")
  t.equal(civicOf(location!.body).elements[0]![1], 'US')
})

t.test('the location as one line of text (the security desk)', async (t) => {
  t.equal(locationText({ address: ADDRESS, floor: '41', room: '4102', seat: 'desk-1' }), 'flexseat <Chicago> & co, Willis Tower, 233 S Wacker Dr, Chicago, IL 60606, US, floor 41, room 4102')
  t.equal(locationText({ address: { country: 'NL', city: 'Amsterdam' }, floor: '', room: '', seat: '' }), 'Amsterdam, NL')
})
