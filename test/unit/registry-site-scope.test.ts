import t, { type Test as Tap } from 'tap'
import { Metadata } from '@grpc/grpc-js'
import { ErrorCode } from '@flexseat/proto'
import { Authenticator, formatOnBehalfOf, ON_BEHALF_OF_KEY, parseTokens, RegistryError, tokenDigest, TokensFileError } from '@flexseat/registry'

// A SIP node's and a provisioning service's token name the one branch they act for; the site
// travels with a forwarded call. What the site then confines is tested over real gRPC in
// registry-branch-identity and registry-provisioning-identity.

const entry = (name: string, role: string, site?: string): string =>
  [`  - name: ${name}`, `    role: ${role}`, ...(site === undefined ? [] : [`    site: ${site}`]), `    sha256: ${tokenDigest(`${name}-token`)}`].join('\n')
const file = (...entries: string[]): string => ['tokens:', ...entries, ''].join('\n')

t.test('tokens file: every sip-node and provisioning token names its site, no other token does', async (t) => {
  const tokens = parseTokens(file(entry('ops', 'admin'), entry('node-ams', 'sip-node', 'amsterdam'), entry('node-ber', 'sip-node', 'berlin')))
  t.same(tokens.map((token) => [token.name, token.role, token.site]), [['ops', 'admin', undefined], ['node-ams', 'sip-node', 'amsterdam'], ['node-ber', 'sip-node', 'berlin']])
  t.throws(() => parseTokens(file(entry('node', 'sip-node'))), new TokensFileError('tokens file: tokens[0].site: a sip-node token names the site it acts for (^[a-z0-9][a-z0-9._-]{0,63}$)'), 'a sip-node token without a site is refused')
  t.throws(() => parseTokens(file(entry('node', 'sip-node', 'Berlin/x'))), TokensFileError, 'a malformed site is refused')
  t.throws(() => parseTokens(file(entry('ops', 'admin', 'amsterdam'))), new TokensFileError('tokens file: tokens[0].site: only sip-node and provisioning tokens name a site'), 'an admin token naming a site is refused')
  t.same(parseTokens(file(entry('prov-ams', 'provisioning', 'amsterdam')))[0]?.site, 'amsterdam', 'a provisioning token names its site')
  t.throws(() => parseTokens(file(entry('prov', 'provisioning'))), new TokensFileError('tokens file: tokens[0].site: a provisioning token names the site it acts for (^[a-z0-9][a-z0-9._-]{0,63}$)'), 'a provisioning token without a site is refused')
})

function metadata(token: string, onBehalfOf?: string): Metadata {
  const m = new Metadata()
  m.set('authorization', `Bearer ${token}`)
  if (onBehalfOf !== undefined) m.set(ON_BEHALF_OF_KEY, onBehalfOf)
  return m
}

const denied = (t: Tap, run: () => unknown, what: string): void => {
  try {
    run()
    t.fail(`${what}: accepted`)
  } catch (error) {
    t.equal((error as RegistryError).code, ErrorCode.ERROR_CODE_PERMISSION_DENIED, what)
  }
}

t.test('the caller carries its site, directly and when forwarded', async (t) => {
  const auth = new Authenticator(parseTokens(file(entry('ops', 'admin'), entry('node-ams', 'sip-node', 'amsterdam'), entry('prov-ams', 'provisioning', 'amsterdam'), entry('peer', 'registry'))))
  const direct = auth.authenticate(metadata('node-ams-token'), 'RenewLease')
  t.same(direct, { name: 'node-ams', role: 'sip-node', site: 'amsterdam' }, 'the token names the site')
  t.equal(formatOnBehalfOf(direct), 'node-ams/sip-node/amsterdam', 'a forwarding instance passes the site on')
  t.same(auth.authenticate(metadata('peer-token', formatOnBehalfOf(direct)), 'RenewLease'), direct, 'the leader sees the same caller')
  t.same(auth.authenticate(metadata('peer-token', 'ops/admin'), 'DeleteUser'), { name: 'ops', role: 'admin' }, 'other roles as before')
  denied(t, () => auth.authenticate(metadata('peer-token', 'node-ams/sip-node'), 'RenewLease'), 'a forwarded SIP node without its site')
  const prov = auth.authenticate(metadata('prov-ams-token'), 'Logout')
  t.same(prov, { name: 'prov-ams', role: 'provisioning', site: 'amsterdam' }, "a provisioning token names its site too")
  t.same(auth.authenticate(metadata('peer-token', formatOnBehalfOf(prov)), 'Logout'), prov, 'and a forwarded one keeps it')
  denied(t, () => auth.authenticate(metadata('peer-token', 'prov-ams/provisioning'), 'Logout'), 'a forwarded provisioning service without its site')
  denied(t, () => auth.authenticate(metadata('peer-token', 'ops/admin/amsterdam'), 'RenewLease'), 'a site on another role')
  denied(t, () => auth.authenticate(metadata('peer-token', 'node-ams/sip-node/amsterdam/x'), 'RenewLease'), 'trailing parts')
  denied(t, () => auth.authenticate(metadata('node-ams-token', 'node-ber/sip-node/berlin'), 'RenewLease'), 'a SIP node cannot claim to forward for another')
})
