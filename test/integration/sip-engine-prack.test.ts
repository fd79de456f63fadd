/**
 * Reliable provisional responses (RFC 3262, 100rel) through the engine, as drachtio-server gives
 * them to drachtio-srf applications:
 * - UAS: the application's 180 with `Require: 100rel` goes out with an RSeq in an early dialog;
 *   a real phone (sipp) PRACKs it and the PRACK reaches the application's acknowledge callback;
 *   over UDP it is retransmitted until the PRACK; a second reliable provisional waits for the
 *   first one's PRACK; a 2xx waits for the PRACK of a provisional with an offer; a PRACK naming
 *   nothing unacknowledged gets 481; a request without 100rel support makes the send fail.
 * - UAC: a reliable provisional response to the application's INVITE is PRACKed once (sipp
 *   fails on any other PRACK): not its retransmission, not an RSeq out of sequence (engine-only:
 *   drachtio-server passes those on when they arrive back-to-back); the PRACK follows the early
 *   dialog's route set.
 * - B2BUA: createB2BUA relays a reliable 180 from the B phone to the A phone (both sipp).
 * Over UDP and TCP; runs against drachtio-server too (DRACHTIO_SERVER_BIN), where a PRACK naming
 * nothing gets no answer at all (a row of docs/ENGINES.md).
 * @see RFC 3262 §3, §4
 */
import t from 'tap'
import { connectSrf, deadline, REAL_DRACHTIO, startEngine, udpPeer, waitFor, type EngineHandle, type TestLike, type UdpPeer } from '../helpers/sip-engine'
import { runSipp, startSipp, type SippTransport } from '../helpers/sipp'
import type { SrfRequest } from '../helpers/srf'

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n'

for (const transport of ['udp', 'tcp'] as SippTransport[]) {
  t.test(`UAS: the application's reliable 180 is PRACKed by the phone (${transport})`, async (t) => {
    const engine = await startEngine(t)
    await ready(t, engine)
    const srf = await connectSrf(t, engine)
    const seen = new Promise<{ rseq: string; rack: string; cseq: string }>((resolve, reject) => {
      srf.invite((req, res) => {
        let rseq = ''
        res.send(
          180,
          { headers: { Require: '100rel' } },
          (err, sent) => {
            if (err) reject(err)
            else rseq = sent.get('RSeq')
          },
          (prack: SrfRequest) => {
            resolve({ rseq, rack: prack.get('RAck'), cseq: prack.get('CSeq') })
            srf.createUAS(req, res, { localSdp: SDP }).catch(reject)
          },
        )
      })
    })
    const r = await runSipp(t, { scenario: 'uac-invite-100rel.xml', transport, remote: `127.0.0.1:${engine.sipPort}` })
    t.equal(r.code, 0, 'the phone got a reliable 180, its PRACK was answered, the call completed', { stderr: r.stderr })
    const s = await deadline(seen, 3000, 'the PRACK at the application')
    t.match(s.rseq, /^\d+$/, 'the engine numbered the 180 (RSeq)')
    t.equal(s.rack, `${s.rseq} 1 INVITE`, "the PRACK reached the application's acknowledge callback with its RAck")
    t.equal(s.cseq, '2 PRACK')
  })

  t.test(`UAC: the application PRACKs a reliable 180 in its early dialog (${transport})`, async (t) => {
    const engine = await startEngine(t)
    await ready(t, engine)
    const srf = await connectSrf(t, engine)
    const phone = await startSipp(t, { scenario: 'uas-ringing-100rel.xml', transport })
    const provisional: number[] = []
    const dlg = await srf.createUAC(`sip:1002@127.0.0.1:${phone.port};transport=${transport}`, { localSdp: SDP, headers: { Supported: '100rel' } }, { cbProvisional: (res) => provisional.push(res.status) })
    t.same(provisional, [180], 'the application saw the reliable 180')
    await dlg.destroy()
    const r = await phone.done
    t.equal(r.code, 0, 'the phone got the PRACK (RAck 1), then the ACK and the BYE', { stderr: r.stderr })
  })

  t.test(
    `UAC: a retransmission and an RSeq out of sequence are not PRACKed; the PRACK follows the early route set (${transport})`,
    { skip: REAL_DRACHTIO && 'drachtio-server passes back-to-back duplicates and an RSeq gap on, and drachtio-srf PRACKs them (docs/ENGINES.md)' },
    async (t) => {
      const engine = await startEngine(t)
      await ready(t, engine)
      const srf = await connectSrf(t, engine)
      const phone = await startSipp(t, { scenario: 'uas-invite-100rel.xml', transport })
      const provisional: number[] = []
      const dlg = await srf.createUAC(
        `sip:1002@127.0.0.1:${phone.port};transport=${transport}`,
        { localSdp: SDP, headers: { Supported: '100rel' } },
        { cbProvisional: (res) => provisional.push(res.status) },
      )
      t.same(provisional, [183, 180], 'the application saw the 183 once and the in-sequence 180, not the retransmission nor the RSeq gap')
      await dlg.destroy()
      const r = await phone.done
      t.equal(r.code, 0, 'one PRACK per reliable response (RAck 1 with the Route of the early dialog, then RAck 2), the call answered and hung up', { stderr: r.stderr })
    },
  )

  t.test(`B2BUA: a reliable 180 from the B phone reaches the A phone, which PRACKs it (${transport})`, async (t) => {
    const engine = await startEngine(t)
    await ready(t, engine)
    const srf = await connectSrf(t, engine)
    const b = await startSipp(t, { scenario: 'uas-ringing-100rel.xml', transport })
    const bridged = new Promise<void>((resolve, reject) => {
      srf.invite((req, res) => {
        srf
          // 'all' but Contact: the B phone's headers (Require: 100rel among them) on the A leg's responses
          .createB2BUA(req, res, `sip:1002@127.0.0.1:${b.port};transport=${transport}`, { localSdpB: SDP, headers: { Supported: '100rel' }, proxyResponseHeaders: ['all', 'contact'] })
          .then(({ uas, uac }) => {
            uas.on('destroy', () => void uac.destroy().then(() => resolve(), reject))
          }, reject)
      })
    })
    const a = await runSipp(t, { scenario: 'uac-invite-100rel.xml', transport, remote: `127.0.0.1:${engine.sipPort}` })
    t.equal(a.code, 0, 'the A phone got the 180 reliably from the B2BUA and PRACKed it', { stderr: a.stderr })
    await deadline(bridged, 5000, 'both legs ended')
    const rb = await b.done
    t.equal(rb.code, 0, 'the B phone got its PRACK, the ACK and the BYE', { stderr: rb.stderr })
  })
}

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
