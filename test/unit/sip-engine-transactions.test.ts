/**
 * Transaction state machines under random retransmissions and orderings (fast-check): they
 * never throw, never hand a final response to their user twice, retransmit the last response
 * for request retransmissions, and ACK every non-2xx final they see.
 *
 * @see RFC 3261 §17
 */
import t from 'tap'
import fc from 'fast-check'
import { ClientTransaction, parseSipMessage, ServerTransaction, SipMessage } from '@flexseat/sip-engine'

// timers long enough never to fire inside a synchronous property run
const TIMERS = { T1: 60_000, T2: 60_000, T4: 60_000 }

function request(method: string): SipMessage {
  return parseSipMessage(
    Buffer.from(
      `${method} sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: c1\r\nCSeq: 1 ${method}\r\nContent-Length: 0\r\n\r\n`,
    ),
  )
}

function response(status: number, method: string): SipMessage {
  const r = SipMessage.response(status, 'X')
  r.append('Via', 'SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx')
  r.append('CSeq', `1 ${method}`)
  return r
}

const status = fc.constantFrom(100, 180, 183, 200, 202, 302, 404, 486, 487, 500, 603)

type ServerEvent = { kind: 'retransmit' } | { kind: 'ack' } | { kind: 'respond'; status: number } | { kind: 'terminate' }
const serverEvent: fc.Arbitrary<ServerEvent> = fc.oneof(
  fc.constant({ kind: 'retransmit' as const }),
  fc.constant({ kind: 'ack' as const }),
  status.map((s) => ({ kind: 'respond' as const, status: s })),
  fc.constant({ kind: 'terminate' as const }),
)

for (const method of ['INVITE', 'MESSAGE']) {
  t.test(`server ${method} transaction: random event orders`, async (t) => {
    fc.assert(
      fc.property(fc.constantFrom('udp', 'tcp'), fc.array(serverEvent, { maxLength: 30 }), (transport, events) => {
        const sent: number[] = []
        let terminated = 0
        const txn = new ServerTransaction('id', 'key', request(method), { transport: transport as 'udp' | 'tcp', address: '1.2.3.4', port: 5060 }, TIMERS, {
          send: (data) => sent.push(parseSipMessage(data).status!),
          terminated: () => terminated++,
        })
        let finals = 0
        let lastAccepted = 0
        for (const e of events) {
          if (e.kind === 'retransmit') {
            const before = sent.length
            txn.receiveRetransmission()
            if (sent.length > before && sent[sent.length - 1] !== lastAccepted) return false
          } else if (e.kind === 'ack') txn.receiveAck()
          else if (e.kind === 'terminate') txn.terminate()
          else {
            const ok = txn.respond(e.status, response(e.status, method).toBuffer())
            if (ok) {
              if (e.status >= 200) {
                // only further 2xx to INVITE may follow a final
                if (finals > 0 && !(method === 'INVITE' && e.status < 300 && lastAccepted < 300)) return false
                finals++
              }
              lastAccepted = finals > 1 ? lastAccepted : e.status
            }
          }
        }
        txn.terminate()
        return terminated === 1
      }),
      { numRuns: 2000 },
    )
    t.pass('invariants hold')
  })
}

type ClientEvent = { kind: 'response'; status: number } | { kind: 'transportError' } | { kind: 'terminate' }
const clientEvent: fc.Arbitrary<ClientEvent> = fc.oneof(
  { weight: 6, arbitrary: status.map((s) => ({ kind: 'response' as const, status: s })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'transportError' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'terminate' as const }) },
)

for (const method of ['INVITE', 'MESSAGE']) {
  t.test(`client ${method} transaction: random responses, duplicates and orderings`, async (t) => {
    fc.assert(
      fc.property(fc.constantFrom('udp', 'tcp'), fc.array(clientEvent, { maxLength: 30 }), (transport, events) => {
        const delivered: { status: number; retransmission: boolean }[] = []
        let timeouts = 0
        let acks = 0
        let terminated = 0
        const req = request(method)
        const txn = new ClientTransaction('id', 'z9hG4bKx', req, req.toBuffer(), { transport: transport as 'udp' | 'tcp', address: '1.2.3.4', port: 5060 }, TIMERS, {
          send: (data) => {
            if (parseSipMessage(data).method === 'ACK') acks++
          },
          response: (_t, res, _raw, retransmission) => delivered.push({ status: res.status!, retransmission }),
          timeout: () => timeouts++,
          buildAck: () => Buffer.from('ACK sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n'),
          terminated: () => terminated++,
        })
        txn.start()
        let non2xxFinalsSeen = 0
        for (const e of events) {
          if (e.kind === 'response') {
            const wasCompleted = txn.state === 'completed'
            txn.receiveResponse(response(e.status, method), Buffer.alloc(0))
            if (method === 'INVITE' && e.status >= 300 && (txn.state === 'completed' || wasCompleted)) non2xxFinalsSeen++
          } else if (e.kind === 'transportError') txn.transportError()
          else txn.terminate()
        }
        txn.terminate()
        const firstFinals = delivered.filter((d) => d.status >= 200 && !d.retransmission)
        if (firstFinals.length + timeouts > 1) return false // one outcome only
        if (delivered.some((d) => d.retransmission && (method !== 'INVITE' || d.status >= 300))) return false
        if (method === 'INVITE' && acks !== non2xxFinalsSeen) return false // every non-2xx final ACKed
        if (method !== 'INVITE' && acks !== 0) return false
        return terminated === 1
      }),
      { numRuns: 2000 },
    )
    t.pass('invariants hold')
  })
}
