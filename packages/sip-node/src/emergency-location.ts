/**
 * The dispatchable location of a desk, in the standard form an emergency call carries it (US MLTS
 * rules, RAY BAUM'S Act; docs/OPERATIONS.md): a PIDF-LO document (RFC 4119, with RFC 5491's
 * rules) whose civic address (RFC 5139) is the site's address (sites/<id>.yaml,
 * `emergency.civic_address`) plus the desk's floor and room (the directory's Device.floor and
 * Device.room), sent by value beside the SDP in a multipart/mixed body and pointed to by the
 * `Geolocation` header (RFC 6442). Pure functions: the router and the node build with them, the
 * tests parse their output back.
 *
 * @see RFC 6442 §3 (the Geolocation header names the body part by Content-ID, `<cid:...>`), §4.2
 *   (Geolocation-Routing), §5.1 (the INVITE example); RFC 5491 §3.4 (location of a device goes in
 *   `dm:device` with a `dm:deviceID`), §3.3 (one location per `geopriv`); RFC 5139 §3 (the order
 *   and meaning of the civic address elements); RFC 4122 §4.3 (name-based UUIDs); RFC 2046 §5.1
 *   (multipart bodies: a blank line after each part's headers, the RFC 6442 erratum 5027)
 */
import { createHash } from 'node:crypto'
import type { CivicAddress } from '@flexseat/config'

/** The location header of RFC 6442. */
export const GEOLOCATION_HEADER = 'Geolocation'
/** Whether intermediaries may route on the location (yes: an emergency call is routed to the PSAP by it). */
export const GEOLOCATION_ROUTING_HEADER = 'Geolocation-Routing'
/** The PIDF-LO body's media type (RFC 3863). */
export const PIDF_CONTENT_TYPE = 'application/pidf+xml'

const NS = {
  pidf: 'urn:ietf:params:xml:ns:pidf',
  gp: 'urn:ietf:params:xml:ns:pidf:geopriv10',
  ca: 'urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr',
  dm: 'urn:ietf:params:xml:ns:pidf:data-model',
}

/** What a desk's location is made of. */
export interface DeskLocation {
  /** The site's civic address. */
  address: CivicAddress
  /** The desk's floor and room (empty: unknown). */
  floor: string
  room: string
  /** The desk's label (RFC 5139 SEAT: the desk, cubicle, workstation), empty for none. */
  seat: string
}

/** The civic address elements in RFC 5139's schema order, with where each value comes from. */
function civicElements(location: DeskLocation): [string, string | undefined][] {
  const a = location.address
  return [
    ['country', a.country],
    ['A1', a.state],
    ['A2', a.county],
    ['A3', a.city],
    ['A4', a.district],
    ['RD', a.street],
    ['STS', a.streetSuffix],
    ['HNO', a.houseNumber],
    ['HNS', a.houseNumberSuffix],
    ['FLR', location.floor],
    ['NAM', a.name],
    ['PC', a.postalCode],
    ['BLD', a.building],
    ['ROOM', location.room],
    ['SEAT', location.seat],
  ]
}

/** Escapes text for XML element content and attribute values. */
export function xmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string)
}

/**
 * A stable device URN for a desk: a name-based UUID (version 5, SHA-1) of `<device id>@<domain>`
 * in the URL namespace, so the same desk always has the same `dm:deviceID`.
 */
