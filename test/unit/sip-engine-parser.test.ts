/**
 * SIP parsing and serialisation: round trips keep unknown headers, compact forms and bodies;
 * malformed input fails with SIP_PARSE only; stream framing over TCP. Fuzzed with fast-check.
 */
import t from 'tap'
import fc from 'fast-check'
import {
  parseSipMessage,
  SipEngineError,
  SipMessage,
  SipStreamParser,
  splitHeaderList,
  validateMessage,
  parseVia,
  parseSipUri,
  parseNameAddr,
} from '@flexseat/sip-engine'

const INVITE = [
  'INVITE sip:1002@10.0.0.2:5060;transport=udp SIP/2.0',
  'v: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1;rport',
  'Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK-0, SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK-a',
  'f: "Desk 3" <sip:1001@example.com>;tag=abc',
  't: <sip:1002@example.com>',
  'i: call-1@10.0.0.1',
  'CSeq: 7 INVITE',
  'm: <sip:1001@10.0.0.1:5070>',
  'X-Seat-Epoch: 42',
  'P-Asserted-Identity: "Jo" <sip:1001@example.com>',
  'Subject: multi',
  '  line folded',
  'c: application/sdp',
  'l: 9',
  '',
  'v=0\r\nab\r\n',
].join('\r\n')

t.test('parses compact forms, lists and unknown headers', async (t) => {
  const m = parseSipMessage(Buffer.from(INVITE))
  t.equal(m.method, 'INVITE')
  t.equal(m.get('call-id'), 'call-1@10.0.0.1')
  t.equal(m.get('i'), 'call-1@10.0.0.1')
  t.equal(m.getAll('via').length, 3, 'Via lines and comma lists')
  t.equal(parseVia(m.getAll('via')[2]!)?.host, '[2001:db8::1]')
  t.equal(m.get('x-seat-epoch'), '42')
  t.equal(m.get('subject'), 'multi line folded')
  t.equal(parseNameAddr(m.get('from')!)?.params.get('tag'), 'abc')
  t.equal(m.body.toString(), 'v=0\r\nab\r\n')
  t.equal(validateMessage(m), undefined)
})

t.test('serialise → parse round trip keeps every header as written', async (t) => {
  const m = parseSipMessage(Buffer.from(INVITE))
  const again = parseSipMessage(m.toBuffer())
  t.same(again.headers.map((h) => [h.name, h.value]), m.headers.map((h) => [h.name, h.value]))
  t.same(again.body, m.body)
  t.match(m.toString(), /\r\nl: 9\r\n/, 'compact Content-Length stays compact')
  t.match(m.toString(), /\r\nX-Seat-Epoch: 42\r\n/)
})

t.test('responses, UTF-8 reason phrases', async (t) => {
  const r = SipMessage.response(480, 'Abgemeldet: 1001 sitzt jetzt in Köln')
  r.append('Via', 'SIP/2.0/UDP a;branch=z9hG4bK1')
  r.append('Content-Length', '0')
  const p = parseSipMessage(r.toBuffer())
  t.equal(p.status, 480)
  t.equal(p.reason, 'Abgemeldet: 1001 sitzt jetzt in Köln')
})

t.test('malformed input is rejected with SIP_PARSE', async (t) => {
  for (const bad of ['', 'garbage', 'INVITE sip:a SIP/3.0\r\n\r\n', 'SIP/2.0 99 x\r\n\r\n', 'INVITE sip:a SIP/2.0\r\nno colon\r\n\r\n', 'MESSAGE sip:a SIP/2.0\r\nContent-Length: 10\r\n\r\nshort']) {
    t.throws(() => parseSipMessage(Buffer.from(bad)), { code: 'SIP_PARSE' }, JSON.stringify(bad))
  }
  const noVia = parseSipMessage(Buffer.from('OPTIONS sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n'))
  t.equal(validateMessage(noVia), 'missing Via')
})

t.test('splitHeaderList ignores commas in quotes and brackets', async (t) => {
  t.same(splitHeaderList('"a, b" <sip:x@y;p=1,2>;q=1, <sip:z>'), ['"a, b" <sip:x@y;p=1,2>;q=1', '<sip:z>'])
})

