/**
 * Timers of reliable provisional responses and subscription dialogs, with short RFC 3261 timers
 * (library-level, engine-only: drachtio-server's are fixed):
 * - a reliable 180 never PRACKed is retransmitted at T1, 2*T1, 4*T1... and after 64*T1 the
 *   INVITE is answered 504; the application's later 200 is refused (RFC 3262 §3);
 * - a subscription neither refreshed nor ended is forgotten 64*T1 after it expired; a SUBSCRIBE
 *   in it then gets 481, which tells the subscriber to subscribe anew (RFC 6665 §4.1.2.2).
 */
import t, { type Test } from 'tap'
import * as dgram from 'node:dgram'
import { SipEngine } from '@flexseat/sip-engine'
import { deadline, waitFor } from '../helpers/sip-engine'
import { createSrf, type SrfApp } from '../helpers/srf'

const T1 = 20

async function setup(t: Test): Promise<{ engine: SipEngine; srf: SrfApp; send(text: string): void; got: string[]; port: number }> {
  const engine = await SipEngine.create({ contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp'] }], controlPort: 0, timers: { T1, T2: 4 * T1, T4: 5 * T1 } })
  t.teardown(() => engine.stop())
  const srf = createSrf()
  t.teardown(() => srf.disconnect())
  await new Promise<void>((resolve, reject) => {
    srf.once('connect', (err) => (err ? reject(err) : resolve()))
    srf.connect({ host: '127.0.0.1', port: engine.controlPort, secret: 'cymru' })
  })
  const phone = dgram.createSocket('udp4')
  t.teardown(() => phone.close())
  await new Promise<void>((r) => phone.bind(0, '127.0.0.1', () => r()))
  const got: string[] = []
  phone.on('message', (m) => got.push(m.toString()))
  const sipPort = engine.sipAddresses[0]!.port
  return { engine, srf, got, port: phone.address().port, send: (text) => phone.send(text, sipPort, '127.0.0.1') }
}



function request(port: number, method: string, callId: string, opts: { cseq?: number; toTag?: string; headers?: string[] } = {}): string {
  return [
    `${method} sip:svc@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-${callId}-${method}-${opts.cseq ?? 1};rport`,
    `From: <sip:1001@127.0.0.1:${port}>;tag=f-${callId}`,
    `To: <sip:svc@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
    `Call-ID: ${callId}`,
    `CSeq: ${opts.cseq ?? 1} ${method}`,
    `Contact: <sip:1001@127.0.0.1:${port}>`,
    ...(opts.headers ?? []),
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')
}

t.test('a reliable provisional response never PRACKed: retransmitted with T1 doubling, then 504', async (t) => {
  const { srf, send, got, port } = await setup(t)
  const late = new Promise<string>((resolve) => {
    srf.invite((req, res) => {
      res.send(180, { headers: { Require: '100rel' } })
      // the application answers long after the engine gave up
      const timer = setInterval(() => {
        if (!got.some((m) => m.startsWith('SIP/2.0 504 '))) return
        clearInterval(timer)
        res.send(200, { body: 'v=0\r\n' }, (err) => resolve(err ? String(err) : 'sent'))
      }, 10)
    })
  })
  send(request(port, 'INVITE', 'noprack', { headers: ['Supported: 100rel'] }))
  await waitFor(() => got.some((m) => m.startsWith('SIP/2.0 504 ')), 5000, 'the 504')
  const ringing = got.filter((m) => m.startsWith('SIP/2.0 180 '))
  // sent at 0, then T1, 2, 4, 8, 16, 32 T1 (no T2 cap): 7 times before 64*T1
  t.equal(ringing.length, 7, `the 180 went out 7 times (T1 doubling, no T2 cap) before the 504`)
  t.ok(new Set(ringing.map((m) => /\r\nRSeq: (\d+)\r\n/.exec(m)?.[1])).size === 1, 'always the same RSeq')
  t.match(await deadline(late, 3000, 'the late 200'), /transaction already completed|final response/, 'the late 200 is refused')
  t.notOk(got.some((m) => m.startsWith('SIP/2.0 200 ')), 'no 200 after the 504')
})

t.test('a subscription neither refreshed nor ended is forgotten after its expiry; then 481', async (t) => {
  const { engine, srf, send, got, port } = await setup(t)
  srf.subscribe((req, res) => {
    void srf.createUAS(req, res, { headers: { Expires: '1' } })
  })
  send(request(port, 'SUBSCRIBE', 'sub-exp', { headers: ['Event: dialog', 'Expires: 1'] }))
  await waitFor(() => got.some((m) => m.startsWith('SIP/2.0 202 ')), 3000, 'the 202')
  const toTag = /\r\nTo: [^\r]*;tag=([^;\r]+)/.exec(got.find((m) => m.startsWith('SIP/2.0 202 '))!)![1]!
  t.equal(engine.stats.dialogs, 1, 'the subscription dialog is held')
  await waitFor(() => engine.stats.dialogs === 0, 5000, 'the dialog forgotten')
  t.pass('forgotten once Expires (1 s) and 64*T1 had passed')
  send(request(port, 'SUBSCRIBE', 'sub-exp', { cseq: 2, toTag, headers: ['Event: dialog', 'Expires: 60'] }))
  await waitFor(() => got.some((m) => m.startsWith('SIP/2.0 481 ')), 3000, 'the 481')
  t.pass('a SUBSCRIBE in the forgotten dialog gets 481')
})

t.test('nothing is left once a PRACKed call and a subscription end', async (t) => {
  const { engine, srf, send, got, port } = await setup(t)
  srf.invite((req, res) => {
    res.send(180, { headers: { Require: '100rel' } }, null, () => {
      void srf.createUAS(req, res, { localSdp: 'v=0\r\n' })
    })
  })
  // the notifier ends the subscription itself (NOTIFY terminated) long before its 60 s expire
  srf.subscribe((req, res) => {
    void srf.createUAS(req, res, { headers: { Expires: '60' } }).then((dlg) => dlg.destroy())
  })
  const tagOf = (m: string): string => /\r\nTo: [^\r]*;tag=([^;\r]+)/i.exec(m)![1]!
  const answer = (m: string): void => {
    const keep = m.split('\r\n').filter((l) => /^(via|from|to|call-id|cseq):/i.test(l))
    send(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'))
  }
  // a call: reliable 180, PRACK, 200, ACK, BYE
  send(request(port, 'INVITE', 'call-gone', { headers: ['Supported: 100rel'] }))
  await waitFor(() => got.some((m) => m.startsWith('SIP/2.0 180 ')), 3000, 'the 180')
  const ringing = got.find((m) => m.startsWith('SIP/2.0 180 '))!
  const toTag = tagOf(ringing)
  send(request(port, 'PRACK', 'call-gone', { cseq: 2, toTag, headers: [`RAck: ${/\r\nRSeq: (\d+)/.exec(ringing)![1]} 1 INVITE`] }))
  await waitFor(() => got.some((m) => m.startsWith('SIP/2.0 200 ') && m.includes('CSeq: 1 INVITE')), 3000, 'the 200')
  send(request(port, 'ACK', 'call-gone', { toTag }))
  send(request(port, 'BYE', 'call-gone', { cseq: 3, toTag }))
  await waitFor(() => got.some((m) => m.startsWith('SIP/2.0 200 ') && m.includes('CSeq: 3 BYE')), 3000, 'the BYE answered')
  // a subscription: 202, then the notifier's final NOTIFY, answered
  send(request(port, 'SUBSCRIBE', 'sub-gone', { headers: ['Event: dialog', 'Expires: 60'] }))
  await waitFor(() => got.some((m) => m.startsWith('NOTIFY ') && /subscription-state: *terminated/i.test(m)), 3000, 'the final NOTIFY')
  answer(got.find((m) => m.startsWith('NOTIFY ') && /subscription-state: *terminated/i.test(m))!)
  await waitFor(() => engine.stats.dialogs === 0, 3000, 'no dialog left')
  t.equal(engine.stats.dialogs, 0, 'no dialog left (the early dialog was confirmed, then ended by the BYE; the subscription by its final NOTIFY, well before it would expire)')
})
