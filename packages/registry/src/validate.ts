import { randomBytes } from 'node:crypto'
import { TOLL_CLASSES } from '@flexseat/config'
import { invalidArgument } from './errors'
import type { SeatTarget } from './seats'

/** Ids of users, devices and sites: lowercase letters, digits, '.', '_', '-'; 1 to 64. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/
/** Extensions: 2 to 15 digits, one space for users and devices. */
export const EXTENSION_PATTERN = /^[0-9]{2,15}$/
/** PINs: 4 to 12 digits. */
export const PIN_PATTERN = /^[0-9]{4,12}$/
/** Request ids: 1 to 128 printable ASCII characters without spaces. */
export const REQUEST_ID_PATTERN = /^[\x21-\x7e]{1,128}$/

const E164 = /^\+[1-9][0-9]{1,14}$/
const PHONE = /^\+?[0-9]{2,15}$/
const EMAIL = /^[^@\s]{1,64}@[^@\s]{1,255}$/
const SIP_URI = /^sips?:[^\s]{1,250}$/
const TEXT_MAX = 256

/** Throws INVALID_ARGUMENT naming `field` unless the request id is well formed. */
export function requestId(value: string, field = 'request_id'): string {
  if (!value) throw invalidArgument(field, 'is required')
  if (!REQUEST_ID_PATTERN.test(value)) throw invalidArgument(field, 'must be 1 to 128 printable characters without spaces')
  return value
}

/** Throws unless `value` is a well-formed id. */
export function id(value: string, field: string): string {
  if (!value) throw invalidArgument(field, 'is required')
  if (!ID_PATTERN.test(value)) throw invalidArgument(field, 'must match ^[a-z0-9][a-z0-9._-]{0,63}$')
  return value
}

/** The id given, or a fresh random one (`<kind>-<12 hex>`) when empty. */
export function idOrNew(value: string, field: string, kind: string): string {
  return value === '' ? `${kind}-${randomBytes(6).toString('hex')}` : id(value, field)
}

/** Optional name of a profile (a function-key profile): the alphabet of ids, or empty. */
export function profileName(value: string, field: string): string {
  if (value !== '' && !ID_PATTERN.test(value)) throw invalidArgument(field, 'must be empty or match ^[a-z0-9][a-z0-9._-]{0,63}$')
  return value
}

/** MAC addresses: 12 hex digits, optionally in pairs separated by ':', '-' or '.' (or groups of 4 with '.'). */
const MAC_INPUT = /^(?:[0-9a-fA-F]{12}|[0-9a-fA-F]{2}(?:[:-][0-9a-fA-F]{2}){5}|[0-9a-fA-F]{4}(?:\.[0-9a-fA-F]{4}){2})$/

/**
 * The MAC address in its stored form (12 lower-case hex digits), or empty for none; throws
 * INVALID_ARGUMENT naming `field` for anything else.
 */
export function mac(value: string, field: string): string {
  if (value === '') return ''
  if (!MAC_INPUT.test(value)) throw invalidArgument(field, 'must be a MAC address: 12 hex digits, optionally separated by ":" or "-"')
  return value.replace(/[:.-]/g, '').toLowerCase()
}

/** Short text shown on a phone (labels): at most 32 characters, no control characters. */
export function shortText(value: string, field: string): string {
  if (value.length > 32) throw invalidArgument(field, 'must be at most 32 characters')
  text(value, field)
  return value
}

/** Toll classes a worker or phone may call (names as in a site's dial plan; emergency is always allowed): known, each once. */
export function callClasses(values: readonly string[], field: string): void {
  values.forEach((value, i) => {
    if (!(TOLL_CLASSES as readonly string[]).includes(value)) throw invalidArgument(`${field}[${i}]`, `"${value}" is not a toll class (${TOLL_CLASSES.join(', ')})`)
    if (values.indexOf(value) !== i) throw invalidArgument(`${field}[${i}]`, `"${value}" is listed twice`)
  })
}

/** Optional BCP 47 language tag, e.g. `de`, `en-US`. */
export function language(value: string, field: string): string {
  if (value !== '' && !/^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,2}$/.test(value)) throw invalidArgument(field, 'must be a language tag such as "de" or "en-US"')
  return value
}