t.test('stream parser frames back-to-back and split messages, skips CRLF keep-alives', async (t) => {
  const one = parseSipMessage(Buffer.from(INVITE)).toBuffer()
  const stream = Buffer.concat([Buffer.from('\r\n\r\n'), one, one])
  const p = new SipStreamParser()
  const out: Buffer[] = []
  for (let i = 0; i < stream.length; i += 7) out.push(...p.push(stream.subarray(i, i + 7)))
  t.equal(out.length, 2)
  t.same(out[1], one)
  t.throws(() => new SipStreamParser().push(Buffer.from('INVITE sip:a SIP/2.0\r\nVia: x\r\n\r\n')), { code: 'SIP_PARSE' })
})

t.test('fuzz: arbitrary bytes never throw anything but SIP_PARSE', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      try {
        const m = parseSipMessage(Buffer.from(bytes))
        validateMessage(m)
      } catch (err) {
        if (!(err instanceof SipEngineError) || err.code !== 'SIP_PARSE') throw err
      }
    }),
    { numRuns: 3000 },
  )
  t.pass('no unexpected exception')
})

const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/).filter((n) => !/^(content-length|l)$/i.test(n))
const headerValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,40}[\x21-\x7e])?$/)

t.test('fuzz: generated messages round-trip exactly (headers, order, body)', async (t) => {
  fc.assert(
    fc.property(
      fc.constantFrom('INVITE', 'REGISTER', 'MESSAGE', 'X-CUSTOM'),
      fc.array(fc.tuple(headerName, headerValue), { maxLength: 12 }),
      fc.uint8Array({ maxLength: 200 }),
      (method, headers, body) => {
        const m = SipMessage.request(method, 'sip:user@example.com')
        for (const [n, v] of headers) m.append(n, v)
        m.body = Buffer.from(body)
        const p = parseSipMessage(m.toBuffer())
        if (p.method !== method) return false
        const got = p.headers.filter((h) => h.key !== 'content-length').map((h) => [h.name, h.value])
        return JSON.stringify(got) === JSON.stringify(headers) && Buffer.compare(p.body, m.body) === 0
      },
    ),
    { numRuns: 1500 },
  )
  t.pass('round trips hold')
})

t.test('fuzz: mutated valid messages never crash the stream parser', async (t) => {
  const base = Buffer.from(INVITE)
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.integer({ min: 1, max: 64 }), (muts, chunk) => {
      const b = Buffer.from(base)
      for (const [i, v] of muts) b[i] = v
      const p = new SipStreamParser()
      try {
        for (let i = 0; i < b.length; i += chunk) for (const msg of p.push(b.subarray(i, i + chunk))) parseSipMessage(msg, false)
      } catch (err) {
        if (!(err instanceof SipEngineError)) throw err
      }
    }),
    { numRuns: 1500 },
  )
  t.pass('no unexpected exception')
})

t.test('ports outside 1..65535 make a Via or SIP URI unusable (nothing can be sent there)', async (t) => {
  for (const port of ['0', '65536', '99999', '123456']) {
    t.equal(parseSipUri(`sip:127.0.0.1:${port};lr`), undefined, `sip URI with port ${port}`)
    t.equal(parseVia(`SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK1`), undefined, `Via with port ${port}`)
  }
  t.equal(parseSipUri('sip:127.0.0.1:65535')?.port, 65535)
  t.equal(parseSipUri('sip:127.0.0.1:1')?.port, 1)
  t.equal(parseVia('SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1')?.port, 5060)
})

