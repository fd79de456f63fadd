/**
 * Bad input and several applications: malformed SIP gets 400 (or is dropped), garbage and
 * oversized frames on the control socket close only that connection, requests are spread
 * round-robin over the applications that routed the verb, and a verb nobody routed gets 503.
 */
import t from 'tap'
import * as dgram from 'node:dgram'
import * as net from 'node:net'
import { once } from 'node:events'
import { connectSrf, deadline, startEngine } from '../helpers/sip-engine'
import { runSipp } from '../helpers/sipp'

async function udpExchange(t: { teardown(fn: () => void): void }, port: number, text: string, waitMs: number): Promise<string[]> {
  const sock = dgram.createSocket('udp4')
  t.teardown(() => sock.close())
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()))
  const got: string[] = []
  sock.on('message', (m) => got.push(m.toString()))
  sock.send(text, port, '127.0.0.1')
  const end = Date.now() + waitMs
  while (got.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20))
  return got
}

const viaEtc = (lport: number): string =>
  `Via: SIP/2.0/UDP 127.0.0.1:${lport};branch=z9hG4bK-bad1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: bad-1\r\n`

t.test('malformed SIP: 400 when answerable, dropped otherwise; engine keeps serving', async (t) => {
  const engine = await startEngine(t)
  const bad = await udpExchange(t, engine.sipPort, `OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n${viaEtc(1)}CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`, 2000)
  t.match(bad[0] ?? '', /^SIP\/2\.0 400 /, 'CSeq method mismatch gets 400')
  const broken = await udpExchange(t, engine.sipPort, `OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n${viaEtc(1)}CSeq: 1 OPTIONS\r\nthis line has no colon\r\n\r\n`, 2000)
  t.match(broken[0] ?? '', /^SIP\/2\.0 400 /, 'unparseable header gets 400 when Via etc. can be salvaged')
  const garbage = await udpExchange(t, engine.sipPort, '\x00\x01garbage\r\n\r\n', 300)
  t.same(garbage, [], 'garbage is dropped')
  const ok = await udpExchange(t, engine.sipPort, `OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n${viaEtc(1)}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`, 2000)
  t.match(ok[0] ?? '', /^SIP\/2\.0 503 /, 'still alive: a request no app routed gets 503')
})

t.test('bad control frames close that connection only', async (t) => {
  const engine = await startEngine(t)
  for (const payload of ['not-a-length#x', '99999999999#', '11#0123|junk|x', '40#truncated frame']) {
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
  await t.rejects(connectSrf(t, { ...engine, secret: 'wrong' }))
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
  // give both route messages time to land: wait until a probe REGISTER is answered by each
  const r = await runSipp(t, { scenario: 'uac-register.xml', transport: 'udp', remote: `127.0.0.1:${engine.sipPort}`, calls: 4, rate: 50 })
  t.equal(r.code, 0, 'all REGISTERs answered', { stderr: r.stderr })
  t.same(counts, [2, 2], 'each application got half')
})