/** The most function keys a profile or a user holds. */
export const MAX_FUNCTION_KEYS = 48
const DIALABLE = /^[0-9*#+]{2,32}$/

/** Validates a list of function keys (BLF and speed dials need a dialable value; a line key none). */
export function functionKeys(keys: readonly { type: number; value: string; label: string }[], field: string, types: { blf: number; speedDial: number; line: number }): void {
  if (keys.length > MAX_FUNCTION_KEYS) throw invalidArgument(field, `at most ${MAX_FUNCTION_KEYS} keys`)
  keys.forEach((key, i) => {
    const f = `${field}[${i}]`
    if (key.type !== types.blf && key.type !== types.speedDial && key.type !== types.line) throw invalidArgument(`${f}.type`, 'must be BLF, SPEED_DIAL or LINE')
    if (key.type === types.line) {
      if (key.value !== '') throw invalidArgument(`${f}.value`, 'must be empty for a LINE key')
    } else if (!DIALABLE.test(key.value)) {
      throw invalidArgument(`${f}.value`, 'must be 2 to 32 of digits, "*", "#", "+"')
    }
    shortText(key.label, `${f}.label`)
  })
}

/** Throws unless `value` is an extension (2 to 15 digits). */
export function extension(value: string, field: string): string {
  if (!value) throw invalidArgument(field, 'is required')
  if (!EXTENSION_PATTERN.test(value)) throw invalidArgument(field, 'must be 2 to 15 digits')
  return value
}

/** Throws unless `value` is a PIN (4 to 12 digits). The message never repeats the value. */
export function pin(value: string, field: string): string {
  if (!value) throw invalidArgument(field, 'is required')
  if (!PIN_PATTERN.test(value)) throw invalidArgument(field, 'must be 4 to 12 digits')
  return value
}

/** SIP passwords: 8 to 64 printable ASCII characters without spaces. */
export const SIP_PASSWORD_PATTERN = /^[\x21-\x7e]{8,64}$/
/** Domain names (the SIP domain and digest realm of a site). */
export const DOMAIN_PATTERN = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** Throws unless `value` is a SIP password. The message never repeats the value. */
export function sipPassword(value: string, field: string): string {
  if (!SIP_PASSWORD_PATTERN.test(value)) throw invalidArgument(field, 'must be 8 to 64 printable ASCII characters without spaces')
  return value
}

/** Optional domain name. */
export function domain(value: string, field: string): string {
  if (value !== '' && !DOMAIN_PATTERN.test(value)) throw invalidArgument(field, 'must be a domain name such as amsterdam.example.com')
  return value
}

/** Free text: at most 256 characters, no control characters. */
export function text(value: string, field: string, required = false): string {
  if (required && value.trim() === '') throw invalidArgument(field, 'is required')
  if (value.length > TEXT_MAX) throw invalidArgument(field, `must be at most ${TEXT_MAX} characters`)
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) throw invalidArgument(field, 'must not contain control characters')
  return value
}

/**
 * A part of a desk's dispatchable location (floor, room): at most 32 of letters, digits, spaces
 * and `. , - / # ' ( )`, or empty. It goes into the PIDF-LO of emergency calls and onto the
 * security desk's display: nothing else is let through.
 */
export const LOCATION_PART = /^[\p{L}\p{N} .,\-/#'()]{0,32}$/u

/** Optional floor or room of a desk ({@link LOCATION_PART}). */
export function locationPart(value: string, field: string): string {
  if (!LOCATION_PART.test(value)) throw invalidArgument(field, "must be at most 32 of letters, digits, spaces and . , - / # ' ( )")
  if (value !== '' && value.trim() === '') throw invalidArgument(field, 'must not be only spaces')
  return value
}

/** Optional E.164 number (DID). */
export function e164(value: string, field: string): string {
  if (value !== '' && !E164.test(value)) throw invalidArgument(field, 'must be an E.164 number like +31201234567')
  return value
}

/** Optional phone number: digits with an optional leading '+'. */
export function phone(value: string, field: string): string {
  if (value !== '' && !PHONE.test(value)) throw invalidArgument(field, 'must be 2 to 15 digits, optionally after +')
  return value
}

/** Optional e-mail address (shape only). */
export function email(value: string, field: string): string {
  if (value !== '' && !EMAIL.test(value)) throw invalidArgument(field, 'must be an e-mail address')
  return value
}

/** Optional SIP URI. */
export function sipUri(value: string, field: string): string {
  if (value !== '' && !SIP_URI.test(value)) throw invalidArgument(field, 'must be a sip: or sips: URI')
  return value
}

/** Optional fallback: a SIP URI or an extension. */
export function fallback(value: string, field: string): string {
  if (value !== '' && !SIP_URI.test(value) && !EXTENSION_PATTERN.test(value)) {
    throw invalidArgument(field, 'must be a sip: URI or an extension')
  }
  return value
}

/** Optional IANA time zone. */
export function timezone(value: string, field: string): string {
  if (value === '') return value
  try {
    new Intl.DateTimeFormat('en', { timeZone: value })
  } catch {
    throw invalidArgument(field, 'must be an IANA time zone such as Europe/Amsterdam')
  }
  return value
}

/** Whole hours from 0 to `max`. */
export function hours(value: number, field: string, max = 8_760): number {
  if (!Number.isInteger(value) || value < 0 || value > max) throw invalidArgument(field, `must be 0 to ${max} hours`)
  return value
}

/** A non-negative int64 as a decimal string (etcd revisions). */
export function revision(value: string, field: string): bigint {
  if (!/^[0-9]{1,19}$/.test(value)) throw invalidArgument(field, 'must be a non-negative revision')
  return BigInt(value)
}

/** Normalises an update mask: proto names (`display_name`) or JSON names (`displayName`). */
export function updateMask(paths: readonly string[] | undefined, writable: readonly string[], field = 'update_mask'): Set<string> {
  if (!paths || paths.length === 0) return new Set(writable)
  const out = new Set<string>()
  for (const path of paths) {
    const snake = path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
    if (!writable.includes(snake)) throw invalidArgument(field, `cannot update "${path.slice(0, 64)}"; writable: ${writable.join(', ')}`)
    out.add(snake)
  }
  return out
}

/**
 * Validates the seat a request names (by user id, extension or device id), for GetSeat and
 * Logout alike: INVALID_ARGUMENT naming `field` when none is given, else naming the bad field.
 */
export function validTarget(target: SeatTarget | undefined, field: string): SeatTarget {
  if (!target) throw invalidArgument(field, 'give user_id, extension or device_id')
  if (target.$case === 'userId') id(target.value, 'user_id')
  else if (target.$case === 'extension') extension(target.value, 'extension')
  else id(target.value, 'device_id')
  return target
}
