/**
 * Requests the app originates through the engine, answered by sipp phones: srf.request with the
 * 401 digest-challenge retry drachtio-srf performs, and createUAC + in-dialog INFO + BYE.
 */
import t from 'tap'
import { connectSrf, deadline, startEngine } from '../helpers/sip-engine'
import { startSipp, type SippTransport } from '../helpers/sipp'

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n'

for (const transport of ['udp', 'tcp'] as SippTransport[]) {
  t.test(`srf.request MESSAGE with digest challenge (${transport})`, async (t) => {
    const engine = await startEngine(t)
    const srf = await connectSrf(t, engine)
    const phone = await startSipp(t, { scenario: 'uas-message-401.xml', transport })
    const status = await deadline(
      new Promise<number>((resolve, reject) => {
        srf.request(
          `sip:1001@127.0.0.1:${phone.port};transport=${transport}`,
          {
            method: 'MESSAGE',
            headers: { 'Content-Type': 'text/plain', From: '<sip:flexseat@127.0.0.1>', To: '<sip:1001@127.0.0.1>' },
            body: 'logged out: 1001 signed in at Berlin / desk-3',
            auth: { username: '1001', password: 'secret' },
          },
          (err, req) => {
            if (err) return reject(err)
            req.on('response', (res: { status: number }) => resolve(res.status))
          },
        )
      }),
      8000,
      'final response to MESSAGE',
    )
    t.equal(status, 200, 'credentials accepted after the 401')
    const r = await deadline(phone.done, 5000, 'sipp exit')
    t.equal(r.code, 0, 'phone scenario completed', { stderr: r.stderr })
  })

  t.test(`createUAC, in-dialog INFO, BYE from the app (${transport})`, async (t) => {
    const engine = await startEngine(t)
    const srf = await connectSrf(t, engine)
    const phone = await startSipp(t, { scenario: 'uas-invite.xml', transport })
    const dlg = await deadline(
      srf.createUAC(`sip:1001@127.0.0.1:${phone.port};transport=${transport}`, { localSdp: SDP }),
      8000,
      'createUAC',
    )
    t.ok(dlg.id.includes(';from-tag='), 'drachtio dialog id convention')
    t.match(dlg.remote.sdp, /m=audio/, 'got the remote SDP')
    const info = await deadline(dlg.request({ method: 'INFO', headers: { 'Content-Type': 'application/x-flexseat' }, body: 'seat=1001' }), 5000, 'INFO response')
    t.equal(info.status, 200, 'INFO answered in the dialog')
    await deadline(dlg.destroy(), 5000, 'BYE')
    const r = await deadline(phone.done, 5000, 'sipp exit')
    t.equal(r.code, 0, 'phone scenario completed', { stderr: r.stderr })
  })
}
