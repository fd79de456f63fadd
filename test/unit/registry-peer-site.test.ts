import t from 'tap'
import { ErrorCode } from '@flexseat/proto'
import { mustMatchCertificate, type RegistryError, sitesOfCertificate } from '@flexseat/registry'

// Which sites a client certificate names (subjectAltName URI urn:flexseat:site:<id>), and the
// rule: a SIP node's token must be for one of them; with `required`, the certificate must name one.
t.test('sites named by a certificate', async (t) => {
  t.same(sitesOfCertificate({ subjectaltname: 'URI:urn:flexseat:site:amsterdam, DNS:node.example, URI:https://example.com' }), ['amsterdam'])
  t.same(sitesOfCertificate({ subjectaltname: 'URI:urn:flexseat:site:amsterdam, URI:urn:flexseat:site:berlin' }), ['amsterdam', 'berlin'], 'several')
  t.same(sitesOfCertificate({ subjectaltname: 'DNS:urn:flexseat:site:amsterdam' }), [], 'only URI names count')
  t.same(sitesOfCertificate(undefined), [], 'no certificate')
})

t.test('a SIP node token must match the certificate', async (t) => {
  const node = { name: 'node-ber', role: 'sip-node' as const, site: 'berlin' }
  const cert = (names: string) => ({ subjectaltname: names }) as never
  const code = (run: () => void): ErrorCode | undefined => {
    try {
      run()
      return undefined
    } catch (error) {
      return (error as RegistryError).code
    }
  }
  t.equal(code(() => mustMatchCertificate(node, cert('URI:urn:flexseat:site:berlin'), false)), undefined, 'its own site')
  t.equal(code(() => mustMatchCertificate(node, cert('URI:urn:flexseat:site:amsterdam'), false)), ErrorCode.ERROR_CODE_PERMISSION_DENIED, "another site's certificate")
  t.equal(code(() => mustMatchCertificate(node, cert('DNS:node.example'), false)), undefined, 'a certificate naming no site: allowed unless required')
  t.equal(code(() => mustMatchCertificate(node, undefined, false)), undefined, 'plaintext or server-only TLS: the token decides')
  t.equal(code(() => mustMatchCertificate(node, cert('DNS:node.example'), true)), ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'required: a certificate must name the site')
  t.equal(code(() => mustMatchCertificate(node, undefined, true)), ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'required: none at all is refused')
  t.equal(code(() => mustMatchCertificate({ name: 'ops', role: 'admin' }, cert('URI:urn:flexseat:site:amsterdam'), true)), undefined, 'other roles are not bound to a site')
})
