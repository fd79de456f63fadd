import t from 'tap'
import { Metadata } from '@grpc/grpc-js'
import { Authenticator, ON_BEHALF_OF_KEY, tokenDigest } from '@flexseat/registry'

const KEY = 'x-flexseat-pin-check'
const tokens = [
  { name: 'ops', role: 'admin' as const, sha256: Buffer.from(tokenDigest('admin-token'), 'hex') },
  { name: 'sip-ams', role: 'sip-node' as const, site: 'amsterdam', sha256: Buffer.from(tokenDigest('sip-token'), 'hex') },
  { name: 'peer', role: 'registry' as const, sha256: Buffer.from(tokenDigest('cluster-token'), 'hex') },
]
const auth = new Authenticator(tokens)

function metadata(token: string, entries: Record<string, string>): Metadata {
  const m = new Metadata()
  m.set('authorization', `Bearer ${token}`)
  for (const [key, value] of Object.entries(entries)) m.set(key, value)
  return m
}

t.test('a PIN verdict is taken only from another registry instance forwarding a call', async (t) => {
  const forwarded = auth.authenticate(metadata('cluster-token', { [ON_BEHALF_OF_KEY]: 'sip-ams/sip-node/amsterdam', [KEY]: '42/ok/alice' }), 'Login')
  t.same(forwarded, { name: 'sip-ams', role: 'sip-node', site: 'amsterdam', pinCheck: { revision: '42', ok: true, userId: 'alice' } })
  const wrong = auth.authenticate(metadata('cluster-token', { [ON_BEHALF_OF_KEY]: 'sip-ams/sip-node/amsterdam', [KEY]: '42/wrong/alice' }), 'Login')
  t.equal(wrong.pinCheck?.ok, false)

  const direct = auth.authenticate(metadata('sip-token', { [KEY]: '42/ok/alice' }), 'Login')
  t.same(direct, { name: 'sip-ams', role: 'sip-node', site: 'amsterdam' }, "a SIP node's own verdict is ignored")
  const admin = auth.authenticate(metadata('admin-token', { [KEY]: '42/ok/alice' }), 'Login')
  t.equal(admin.pinCheck, undefined, "an administrator's too")

  for (const bad of ['', '0/ok/alice', '42/yes/alice', '42/ok/', 'x/ok/alice', '42/ok/al ice', `${'9'.repeat(21)}/ok/alice`]) {
    const caller = auth.authenticate(metadata('cluster-token', { [ON_BEHALF_OF_KEY]: 'sip-ams/sip-node/amsterdam', [KEY]: bad }), 'Login')
    t.equal(caller.pinCheck, undefined, `malformed verdict ${JSON.stringify(bad)} is ignored`)
  }
})
