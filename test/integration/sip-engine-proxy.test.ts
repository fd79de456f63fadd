/**
 * Proxying through the engine: srf.proxyRequest (Record-Route, serial failover with a
 * provisional timeout, CANCEL) and createB2BUA, phone to phone with sipp on both sides.
 */
import t from 'tap'
import { connectSrf, deadline, freePort, startEngine } from '../helpers/sip-engine'
import { runSipp, startSipp, type SippTransport } from '../helpers/sipp'
import type { ProxyResult } from '../helpers/srf'

for (const transport of ['udp', 'tcp'] as SippTransport[]) {
  t.test(`proxyRequest with Record-Route, BYE through the proxy (${transport})`, async (t) => {
    const engine = await startEngine(t)
    const srf = await connectSrf(t, engine)
    const callee = await startSipp(t, { scenario: 'uas-invite.xml', transport })
    const result = new Promise<ProxyResult>((resolve, reject) => {
      srf.invite((req) => {
        req.proxy({ destination: `sip:1001@127.0.0.1:${callee.port};transport=${transport}`, remainInDialog: true }).then(resolve, reject)
      })
    })
    const caller = await runSipp(t, { scenario: 'uac-invite-bye.xml', transport, remote: `127.0.0.1:${engine.sipPort}` })
    t.equal(caller.code, 0, 'caller completed INVITE/200/ACK/BYE via the Record-Route', { stderr: caller.stderr })
    t.match(await deadline(result, 3000, 'proxy result'), { connected: true, finalStatus: 200 })
    const r = await deadline(callee.done, 5000, 'callee exit')
    t.equal(r.code, 0, 'callee saw INVITE, ACK and BYE', { stderr: r.stderr })
  })
}

t.test('proxyRequest serial failover after a provisional timeout (udp)', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const dead = await freePort()
  const callee = await startSipp(t, { scenario: 'uas-invite.xml', transport: 'udp' })
  const result = new Promise<ProxyResult>((resolve, reject) => {
    srf.invite((req) => {
      req
        .proxy({
          destination: [`sip:1001@127.0.0.1:${dead}`, `sip:1001@127.0.0.1:${callee.port}`],
          provisionalTimeout: '600ms',
          // sipp sends BYE to the engine whatever the Contact, so keep the engine in the path
          remainInDialog: true,
        })
        .then(resolve, reject)
    })
  })
  const caller = await runSipp(t, { scenario: 'uac-invite-bye.xml', transport: 'udp', remote: `127.0.0.1:${engine.sipPort}` })
  t.equal(caller.code, 0, 'call reached the second target', { stderr: caller.stderr })
  t.match(await deadline(result, 3000, 'proxy result'), { connected: true, finalStatus: 200 })
  t.equal((await deadline(callee.done, 5000, 'callee exit')).code, 0)
})

t.test('proxyRequest simultaneous forking: the answering target wins (udp)', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const silent = await freePort()
  const callee = await startSipp(t, { scenario: 'uas-invite.xml', transport: 'udp' })
  const result = new Promise<ProxyResult>((resolve, reject) => {
    srf.invite((req) => {
      req
        .proxy({ destination: [`sip:1001@127.0.0.1:${silent}`, `sip:1001@127.0.0.1:${callee.port}`], forking: 'simultaneous', remainInDialog: true })
        .then(resolve, reject)
    })
  })
  const caller = await runSipp(t, { scenario: 'uac-invite-bye.xml', transport: 'udp', remote: `127.0.0.1:${engine.sipPort}` })
  t.equal(caller.code, 0, 'call connected through the live fork', { stderr: caller.stderr })
  t.match(await deadline(result, 3000, 'proxy result'), { connected: true, finalStatus: 200 })
  t.equal((await deadline(callee.done, 5000, 'callee exit')).code, 0)
})

t.test('CANCEL through the proxy (udp)', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  const callee = await startSipp(t, { scenario: 'uas-invite-cancel.xml', transport: 'udp' })
  const result = new Promise<ProxyResult>((resolve, reject) => {
    srf.invite((req) => {
      req.proxy({ destination: `sip:1001@127.0.0.1:${callee.port}` }).then(resolve, reject)
    })
  })
  const caller = await runSipp(t, { scenario: 'uac-invite-cancel.xml', transport: 'udp', remote: `127.0.0.1:${engine.sipPort}` })
  t.equal(caller.code, 0, 'caller got 200 to CANCEL and 487', { stderr: caller.stderr })
  const res = await deadline(result, 3000, 'proxy result')
  t.match(res, { connected: false, finalStatus: 487 }, "proxy result is 487, not connected")
  t.equal((await deadline(callee.done, 5000, 'callee exit')).code, 0, 'callee was cancelled')
})

for (const transport of ['udp', 'tcp'] as SippTransport[]) {
  t.test(`createB2BUA phone to phone, caller hangs up (${transport})`, async (t) => {
    const engine = await startEngine(t)
    const srf = await connectSrf(t, engine)
    const callee = await startSipp(t, { scenario: 'uas-invite.xml', transport })
    const ended = new Promise<void>((resolve, reject) => {
      srf.invite(async (req, res) => {
        try {
          const { uas, uac } = await srf.createB2BUA(req, res, `sip:1001@127.0.0.1:${callee.port};transport=${transport}`, { localSdpB: req.body })
          // when one side hangs up, hang up the other (drachtio-srf leaves that to the app)
          uas.on('destroy', () => {
            uac.destroy().then(() => resolve(), reject)
          })
        } catch (err) {
          reject(err)
        }
      })
    })
    const caller = await runSipp(t, { scenario: 'uac-invite-bye.xml', transport, remote: `127.0.0.1:${engine.sipPort}` })
    t.equal(caller.code, 0, 'caller call completed', { stderr: caller.stderr })
    await deadline(ended, 3000, 'both legs torn down')
    t.equal((await deadline(callee.done, 5000, 'callee exit')).code, 0, 'callee got the BYE')
  })
}
