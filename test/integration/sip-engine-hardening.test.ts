/**
 * Bad input that must neither crash the engine nor turn it into a relay, and the details of what
 * it puts on the wire for applications: ports out of range in Route/Contact, foreign Routes,
 * Content-Type for SDP, UTF-8 bodies, no stray ACK for a failed INVITE, in-dialog requests to the
 * remote target (or, behind NAT, to where the phone sent from), a challenged BYE. Everything is observed on the wire (raw UDP phones) or through
 * drachtio-srf's public API, so the file is valid against a real drachtio-server too.
 */
import t from 'tap'
import { connectSrf, deadline, headerLine, responseTo, startEngine, udpPeer, type EngineHandle, type TestLike, type UdpPeer } from '../helpers/sip-engine'
import type { SrfApp } from '../helpers/srf'

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n'
let seq = 0

/** A request from a raw phone to the engine. */
function request(method: string, phone: UdpPeer, engineUri: string, opts: { toTag?: string; callId?: string; headers?: string[]; body?: string; branch?: string; cseq?: number } = {}): string {
  const body = opts.body ?? ''
  const callId = opts.callId ?? `hard-${process.pid}-${++seq}`
  return [
    `${method} ${engineUri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${opts.branch ?? `z9hG4bK-hard-${process.pid}-${++seq}`};rport`,
    `From: <sip:1001@127.0.0.1:${phone.port}>;tag=f-${callId}`,
    `To: <sip:svc@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${opts.cseq ?? 1} ${method}`,
    'Max-Forwards: 70',
    ...(opts.headers ?? []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n')
}

const isStatus = (code: number, callId?: string) => (m: string): boolean =>
  m.startsWith(`SIP/2.0 ${code} `) && (callId === undefined || m.includes(`Call-ID: ${callId}\r\n`))

/** Sends an OPTIONS and waits for the application's 200: proves the engine still serves. */
async function stillServing(phone: UdpPeer, sipPort: number): Promise<void> {
  const callId = `alive-${++seq}`
  phone.send(request('OPTIONS', phone, `sip:svc@127.0.0.1:${sipPort}`, { callId }), sipPort)
  await phone.next(isStatus(200, callId), 3000, 'OPTIONS answered')
}

async function optionsApp(t: TestLike, engine: EngineHandle): Promise<SrfApp> {
  const srf = await connectSrf(t, engine)
  srf.options((_req, res) => res.send(200))
  return srf
}

t.test('ports out of range in a Route or a Contact do not take the engine down', async (t) => {
  const engine = await startEngine(t)
  const srf = await optionsApp(t, engine)
  const phone = await udpPeer(t)
  const uri = `sip:svc@127.0.0.1:${engine.sipPort}`
  // an ACK routed through the engine on to a port that does not exist, and one with a foreign Route
  phone.send(request('ACK', phone, uri, { toTag: 'x1', headers: [`Route: <sip:127.0.0.1:${engine.sipPort};lr>, <sip:127.0.0.1:99999;lr>`] }), engine.sipPort)
  phone.send(request('ACK', phone, uri, { toTag: 'x2', headers: ['Route: <sip:127.0.0.1:99999;lr>'] }), engine.sipPort)
  phone.send(request('ACK', phone, uri, { toTag: 'x3', headers: ['Route: <sip:127.0.0.1:0;lr>'] }), engine.sipPort)
  await stillServing(phone, engine.sipPort)
  // a 200 whose Contact has port 0: drachtio-srf ACKs it at once
  const callee = await udpPeer(t)
  callee.next((m) => m.startsWith('INVITE '), 5000, 'INVITE at the callee').then(
    (inv) => callee.send(responseTo(inv, '200 OK', { toTag: 'c0', headers: ['Contact: <sip:1001@127.0.0.1:0>', 'Content-Type: application/sdp'], body: SDP }), engine.sipPort),
    () => undefined,
  )
  await deadline(srf.createUAC(`sip:1001@127.0.0.1:${callee.port}`, { localSdp: SDP }).catch(() => undefined), 5000, 'createUAC settles')
  await stillServing(phone, engine.sipPort)
  t.equal(engine.proc.exitCode, null, 'engine process still running')
  t.equal(engine.proc.signalCode, null)
})

t.test('a foreign Route is never followed (no open relay)', async (t) => {
  const engine = await startEngine(t)
  await optionsApp(t, engine)
  const phone = await udpPeer(t)
  const victim = await udpPeer(t)
  const uri = `sip:svc@127.0.0.1:${engine.sipPort}`
  const route = `Route: <sip:127.0.0.1:${victim.port};lr>`
  phone.send(request('ACK', phone, uri, { toTag: 'r1', headers: [route] }), engine.sipPort)
  const optId = `relay-opt-${seq}`
  phone.send(request('OPTIONS', phone, uri, { callId: optId, headers: [route] }), engine.sipPort)
  t.ok(await phone.next(isStatus(200, optId), 3000, 'OPTIONS answered'), 'the routed application answered the OPTIONS itself')
  const byeId = `relay-bye-${seq}`
  phone.send(request('BYE', phone, uri, { callId: byeId, toTag: 'r2', headers: [route] }), engine.sipPort)
  t.ok(await phone.next(isStatus(481, byeId), 3000, 'BYE answered 481'), 'a BYE for no dialog gets 481')
  t.same(victim.received, [], 'nothing was relayed to the Route')
})

t.test('an SDP body without Content-Type gets application/sdp; other bodies without one are refused', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  srf.invite((_req, res) => res.send(200, { body: SDP }))
  const phone = await udpPeer(t)
  const callId = `ct-${seq}`
  phone.send(request('INVITE', phone, `sip:svc@127.0.0.1:${engine.sipPort}`, { callId, headers: [`Contact: <sip:1001@127.0.0.1:${phone.port}>`, 'Content-Type: application/sdp'], body: SDP }), engine.sipPort)
  const ok = await phone.next(isStatus(200, callId), 3000, '200 to INVITE')
  t.match(headerLine(ok, 'Content-Type'), /^Content-Type:\s*application\/sdp/i, '200 carries Content-Type: application/sdp')
  t.match(ok, /\r\n\r\nv=0\r\n/, 'with the SDP')
  phone.send(request('ACK', phone, `sip:svc@127.0.0.1:${engine.sipPort}`, { callId, toTag: /;tag=([^;\s]+)/.exec(headerLine(ok, 'To'))![1] }), engine.sipPort)

  const err = await deadline(
    new Promise<Error | null>((resolve) => {
      srf.request(`sip:1001@127.0.0.1:${phone.port}`, { method: 'MESSAGE', body: 'plain words, no type' }, (e) => resolve(e))
    }),
    3000,
    'srf.request callback',
  )
  t.ok(err, `a non-SDP body without Content-Type is refused (${String(err)})`)
  t.notOk(phone.received.some((m) => m.startsWith('MESSAGE ')), 'and never sent')
})

t.test('UTF-8 bodies: whole, with a byte Content-Length, both ways', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  // Registered first: drachtio-srf tells the server it takes MESSAGEs (a route command) when the
  // handler is set, and the server serves incoming requests only for verbs routed so; the app's
  // own MESSAGE below, sent after it on the same connection, orders the two.
  const got = new Promise<string>((resolve) => srf.message((req, res) => {
    resolve(req.body)
    res.send(200)
  }))
  const text = 'Grüße: 1001 sitzt jetzt in Berlin — Platz 3 👋'
  const phone = await udpPeer(t)
  srf.request(`sip:1001@127.0.0.1:${phone.port}`, { method: 'MESSAGE', headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body: text }, () => undefined)
  const msg = await phone.next((m) => m.startsWith('MESSAGE '), 3000, 'MESSAGE at the phone')
  const body = msg.slice(msg.indexOf('\r\n\r\n') + 4)
  t.equal(body, text, 'body arrived whole')
  t.equal(Number(/^Content-Length:\s*(\d+)/im.exec(msg)?.[1]), Buffer.byteLength(text), 'Content-Length counts bytes')
  phone.send(responseTo(msg, '200 OK', { toTag: 'u8' }), engine.sipPort)

  phone.send(request('MESSAGE', phone, `sip:svc@127.0.0.1:${engine.sipPort}`, { headers: ['Content-Type: text/plain;charset=UTF-8'], body: text }), engine.sipPort)
  t.equal(await deadline(got, 3000, 'MESSAGE at the app'), text, 'the app got the phone’s UTF-8 body whole')
})

