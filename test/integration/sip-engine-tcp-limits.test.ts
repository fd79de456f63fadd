/**
 * TCP resource exhaustion (issue 16): idle connections cannot use up the engine's descriptors and
 * cut SIP over TCP for every phone. Connections from one source beyond the per-source cap are
 * closed at once; at the overall cap the oldest silent connection (no SIP carried) makes room;
 * near the cap silent connections get a short idle timeout. A phone that registered over TCP
 * keeps its connection and is served throughout, and a new phone can still register (real sipp).
 * Small caps given on the command line keep the test bounded (about 60 connections, a few
 * seconds). Engine-only: drachtio-server has no such caps (docs/ENGINES.md).
 */
import t from 'tap'
import * as net from 'node:net'
import { connectSrf, REAL_DRACHTIO, startEngine, waitFor, type TestLike } from '../helpers/sip-engine'
import { runSipp } from '../helpers/sipp'

const MAX = 30
const PER_SOURCE = 8

/** 127.A.B.x addresses of this process. */
const net127 = `127.${150 + (process.pid % 100)}.${Math.floor(process.pid / 100) % 250}`

interface Client {
  sock: net.Socket
  closed: boolean
  received: string
}

async function connect(t: TestLike, port: number, localAddress: string): Promise<Client> {
  const c: Client = { sock: net.connect({ host: '127.0.0.1', port, localAddress }), closed: false, received: '' }
  c.sock.on('error', () => undefined)
  c.sock.on('close', () => (c.closed = true))
  c.sock.on('data', (d: Buffer) => (c.received += d.toString()))
  t.teardown(() => {
    c.sock.destroy()
  })
  await new Promise<void>((resolve) => {
    c.sock.once('connect', () => resolve())
    c.sock.once('close', () => resolve())
  })
  return c
}

function request(method: string, from: string, port: number, callId: string): string {
  return [
    `${method} sip:${from}@127.0.0.1:${port} SIP/2.0`,
    `Via: SIP/2.0/TCP ${net127}.2:5060;branch=z9hG4bK-${callId}`,
    `From: <sip:${from}@127.0.0.1>;tag=${callId}`,
    `To: <sip:${from}@127.0.0.1>`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:${from}@${net127}.2:5060;transport=tcp>`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')
}

t.test('caps per source and overall; silent connections make room; registered phones keep being served', { skip: REAL_DRACHTIO && 'engine-only: drachtio-server has no TCP connection caps' }, async (t) => {
  const engine = await startEngine(t, {
    engineArgs: ['--tcp-max-connections', String(MAX), '--tcp-max-connections-per-source', String(PER_SOURCE), '--tcp-pressure-idle-timeout', '0.5'],
  })
  const srf = await connectSrf(t, engine)
  srf.register((_req, res) => res.send(200, { headers: { Expires: '3600' } }))
  srf.options((_req, res) => res.send(200))

  // a phone registers over TCP and keeps its connection
  const phone = await connect(t, engine.sipPort, `${net127}.2`)
  phone.sock.write(request('REGISTER', '1001', engine.sipPort, `reg-${process.pid}`))
  await waitFor(() => phone.received.includes('SIP/2.0 200'), 5000, 'the phone registered')

  // one source opens far more than its share: only PER_SOURCE stay open
  const flood: Client[] = []
  for (let i = 0; i < PER_SOURCE + 12; i++) flood.push(await connect(t, engine.sipPort, `${net127}.3`))
  await waitFor(() => flood.filter((c) => c.closed).length >= 12, 5000, 'connections beyond the per-source cap closed')
  t.equal(flood.filter((c) => !c.closed).length, PER_SOURCE, `${PER_SOURCE} connections from one source stay open, the rest are closed`)

  // many sources, one silent connection each, past the overall cap: the oldest silent ones go
  const many: Client[] = []
  for (let i = 0; i < MAX; i++) many.push(await connect(t, engine.sipPort, `${net127}.${10 + i}`))
  await waitFor(() => [...flood, ...many].filter((c) => !c.closed).length <= MAX - 1, 5000, 'the overall cap holds')
  t.ok(flood.every((c) => c.closed), 'the oldest silent connections were closed to make room')
  t.notOk(phone.closed, "the registered phone's connection was never touched")

  // near the cap, silent connections get the short idle timeout: all of them go
  await waitFor(() => many.every((c) => c.closed), 5000, 'silent connections closed after the short idle timeout')
  t.pass('silent connections were closed soon near the cap')
  t.notOk(phone.closed, "the phone's connection (it carried SIP) keeps the normal idle timeout")

  // the phone is still served on its connection, and a new phone registers over TCP (sipp)
  phone.sock.write(request('OPTIONS', '1001', engine.sipPort, `opt-${process.pid}`))
  await waitFor(() => (phone.received.match(/SIP\/2\.0 200/g) ?? []).length >= 2, 5000, 'OPTIONS answered')
  t.pass('the registered phone is served on its connection')
  const r = await runSipp(t, { scenario: 'uac-register-plain.xml', transport: 'tcp', remote: `127.0.0.1:${engine.sipPort}`, localAddress: `${net127}.200` })
  t.equal(r.code, 0, 'a new phone registers over TCP', { stderr: r.stderr })
})
