/**
 * Header names and header changes as drachtio-server writes an application's headers: the
 * well-known ones in the SIP stack's spelling (`Contact:`, `Expires:`, `P-Asserted-Identity:`,
 * `WWW-Authenticate:`), others capitalised after each dash, `X-` names as given; a proxy replaces
 * a header held once (Subject) and adds any other beside the request's own (removing none). Checked
 * case-sensitively on the wire and with sipp's own header search, on both engines.
 */
import t from 'tap'
import { connectSrf, deadline, headerLine, responseTo, startEngine, udpPeer } from '../helpers/sip-engine'
import { runSipp } from '../helpers/sipp'

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n'

/** Header names of a message as written, in order. */
function names(msg: string): string[] {
  return msg.slice(0, msg.indexOf('\r\n\r\n')).split('\r\n').slice(1).map((line) => line.slice(0, line.indexOf(':')))
}

/** Every value of a header whose name is written exactly `name`. */
function exactly(msg: string, name: string): string[] {
  return msg.slice(0, msg.indexOf('\r\n\r\n')).split('\r\n').filter((line) => line.startsWith(`${name}:`)).map((line) => line.slice(name.length + 1).trim())
}

t.test('the names of an application\'s headers, in responses, new requests and in-dialog requests', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  // drachtio-srf itself writes these names in lower case
  const headers = { contact: '<sip:1001@127.0.0.1:5099>;expires=600', expires: '600', 'p-asserted-identity': '<sip:1001@example.test>', 'www-authenticate': 'Digest realm="r", nonce="n"', 'call-info': '<http://example.test/i>', 'X-Mixed': 'a', 'x-lower': 'b', 'my-header': 'c' }
  srf.register((_req, res) => res.send(200, { headers }))

  // sipp finds Contact:, Expires: and P-Asserted-Identity: by their exact names
  const sipp = await runSipp(t, { scenario: 'uac-register-headers.xml', transport: 'udp', remote: `127.0.0.1:${engine.sipPort}` })
  t.equal(sipp.code, 0, "sipp's case-sensitive header search finds them", { stderr: sipp.stderr })

  const phone = await udpPeer(t)
  phone.send([`REGISTER sip:127.0.0.1:${engine.sipPort} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-names-1;rport`, 'From: <sip:1001@example.test>;tag=n1', 'To: <sip:1001@example.test>', 'Call-ID: names-1', 'CSeq: 1 REGISTER', `Contact: <sip:1001@127.0.0.1:${phone.port}>`, 'Content-Length: 0', '', ''].join('\r\n'), engine.sipPort)
  const ok = await phone.next((m) => m.startsWith('SIP/2.0 200'), 3000, '200 to REGISTER')
  for (const name of ['Contact', 'Expires', 'P-Asserted-Identity', 'WWW-Authenticate', 'Call-Info', 'X-Mixed', 'x-lower', 'My-Header']) t.ok(names(ok).includes(name), `response: ${name}:`)
  t.notOk(names(ok).some((name) => /^(contact|expires|p-asserted-identity|my-header)$/.test(name)), 'no lower-case well-known name')

  srf.request(`sip:1001@127.0.0.1:${phone.port}`, { method: 'MESSAGE', headers: { 'content-type': 'text/plain', subject: 'hello', 'p-asserted-identity': '<sip:node@example.test>' }, body: 'hi' }, () => undefined)
  const message = await phone.next((m) => m.startsWith('MESSAGE '), 3000, 'MESSAGE')
  for (const name of ['Content-Type', 'Subject', 'P-Asserted-Identity']) t.ok(names(message).includes(name), `new request: ${name}:`)
  phone.send(responseTo(message, '200 OK', { toTag: 'm1' }), engine.sipPort)

  phone.next((m) => m.startsWith('INVITE '), 5000, 'INVITE').then(
    (invite) => phone.send(responseTo(invite, '200 OK', { toTag: 'd1', headers: [`Contact: <sip:1001@127.0.0.1:${phone.port}>`, 'Content-Type: application/sdp'], body: SDP }), engine.sipPort),
    () => undefined,
  )
  const dialog = await deadline(srf.createUAC(`sip:1001@127.0.0.1:${phone.port}`, { localSdp: SDP }), 5000, 'createUAC')
  void dialog.request({ method: 'INFO', headers: { 'content-type': 'application/dtmf-relay', 'p-asserted-identity': '<sip:node@example.test>' }, body: 'Signal=1\r\nDuration=100\r\n' }).catch(() => undefined)
  const info = await phone.next((m) => m.startsWith('INFO '), 3000, 'INFO')
  for (const name of ['Content-Type', 'P-Asserted-Identity']) t.ok(names(info).includes(name), `in-dialog request: ${name}:`)
  phone.send(responseTo(info, '200 OK'), engine.sipPort)
})

t.test('a proxy replaces a header held once and adds any other beside the request\'s own; it removes none', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const phone = await udpPeer(t)
  const callee = await udpPeer(t)
  srf.invite((req) => {
    req.proxy({ destination: [`sip:2000@127.0.0.1:${callee.port}`], headers: { subject: 'from the app', 'X-Loc': 'from the app', 'p-asserted-identity': '<sip:app@example.test>' } }).catch(() => undefined)
  })
  phone.send([
    `INVITE sip:2000@127.0.0.1:${engine.sipPort} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-proxy-h1;rport`, 'From: <sip:1001@example.test>;tag=p1', 'To: <sip:2000@example.test>', 'Call-ID: proxy-headers-1', 'CSeq: 1 INVITE', 'Max-Forwards: 70', `Contact: <sip:1001@127.0.0.1:${phone.port}>`,
    'Subject: from the phone', 'X-Loc: from the phone', 'P-Asserted-Identity: <sip:phone@example.test>', 'Proxy-Authorization: Digest username="1001", realm="example.test", nonce="n", uri="sip:2000@example.test", response="0"',
    'Content-Type: application/sdp', `Content-Length: ${SDP.length}`, '', SDP,
  ].join('\r\n'), engine.sipPort)
  const invite = await callee.next((m) => m.startsWith('INVITE '), 3000, 'proxied INVITE')
  t.same(exactly(invite, 'Subject'), ['from the app'], 'Subject (held once): replaced')
  t.same(exactly(invite, 'X-Loc').sort(), ['from the app', 'from the phone'], 'X-Loc: added beside the phone\'s')
  t.same(exactly(invite, 'P-Asserted-Identity').sort(), ['<sip:app@example.test>', '<sip:phone@example.test>'], "P-Asserted-Identity: added beside the phone's (a proxy cannot replace a phone's identity claim)")
  t.match(headerLine(invite, 'Proxy-Authorization'), /username="1001"/, "the phone's credentials pass through a proxy: the SIP node carries phones' calls back to back")
  callee.send(responseTo(invite, '486 Busy Here', { toTag: 'b1' }), engine.sipPort)
  await phone.next((m) => m.startsWith('SIP/2.0 486'), 3000, '486 upstream')
})
