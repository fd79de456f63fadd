/**
 * The body of a busy-lamp list's NOTIFY (RFC 4662 resource lists, the BLF lists of Snom, Poly
 * and Yealink): `multipart/related` with the RLMI document (`application/rlmi+xml`: the list's
 * URI, its version, full or partial state, one `<resource>` per entry) first, then one
 * `application/dialog-info+xml` part per resource whose state the NOTIFY carries, its Content-ID
 * the `cid` of the resource's `<instance>`.
 *
 * A full-state NOTIFY lists every resource (with a part for each that has an instance); a
 * partial one only the resources whose state changed (RFC 4662 §5.3: `fullState="false"`).
 * A resource nobody has (a key naming an extension that no longer exists) is listed without an
 * instance: its lamp stays dark.
 * @see RFC 4662 §5 (RLMI), RFC 2387 (multipart/related), RFC 2392 (cid URLs)
 */
import { createHash } from 'node:crypto'

/** The RLMI media type. */
export const RLMI_TYPE = 'application/rlmi+xml'
/** RFC 4662's option tag (`Supported` from the subscriber, `Require` from the notifier). */
export const EVENTLIST = 'eventlist'

/** One resource as a NOTIFY carries it. */
export interface ListResource {
  /** The resource's URI (`sip:<extension>@<domain>`). */
  uri: string
  /** What the phone shows next to the key (the key's label). */
  name: string
  /** The resource's back-end subscription: absent for an entry nobody has. */
  instance?: { id: string; cid: string; body: string; bodyType: string }
}

/** A resource list's NOTIFY: the RLMI of `resources` at `version`, and the parts. */
export function resourceListBody(options: { uri: string; version: number; fullState: boolean; resources: readonly ListResource[]; boundary: string; rlmiCid: string }): { contentType: string; body: string } {
  const rlmi = [`<?xml version="1.0" encoding="UTF-8"?>`, `<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="${xml(options.uri)}" version="${options.version}" fullState="${options.fullState}">`]
  for (const r of options.resources) {
    rlmi.push(`  <resource uri="${xml(r.uri)}">`)
    if (r.name !== '') rlmi.push(`    <name>${xml(r.name)}</name>`)
    if (r.instance !== undefined) rlmi.push(`    <instance id="${xml(r.instance.id)}" state="active" cid="${xml(r.instance.cid)}"/>`)
    rlmi.push('  </resource>')
  }
  rlmi.push('</list>', '')
  const part = (cid: string, type: string, content: string): string => [`--${options.boundary}`, 'Content-Transfer-Encoding: binary', `Content-ID: <${cid}>`, `Content-Type: ${type};charset=UTF-8`, '', content].join('\r\n')
  const parts = [part(options.rlmiCid, RLMI_TYPE, rlmi.join('\r\n'))]
  for (const r of options.resources) if (r.instance !== undefined) parts.push(part(r.instance.cid, r.instance.bodyType, r.instance.body))
  return {
    contentType: `multipart/related;type="${RLMI_TYPE}";start="<${options.rlmiCid}>";boundary="${options.boundary}"`,
    body: `${parts.join('\r\n')}\r\n--${options.boundary}--\r\n`,
  }
}

/** A token unique to `seed` (Content-IDs, instance ids and boundaries of one subscription). */
export function listToken(seed: string): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, 16)
}

function xml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string)
}
