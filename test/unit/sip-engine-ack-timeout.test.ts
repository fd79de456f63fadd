/**
 * A phone that never ACKs a 2xx: the engine retransmits the 2xx (T1 doubling), and after 64*T1
 * ends the dialog with a BYE and hands that BYE to the application as drachtio's "unsolicited"
 * request (drachtio-srf's dialog then emits 'destroy' with the BYE's Reason text, `ACK timeout`, as
 * drachtio-server writes it). Library-level test with short timers.
 * @see RFC 3261 §13.3.1.4
 */
import t from 'tap'
import * as dgram from 'node:dgram'
import { SipEngine } from '@flexseat/sip-engine'
import { deadline } from '../helpers/sip-engine'
import { createSrf } from '../helpers/srf'

t.test('2xx retransmitted until given up, then BYE + destroy', async (t) => {
  const engine = await SipEngine.create({ contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp'] }], controlPort: 0, timers: { T1: 20, T2: 80, T4: 100 } })
  t.teardown(() => engine.stop())
  const srf = createSrf()
  t.teardown(() => srf.disconnect())
  await new Promise<void>((resolve, reject) => {
    srf.once('connect', (err: Error | null) => (err ? reject(err) : resolve()))
    srf.connect({ host: '127.0.0.1', port: engine.controlPort, secret: 'cymru' })
  })
  const destroyed = new Promise<string>((resolve) => {
    srf.invite(async (req, res) => {
      const dlg = await srf.createUAS(req, res, { localSdp: 'v=0\r\n' })
      dlg.on('destroy', (_bye, reason) => resolve(reason ?? ''))
    })
  })
  const phone = dgram.createSocket('udp4')
  t.teardown(() => phone.close())
  await new Promise<void>((r) => phone.bind(0, '127.0.0.1', () => r()))
  const port = phone.address().port
  const got: string[] = []
  const bye = new Promise<string>((resolve) => {
    phone.on('message', (m) => {
      const s = m.toString()
      got.push(s.split('\r\n')[0]!)
      if (s.startsWith('BYE ')) {
        resolve(s)
        // answer the BYE so the engine's client transaction completes
        const via = /^Via: .*$/m.exec(s)![0]
        const hdr = (n: string): string => new RegExp(`^${n}: .*$`, 'm').exec(s)![0]
        phone.send(`SIP/2.0 200 OK\r\n${via}\r\n${hdr('From')}\r\n${hdr('To')}\r\n${hdr('Call-ID')}\r\n${hdr('CSeq')}\r\nContent-Length: 0\r\n\r\n`, engine.sipAddresses[0]!.port, '127.0.0.1')
      }
    })
  })
  phone.send(
    `INVITE sip:svc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-noack2xx\r\nFrom: <sip:1001@127.0.0.1>;tag=p1\r\nTo: <sip:svc@127.0.0.1>\r\nCall-ID: noack-2xx\r\nCSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:${port}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`,
    engine.sipAddresses[0]!.port,
    '127.0.0.1',
  )
  const byeMsg = await deadline(bye, 5000, 'BYE')
  t.match(byeMsg, /^BYE sip:1001@127\.0\.0\.1:\d+ SIP\/2\.0/, 'BYE to the Contact')
  t.match(byeMsg, /\r\nTo: <sip:1001@127\.0\.0\.1>;tag=p1\r\n/i, 'BYE within the dialog')
  t.match(byeMsg, /\r\nReason: SIP;cause=200;text="ACK timeout"\r\n/, "drachtio-server's Reason on the BYE")
  t.ok(got.filter((l) => l === 'SIP/2.0 200 OK').length >= 3, `2xx retransmitted (${got.join(', ')})`)
  t.equal(await deadline(destroyed, 3000, "the dialog's destroy"), 'ACK timeout', "the app's dialog emitted destroy with drachtio-srf's reason")
})
