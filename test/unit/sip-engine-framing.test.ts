/**
 * drachtio control-socket framing `<len>#<payload>`: split and merged frames, UTF-8 lengths,
 * and bad prefixes / oversized frames rejected (the server then closes that connection).
 */
import t from 'tap'
import fc from 'fast-check'
import { encodeFrame, FrameDecoder } from '@flexseat/sip-engine'

t.test('encodes byte lengths, decodes split and merged frames', async (t) => {
  const msgs = ['a1|authenticate|cymru|', 'b2|route|invite', 'c3|sip|network|…|\r\nMESSAGE sip:x SIP/2.0\r\n\r\nGrüße 👋']
  const wire = Buffer.concat(msgs.map(encodeFrame))
  t.ok(encodeFrame('é').toString('latin1').startsWith('2#'), 'length counts UTF-8 bytes')
  for (const step of [1, 3, 17, wire.length]) {
    const d = new FrameDecoder()
    const out: string[] = []
    for (let i = 0; i < wire.length; i += step) out.push(...d.push(wire.subarray(i, i + step)))
    t.same(out, msgs, `chunks of ${step}`)
    t.equal(d.pendingBytes, 0)
  }
})

t.test('rejects bad prefixes and oversized frames', async (t) => {
  for (const bad of ['abc#x', '#x', '0#', '-5#xxxxx', '9999999999999#', 'x'.repeat(20)]) {
    t.throws(() => new FrameDecoder().push(Buffer.from(bad)), { code: 'WIRE_FRAMING' }, JSON.stringify(bad))
  }
  t.throws(() => new FrameDecoder(100).push(Buffer.from('101#')), { code: 'WIRE_FRAMING' })
  const d = new FrameDecoder()
  t.same(d.push(Buffer.from('10#abc')), [], 'truncated frame waits')
  t.equal(d.pendingBytes, 6)
})

t.test('fuzz: any byte stream yields frames or WIRE_FRAMING, nothing else', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 10 }), (chunks) => {
      const d = new FrameDecoder(1000)
      try {
        for (const c of chunks) d.push(Buffer.from(c))
      } catch (err) {
        if ((err as { code?: string }).code !== 'WIRE_FRAMING') throw err
      }
    }),
    { numRuns: 3000 },
  )
  t.pass()
})

t.test('fuzz: encode/decode round trip for arbitrary strings and chunkings', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ minLength: 1, maxLength: 50, unit: 'grapheme' }), { maxLength: 8 }), fc.integer({ min: 1, max: 13 }), (msgs, step) => {
      const wire = Buffer.concat(msgs.map(encodeFrame))
      const d = new FrameDecoder()
      const out: string[] = []
      for (let i = 0; i < wire.length; i += step) out.push(...d.push(wire.subarray(i, i + step)))
      return JSON.stringify(out) === JSON.stringify(msgs)
    }),
    { numRuns: 1000 },
  )
  t.pass()
})
