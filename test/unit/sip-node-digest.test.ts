// Digest authentication of phones: RFC 2617's worked example, stateless nonces (forgery, age,
// stale=true), constant-time checks, header parsing, and the phone authenticator built on them.
import t from 'tap'
import { createHash } from 'node:crypto'
import type { Device, GetDeviceCredentialsResponse } from '@flexseat/proto'
import { digestResponse, DigestVerifier, ha1Of, NONCE_LIFETIME_SECONDS, parseDigestHeader, PhoneAuthenticator } from '@flexseat/sip-node'

const md5 = (s: string): string => createHash('md5').update(s).digest('hex')

// RFC 2617 §3.5: the worked example (HTTP GET, qop=auth).
const RFC = {
  username: 'Mufasa',
  realm: 'testrealm@host.com',
  password: 'Circle Of Life',
  nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
  uri: '/dir/index.html',
  nc: '00000001',
  cnonce: '0a4f113b',
  response: '6629fae49393a05397450978507c4ef1',
}

t.test("RFC 2617's worked example", async (t) => {
  const ha1 = ha1Of(RFC.username, RFC.realm, RFC.password)
  t.equal(ha1, md5('Mufasa:testrealm@host.com:Circle Of Life'))
  t.equal(digestResponse({ ha1, method: 'GET', uri: RFC.uri, nonce: RFC.nonce, nc: RFC.nc, cnonce: RFC.cnonce, qop: 'auth' }), RFC.response)
  t.equal(digestResponse({ ha1: ha1.toUpperCase(), method: 'GET', uri: RFC.uri, nonce: RFC.nonce, nc: RFC.nc, cnonce: RFC.cnonce, qop: 'auth' }), RFC.response, 'HA1 case does not matter')
  t.not(digestResponse({ ha1, method: 'POST', uri: RFC.uri, nonce: RFC.nonce, nc: RFC.nc, cnonce: RFC.cnonce, qop: 'auth' }), RFC.response, 'the method is covered')
  // The example's Authorization header parses into the same fields.
  const header = `Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`
  t.match(parseDigestHeader(header), { username: 'Mufasa', realm: RFC.realm, nonce: RFC.nonce, uri: RFC.uri, qop: 'auth', nc: RFC.nc, cnonce: RFC.cnonce, response: RFC.response })
})

t.test('parseDigestHeader', async (t) => {
  t.same(parseDigestHeader('Digest  USERNAME="a\\"b", realm=x,nc=00000001 ,  uri="sip:x@y;transport=tcp"'), { username: 'a"b', realm: 'x', nc: '00000001', uri: 'sip:x@y;transport=tcp' })
  t.equal(parseDigestHeader('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='), undefined, 'other schemes')
  t.equal(parseDigestHeader('Digest username="open'), undefined, 'unterminated quote')
  t.equal(parseDigestHeader('Digest username'), undefined, 'parameter without value')
  t.equal(parseDigestHeader(undefined), undefined)
})

/** A verifier with a movable clock, and a client answering its challenge like a phone. */
function setup(password = 'secret-pw') {
  let now = 1_700_000_000_000
  const verifier = new DigestVerifier({ now: () => now })
  const realm = 'amsterdam.flexseat.test'
  const ha1 = ha1Of('desk-1', realm, password)
  const answer = (challenge: string, opts: { method?: string; uri?: string; password?: string; username?: string; nc?: number } = {}) => {
    const c = parseDigestHeader(challenge)!
    const uri = opts.uri ?? 'sip:amsterdam.flexseat.test'
    const cnonce = 'c0ffee'
    const nc = (opts.nc ?? 1).toString(16).padStart(8, '0')
    const h = ha1Of(opts.username ?? 'desk-1', c.realm!, opts.password ?? password)
    const response = digestResponse({ ha1: h, method: opts.method ?? 'REGISTER', uri, nonce: c.nonce!, nc, cnonce, qop: 'auth' })
    return { username: opts.username ?? 'desk-1', realm: c.realm!, nonce: c.nonce!, uri, qop: 'auth', nc, cnonce, response, algorithm: 'MD5' }
  }
  return { verifier, realm, ha1, answer, advance: (ms: number) => (now += ms) }
}