t.test('a failed INVITE gets exactly one ACK (from the transaction), no stray one', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const phone = await udpPeer(t)
  const invite = phone.next((m) => m.startsWith('INVITE '), 5000, 'INVITE at the phone')
  const uac = srf.createUAC(`sip:1001@127.0.0.1:${phone.port}`, { localSdp: SDP })
  const inv = await invite
  phone.send(responseTo(inv, '486 Busy Here', { toTag: 'busy' }), engine.sipPort)
  const failure = await deadline(uac.then(() => undefined, (e: { status?: number }) => e), 5000, 'createUAC')
  t.equal(failure?.status, 486, 'createUAC rejects with 486')
  // a later request from the app is a sequence point: anything the app sent before it is here
  srf.request(`sip:1001@127.0.0.1:${phone.port}`, { method: 'OPTIONS' }, () => undefined)
  await phone.next((m) => m.startsWith('OPTIONS '), 3000, 'OPTIONS after the failed call')
  const before = phone.received.slice(0, phone.received.findIndex((m) => m.startsWith('OPTIONS ')))
  const acks = before.filter((m) => m.startsWith('ACK '))
  t.equal(acks.length, 1, `one ACK (${acks.length})`)
  const branch = (m: string): string => /branch=([^;\s]+)/.exec(headerLine(m, 'Via'))?.[1] ?? ''
  t.equal(branch(acks[0] ?? ''), branch(inv), 'the ACK of the INVITE transaction (same branch)')
})

