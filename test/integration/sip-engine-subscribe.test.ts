/**
 * Subscription dialogs (RFC 6665) through the engine as drachtio-srf uses them, with real phones
 * (sipp), over UDP and TCP:
 * - a phone subscribes to an application (srf.subscribe + createUAS: 202, dialog); the application
 *   NOTIFYs in the dialog; the phone refreshes (the dialog's 'subscribe' event) and unsubscribes
 *   (drachtio-srf answers 202 and emits 'unsubscribe'; the application's final NOTIFY ends it);
 * - an application subscribes to a notifier (createUAC with method SUBSCRIBE); the notifier's
 *   NOTIFYs reach the dialog's 'notify' event; its `terminated` NOTIFY ends the dialog, so a later
 *   NOTIFY never reaches the application;
 * - after the final NOTIFY the dialog is gone: a SUBSCRIBE in it gets 481 from the embedded engine
 *   (drachtio-server takes it as a new subscription: a row of docs/ENGINES.md).
 * @see RFC 6665 §4.1, §4.2; RFC 4235 (the dialog event package of busy-lamp keys)
 */
import t from 'tap'
import { connectSrf, deadline, REAL_DRACHTIO, startEngine, udpPeer, waitFor, type EngineHandle, type TestLike, type UdpPeer } from '../helpers/sip-engine'
import { runSipp, startSipp, type SippTransport } from '../helpers/sipp'
import type { SrfApp, SrfDialog } from '../helpers/srf'

const DIALOG_INFO = '<?xml version="1.0"?>\r\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:1002@127.0.0.1"/>\r\n'

/** The notifier application: answers SUBSCRIBE 202, NOTIFYs, takes refreshes, ends on unsubscribe. */
function notifierApp(srf: SrfApp): { events: string[]; ended: Promise<SrfDialog> } {
  const events: string[] = []
  const ended = new Promise<SrfDialog>((resolve, reject) => {
    srf.subscribe((req, res) => {
      srf
        .createUAS(req, res, { headers: { Expires: req.get('Expires') } })
        .then(async (dlg) => {
          events.push(`dialog ${dlg.dialogType}`)
          dlg.on('subscribe', (r, s) => {
            events.push(`refresh ${r.get('Expires')}`)
            s.send(200, { headers: { Expires: r.get('Expires') } })
          })
          dlg.on('unsubscribe', () => {
            events.push('unsubscribe')
            dlg.destroy().then(() => resolve(dlg), reject)
          })
          const answer = await dlg.request({ method: 'NOTIFY', headers: { Event: 'dialog', 'Subscription-State': 'active;expires=60', 'Content-Type': 'application/dialog-info+xml' }, body: DIALOG_INFO })
          events.push(`notify ${answer.status}`)
        })
        .catch(reject)
    })
  })
  return { events, ended }
}

for (const transport of ['udp', 'tcp'] as SippTransport[]) {
  t.test(`a phone subscribes, is notified, refreshes and unsubscribes (${transport})`, async (t) => {
    const engine = await startEngine(t)
    await ready(t, engine)
    const srf = await connectSrf(t, engine)
    const app = notifierApp(srf)
    const r = await runSipp(t, { scenario: 'uac-subscribe-dialog.xml', transport, remote: `127.0.0.1:${engine.sipPort}` })
    t.equal(r.code, 0, '202 with a Contact, NOTIFY active, refresh 200, unsubscribe 202, NOTIFY terminated', { stderr: r.stderr })
    const dlg = await deadline(app.ended, 3000, 'the final NOTIFY answered')
    t.match(dlg.id, /;from-tag=\d+SIPpTag\d+$/, "drachtio's dialog id: Call-ID;from-tag")
    // the NOTIFY's answer and the refresh may reach the application in either order
    t.same([...app.events].sort(), ['dialog SUBSCRIBE', 'notify 200', 'refresh 120', 'unsubscribe'], 'the dialog saw the NOTIFY answered, the refresh and the unsubscribe')
    t.equal(app.events.at(-1), 'unsubscribe', 'the unsubscribe last')
  })

  t.test(`an application subscribes to a notifier; the terminating NOTIFY ends the dialog (${transport})`, async (t) => {
    const engine = await startEngine(t)
    await ready(t, engine)
    const srf = await connectSrf(t, engine)
    const notifier = await startSipp(t, { scenario: 'uas-notifier.xml', transport })
    const states: string[] = []
    const dlg = await srf.createUAC(`sip:1002@127.0.0.1:${notifier.port};transport=${transport}`, { method: 'SUBSCRIBE', headers: { Event: 'dialog', Expires: '60', Accept: 'application/dialog-info+xml' } })
    t.equal(dlg.dialogType, 'SUBSCRIBE', 'the 202 made a SUBSCRIBE dialog')
    dlg.on('notify', (req, res) => {
      states.push(req.get('Subscription-State'))
      res.send(200)
    })
    const r = await notifier.done
    t.equal(r.code, 0, 'both NOTIFYs answered; the one after the end did not reach the application', { stderr: r.stderr })
    t.same(states, ['active;expires=60', 'terminated;reason=noresource'], 'the application saw exactly the two NOTIFYs of its subscription')
  })
}

