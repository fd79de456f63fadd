import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * A phone's provisioning token: the proof in the URL for phones that cannot answer a digest
 * challenge (and in the links of its softkey applications, which phones fetch without one).
 * HMAC-SHA256 keyed with the device's HA1 over its id, base64url, 32 characters (192 bits):
 * derived from the device's own SIP credentials, so only who knows them (the phone's
 * administrator; the registry) can make it, a new SIP password makes a new token, and the URL
 * carries no password equivalent (HA1 cannot be recovered from it).
 */
export function deviceToken(deviceId: string, ha1: string): string {
  return createHmac('sha256', ha1.toLowerCase()).update(`flexseat-provisioning/v1:${deviceId}`).digest('base64url').slice(0, 32)
}

/** Whether `token` is the device's, in constant time. */
export function tokenMatches(given: string, deviceId: string, ha1: string): boolean {
  const expected = Buffer.from(deviceToken(deviceId, ha1))
  const actual = Buffer.from(given)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** Tokens as they appear in URLs. */
export const TOKEN_PATTERN = '^[A-Za-z0-9_-]{32}$'
