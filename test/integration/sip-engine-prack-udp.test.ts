/**
 * Reliable provisional responses (RFC 3262) in detail, with a raw UDP phone: the application's
 * reliable 180 is retransmitted (same RSeq) until the PRACK; a second reliable response waits for
 * the first one's PRACK and gets the next RSeq; a PRACK that names nothing unacknowledged gets 481
 * (drachtio-server drops it: a row of docs/ENGINES.md); a 2xx waits for the PRACK of a reliable
 * provisional response with an offer; a caller without 100rel support makes the send fail, and
 * nothing is sent. Runs on drachtio-server too (its twin in test/drachtio-server/).
 * @see RFC 3262 §3
 */
import t from 'tap'
import { connectSrf, deadline, REAL_DRACHTIO, startEngine, udpPeer, waitFor, type EngineHandle, type TestLike, type UdpPeer } from '../helpers/sip-engine'
import type { SrfRequest } from '../helpers/srf'

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n'

/** A raw phone's request (UDP). */
function request(phone: UdpPeer, sipPort: number, method: string, callId: string, opts: { cseq?: number; toTag?: string; headers?: string[] } = {}): string {
  return [
    `${method} sip:svc@127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-${callId}-${method}-${opts.cseq ?? 1};rport`,
    `From: <sip:1001@127.0.0.1:${phone.port}>;tag=f-${callId}`,
    `To: <sip:svc@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${opts.cseq ?? 1} ${method}`,
    `Contact: <sip:1001@127.0.0.1:${phone.port}>`,
    ...(opts.headers ?? []),
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')
}

const response = (status: number, callId: string, cseq: string) => (m: string): boolean =>
  m.startsWith(`SIP/2.0 ${status} `) && m.includes(`\r\nCall-ID: ${callId}\r\n`) && new RegExp(`\\r\\nCSeq: ${cseq}\\r\\n`, 'i').test(m)

const header = (m: string, name: string): string => new RegExp(`\\r\\n${name}:[ \\t]*([^\\r]*)\\r\\n`, 'i').exec(m)?.[1] ?? ''
const toTagOf = (m: string): string => /;tag=([^;>\r]+)/.exec(header(m, 'To'))?.[1] ?? ''

async function ready(t: TestLike, engine: EngineHandle): Promise<UdpPeer> {
  const phone = await udpPeer(t)
  let n = 0
  await waitFor(() => {
    if (phone.received.some((m) => m.startsWith('SIP/2.0 '))) return true
    phone.send(request(phone, engine.sipPort, 'OPTIONS', `ready-${process.pid}-${++n}`), engine.sipPort)
    return false
  }, 5000, 'the engine answering SIP')
  return phone
}

t.test('UAS over UDP: retransmitted until the PRACK; a second reliable response waits; a stray PRACK gets 481', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const phone = await ready(t, engine)
  const callId = `rel-${process.pid}`
  const pracks: string[] = []
  // drachtio-srf keeps one acknowledge callback per dialog: the 183's replaces the 180's
  const acknowledged = (prack: SrfRequest): number => pracks.push(prack.get('RAck'))
  srf.invite((req, res) => {
    res.send(180, { headers: { Require: '100rel' } }, null, acknowledged)
    res.send(183, { headers: { Require: '100rel' } }, null, acknowledged)
  })
  srf.use('prack', [(_req, res) => res.send(200)])
  phone.send(request(phone, engine.sipPort, 'INVITE', callId, { headers: ['Supported: 100rel'] }), engine.sipPort)
  const is180 = (m: string): boolean => m.startsWith('SIP/2.0 180 ') && m.includes(callId)
  await waitFor(() => phone.received.filter(is180).length >= 3, 5000, 'the 180 retransmitted')
  const first = phone.received.find(is180)!
  const rseq = header(first, 'RSeq')
  t.match(rseq, /^\d+$/, 'RSeq on the 180')
  t.ok(phone.received.filter(is180).every((m) => header(m, 'RSeq') === rseq), 'retransmissions of the same 180 (same RSeq)')
  t.notOk(phone.received.some((m) => m.startsWith('SIP/2.0 183 ') && m.includes(callId)), 'the second reliable response waits for the PRACK of the first')
  const toTag = toTagOf(first)

  // a PRACK that names no unacknowledged response
  phone.send(request(phone, engine.sipPort, 'PRACK', callId, { cseq: 2, toTag, headers: [`RAck: ${Number(rseq) + 7} 1 INVITE`] }), engine.sipPort)
  // the right one
  phone.send(request(phone, engine.sipPort, 'PRACK', callId, { cseq: 3, toTag, headers: [`RAck: ${rseq} 1 INVITE`] }), engine.sipPort)
  await phone.next(response(200, callId, '3 PRACK'), 3000, 'the PRACK answered by the application')
  const r183 = await phone.next((m) => m.startsWith('SIP/2.0 183 ') && m.includes(callId), 3000, 'the 183 after the PRACK')
  t.equal(header(r183, 'RSeq'), String(Number(rseq) + 1), 'the 183 got the next RSeq')
  if (REAL_DRACHTIO) t.notOk(phone.received.some(response(481, callId, '2 PRACK')), 'drachtio-server drops a PRACK that names nothing')
  else t.ok(phone.received.some(response(481, callId, '2 PRACK')), 'a PRACK that names nothing gets 481 (RFC 3262 §3)')
  t.same(pracks.slice(0, 1), [`${rseq} 1 INVITE`], 'the application got the PRACK of its 180')
})