/**
 * Answers an INVITE sent from `phone` whose Contact names `contactPort`, and resolves with the
 * UAS dialog and the 200 the phone got.
 */
async function uasDialog(engine: EngineHandle, srf: SrfApp, phone: UdpPeer, contactPort: number, headers: string[] = []): Promise<Awaited<ReturnType<SrfApp['createUAS']>>> {
  const dialog = new Promise<Awaited<ReturnType<SrfApp['createUAS']>>>((resolve, reject) => {
    srf.invite((req, res) => {
      srf.createUAS(req, res, { localSdp: SDP }).then(resolve, reject)
    })
  })
  const callId = `target-${++seq}`
  const uri = `sip:svc@127.0.0.1:${engine.sipPort}`
  phone.send(request('INVITE', phone, uri, { callId, headers: [`Contact: <sip:1001@127.0.0.1:${contactPort}>`, 'Content-Type: application/sdp', ...headers], body: SDP }), engine.sipPort)
  const ok = await phone.next(isStatus(200, callId), 3000, '200')
  phone.send(request('ACK', phone, uri, { callId, toTag: /;tag=([^;\s]+)/.exec(headerLine(ok, 'To'))![1] }), engine.sipPort)
  return deadline(dialog, 3000, 'UAS dialog')
}

t.test('in-dialog requests of a UAS dialog go to the remote target (Contact), from where the phone sent it', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const phone = await udpPeer(t)
  const dlg = await uasDialog(engine, srf, phone, phone.port)
  const destroyed = dlg.destroy()
  const bye = await phone.next((m) => m.startsWith('BYE '), 3000, 'BYE at the Contact')
  t.match(bye, new RegExp(`^BYE sip:1001@127\\.0\\.0\\.1:${phone.port} `), 'addressed to the Contact')
  phone.send(responseTo(bye, '200 OK'), engine.sipPort)
  await deadline(destroyed, 3000, 'destroy')
})

t.test('a phone behind NAT (UDP, its Contact is not where it sent from) is reached where it sent from', async (t) => {
  // drachtio-server's NAT rule: with no Record-Route, a Contact naming another address or port
  // than the INVITE's source means a private address behind NAT; the BYE goes to the source.
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const phone = await udpPeer(t)
  const privateAddress = await udpPeer(t)
  const dlg = await uasDialog(engine, srf, phone, privateAddress.port)
  const destroyed = dlg.destroy()
  const bye = await phone.next((m) => m.startsWith('BYE '), 3000, 'BYE at the source address')
  t.match(bye, new RegExp(`^BYE sip:1001@127\\.0\\.0\\.1:${privateAddress.port} `), 'still addressed to the Contact')
  phone.send(responseTo(bye, '200 OK'), engine.sipPort)
  await deadline(destroyed, 3000, 'destroy')
  t.notOk(privateAddress.received.some((m) => m.startsWith('BYE ')), 'nothing sent to the Contact\'s own address')
})

t.test('a BYE challenged 401 keeps the dialog: drachtio-srf retries with credentials', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const phone = await udpPeer(t)
  phone.next((m) => m.startsWith('INVITE '), 5000, 'INVITE').then(
    (inv) => phone.send(responseTo(inv, '200 OK', { toTag: 'auth', headers: [`Contact: <sip:1001@127.0.0.1:${phone.port}>`, 'Content-Type: application/sdp'], body: SDP }), engine.sipPort),
    () => undefined,
  )
  const dlg = await deadline(srf.createUAC(`sip:1001@127.0.0.1:${phone.port}`, { localSdp: SDP, auth: { username: '1001', password: 'secret' } }), 5000, 'createUAC')
  const destroyed = dlg.destroy()
  const bye1 = await phone.next((m) => m.startsWith('BYE '), 3000, 'first BYE')
  phone.send(responseTo(bye1, '401 Unauthorized', { headers: ['WWW-Authenticate: Digest realm="flexseat", nonce="abc123", algorithm=MD5, qop="auth"'] }), engine.sipPort)
  const bye2 = await phone.next((m) => m.startsWith('BYE ') && /^Authorization:/im.test(m), 3000, 'BYE with credentials')
  t.match(headerLine(bye2, 'Authorization'), /username="1001"/, 'credentials for 1001')
  t.equal(headerLine(bye2, 'Call-ID'), headerLine(bye1, 'Call-ID'), 'same dialog')
  phone.send(responseTo(bye2, '200 OK'), engine.sipPort)
  await deadline(destroyed, 3000, 'destroy resolves')
  t.pass('dialog destroyed after the authenticated BYE')
})
