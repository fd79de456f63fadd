// Challenge amplification on the embedded engine, over a real UDP socket: one unauthenticated
// INVITE, never ACKed, challenged by a drachtio-srf application (407 with a Proxy-Authenticate as
// long as the SIP node's). It used to bring back 100 Trying and the 407 retransmitted by Timer G
// until Timer H (15-21x the request's bytes); now at most twice the bytes it brought in, whether
// the application answers at once or late. The 100 Trying goes out at once, as drachtio-server
// sends it (phones and drachtio-srf's own tests wait for it before a CANCEL). The engine runs
// in this process with T1 = 20 ms, so Timer H (64*T1) ends the transaction within 1.3 s and the
// bytes are counted once it has ended, not over a chosen time. drachtio-server's behaviour:
// docs/ENGINES.md (compatibility table E3).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { SipEngine } from '@flexseat/sip-engine'
import { connectSrf, type TestLike, waitFor } from '../helpers/sip-engine'

const NONCE = `${Math.floor(Date.now() / 1000).toString(16)}.${randomBytes(9).toString('base64url')}.${randomBytes(32).toString('base64url')}`
const CHALLENGE = `Digest realm="amsterdam.flexseat.test", nonce="${NONCE}", qop="auth", algorithm=MD5`

async function probe(t: TestLike, answerAfterMs: number): Promise<{ bytesIn: number; bytesOut: number; statuses: string[] }> {
  const engine = new SipEngine({ contacts: [{ address: '127.0.0.1', port: 0, transports: ['udp'] }], controlPort: 0, controlAddress: '127.0.0.1', timers: { T1: 20, T2: 160, T4: 200 } })
  await engine.start()
  t.teardown(() => engine.stop())
  const sipPort = engine.sipAddresses[0]!.port
  const srf = await connectSrf(t, { sipPort, controlPort: engine.controlPort, secret: 'cymru', proc: undefined as never, logs: () => '' })
  srf.invite((_req, res) => {
    setTimeout(() => res.send(407, { headers: { 'Proxy-Authenticate': CHALLENGE } }), answerAfterMs)
  })
  const sock = dgram.createSocket('udp4')
  sock.bind(0, '127.0.0.1')
  await once(sock, 'listening')
  t.teardown(() => {
    sock.close()
  })
  const port = sock.address().port
  let bytesOut = 0
  const statuses: string[] = []
  sock.on('message', (m: Buffer) => {
    bytesOut += m.length
    statuses.push(m.toString('latin1').split('\r\n')[0]!)
  })
  const sdp = ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:101 telephone-event/8000', ''].join('\r\n')
  const invite = Buffer.from([
    `INVITE sip:2101@127.0.0.1:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:1001@127.0.0.1>;tag=${randomBytes(4).toString('hex')}`,
    'To: <sip:2101@127.0.0.1>',
    `Call-ID: ${randomBytes(8).toString('hex')}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:1001@127.0.0.1:${port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(sdp)}`,
    '',
    sdp,
  ].join('\r\n'))
  sock.send(invite, sipPort, '127.0.0.1')
  await waitFor(() => statuses.some((s) => s.startsWith('SIP/2.0 407')), 5_000, 'the 407')
  // Ended by Timer H (no ACK ever comes): every byte the transaction will send has been sent.
  await waitFor(() => engine.stats.serverTransactions === 0, 5_000, 'the transaction ended (Timer H)')
  return { bytesIn: invite.length, bytesOut, statuses }
}

// Guard tried: the CHALLENGE_AMPLIFICATION check in ServerTransaction.scheduleG removed: the 407
// comes back until Timer H (both cases above 2x).
t.test('a challenge answered at once: 100 Trying and the 407 within 2x the bytes', async (t) => {
  const { bytesIn, bytesOut, statuses } = await probe(t, 0)
  t.equal(statuses[0]?.slice(8, 11), '100', 'the 100 Trying at once')
  t.ok(statuses.some((s) => s.startsWith('SIP/2.0 407')), 'then the 407')
  t.ok(bytesOut <= 2 * bytesIn, `${bytesOut} bytes out for ${bytesIn} in (${(bytesOut / bytesIn).toFixed(2)}x)`)
})

t.test('a challenge answered late: 100 Trying, then the 407, still at most 2x the bytes', async (t) => {
  const { bytesIn, bytesOut, statuses } = await probe(t, 300)
  t.equal(statuses[0]?.slice(8, 11), '100', 'a 100 Trying while the application takes its time')
  t.ok(statuses.some((s) => s.startsWith('SIP/2.0 407')), 'then the 407')
  t.ok(bytesOut <= 2 * bytesIn, `${bytesOut} bytes out for ${bytesIn} in (${(bytesOut / bytesIn).toFixed(2)}x; ${statuses.length} datagrams)`)
})
