import { parseHostPort } from './host-port'

/** A DNS name (labels of letters, digits and hyphens; 253 characters at most). */
export const DOMAIN_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** Why `value` is not a `sip:`/`sips:` URI with a valid host[:port] (undefined: it is one). */
export function checkSipUri(value: string): string | undefined {
  const match = /^sips?:([^;?]+)(?:;.*)?$/.exec(value)
  if (!match) return `"${value}" must be a sip: or sips: URI`
  const hostPart = (match[1] as string).replace(/^[^@]*@/, '')
  if (parseHostPort(hostPart) === undefined && !DOMAIN_PATTERN.test(hostPart)) return `"${value}" has no valid host[:port]`
  return undefined
}
