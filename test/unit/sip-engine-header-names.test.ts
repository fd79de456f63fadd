/**
 * drachtio-server's spelling of the header names an application gives, and which headers a proxy
 * replaces (header-names.ts); the wire behaviour is in test/integration/sip-engine-headers.test.ts.
 */
import t from 'tap'
import { applicationHeaderName, proxyReplaces } from '@flexseat/sip-engine'

t.test('well-known headers take the SIP stack\'s spelling; others are capitalised after each dash; X- names are kept', async (t) => {
  const cases: [string, string][] = [
    ['contact', 'Contact'], ['EXPIRES', 'Expires'], ['p-asserted-identity', 'P-Asserted-Identity'], ['www-authenticate', 'WWW-Authenticate'],
    ['call-id', 'Call-ID'], ['cseq', 'CSeq'], ['rack', 'RAck'], ['rseq', 'RSeq'], ['min-se', 'Min-SE'], ['remote-party-id', 'Remote-Party-ID'],
    ['sip-etag', 'SIP-ETag'], ['mime-version', 'MIME-Version'], ['my-header', 'My-Header'], ['my-HEADER', 'My-HEADER'],
    ['x-flexseat-trunk', 'x-flexseat-trunk'], ['X-Flexseat-Trunk', 'X-Flexseat-Trunk'], ['geolocation', 'Geolocation'],
  ]
  for (const [given, written] of cases) t.equal(applicationHeaderName(given), written, `${given} → ${written}`)
})

t.test('a proxy replaces only the headers a message holds once', async (t) => {
  for (const key of ['subject', 'from', 'to', 'content-type', 'expires', 'supported', 'require', 'max-forwards']) t.ok(proxyReplaces(key), `${key}: replaced`)
  for (const key of ['contact', 'p-asserted-identity', 'p-preferred-identity', 'proxy-authorization', 'authorization', 'x-loc', 'reason', 'geolocation']) t.notOk(proxyReplaces(key), `${key}: added`)
})
