/**
 * Timers and clean-up of the engine as a library, with short RFC 3261 timers (T1 = 20 ms, so
 * 64*T1 = 1.28 s): a provisional stops Timer B, proxy Timer C cancels a branch ringing too long,
 * an application that never answers or goes away does not leave transactions behind, a 2xx keeps
 * being retransmitted (then BYE) after its application disconnected, proxy refusals and failover
 * CANCEL, and replies leaving from the socket a request arrived on. Raw UDP phones on 127.0.0.1.
 */
import t from 'tap'
import * as dgram from 'node:dgram'
import { SipEngine, type SipEngineOptions } from '@flexseat/sip-engine'
import { connectSrf, deadline, headerLine, responseTo, udpPeer, waitFor, type EngineHandle, type TestLike, type UdpPeer } from '../helpers/sip-engine'
import type { ProxyResult, SrfApp } from '../helpers/srf'

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n'
const T1 = 20
let seq = 0

async function engineWithApp(t: TestLike, extra: Partial<SipEngineOptions> = {}): Promise<{ engine: SipEngine; srf: SrfApp; port: number }> {
  const engine = await SipEngine.create({ contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp'] }], controlPort: 0, timers: { T1, T2: 4 * T1, T4: 5 * T1 }, ...extra })
  t.teardown(() => engine.stop())
  const srf = await connectSrf(t, { controlPort: engine.controlPort, secret: 'cymru' } as EngineHandle)
  return { engine, srf, port: engine.sipAddresses[0]!.port }
}

function request(method: string, phone: UdpPeer, port: number, opts: { callId?: string; toTag?: string; headers?: string[]; body?: string; maxForwards?: number } = {}): string {
  const body = opts.body ?? ''
  const callId = opts.callId ?? `tm-${process.pid}-${++seq}`
  return [
    `${method} sip:svc@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-tm-${process.pid}-${++seq};rport`,
    `From: <sip:1001@127.0.0.1:${phone.port}>;tag=f-${callId}`,
    `To: <sip:svc@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    `Max-Forwards: ${opts.maxForwards ?? 70}`,
    `Contact: <sip:1001@127.0.0.1:${phone.port}>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    ...(opts.headers ?? []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n')
}

const final = (callId: string) => (m: string): boolean => /^SIP\/2\.0 [2-6]\d\d /.test(m) && m.includes(`Call-ID: ${callId}\r\n`) && /CSeq: 1 (INVITE|OPTIONS)/.test(m)
const toTagOf = (m: string): string => /;tag=([^;\s]+)/.exec(headerLine(m, 'To'))?.[1] ?? ''

t.test('a provisional stops Timer B: a call answered after 64*T1 of ringing connects', async (t) => {
  const { srf } = await engineWithApp(t)
  const phone = await udpPeer(t)
  phone.next((m) => m.startsWith('INVITE '), 3000, 'INVITE').then((inv) => {
    phone.send(responseTo(inv, '180 Ringing', { toTag: 'ring' }), Number(/:(\d+);/.exec(headerLine(inv, 'Via'))![1]))
    // the callee picks up after Timer B (64*T1) would have fired
    setTimeout(() => phone.send(responseTo(inv, '200 OK', { toTag: 'ring', headers: [`Contact: <sip:1001@127.0.0.1:${phone.port}>`, 'Content-Type: application/sdp'], body: SDP }), Number(/:(\d+);/.exec(headerLine(inv, 'Via'))![1])), 64 * T1 + 500)
  }, () => undefined)
  const dlg = await deadline(srf.createUAC(`sip:1001@127.0.0.1:${phone.port}`, { localSdp: SDP }), 5000, 'createUAC')
  t.ok(dlg.id, 'connected, not 408')
  await phone.next((m) => m.startsWith('ACK '), 2000, 'ACK for the 200')
})

t.test('proxy Timer C cancels a branch that rings too long; the generated final is reported', async (t) => {
  const { srf, port } = await engineWithApp(t, { proxyTimerCMs: 400 })
  const caller = await udpPeer(t)
  const callee = await udpPeer(t)
  const result = new Promise<ProxyResult>((resolve, reject) => {
    srf.invite((req) => {
      req.proxy({ destination: `sip:1001@127.0.0.1:${callee.port}` }).then(resolve, reject)
    })
  })
  const callId = `timerc-${seq}`
  caller.send(request('INVITE', caller, port, { callId, body: SDP }), port)
  const inv = await callee.next((m) => m.startsWith('INVITE '), 3000, 'INVITE at the callee')
  callee.send(responseTo(inv, '180 Ringing', { toTag: 'tc' }), port)
  const cancel = await callee.next((m) => m.startsWith('CANCEL '), 3000, 'CANCEL from Timer C')
  callee.send(responseTo(cancel, '200 OK', { toTag: 'tc' }), port)
  callee.send(responseTo(inv, '487 Request Terminated', { toTag: 'tc' }), port)
  const fin = await caller.next(final(callId), 3000, 'final at the caller')
  const status = Number(fin.slice(8, 11))
  t.ok(status >= 400, `caller got a final error (${status})`)
  const r = await deadline(result, 3000, 'proxy result')
  t.equal(r.finalStatus, status, 'the application learns the status the caller got')
  t.notOk(JSON.stringify(r.responses).includes('"status":180'), 'provisional responses are not reported')
})

t.test('an application that never answers: 408 after 64*T1, transactions freed', async (t) => {
  const { engine, srf, port } = await engineWithApp(t)
  srf.options(() => undefined)
  const phone = await udpPeer(t)
  const callId = `silent-${seq}`
  phone.send(request('OPTIONS', phone, port, { callId }), port)
  const res = await phone.next(final(callId), 64 * T1 + 3000, 'a final response')
  t.match(res, /^SIP\/2\.0 408 /, '408 Request Timeout')
  await waitFor(() => engine.stats.serverTransactions === 0, 64 * T1 + 3000, 'server transactions freed')
  t.pass('no transaction left')
})

t.test('an application that goes away with an INVITE pending: 480 to the caller', async (t) => {
  const { srf, port } = await engineWithApp(t)
  const got = new Promise<void>((resolve) => srf.invite(() => resolve()))
  const phone = await udpPeer(t)
  const callId = `gone-${seq}`
  phone.send(request('INVITE', phone, port, { callId, body: SDP }), port)
  await deadline(got, 3000, 'INVITE at the app')
  srf.disconnect()
  const res = await phone.next(final(callId), 3000, 'a final response')
  t.match(res, /^SIP\/2\.0 480 /, '480 once the application is gone')
})

t.test('a 2xx outlives its application: retransmitted, then BYE; a BYE still ends the dialog', async (t) => {
  const { engine, srf, port } = await engineWithApp(t)
  const answered = new Promise<void>((resolve) => {
    srf.invite((req, res) => {
      srf.createUAS(req, res, { localSdp: SDP }).then(() => resolve(), () => undefined)
    })
  })
  const phone = await udpPeer(t)
  const callId = `orphan-${seq}`
  phone.send(request('INVITE', phone, port, { callId, body: SDP }), port)
  await deadline(answered, 3000, 'answered')
  await phone.next((m) => m.startsWith('SIP/2.0 200 '), 3000, 'first 200')
  const oks = (): number => phone.received.filter((m) => m.startsWith('SIP/2.0 200 ')).length
  srf.disconnect()
  const atDisconnect = oks()
  const bye = await phone.next((m) => m.startsWith('BYE '), 64 * T1 + 3000, 'BYE after no ACK')
  t.ok(oks() > atDisconnect, `2xx still retransmitted after the app left (${atDisconnect} -> ${oks()})`)
  t.equal(headerLine(bye, 'Call-ID'), `Call-ID: ${callId}`)
  phone.send(responseTo(bye, '200 OK'), port)

  // second call: the app leaves, the phone ACKs and hangs up: 200, dialog gone
  const srf2 = await connectSrf(t, { controlPort: engine.controlPort, secret: 'cymru' } as EngineHandle)
  srf2.message((_req, res) => res.send(200))
  const answered2 = new Promise<void>((resolve) => {
    srf2.invite((req, res) => {
      srf2.createUAS(req, res, { localSdp: SDP }).then(() => resolve(), () => undefined)
    })
  })
  const callId2 = `orphan2-${seq}`
  phone.send(request('INVITE', phone, port, { callId: callId2, body: SDP }), port)
  await deadline(answered2, 3000, 'answered')
  const ok = await phone.next((m) => m.startsWith('SIP/2.0 200 ') && m.includes(callId2), 3000, '200')
  srf2.disconnect()
  // the engine has seen the app leave once MESSAGE (routed only by it) gets 503
  await waitFor(async () => {
    const probe = `probe-${++seq}`
    phone.send(request('MESSAGE', phone, port, { callId: probe }), port)
    const res = await phone.next((m) => m.includes(`Call-ID: ${probe}\r\n`) && /^SIP\/2\.0 [2-6]/.test(m), 2000, 'probe answered')
    return res.startsWith('SIP/2.0 503 ')
  }, 3000, 'the engine to see the application gone')
  t.equal(engine.stats.dialogs, 1, 'the orphaned dialog is still there')
  phone.send(request('ACK', phone, port, { callId: callId2, toTag: toTagOf(ok) }), port)
  phone.send(request('BYE', phone, port, { callId: callId2, toTag: toTagOf(ok) }).replace('CSeq: 1 BYE', 'CSeq: 2 BYE'), port)
  await phone.next((m) => /^SIP\/2\.0 200 /.test(m) && m.includes(callId2) && m.includes('BYE'), 3000, '200 to BYE').catch((err: Error) => {
    throw new Error(`${err.message}: ${phone.received.filter((m) => m.includes(callId2)).map((m) => m.split('\r\n')[0]).join(', ')}`)
  })
  t.equal(engine.stats.dialogs, 0, 'the BYE ended the orphaned dialog')
})

t.test('proxy refusals: Max-Forwards 0 rejects the proxy promise and answers 483', async (t) => {
  const { srf, port } = await engineWithApp(t)
  const outcome = new Promise<string>((resolve) => {
    srf.invite((req) => {
      req.proxy({ destination: 'sip:1001@127.0.0.1:9' }).then(() => resolve('resolved'), () => resolve('rejected'))
    })
  })
  const phone = await udpPeer(t)
  const callId = `mf0-${seq}`
  phone.send(request('INVITE', phone, port, { callId, body: SDP, maxForwards: 0 }), port)
  t.equal(await deadline(outcome, 3000, 'proxy outcome'), 'rejected', 'the proxy promise rejects')
  t.match(await phone.next(final(callId), 3000, 'final'), /^SIP\/2\.0 483 /, 'the caller gets 483')
})

t.test('failover after a provisional timeout CANCELs the abandoned branch when it wakes up', async (t) => {
  const { srf, port } = await engineWithApp(t)
  const slow = await udpPeer(t)
  const busy = await udpPeer(t)
  srf.invite((req) => {
    req.proxy({ destination: [`sip:1001@127.0.0.1:${slow.port}`, `sip:1002@127.0.0.1:${busy.port}`], provisionalTimeout: '300ms' }).catch(() => undefined)
  })
  const caller = await udpPeer(t)
  const callId = `failover-${seq}`
  caller.send(request('INVITE', caller, port, { callId, body: SDP }), port)
  const inv1 = await slow.next((m) => m.startsWith('INVITE '), 3000, 'INVITE at the first target')
  const inv2 = await busy.next((m) => m.startsWith('INVITE '), 3000, 'INVITE at the second target')
  // the first target wakes up late: it must be cancelled, not left ringing
  slow.send(responseTo(inv1, '180 Ringing', { toTag: 'slow' }), port)
  const cancel = await slow.next((m) => m.startsWith('CANCEL '), 3000, 'CANCEL to the abandoned branch')
  t.equal(headerLine(cancel, 'Call-ID'), headerLine(inv1, 'Call-ID'))
  slow.send(responseTo(cancel, '200 OK', { toTag: 'slow' }), port)
  slow.send(responseTo(inv1, '487 Request Terminated', { toTag: 'slow' }), port)
  busy.send(responseTo(inv2, '486 Busy Here', { toTag: 'busy' }), port)
  t.match(await caller.next(final(callId), 3000, 'final'), /^SIP\/2\.0 486 /, 'the caller gets the second target’s answer')
})

t.test('with several contacts, replies leave from the socket the request arrived on', async (t) => {
  const engine = await SipEngine.create({
    contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp'] }, { address: '127.0.0.1', port: 0, transports: ['udp'] }],
    controlPort: 0,
  })
  t.teardown(() => engine.stop())
  const second = engine.sipAddresses[1]!.port
  const sock = dgram.createSocket('udp4')
  t.teardown(() => sock.close())
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
  const from = new Promise<number>((resolve) => sock.once('message', (_m, rinfo) => resolve(rinfo.port)))
  const me = { port: sock.address().port } as UdpPeer
  sock.send(request('OPTIONS', me, second), second, '127.0.0.1')
  t.equal(await deadline(from, 3000, 'reply'), second, 'reply came from the second contact’s port')
})