export function deviceUrn(deviceId: string, domain: string): string {
  // RFC 4122 Appendix C: the URL namespace.
  const namespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex')
  const hash = createHash('sha1').update(namespace).update(`sip:${deviceId}@${domain}`, 'utf8').digest()
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const hex = hash.subarray(0, 16).toString('hex')
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** Options of {@link pidfLo}. */
export interface PidfOptions {
  /** The presentity: the caller's address of record, `pres:1001@amsterdam.example` (RFC 3863). */
  entity: string
  location: DeskLocation
  /** `dm:device` id and `dm:deviceID` URN. */
  deviceId: string
  deviceUrn: string
  /** When the location was looked up. */
  timestamp: Date
  /** `xml:lang` of the civic address (default `en`). */
  language?: string
}

/**
 * The PIDF-LO document of a desk: one `dm:device` (RFC 5491 §3.4) with one civic location whose
 * method is `Manual` (configured by an administrator, not measured) and empty usage rules (RFC
 * 4119's defaults: no retransmission beyond the recipient, kept 24 hours).
 */
export function pidfLo(options: PidfOptions): string {
  const lang = xmlText(options.language ?? 'en')
  const civic = civicElements(options.location)
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([name, value]) => `          <ca:${name}>${xmlText(value!)}</ca:${name}>`)
    .join('\n')
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<presence xmlns="${NS.pidf}" xmlns:gp="${NS.gp}" xmlns:ca="${NS.ca}" xmlns:dm="${NS.dm}" entity="${xmlText(options.entity)}">`,
    `  <dm:device id="${xmlText(xmlId(options.deviceId))}">`,
    '    <gp:geopriv>',
    '      <gp:location-info>',
    `        <ca:civicAddress xml:lang="${lang}">`,
    civic,
    '        </ca:civicAddress>',
    '      </gp:location-info>',
    '      <gp:usage-rules/>',
    '      <gp:method>Manual</gp:method>',
    '    </gp:geopriv>',
    `    <dm:deviceID>${xmlText(options.deviceUrn)}</dm:deviceID>`,
    `    <dm:timestamp>${options.timestamp.toISOString()}</dm:timestamp>`,
    '  </dm:device>',
    '</presence>',
    '',
  ].join('\n')
}

/** An XML ID (NCName): device ids may start with a digit, which an ID may not. */
function xmlId(value: string): string {
  return /^[A-Za-z_]/.test(value) ? value : `d-${value}`
}

/** The body part of an emergency INVITE that carries the location, and how the headers point to it. */
export interface LocationPart {
  /** The Content-ID of the PIDF-LO part, without angle brackets: `<random>@<domain>`. */
  contentId: string
  pidf: string
}

/** `Geolocation: <cid:...>` for a part (RFC 6442 §3: the cid URL of the Content-ID, RFC 2392). */
export function geolocationValue(contentId: string): string {
  return `<cid:${contentId}>`
}

/**
 * The multipart/mixed body of an emergency INVITE: the caller's session description first, the
 * PIDF-LO second (RFC 6442 §5.1). Returns the body and its Content-Type. Parts end with CRLF; a
 * blank line separates each part's headers from its body (RFC 2046 §5.1).
 */
export function withLocation(sdp: string, sdpType: string, part: LocationPart, boundary: string): { contentType: string; body: string } {
  const crlf = (text: string): string => text.replace(/\r?\n/g, '\r\n')
  const sdpText = crlf(sdp).replace(/(\r\n)*$/, '\r\n')
  const body =
    `--${boundary}\r\nContent-Type: ${sdpType}\r\n\r\n${sdpText}` +
    `--${boundary}\r\nContent-Type: ${PIDF_CONTENT_TYPE}\r\nContent-ID: <${part.contentId}>\r\n\r\n${crlf(part.pidf)}` +
    `--${boundary}--\r\n`
  return { contentType: `multipart/mixed;boundary=${boundary}`, body }
}

/**
 * The dispatchable location as one line of text (the security desk's display, logs): `233 S
 * Wacker Dr, Chicago, IL 60606, US, floor 41, room 4102`.
 */
export function locationText(location: DeskLocation): string {
  const a = location.address
  const street = [a.houseNumber === undefined ? undefined : `${a.houseNumber}${a.houseNumberSuffix ?? ''}`, a.street, a.streetSuffix].filter(Boolean).join(' ')
  const city = [a.city, [a.state, a.postalCode].filter(Boolean).join(' ')].filter(Boolean).join(', ')
  return [a.name, a.building, street, city, a.country, location.floor === '' ? undefined : `floor ${location.floor}`, location.room === '' ? undefined : `room ${location.room}`]
    .filter((part) => part !== undefined && part !== '')
    .join(', ')
}
