/**
 * Requests outside any dialog that no application takes. BYE, UPDATE and PRACK only exist within a
 * dialog: 481, routed or not (as drachtio-server does for BYE and UPDATE). INFO and NOTIFY that no
 * application routes refer to no session or subscription here: 481. SUBSCRIBE and REFER that no
 * application routes get 405 with the routed methods in Allow (503 while no application is
 * connected at all: the phone's node may be restarting). Unknown methods: 501. Raw UDP phones;
 * the file runs against drachtio-server too, where the expectations are what it does (it drops
 * PRACK, REFER and unknown methods, and answers 503 where the engine answers 481 or 405; the rows
 * of docs/ENGINES.md).
 * @see RFC 3261 §8.2.1, §15.1.2; RFC 3262 §3; RFC 3311 §5.2; RFC 6086 §4.2.2; RFC 6665 §4.1.3
 */
import t, { type Test } from 'tap'
import { connectSrf, REAL_DRACHTIO, startEngine, udpPeer, waitFor, type EngineHandle, type TestLike, type UdpPeer } from '../helpers/sip-engine'

const METHODS = ['BYE', 'UPDATE', 'PRACK', 'INFO', 'NOTIFY', 'SUBSCRIBE', 'REFER', 'FOOBAR'] as const
type Method = (typeof METHODS)[number]

/** Expected final status per method; undefined: no response (checked after a later probe's answer). */
type Table = Record<Method, number | undefined>

const ENGINE_NO_APP: Table = { BYE: 481, UPDATE: 481, PRACK: 481, INFO: 481, NOTIFY: 481, SUBSCRIBE: 503, REFER: 503, FOOBAR: 501 }
const ENGINE_OTHER_ROUTES: Table = { ...ENGINE_NO_APP, SUBSCRIBE: 405, REFER: 405 }
const ENGINE_ROUTED: Table = { BYE: 481, UPDATE: 481, PRACK: 481, INFO: 202, NOTIFY: 202, SUBSCRIBE: 202, REFER: 202, FOOBAR: 501 }
const DRACHTIO_UNROUTED: Table = { BYE: 481, UPDATE: 481, PRACK: undefined, INFO: 503, NOTIFY: 503, SUBSCRIBE: 503, REFER: undefined, FOOBAR: undefined }
const DRACHTIO_ROUTED: Table = { ...DRACHTIO_UNROUTED, INFO: 202, NOTIFY: 202, SUBSCRIBE: 202 }

let seq = 0

function request(method: string, phone: UdpPeer, sipPort: number, callId: string): string {
  return [
    `${method} sip:svc@127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-${callId};rport`,
    `From: <sip:1001@127.0.0.1:${phone.port}>;tag=f-${callId}`,
    'To: <sip:svc@127.0.0.1>',
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:1001@127.0.0.1:${phone.port}>`,
    'Event: dialog',
    'Subscription-State: active',
    'Refer-To: <sip:1002@127.0.0.1>',
    'RAck: 1 1 INVITE',
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n')
}

const statusOf = (callId: string) => (m: string): boolean => /^SIP\/2\.0 [2-6]\d\d /.test(m) && m.includes(`\r\nCall-ID: ${callId}\r\n`)

/** Sends every method, then an OPTIONS probe; checks each answer once the probe is answered. */
async function check(t: Test, engine: EngineHandle, table: Table, allow?: RegExp): Promise<void> {
  const phone = await udpPeer(t)
  const ids = new Map<Method, string>()
  for (const m of METHODS) {
    const id = `ood-${m}-${process.pid}-${++seq}`
    ids.set(m, id)
    phone.send(request(m, phone, engine.sipPort, id), engine.sipPort)
  }
  for (const m of METHODS) if (table[m] !== undefined) await phone.next(statusOf(ids.get(m)!), 3000, `${m} answered`)
  const probe = `probe-${process.pid}-${++seq}`
  phone.send(request('OPTIONS', phone, engine.sipPort, probe), engine.sipPort)
  await phone.next(statusOf(probe), 3000, 'OPTIONS probe answered')
  for (const m of METHODS) {
    const got = phone.received.find(statusOf(ids.get(m)!))
    t.equal(got === undefined ? undefined : Number(got.slice(8, 11)), table[m], `${m}: ${table[m] ?? 'no response'}`)
    if (allow && (table[m] === 405 || table[m] === 501)) t.match(got, allow, `${m}: Allow lists the routed methods`)
  }
}

/** Waits until the engine answers SIP (drachtio-server binds it after its control port). */
async function ready(t: TestLike, engine: EngineHandle): Promise<void> {
  const phone = await udpPeer(t)
  let n = 0
  await waitFor(() => {
    if (phone.received.some((m) => m.startsWith('SIP/2.0 '))) return true
    phone.send(request('OPTIONS', phone, engine.sipPort, `ready-${process.pid}-${++n}`), engine.sipPort)
    return false
  }, 5000, 'the engine answering SIP')
}

t.test('no application connected', async (t) => {
  const engine = await startEngine(t)
  await ready(t, engine)
  await check(t, engine, REAL_DRACHTIO ? DRACHTIO_UNROUTED : ENGINE_NO_APP)
})

t.test('an application routing other methods', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  srf.invite((_req, res) => res.send(486))
  srf.options((_req, res) => res.send(200))
  await ready(t, engine)
  await check(t, engine, REAL_DRACHTIO ? DRACHTIO_UNROUTED : ENGINE_OTHER_ROUTES, /\r\nAllow: (?=[^\r]*\bINVITE\b)(?=[^\r]*\bOPTIONS\b)(?![^\r]*\bSUBSCRIBE\b)[^\r]*\r\n/)
})

t.test('an application routing every one of them', async (t) => {
  const engine = await startEngine(t)
  const srf = await connectSrf(t, engine)
  for (const m of ['bye', 'update', 'prack', 'info', 'notify', 'subscribe', 'refer', 'options']) srf.use(m, [(_req, res) => res.send(202)])
  await ready(t, engine)
  await check(t, engine, REAL_DRACHTIO ? DRACHTIO_ROUTED : ENGINE_ROUTED)
})
