import type { PeerCertificate } from 'node:tls'
import { ErrorCode } from '@flexseat/proto'
import type { Caller } from './caller'
import { RegistryError } from './errors'

/** The URI a client certificate names a site with, as a subjectAltName: `urn:flexseat:site:<id>`. */
export const SITE_URI_PREFIX = 'urn:flexseat:site:'

/**
 * The sites a client certificate names (subjectAltName `URI:urn:flexseat:site:<id>`, any number).
 * @see RFC 5280 §4.2.1.6 (subject alternative name, uniformResourceIdentifier)
 */
export function sitesOfCertificate(certificate: Pick<PeerCertificate, 'subjectaltname'> | undefined): string[] {
  const names = certificate?.subjectaltname
  if (typeof names !== 'string' || names === '') return []
  return names
    .split(/,\s*/)
    .filter((name) => name.startsWith(`URI:${SITE_URI_PREFIX}`))
    .map((name) => name.slice(`URI:${SITE_URI_PREFIX}`.length))
}

/**
 * With mutual TLS, a branch's SIP node proves its site twice: by its token (auth.ts) and by its
 * client certificate. A certificate that names sites must name the token's: a token stolen from
 * one branch is then useless from a host holding another branch's certificate (and a node's own
 * certificate cannot carry another branch's token). With `required`, a SIP node's certificate
 * must name its site (no certificate naming none). Only for callers authenticated directly: a
 * forwarded call comes over another instance's connection (its certificate is that instance's),
 * and that instance checked the node's.
 */
export function mustMatchCertificate(caller: Caller, certificate: PeerCertificate | undefined, required: boolean): void {
  if (caller.role !== 'sip-node') return
  const sites = sitesOfCertificate(certificate)
  if (sites.length === 0 && !required) return
  if (caller.site !== undefined && sites.includes(caller.site)) return
  throw new RegistryError(
    ErrorCode.ERROR_CODE_PERMISSION_DENIED,
    sites.length === 0 ? 'this SIP node\'s client certificate names no site (urn:flexseat:site:<id>)' : `this SIP node's client certificate is not for site "${caller.site ?? ''}"`,
  )
}
