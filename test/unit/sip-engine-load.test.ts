/**
 * The engine under sustained load, mechanism by mechanism (the figures are bench/sip-engine.ts's):
 * - what it keeps of a completed non-INVITE transaction for Timer J, and that it still absorbs
 *   the retransmissions: the store (completed-transactions.ts) gives back the very bytes of the
 *   final response, keeps a few dozen bytes plus what the retransmission cannot give back, and
 *   drops everything after 64*T1; the engine answers a retransmitted request from it and never
 *   hands it to the application twice;
 * - an application that is behind gets no queue in front of it: past `maxPendingRequests`
 *   unanswered requests, new ones are answered 503 with Retry-After, until it catches up.
 */
import t from 'tap'
import { CompletedTransactions, parseSipMessage, SipEngine, SipMessage } from '@flexseat/sip-engine'
import { connectSrf, udpPeer, waitFor, type EngineHandle } from '../helpers/sip-engine'

function register(n: number, opts: { from?: string } = {}): SipMessage {
  return parseSipMessage(
    Buffer.from(
      [
        'REGISTER sip:127.0.0.1:5060 SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:5072;branch=z9hG4bK-12345-${n}-0;rport=5072`,
        `From: ${opts.from ?? `<sip:${n}@127.0.0.1>`};tag=12345SIPpTag${n}`,
        `To: <sip:${n}@127.0.0.1>`,
        `Call-ID: ${n}-12345@127.0.0.1`,
        'CSeq: 1 REGISTER',
        `Contact: <sip:${n}@127.0.0.1:5072;transport=UDP>`,
        'Expires: 3600',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    ),
  )
}

/** A 200 the way the engine builds one for an application (the request's echo, then the rest). */
function ok(req: SipMessage, extra: [string, string][] = [['X-Registrar', 'flexseat'], ['Expires', '3600']], body = ''): SipMessage {
  const res = SipMessage.response(200, 'OK')
  for (const h of req.headers) if (h.key === 'via') res.headers.push({ ...h })
  res.append('From', req.get('from')!)
  res.append('To', `${req.get('to')};tag=a1b2c3d4e5`)
  res.append('Call-ID', req.get('call-id')!)
  res.append('CSeq', req.get('cseq')!)
  for (const [name, value] of extra) res.append(name, value)
  res.body = Buffer.from(body, 'utf8')
  return res
}

const key = (n: number): string => `z9hG4bK-12345-${n}-0|127.0.0.1:5072|REGISTER`

t.test('a retransmission gets the very bytes of the final response back', async (t) => {
  const store = new CompletedTransactions(32_000)
  const cases: [string, SipMessage, SipMessage][] = []
  const plain = register(1)
  cases.push(['a 200 built by the engine', plain, ok(plain)])
  const utf8 = register(2, { from: '"Grüße – Jürgen" <sip:2@127.0.0.1>' })
  cases.push(['UTF-8 in From, a body', utf8, ok(utf8, [['Content-Type', 'text/plain;charset=UTF-8']], 'Grüße 👋')])
  const forwarded = register(3)
  const other = SipMessage.response(200, 'OK')
  for (const h of forwarded.headers) if (h.key === 'via') other.headers.push({ ...h })
  other.append('f', forwarded.get('from')!)
  other.append('t', `${forwarded.get('to')};tag=zz`)
  other.append('i', forwarded.get('call-id')!)
  other.append('CSeq', forwarded.get('cseq')!)
  cases.push(['a response that does not echo the request (stored whole)', forwarded, other])
  for (const [n, [, req, res]] of cases.entries()) store.add(key(n + 1), req, res, res.toBuffer())
  for (const [n, [what, req, res]] of cases.entries()) {
    const again = store.lookup(key(n + 1), parseSipMessage(req.toBuffer()))
    t.ok(again?.equals(res.toBuffer()), what)
  }
  t.equal(store.lookup(key(99), register(99)), undefined, 'a request never answered is not a retransmission')
  t.equal(store.lookup(`z9hG4bK-12345-1-0|127.0.0.1:5073|REGISTER`, register(1)), undefined, 'another sent-by is another transaction')
  t.equal(store.lookup(`z9hG4bK-12345-1-0|127.0.0.1:5072|OPTIONS`, register(1)), undefined, 'another method is another transaction')
})

t.test('what is retained per completed transaction: its response less the echo, and a few bytes of index', async (t) => {
  const perTransaction = (extra: (n: number) => [string, string][]): { kept: number; response: number } => {
    const store = new CompletedTransactions(32_000)
    const count = 20_000
    let responseBytes = 0
    for (let n = 0; n < count; n++) {
      const req = register(n)
      const res = ok(req, extra(n))
      const wire = res.toBuffer()
      responseBytes += wire.length
      store.add(key(n), req, res, wire)
    }
    t.equal(store.size, count)
    let found = 0
    for (let n = 0; n < count; n++) if (store.lookup(key(n), register(n))?.equals(ok(register(n), extra(n)).toBuffer())) found++
    t.equal(found, count, 'every one answers its retransmission, with its own response')
    return { kept: store.bytes / count, response: responseBytes / count }
  }
  // a registrar answering with the binding and the date: every 200 differs after the echo
  const own = perTransaction((n) => [['Contact', `<sip:${n}@127.0.0.1:5072;transport=UDP>;expires=3600`], ['Date', `Mon, 07 Dec 2026 03:${String(n % 60).padStart(2, '0')}:00 GMT`]])
  t.ok(own.kept < 200, `responses that differ: ${own.kept.toFixed(0)} bytes per transaction for a ${own.response.toFixed(0)}-byte 200 (the engine kept 1.3 kB)`)
  // an application answering every REGISTER alike: the part after the echo is stored once
  const alike = perTransaction(() => [['X-Registrar', 'flexseat'], ['Expires', '3600']])
  t.ok(alike.kept < 64, `responses alike: ${alike.kept.toFixed(0)} bytes per transaction for a ${alike.response.toFixed(0)}-byte 200`)
})

t.test('kept for Timer J, then dropped whole', async (t) => {
  let now = 0
  const store = new CompletedTransactions(32_000, () => now)
  const req = register(1)
  store.add(key(1), req, ok(req), ok(req).toBuffer())
  now = 31_999
  t.ok(store.lookup(key(1), req), 'still there just before 64*T1')
  now = 32_000 + 32_000 / 8
  store.add(key(2), register(2), ok(register(2)), ok(register(2)).toBuffer())
  t.equal(store.lookup(key(1), req), undefined, 'gone at most an eighth of Timer J later')
  t.equal(store.size, 1, 'only the newer one is held')
  now += 40_000
  store.expire()
  t.same([store.size, store.bytes], [0, 0], 'nothing is held once every transaction expired')
})

t.test('the engine answers a retransmission from the completed transaction, without the application', async (t) => {
  const T1 = 20
  const engine = await SipEngine.create({ contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp'] }], controlPort: 0, timers: { T1, T2: 4 * T1, T4: 5 * T1 } })
  t.teardown(() => engine.stop())
  const srf = await connectSrf(t, { controlPort: engine.controlPort, secret: 'cymru' } as EngineHandle)
  let delivered = 0
  srf.options((_req, res) => {
    delivered++
    res.send(200, { headers: { 'X-Answer': String(delivered) } })
  })
  const port = engine.sipAddresses[0]!.port
  const phone = await udpPeer(t)
  const options = [`OPTIONS sip:svc@127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-completed-1;rport`, 'From: <sip:1001@example.test>;tag=c1', 'To: <sip:svc@example.test>', 'Call-ID: completed-1', 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n')
  phone.send(options, port)
  await phone.next((m) => m.startsWith('SIP/2.0 200'), 3000, '200')
  t.match(engine.stats, { serverTransactions: 0, completedTransactions: 1 }, 'the transaction itself is gone; its response is filed for Timer J')
  phone.send(options, port)
  await waitFor(() => phone.received.filter((m) => m.startsWith('SIP/2.0 200')).length === 2, 3000, 'the 200 again')
  const [first, second] = phone.received.filter((m) => m.startsWith('SIP/2.0 200'))
  t.equal(second, first, 'the retransmission got the same bytes')
  t.equal(delivered, 1, 'the application saw the request once')
  await waitFor(() => engine.stats.completedTransactions === 0, 64 * T1 * 2 + 1000, 'Timer J')
  t.equal(engine.stats.completedBytes, 0, 'nothing is held after Timer J')
  phone.send(options, port)
  await waitFor(() => delivered === 2, 3000, 'a late copy after Timer J is a new request')
  t.pass('after Timer J the same request is new again')
})

t.test('an application behind: new requests get 503 with Retry-After, not a queue; served again once it catches up', async (t) => {
  const engine = await SipEngine.create({ contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp'] }], controlPort: 0, maxPendingRequests: 3 })
  t.teardown(() => engine.stop())
  const srf = await connectSrf(t, { controlPort: engine.controlPort, secret: 'cymru' } as EngineHandle)
  // the application takes requests but does not answer them yet
  const held: { send(status: number): void }[] = []
  srf.register((_req, res) => {
    held.push(res)
  })
  const port = engine.sipAddresses[0]!.port
  const phone = await udpPeer(t)
  let n = 0
  const send = (): string => {
    n++
    phone.send([`REGISTER sip:127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=z9hG4bK-behind-${n};rport`, `From: <sip:${n}@example.test>;tag=b${n}`, `To: <sip:${n}@example.test>`, `Call-ID: behind-${n}`, 'CSeq: 1 REGISTER', `Contact: <sip:${n}@127.0.0.1:${phone.port}>`, 'Content-Length: 0', '', ''].join('\r\n'), port)
    return `behind-${n}`
  }
  const answer = (callId: string) => (m: string): boolean => m.startsWith('SIP/2.0 ') && m.includes(`Call-ID: ${callId}\r\n`)
  for (let i = 0; i < 3; i++) send()
  await waitFor(() => held.length === 3, 3000, 'three requests at the application')
  const refused = await phone.next(answer(send()), 3000, 'the fourth answered')
  t.match(refused, /^SIP\/2\.0 503 /, 'the fourth: 503 at once')
  t.match(refused, /\r\nRetry-After: 1\r\n/, 'with Retry-After')
  t.equal(held.length, 3, 'it never reached the application')
  held.shift()!.send(200)
  const next = send()
  await waitFor(() => held.length === 3, 3000, 'delivered again once the application answered one')
  held.forEach((res) => res.send(200))
  await phone.next(answer(next), 3000, 'answered by the application')
  t.pass('served again')
})
