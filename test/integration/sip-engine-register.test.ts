/**
 * drachtio-srf request handlers (register / options / message) answering real sipp traffic over
 * UDP and TCP through the engine.
 */
import t from 'tap'
import { connectSrf, startEngine } from '../helpers/sip-engine'
import { runSipp, type SippTransport } from '../helpers/sipp'

for (const transport of ['udp', 'tcp'] as SippTransport[]) {
  t.test(`register, options and message handlers over ${transport}`, async (t) => {
    const engine = await startEngine(t)
    const srf = await connectSrf(t, engine)
    const seen: Record<string, unknown[]> = { register: [], options: [], message: [] }
    srf.register((req, res) => {
      seen.register!.push({ protocol: req.protocol, unknown: req.get('X-Flexseat-Unknown'), source: req.source, txn: req.stackTxnId })
      res.send(200, { headers: { 'X-Registrar': 'flexseat', Expires: '3600', Contact: req.get('Contact') } })
    })
    srf.options((_req, res) => {
      seen.options!.push(true)
      res.send(200)
    })
    srf.message((req, res) => {
      seen.message!.push({ body: req.body, type: req.get('Content-Type') })
      res.send(202, 'Accepted: text for the display')
    })
    const remote = `127.0.0.1:${engine.sipPort}`
    for (const scenario of ['uac-register.xml', 'uac-options.xml', 'uac-message.xml']) {
      const r = await runSipp(t, { scenario, transport, remote })
      t.equal(r.code, 0, `${scenario} succeeded`, { stderr: r.stderr, engine: engine.logs() })
    }
    t.equal(seen.register!.length, 1, 'one REGISTER delivered (no duplicates)')
    t.match(seen.register![0], { protocol: transport, unknown: 'kept intact', source: 'network' })
    t.equal(seen.options!.length, 1)
    t.same(seen.message, [{ body: 'hello engine\r\n', type: 'text/plain' }])
  })
}
