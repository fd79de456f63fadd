// The inter-site trunk signature: what it binds, the 60 s window, and refusals.
import t from 'tap'
import { createHmac } from 'node:crypto'
import { signTrunk, TRUNK_WINDOW_SECONDS, verifyTrunk } from '@flexseat/sip-node'

const SECRET = 'trunk-secret-for-tests'
const NOW = 1_900_000_000_000
const claim = { fromSite: 'berlin', callId: 'abc@10.0.0.1', user: '1001', epoch: '4242' }
const request = { callId: claim.callId, user: claim.user, epoch: claim.epoch }

t.test('the header is the README form, HMAC-SHA256 over from|ts|Call-ID|user|epoch', async (t) => {
  const header = signTrunk(SECRET, claim, NOW)
  const ts = String(NOW / 1000)
  const sig = createHmac('sha256', SECRET).update(`berlin|${ts}|abc@10.0.0.1|1001|4242`).digest('hex')
  t.equal(header, `berlin;ts=${ts};sig=${sig}`)
  t.same(verifyTrunk(SECRET, header, request, NOW), { ok: true, fromSite: 'berlin' })
})

t.test('every signed field is bound', async (t) => {
  const header = signTrunk(SECRET, claim, NOW)
  t.same(verifyTrunk(SECRET, header, { ...request, callId: 'other@x' }, NOW), { ok: false, reason: 'bad-signature' }, 'another call')
  t.same(verifyTrunk(SECRET, header, { ...request, user: '1002' }, NOW), { ok: false, reason: 'bad-signature' }, 'another target')
  t.same(verifyTrunk(SECRET, header, { ...request, epoch: '4243' }, NOW), { ok: false, reason: 'bad-signature' }, 'another epoch')
  t.same(verifyTrunk(SECRET, header, { ...request, epoch: '' }, NOW), { ok: false, reason: 'bad-signature' }, 'epoch dropped')
  t.same(verifyTrunk(SECRET, header.replace('berlin', 'chicago'), request, NOW), { ok: false, reason: 'bad-signature' }, 'another sender')
  t.same(verifyTrunk('another-secret', header, request, NOW), { ok: false, reason: 'bad-signature' }, 'another secret')
  const ts = NOW / 1000
  t.same(verifyTrunk(SECRET, header.replace(`ts=${ts}`, `ts=${ts + 30}`), request, NOW), { ok: false, reason: 'bad-signature' }, 'a shifted timestamp')
  const flipped = header.slice(0, -1) + (header.endsWith('0') ? '1' : '0')
  t.same(verifyTrunk(SECRET, flipped, request, NOW), { ok: false, reason: 'bad-signature' }, 'one hex digit off')
})

t.test('the 60 s window, both ways', async (t) => {
  const header = signTrunk(SECRET, claim, NOW)
  t.equal(TRUNK_WINDOW_SECONDS, 60)
  t.same(verifyTrunk(SECRET, header, request, NOW + 60_000), { ok: true, fromSite: 'berlin' }, '60 s later')
  t.same(verifyTrunk(SECRET, header, request, NOW - 60_000), { ok: true, fromSite: 'berlin' }, 'the sender 60 s ahead')
  t.same(verifyTrunk(SECRET, header, request, NOW + 61_000), { ok: false, reason: 'expired' }, '61 s later')
  t.same(verifyTrunk(SECRET, header, request, NOW - 61_000), { ok: false, reason: 'expired' }, '61 s ahead')
})

t.test('missing and malformed headers', async (t) => {
  t.same(verifyTrunk(SECRET, undefined, request, NOW), { ok: false, reason: 'missing' })
  t.same(verifyTrunk(SECRET, '  ', request, NOW), { ok: false, reason: 'missing' })
  const header = signTrunk(SECRET, claim, NOW)
  for (const bad of ['berlin', 'berlin;ts=1;sig=00', header.replace(';sig=', ';signature='), header.toUpperCase(), `Berlin${header.slice(6)}`, `${header};extra=1`, header.replace(/ts=\d+/, 'ts=abc')]) {
    t.same(verifyTrunk(SECRET, bad, request, NOW), { ok: false, reason: 'malformed' }, bad)
  }
})