/** A raw phone's request. */
function request(phone: UdpPeer, sipPort: number, method: string, callId: string, opts: { cseq?: number; toTag?: string; headers?: string[] } = {}): string {
  return [
    `${method} sip:1002@127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-${callId}-${method}-${opts.cseq ?? 1};rport`,
    `From: <sip:1001@127.0.0.1:${phone.port}>;tag=f-${callId}`,
    `To: <sip:1002@127.0.0.1>${opts.toTag ? `;tag=${opts.toTag}` : ''}`,
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

t.test('after the final NOTIFY the subscription dialog is gone: a SUBSCRIBE in it gets 481', async (t) => {
  const engine = await startEngine(t)
  const phone = await ready(t, engine)
  const srf = await connectSrf(t, engine)
  const app = notifierApp(srf)
  const callId = `gone-${process.pid}`
  const answer = (m: string): void => {
    const via = m.split('\r\n').filter((l) => /^via:/i.test(l))
    const hdr = (n: string): string => m.split('\r\n').find((l) => l.toLowerCase().startsWith(`${n.toLowerCase()}:`)) ?? ''
    phone.send([`SIP/2.0 200 OK`, ...via, hdr('From'), hdr('To'), hdr('Call-ID'), hdr('CSeq'), 'Content-Length: 0', '', ''].join('\r\n'), engine.sipPort)
  }
  phone.send(request(phone, engine.sipPort, 'SUBSCRIBE', callId, { headers: ['Event: dialog', 'Expires: 60'] }), engine.sipPort)
  const accepted = await phone.next((m) => m.startsWith('SIP/2.0 202 ') && m.includes(callId), 3000, 'the 202')
  const toTag = /\r\nTo: [^\r]*;tag=([^;\r]+)/i.exec(accepted)![1]!
  answer(await phone.next((m) => m.startsWith('NOTIFY ') && m.includes(callId), 3000, 'the NOTIFY'))
  phone.send(request(phone, engine.sipPort, 'SUBSCRIBE', callId, { cseq: 2, toTag, headers: ['Event: dialog', 'Expires: 0'] }), engine.sipPort)
  answer(await phone.next((m) => m.startsWith('NOTIFY ') && /subscription-state: *terminated/i.test(m), 3000, 'the final NOTIFY'))
  await deadline(app.ended, 3000, 'the dialog ended at the application')
  phone.send(request(phone, engine.sipPort, 'SUBSCRIBE', callId, { cseq: 3, toTag, headers: ['Event: dialog', 'Expires: 60'] }), engine.sipPort)
  const after = await phone.next((m) => /^SIP\/2\.0 [2-6]\d\d /.test(m) && m.includes('\r\nCSeq: 3 SUBSCRIBE\r\n'), 3000, 'the answer to the stale SUBSCRIBE')
  if (REAL_DRACHTIO) t.match(after, /^SIP\/2\.0 202 /, 'drachtio-server takes it as a new subscription')
  else t.match(after, /^SIP\/2\.0 481 /, 'a SUBSCRIBE in the ended dialog gets 481 (RFC 6665 §4.1.3)')
})
