// Reading back what an emergency call carries (RFC 6442 multipart bodies, PIDF-LO documents) the
// way a PSAP's system would: for the unit tests of emergency-location.ts and the SIP tests that
// look at what reached the carrier.
import type { Test } from 'tap'
import { XMLParser, XMLValidator } from 'fast-xml-parser'

/** Splits a multipart body (RFC 2046 §5.1) into parts with their headers (lower-case names); bare LFs are read as CRLF. */
export function parts(contentType: string, body: string): { headers: Record<string, string>; body: string }[] {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1]
  if (boundary === undefined) throw new Error(`no boundary in ${contentType}`)
  // sipp's message log drops the CRs: lines are put back as SIP writes them.
  const sections = body.replace(/\r?\n/g, '\r\n').split(`--${boundary}`)
  const last = sections.pop()
  if (last?.trim() !== '--') throw new Error('the body does not end with the close delimiter')
  return sections.slice(1).map((section) => {
    const text = section.replace(/^\r\n/, '')
    const split = text.indexOf('\r\n\r\n')
    if (split < 0) throw new Error('a part without a blank line after its headers')
    const headers: Record<string, string> = {}
    for (const line of text.slice(0, split).split('\r\n')) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    return { headers, body: text.slice(split + 4).replace(/\r\n$/, '') }
  })
}

/** The civic address elements of a PIDF-LO document, in document order, after checking its structure. */
export function civicOf(pidf: string, t?: Test): { entity: string; elements: [string, string][]; deviceId: string; method: string } {
  if (XMLValidator.validate(pidf) !== true) throw new Error('the PIDF-LO is not well-formed XML')
  const parser = new XMLParser({ ignoreAttributes: false, preserveOrder: true, parseTagValue: false })
  const doc = parser.parse(pidf) as Record<string, unknown>[]
  const presence = doc.find((node) => 'presence' in node) as { presence: Record<string, unknown>[]; ':@': Record<string, string> }
  t?.equal(presence[':@']['@_xmlns'], 'urn:ietf:params:xml:ns:pidf')
  t?.equal(presence[':@']['@_xmlns:ca'], 'urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr')
  t?.equal(presence[':@']['@_xmlns:gp'], 'urn:ietf:params:xml:ns:pidf:geopriv10')
  t?.equal(presence[':@']['@_xmlns:dm'], 'urn:ietf:params:xml:ns:pidf:data-model')
  const child = (nodes: Record<string, unknown>[], name: string): Record<string, unknown>[] => {
    const node = nodes.find((n) => name in n)
    if (node === undefined) throw new Error(`no ${name}`)
    return node[name] as Record<string, unknown>[]
  }
  const device = child(presence.presence, 'dm:device')
  const geopriv = child(device, 'gp:geopriv')
  const civic = child(child(geopriv, 'gp:location-info'), 'ca:civicAddress')
  const text = (nodes: Record<string, unknown>[]): string => ((nodes[0] as { '#text'?: string } | undefined)?.['#text'] ?? '')
  const elements = civic.map((node) => {
    const name = Object.keys(node).find((key) => key !== ':@')!
    return [name.replace(/^ca:/, ''), text(node[name] as Record<string, unknown>[])] as [string, string]
  })
  return { entity: presence[':@']['@_entity']!, elements, deviceId: text(child(device, 'dm:deviceID')), method: text(child(geopriv, 'gp:method')) }
}

