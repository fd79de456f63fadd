/**
 * Reliable provisional responses (RFC 3262, 100rel) through the engine with real phones (sipp),
 * as drachtio-server gives them to drachtio-srf applications, over UDP and TCP:
 * - UAS: the application's 180 with `Require: 100rel` goes out with an RSeq in an early dialog;
 *   the phone PRACKs it and the PRACK reaches the application's acknowledge callback;
 * - UAC: a reliable provisional response to the application's INVITE is PRACKed once (sipp
 *   fails on any other PRACK): not its retransmission, not an RSeq out of sequence (engine-only:
 *   drachtio-server passes those on when they arrive back-to-back); the PRACK follows the early
 *   dialog's route set;
 * - B2BUA: createB2BUA relays a reliable 180 from the B phone to the A phone.
 * The raw-phone details (retransmission, queueing, 481, holding the 2xx) are in
 * sip-engine-prack-udp.test.ts. Runs on drachtio-server too (its twin in test/drachtio-server/).
 * @see RFC 3262 §3, §4
 */
import t from 'tap'
import { connectSrf, deadline, REAL_DRACHTIO, startEngine, udpPeer, waitFor, type EngineHandle, type TestLike, type UdpPeer } from '../helpers/sip-engine'
import { runSipp, startSipp, type SippHandle, type SippTransport } from '../helpers/sipp'
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
    const dlg = await unlessEnded(phone, srf.createUAC(`sip:1002@127.0.0.1:${phone.port};transport=${transport}`, { localSdp: SDP, headers: { Supported: '100rel' } }, { cbProvisional: (res) => provisional.push(res.status) }))
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
      const dlg = await unlessEnded(
        phone,
        srf.createUAC(`sip:1002@127.0.0.1:${phone.port};transport=${transport}`, { localSdp: SDP, headers: { Supported: '100rel' } }, { cbProvisional: (res) => provisional.push(res.status) }),
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

/** `p`, unless the phone's sipp ends first (it stops at an unexpected message, e.g. a second PRACK). */
async function unlessEnded<T>(phone: SippHandle, p: Promise<T>): Promise<T> {
  return Promise.race([p, phone.done.then((r) => Promise.reject(new Error(`the phone's scenario ended first (code ${r.code}): ${r.stderr}`)))])
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

