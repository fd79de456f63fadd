/**
 * Bad input and several applications: malformed SIP gets 400 (or is dropped), garbage and
 * oversized frames on the control socket close only that connection, a wrong secret is refused,
 * requests are spread round-robin over the applications that routed the verb, and a verb nobody
 * routed gets 503.
 */
import t from 'tap'
import * as net from 'node:net'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { connectSrf, deadline, REAL_DRACHTIO, startEngine, udpPeer, waitFor, type UdpPeer } from '../helpers/sip-engine'
import { runSipp } from '../helpers/sipp'

let seq = 0
const viaEtc = (lport: number, callId: string): string =>
  `Via: SIP/2.0/UDP 127.0.0.1:${lport};branch=z9hG4bK-bad${++seq}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: ${callId}\r\n`

/** Sends a request and resolves with the first response carrying its Call-ID. */
async function exchange(phone: UdpPeer, port: number, text: (callId: string) => string): Promise<string> {
  const callId = `robust-${++seq}`
  phone.send(text(callId), port)
  return phone.next((m) => m.startsWith('SIP/2.0 ') && m.includes(`Call-ID: ${callId}\r\n`), 3000, `response to ${callId}`)
}

t.test('malformed SIP: 400 when answerable, dropped otherwise; engine keeps serving', async (t) => {
  const engine = await startEngine(t)
  const phone = await udpPeer(t)
  const bad = await exchange(phone, engine.sipPort, (id) => `OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n${viaEtc(phone.port, id)}CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`)
  t.match(bad, /^SIP\/2\.0 400 /, 'CSeq method mismatch gets 400')
  const broken = await exchange(phone, engine.sipPort, (id) => `OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n${viaEtc(phone.port, id)}CSeq: 1 OPTIONS\r\nthis line has no colon\r\n\r\n`)
  t.match(broken, /^SIP\/2\.0 400 /, 'unparseable header gets 400 when Via etc. can be salvaged')
  const before = phone.received.length
  phone.send('\x00\x01garbage\r\n\r\n', engine.sipPort)
  // the next request is a sequence point: an answer to the garbage would arrive before its answer
  const ok = await exchange(phone, engine.sipPort, (id) => `OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n${viaEtc(phone.port, id)}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`)
  t.match(ok, /^SIP\/2\.0 503 /, 'still alive: a request no app routed gets 503')
  t.equal(phone.received.length, before + 1, 'garbage was dropped (nothing answered it)')
})

t.test('bad control frames close that connection only', async (t) => {
  const engine = await startEngine(t)
  // a frame left incomplete closes the connection only on this engine (frameTimeoutMs);
  // drachtio-server waits for the rest of it
  const payloads = ['not-a-length#x', '99999999999#', '11#0123|junk|x', ...(REAL_DRACHTIO ? [] : ['40#truncated frame'])]
  for (const payload of payloads) {
    const s = net.connect({ host: '127.0.0.1', port: engine.controlPort })
    t.teardown(() => s.destroy())
    await once(s, 'connect')
    s.write(payload)
    s.resume()
    await deadline(once(s, 'close'), 3000, `close after ${payload}`)
    t.pass(`closed after ${JSON.stringify(payload)}`)
  }
  const srf = await connectSrf(t, engine)
  srf.options((_req, res) => res.send(200))
  const r = await runSipp(t, { scenario: 'uac-options.xml', transport: 'udp', remote: `127.0.0.1:${engine.sipPort}` })
  t.equal(r.code, 0, 'a well-behaved app is still served', { stderr: r.stderr })
})

t.test('wrong secret is refused', async (t) => {
  const engine = await startEngine(t, { secret: 'right' })
  // a raw socket: drachtio-srf would keep reconnecting after the refusal
  const s = net.connect({ host: '127.0.0.1', port: engine.controlPort })
  t.teardown(() => s.destroy())
  await once(s, 'connect')
  const msgId = randomUUID()
  const payload = `${msgId}|authenticate|wrong|`
  s.write(`${Buffer.byteLength(payload)}#${payload}`)
  let got = ''
  s.on('data', (d: Buffer) => (got += d.toString('utf8')))
  await waitFor(() => got.includes(`|response|${msgId}|`), 3000, 'authenticate reply')
  t.match(got, new RegExp(`\\|response\\|${msgId}\\|NO\\|`), 'NO| reply to authenticate')
})

t.test('two applications routing REGISTER share the load round-robin', async (t) => {
  const engine = await startEngine(t)
  const counts = [0, 0]
  for (const i of [0, 1]) {
    const srf = await connectSrf(t, engine)
    srf.register((_req, res) => {
      counts[i]!++
      res.send(200, { headers: { 'X-Registrar': 'flexseat' } })
    })
  }
  // both route messages must have landed: probe until each application answered one
  const phone = await udpPeer(t)
  await waitFor(async () => {
    await exchange(phone, engine.sipPort, (id) => `REGISTER sip:127.0.0.1 SIP/2.0\r\n${viaEtc(phone.port, id)}CSeq: 1 REGISTER\r\nContact: <sip:a@127.0.0.1:${phone.port}>\r\nContent-Length: 0\r\n\r\n`)
    return counts[0]! > 0 && counts[1]! > 0
  }, 5000, 'both applications routed')
  counts[0] = 0
  counts[1] = 0
  const r = await runSipp(t, { scenario: 'uac-register.xml', transport: 'udp', remote: `127.0.0.1:${engine.sipPort}`, calls: 4, rate: 50 })
  t.equal(r.code, 0, 'all REGISTERs answered', { stderr: r.stderr })
  t.same(counts, [2, 2], 'each application got half')
})