t.test('challenge and verify with stateless nonces', async (t) => {
  const { verifier, realm, ha1, answer, advance } = setup()
  const challenge = verifier.challenge(realm)
  t.match(challenge, /^Digest realm="amsterdam\.flexseat\.test", nonce="[0-9a-f]+\.[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]+", qop="auth", algorithm=MD5$/)
  t.notMatch(challenge, /stale/)
  t.match(verifier.challenge(realm, true), /, stale=true$/)

  const request = { method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', realm, ha1 }
  const good = answer(challenge)
  t.same(verifier.verify(good, request), { ok: true }, 'right password')
  t.same(verifier.verify(answer(challenge, { password: 'wrong' }), request), { ok: false, reason: 'mismatch' }, 'wrong password')
  const upper = answer(challenge, { nc: 2 })
  t.same(verifier.verify({ ...upper, response: upper.response.toUpperCase() }, request), { ok: true }, 'hex case of the response does not matter')
  t.same(verifier.verify(good, { ...request, uri: 'sip:other@amsterdam.flexseat.test' }), { ok: false, reason: 'mismatch' }, 'replayed onto another Request-URI')
  t.same(verifier.verify(good, { ...request, method: 'INVITE' }), { ok: false, reason: 'mismatch' }, 'replayed onto another method')
  t.same(verifier.verify({ ...good, realm: 'berlin.flexseat.test' }, request), { ok: false, reason: 'mismatch' }, 'another realm')

  advance((NONCE_LIFETIME_SECONDS - 1) * 1000)
  t.same(verifier.verify(answer(challenge, { nc: 3 }), request), { ok: true }, 'valid just before 5 minutes')
  advance(2000)
  t.same(verifier.verify(answer(challenge, { nc: 4 }), request), { ok: false, reason: 'stale' }, 'stale after 5 minutes')
  t.same(verifier.verify(answer(challenge, { password: 'wrong' }), request), { ok: false, reason: 'mismatch' }, 'a stale nonce with a wrong password is not "stale"')
  const fresh = answer(verifier.challenge(realm))
  t.same(verifier.verify(fresh, request), { ok: true }, 'a fresh nonce works again')
})

// Guard tried: #accept() always answering true: every repeated count below is then accepted.
t.test('a nonce count is accepted once per nonce: a replayed request is refused', async (t) => {
  const { verifier, realm, ha1, answer } = setup()
  const request = { method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', realm, ha1 }
  const challenge = verifier.challenge(realm)
  const first = answer(challenge, { nc: 1 })
  t.same(verifier.verify(first, request), { ok: true }, 'the phone\'s REGISTER')
  t.same(verifier.verify(first, request), { ok: false, reason: 'replayed' }, 'the same Authorization again: replayed')
  t.same(verifier.verify(answer(challenge, { nc: 2 }), request), { ok: true }, 'the phone\'s next request, nc 2')
  t.same(verifier.verify(answer(challenge, { nc: 5 }), request), { ok: true }, 'nc 5 (3 and 4 still on their way)')
  t.same(verifier.verify(answer(challenge, { nc: 4 }), request), { ok: true }, 'nc 4 arrives late: accepted once')
  t.same(verifier.verify(answer(challenge, { nc: 4 }), request), { ok: false, reason: 'replayed' }, 'and not twice')
  t.same(verifier.verify(answer(challenge, { nc: 2 }), request), { ok: false, reason: 'replayed' }, 'an old count again')
  t.same(verifier.verify(answer(challenge, { nc: 40 }), request), { ok: true }, 'a jump ahead')
  t.same(verifier.verify(answer(challenge, { nc: 3 }), request), { ok: false, reason: 'replayed' }, 'a count more than 32 behind the highest is refused')
  t.same(verifier.verify(answer(challenge, { nc: 0 }), request), { ok: false, reason: 'malformed' }, 'nc starts at 1')
  t.same(verifier.verify(answer(challenge, { nc: 1, password: 'wrong' }), request), { ok: false, reason: 'mismatch' }, 'a wrong digest is a mismatch, not a replay')
  const other = answer(verifier.challenge(realm), { nc: 1 })
  t.same(verifier.verify(other, request), { ok: true }, 'counts are per nonce')
  t.equal(verifier.trackedNonces, 2)
})

// Guard tried: #forget() dropping the oldest without raising #forgottenUpTo: the evicted nonce's
// request is then accepted a second time.
t.test('the counts take bounded memory; a forgotten nonce is stale, never replayable', async (t) => {
  let now = 1_700_000_000_000
  const verifier = new DigestVerifier({ now: () => now, capacity: 3 })
  const realm = 'amsterdam.flexseat.test'
  const ha1 = ha1Of('desk-1', realm, 'pw')
  const request = { method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', realm, ha1 }
  const signed = (nonce: string, nc = 1) => {
    const ncText = nc.toString(16).padStart(8, '0')
    return { username: 'desk-1', realm, nonce, uri: request.uri, qop: 'auth', nc: ncText, cnonce: 'x', response: digestResponse({ ha1, method: 'REGISTER', uri: request.uri, nonce, nc: ncText, cnonce: 'x', qop: 'auth' }) }
  }
  const nonces: string[] = []
  for (let i = 0; i < 5; i += 1) {
    nonces.push(parseDigestHeader(verifier.challenge(realm))!.nonce!)
    now += 1_000
  }
  for (const nonce of nonces.slice(0, 3)) t.same(verifier.verify(signed(nonce), request), { ok: true })
  t.equal(verifier.trackedNonces, 3, 'at capacity')
  t.same(verifier.verify(signed(nonces[3]!), request), { ok: true }, 'a fourth nonce: the oldest is forgotten')
  t.equal(verifier.trackedNonces, 3, 'never more than the capacity')
  t.same(verifier.verify(signed(nonces[0]!), request), { ok: false, reason: 'stale' }, 'the forgotten nonce\'s request again: stale, not accepted')
  t.same(verifier.verify(signed(nonces[0]!, 2), request), { ok: false, reason: 'stale' }, 'even with a new count: the phone authenticates again')
  t.same(verifier.verify(signed(nonces[1]!, 2), request), { ok: true }, 'a later nonce still works')
  now += NONCE_LIFETIME_SECONDS * 1_000
  const fresh = parseDigestHeader(verifier.challenge(realm))!.nonce!
  t.same(verifier.verify(signed(fresh), request), { ok: true })
  t.equal(verifier.trackedNonces, 1, 'expired nonces are dropped as new ones come')
})

t.test('after a restart (a new key) no earlier request is accepted: stale, so phones authenticate again', async (t) => {
  const { verifier, realm, ha1, answer } = setup()
  const request = { method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', realm, ha1 }
  const challenge = verifier.challenge(realm)
  t.same(verifier.verify(answer(challenge, { nc: 1 }), request), { ok: true })
  const restarted = new DigestVerifier()
  t.same(restarted.verify(answer(challenge, { nc: 1 }), request), { ok: false, reason: 'stale' }, 'the captured request, after a restart')
  t.same(restarted.verify(answer(challenge, { nc: 2 }), request), { ok: false, reason: 'stale' }, 'or with the next count')
  t.match(restarted.challenge(realm, true), /stale=true$/)
})

t.test('nonces cannot be forged or carried over from another process', async (t) => {
  const { verifier, realm, ha1, answer } = setup()
  const request = { method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', realm, ha1 }
  const nonce = parseDigestHeader(verifier.challenge(realm))!.nonce!
  const [seconds, unique, mac] = nonce.split('.') as [string, string, string]
  // A forged timestamp (extending the lifetime) keeps the old MAC: not ours.
  const forgedNonce = `${(parseInt(seconds, 16) + 1000).toString(16)}.${unique}.${mac}`
  const forged = answer(`Digest realm="${realm}", nonce="${forgedNonce}"`)
  t.same(verifier.verify(forged, request), { ok: false, reason: 'stale' }, 'a tampered nonce is never accepted (only re-challenged)')
  const other = new DigestVerifier()
  const foreign = answer(other.challenge(realm))
  t.same(verifier.verify(foreign, request), { ok: false, reason: 'stale' }, "another process' nonce: re-challenged")
  t.same(verifier.verify(answer(`Digest realm="${realm}", nonce="garbage"`), request), { ok: false, reason: 'stale' })
})

t.test('malformed credentials', async (t) => {
  const { verifier, realm, ha1, answer } = setup()
  const request = { method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', realm, ha1 }
  const good = answer(verifier.challenge(realm))
  for (const field of ['nonce', 'response', 'uri', 'nc', 'cnonce', 'qop'] as const) {
    const { [field]: _dropped, ...rest } = good
    t.same(verifier.verify(rest, request), { ok: false, reason: 'malformed' }, `without ${field}`)
  }
  t.same(verifier.verify({ ...good, qop: 'auth-int' }, request), { ok: false, reason: 'malformed' }, 'qop we did not offer')
  t.same(verifier.verify({ ...good, algorithm: 'SHA-256' }, request), { ok: false, reason: 'malformed' }, 'algorithm we did not offer')
  t.same(verifier.verify({ ...good, nc: 'zz' }, request), { ok: false, reason: 'malformed' })
  t.same(verifier.verify({ ...good, response: 'abc' }, request), { ok: false, reason: 'malformed' })
})

t.test('PhoneAuthenticator: challenge, then accept or one indistinct 403', async (t) => {
  const realm = 'amsterdam.flexseat.test'
  const password = 'desk-pw-1234'
  const devices: Record<string, Device> = {
    'desk-1': { id: 'desk-1', siteId: 'amsterdam', extension: '2001', label: '', model: '', flexHost: true, revision: '1' },
    'desk-b': { id: 'desk-b', siteId: 'berlin', extension: '2002', label: '', model: '', flexHost: true, revision: '1' },
    'desk-np': { id: 'desk-np', siteId: 'amsterdam', extension: '2003', label: '', model: '', flexHost: true, revision: '1' },
  }
  const creds: Record<string, GetDeviceCredentialsResponse> = {
    'desk-1': { deviceId: 'desk-1', siteId: 'amsterdam', realm, ha1: ha1Of('desk-1', realm, password) },
    'desk-b': { deviceId: 'desk-b', siteId: 'berlin', realm: 'berlin.flexseat.test', ha1: ha1Of('desk-b', 'berlin.flexseat.test', password) },
  }
  const digest = new DigestVerifier()
  const auth = new PhoneAuthenticator({ siteId: 'amsterdam', realm, digest, directory: { deviceForAuth: async (id) => devices[id], credentials: async (id) => creds[id] } })
  const request = (method: string, headers: Record<string, string>) => ({
    method,
    uri: 'sip:amsterdam.flexseat.test',
    get: (h: string) => headers[h] ?? '',
    has: (h: string) => h in headers,
    source_address: '192.0.2.10',
  })
  let count = 0
  const respond = (challenge: string, username: string, pw: string, method = 'REGISTER', nc = (count += 1)) => {
    const c = parseDigestHeader(challenge)!
    const ncText = nc.toString(16).padStart(8, '0')
    const response = digestResponse({ ha1: ha1Of(username, c.realm!, pw), method, uri: 'sip:amsterdam.flexseat.test', nonce: c.nonce!, nc: ncText, cnonce: 'ab12', qop: 'auth' })
    return `Digest username="${username}", realm="${c.realm}", nonce="${c.nonce}", uri="sip:amsterdam.flexseat.test", qop=auth, nc=${ncText}, cnonce="ab12", response="${response}", algorithm=MD5`
  }

  const first = await auth.authenticate(request('REGISTER', {}))
  t.match(first, { kind: 'challenge', status: 401, header: 'WWW-Authenticate' })
  const invite = await auth.authenticate(request('INVITE', {}))
  t.match(invite, { kind: 'challenge', status: 407, header: 'Proxy-Authenticate' }, 'INVITE: 407')
  const value = (first as { value: string }).value

  t.match(await auth.authenticate(request('REGISTER', { Authorization: respond(value, 'desk-1', password) })), { kind: 'ok', device: { id: 'desk-1' } })
  t.match(await auth.authenticate(request('INVITE', { 'Proxy-Authorization': respond(value, 'desk-1', password, 'INVITE') })), { kind: 'ok' }, 'INVITE with Proxy-Authorization')
  t.match(await auth.authenticate(request('INVITE', { Authorization: respond(value, 'desk-1', password, 'INVITE') })), { kind: 'challenge', status: 407 }, 'INVITE looks at Proxy-Authorization only')
  t.match(await auth.authenticate(request('REGISTER', { Authorization: respond(value, 'desk-1', 'wrong-password') })), { kind: 'forbidden', why: 'wrong-credentials' })
  t.match(await auth.authenticate(request('REGISTER', { Authorization: respond(value, 'nobody', password) })), { kind: 'forbidden', why: 'unknown-device' })
  t.match(await auth.authenticate(request('REGISTER', { Authorization: respond(value, 'desk-np', password) })), { kind: 'forbidden', why: 'no-credentials' })
  t.match(await auth.authenticate(request('REGISTER', { Authorization: respond(value, 'desk-b', password) })), { kind: 'forbidden', why: 'other-site' }, 'a Berlin phone at Amsterdam')
  t.match(await auth.authenticate(request('REGISTER', { Authorization: respond(value.replace(realm, 'elsewhere'), 'desk-1', password) })), { kind: 'challenge', status: 401 }, 'credentials for another realm: challenged for ours')
  const once = respond(value, 'desk-1', password)
  t.match(await auth.authenticate(request('REGISTER', { Authorization: once })), { kind: 'ok' })
  const replay = await auth.authenticate(request('REGISTER', { Authorization: once }))
  t.match(replay, { kind: 'challenge', status: 401, replayOf: 'desk-1' }, 'the same Authorization again: challenged, naming the device for the log')
  t.match((replay as { value: string }).value, /stale=true$/, 'with stale=true (the digest was right)')
})