t.test('bodyIsRest: a message from an application keeps every byte after the blank line', async (t) => {
  const body = 'Grüße 👋'
  // drachtio-srf writes Content-Length as the JS string length, smaller than the byte length
  const text = `MESSAGE sip:a@b SIP/2.0\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  const m = parseSipMessage(Buffer.from(text, 'utf8'), true, true)
  t.equal(m.body.toString('utf8'), body)
  t.match(m.toBuffer().toString('utf8'), new RegExp(`Content-Length: ${Buffer.byteLength(body)}\r\n`), 'serialised with the byte length')
})

/** A minimal valid request with some header lines replaced or added. */
function withHeaders(lines: string[]): SipMessage {
  const base = ['Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-v', 'From: <sip:a@x>;tag=1', 'To: <sip:b@x>', 'Call-ID: v1', 'CSeq: 1 OPTIONS', 'Max-Forwards: 70']
  const names = new Set(lines.map((l) => l.split(':')[0]!.toLowerCase()))
  const all = [...base.filter((l) => !names.has(l.split(':')[0]!.toLowerCase())), ...lines]
  return parseSipMessage(Buffer.from(`OPTIONS sip:b@x SIP/2.0\r\n${all.join('\r\n')}\r\n\r\n`))
}

t.test('header rules of RFC 4475: what must pass and what must not', async (t) => {
  t.equal(validateMessage(withHeaders(['Max-Forwards: 0068'])), undefined, 'leading zeros in Max-Forwards (§3.1.1.1)')
  t.equal(validateMessage(withHeaders(['Max-Forwards: 300'])), 'bad Max-Forwards', 'above 255 (§3.1.2.4)')
  t.equal(validateMessage(withHeaders(['Content-Length: 0', 'l: 0'])), undefined, 'equal Content-Length repetitions')
  t.equal(validateMessage(withHeaders(['Content-Length: 0', 'l: 5'])), 'Content-Length values disagree', '§3.3.9')
  for (const h of ['To: <sip:c@x>', 'From: <sip:c@x>;tag=2', 'Call-ID: v2', 'CSeq: 2 OPTIONS', 'Max-Forwards: 5']) {
    const m = withHeaders([])
    m.append(h.split(':')[0]!, h.slice(h.indexOf(':') + 1).trim())
    t.match(validateMessage(m), /^more than one /, `a second ${h.split(':')[0]} (§3.3.8)`)
  }
  t.match(validateMessage(withHeaders(['Via: SIP/2.0/UDP 192.0.2.15;;,;,,'])), /^bad via \(empty parameter\)/, 'empty Via parameters (§3.1.2.1)')
  t.match(validateMessage(withHeaders(['Contact: "Joe" <sip:joe@example.org>;;;;'])), /^bad contact/, 'empty Contact parameters (§3.1.2.1)')
  t.match(validateMessage(withHeaders(['Contact: <sip:a@x>, , <sip:b@x>'])), /^bad contact \(empty list element\)/, 'an empty list element')
  t.match(validateMessage(withHeaders(['To: "Mr. J. User <sip:j.user@example.com>'])), /^bad to \(unterminated quoted string\)/, '§3.1.2.6')
  t.equal(validateMessage(withHeaders(['Contact: "a;b,c" <sip:a@x;lr;p=1,2>;q=0.5, <sip:b@x>;expires=60', 'Route: <sip:p1;lr>,<sip:p2;lr>'])), undefined, 'separators inside quotes and <> are fine')
  t.equal(validateMessage(withHeaders(['Via: SIP/2.0/UDP h;branch=z9hG4bK1 ; rport , SIP/2.0/TCP g;branch=z9hG4bK2'])), undefined, 'LWS around separators is fine')
})

t.test('start line: runs of SP and trailing SP are tolerated, another SIP version is not', async (t) => {
  const m = parseSipMessage(Buffer.from('OPTIONS  sip:b@x   SIP/2.0  \r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n'))
  t.equal(m.startLine(), 'OPTIONS sip:b@x SIP/2.0', 're-serialised without the extra SP')
  t.throws(() => parseSipMessage(Buffer.from('OPTIONS sip:b@x SIP/7.0\r\n\r\n')), { code: 'SIP_PARSE' })
  t.throws(() => parseSipMessage(Buffer.from('INVITE sip:user@example.com; lr SIP/2.0\r\n\r\n')), { code: 'SIP_PARSE' }, 'LWS inside the Request-URI')
})

t.test('stream parser: a missing, bad or ambiguous Content-Length stops the stream and keeps the head', async (t) => {
  for (const cl of ['Content-Length: 13\r\nl: 5', 'Content-Length: -999', 'Content-Length: five', '']) {
    const p = new SipStreamParser()
    const head = `OPTIONS sip:b@x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n${cl ? cl + '\r\n' : ''}\r\n`
    t.throws(() => p.push(Buffer.from(head + 'body')), { code: 'SIP_PARSE' }, JSON.stringify(cl))
    t.equal(p.rejectedHead?.toString(), head, 'the rejected head is kept for a 400')
  }
  t.equal(new SipStreamParser().push(Buffer.from('OPTIONS sip:b@x SIP/2.0\r\nContent-Length: 2\r\nl: 2\r\n\r\nab')).length, 1, 'equal repetitions frame')
})
