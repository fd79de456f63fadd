/**
 * Incoming calls through the engine to a drachtio-srf app: createUAS + BYE from the phone,
 * CANCEL of a ringing INVITE, and a final error the phone does not ACK at first (the engine
 * retransmits it, checked with a raw phone since sipp absorbs retransmissions; the retransmitted
 * INVITE is absorbed). Real sipp traffic over UDP and TCP.
 */
import t from 'tap'
import { connectSrf, deadline, startEngine, udpPeer, waitFor } from '../helpers/sip-engine'
import { runSipp, type SippTransport } from '../helpers/sipp'

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n'

for (const transport of ['udp', 'tcp'] as SippTransport[]) {
  t.test(`createUAS answers, phone hangs up (${transport})`, async (t) => {
    const engine = await startEngine(t)
    const srf = await connectSrf(t, engine)
    const destroyed = new Promise<string>((resolve) => {
      srf.invite(async (req, res) => {
        const dlg = await srf.createUAS(req, res, { localSdp: SDP })
        dlg.on('destroy', (bye) => resolve(bye?.method ?? 'no request'))
      })
    })
    const r = await runSipp(t, { scenario: 'uac-invite-bye.xml', transport, remote: `127.0.0.1:${engine.sipPort}` })
    t.equal(r.code, 0, 'sipp call completed', { stderr: r.stderr })
    t.equal(await deadline(destroyed, 3000, 'dialog destroy'), 'BYE', 'app saw the BYE')
  })

  t.test(`CANCEL of a ringing INVITE (${transport})`, async (t) => {
    const engine = await startEngine(t)
    const srf = await connectSrf(t, engine)
    const cancelled = new Promise<void>((resolve) => {
      srf.invite((req, res) => {
        req.on('cancel', () => resolve())
        res.send(180)
      })
    })
    const r = await runSipp(t, { scenario: 'uac-invite-cancel.xml', transport, remote: `127.0.0.1:${engine.sipPort}` })
    t.equal(r.code, 0, 'sipp got 200 to CANCEL and 487 to INVITE', { stderr: r.stderr })
    await deadline(cancelled, 3000, "req 'cancel' event")
    t.pass("app got the req 'cancel' event")
  })
}

for (const transport of ['udp', 'tcp'] as SippTransport[]) {
  t.test(`re-INVITE from the phone reaches the dialog as 'modify' (${transport})`, async (t) => {
    const engine = await startEngine(t)
    const srf = await connectSrf(t, engine)
    const modified = new Promise<string>((resolve) => {
      srf.invite(async (req, res) => {
        const dlg = await srf.createUAS(req, res, { localSdp: SDP })
        dlg.on('modify', (req2: { body: string }, res2: { send(status: number, opts: object): void }) => {
          res2.send(200, { body: SDP.replace('m=audio', 'a=recvonly\r\nm=audio'), headers: { 'Content-Type': 'application/sdp' } })
          resolve(req2.body)
        })
      })
    })
    const r = await runSipp(t, { scenario: 'uac-invite-reinvite-bye.xml', transport, remote: `127.0.0.1:${engine.sipPort}` })
    t.equal(r.code, 0, 'INVITE, re-INVITE and BYE all answered', { stderr: r.stderr })
    t.match(await deadline(modified, 3000, 'modify'), /a=sendonly/, 'the app saw the hold SDP')
  })
}

t.test('late ACK of a final error; INVITE retransmission absorbed (udp)', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  let delivered = 0
  srf.invite((_req, res) => {
    delivered++
    res.send(480, 'Seat revoked: 1001 signed in at Berlin')
  })
  const r = await runSipp(t, { scenario: 'uac-invite-noack.xml', transport: 'udp', remote: `127.0.0.1:${engine.sipPort}` })
  t.equal(r.code, 0, 'sipp got the 480 and ACKed late', { stderr: r.stderr })
  t.equal(delivered, 1, 'the app saw the INVITE once')

  // sipp absorbs retransmitted responses silently, so a raw phone checks Timer G itself
  const phone = await udpPeer(t)
  const callId = `noack-raw-${process.pid}`
  const invite = [
    `INVITE sip:svc@127.0.0.1:${engine.sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-noack-raw;rport`,
    `From: <sip:1001@127.0.0.1:${phone.port}>;tag=raw1`,
    'To: <sip:svc@127.0.0.1>',
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:1001@127.0.0.1:${phone.port}>`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')
  phone.send(invite, engine.sipPort)
  const is480 = (m: string): boolean => m.startsWith('SIP/2.0 480 ') && m.includes(callId)
  const first = await phone.next(is480, 3000, 'the 480')
  await waitFor(() => phone.received.filter(is480).length >= 2, 3000, 'the 480 retransmitted (Timer G)')
  t.equal(phone.received.filter(is480)[1], first, 'the same 480 retransmitted while no ACK came')
  const toTag = /^To:.*;tag=([^;\s]+)/m.exec(first)![1]
  phone.send(invite.replace(/^INVITE /, 'ACK ').replace('CSeq: 1 INVITE', 'CSeq: 1 ACK').replace('To: <sip:svc@127.0.0.1>', `To: <sip:svc@127.0.0.1>;tag=${toTag}`), engine.sipPort)
  t.equal(delivered, 2, 'that INVITE reached the app once too')
})