t.test('UAS: a 2xx waits for the PRACK of a reliable provisional response with an offer; no 100rel support, no reliable response', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const phone = await ready(t, engine)
  const callId = `hold-${process.pid}`
  const refused = new Promise<string>((resolve) => {
    srf.invite((req, res) => {
      if (req.get('Call-ID').startsWith('nosup')) {
        res.send(180, { headers: { Require: '100rel' } }, (err) => {
          resolve(err ? String(err) : 'sent')
          res.send(486)
        })
        return
      }
      res.send(183, { headers: { Require: '100rel', 'Content-Type': 'application/sdp' }, body: SDP })
      res.send(200, { body: SDP, headers: { 'Content-Type': 'application/sdp' } })
    })
  })
  srf.use('prack', [(_req, res) => res.send(200)])
  phone.send(request(phone, engine.sipPort, 'INVITE', callId, { headers: ['Supported: 100rel'] }), engine.sipPort)
  const is183 = (m: string): boolean => m.startsWith('SIP/2.0 183 ') && m.includes(callId)
  await waitFor(() => phone.received.filter(is183).length >= 2, 5000, 'the 183 retransmitted')
  t.notOk(phone.received.some(response(200, callId, '1 INVITE')), 'no 200 before the PRACK of the 183 with SDP')
  const first = phone.received.find(is183)!
  phone.send(request(phone, engine.sipPort, 'PRACK', callId, { cseq: 2, toTag: toTagOf(first), headers: [`RAck: ${header(first, 'RSeq')} 1 INVITE`] }), engine.sipPort)
  await phone.next(response(200, callId, '1 INVITE'), 3000, 'the 200 once the PRACK came')
  phone.send(request(phone, engine.sipPort, 'ACK', callId, { toTag: toTagOf(first) }), engine.sipPort)
  t.pass('the 2xx went out after the PRACK')

  phone.send(request(phone, engine.sipPort, 'INVITE', `nosup-${process.pid}`), engine.sipPort)
  t.match(await deadline(refused, 3000, 'the send refused'), /does not support 100rel/, 'a caller without 100rel support: the application is told, nothing is sent')
  await phone.next(response(486, `nosup-${process.pid}`, '1 INVITE'), 3000, 'the 486')
  t.notOk(phone.received.some((m) => m.startsWith('SIP/2.0 180 ') && m.includes(`nosup-${process.pid}`)), 'no 180 went out')
})
