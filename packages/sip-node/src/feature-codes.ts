/**
 * The flex feature codes dialled at a phone (the Request-URI's user part), with the site's codes
 * (`feature_codes` in sites/<id>.yaml, `*51` and `*52` by default):
 * - `*51*<extension>*<pin>`: sign in; `*51` alone: sign out (as on @COM Flexworking);
 * - `*52*<old pin>*<new pin>`: change the PIN of the worker seated at the phone.
 * Phones send `*` as is or percent-encoded (`%2A`, RFC 3261 §25.1 lets either through); a
 * trailing `#` (the "dial now" key some phones append) is ignored.
 */

/** The site's feature codes (SiteConfig.featureCodes). */
export interface FeatureCodeSet {
  login: string
  changePin: string
}

/** A dialled feature code. */
export type FeatureCode =
  | { kind: 'login'; extension: string; pin: string }
  | { kind: 'logout' }
  | { kind: 'change-pin'; oldPin: string; newPin: string }
  /** Starts with a code but does not parse: answered 484 with the expected form. */
  | { kind: 'malformed'; feature: 'login' | 'change-pin' }

/** Extensions as the directory accepts them (2 to 15 digits). */
const EXTENSION = /^[0-9]{2,15}$/
/** PINs as the directory accepts them (4 to 12 digits). */
const PIN = /^[0-9]{4,12}$/

/** The user part with percent-escapes decoded (undefined when an escape is broken). */
function decodeUser(user: string): string | undefined {
  try {
    return decodeURIComponent(user)
  } catch {
    return undefined
  }
}

/**
 * The number dialled, from a Request-URI's user part (see {@link uriUser}): the part before the
 * first `;` (telephone-subscriber parameters such as `;phone-context=...`, RFC 3966 §5.1, RFC 3261
 * §19.1.1), percent-escapes decoded, a trailing `#` (the "dial now" key) dropped. Undefined when an
 * escape is broken. An escaped `%3B` is part of the number, not a parameter separator.
 */
export function dialledNumber(user: string): string | undefined {
  const semi = user.indexOf(';')
  const decoded = decodeUser(semi < 0 ? user : user.slice(0, semi))
  if (decoded === undefined) return undefined
  return decoded.endsWith('#') ? decoded.slice(0, -1) : decoded
}

/**
 * Parses a dialled user part; undefined when it is not a feature code of this site (a normal
 * number). Anything that starts with one of the codes is a feature code: a slip of the finger
 * must get "dial it like this", never become a call.
 */
export function parseFeatureCode(user: string, codes: FeatureCodeSet): FeatureCode | undefined {
  const dialled = dialledNumber(user)
  if (dialled === undefined) return undefined
  // The longer code first, should one site's codes be prefixes of each other.
  const ordered = [
    { feature: 'login' as const, code: codes.login },
    { feature: 'change-pin' as const, code: codes.changePin },
  ].sort((a, b) => b.code.length - a.code.length)
  for (const { feature, code } of ordered) {
    if (code === '' || !dialled.startsWith(code)) continue
    const rest = dialled.slice(code.length)
    if (feature === 'login') {
      if (rest === '') return { kind: 'logout' }
      const parts = rest.split('*')
      if (parts.length === 3 && parts[0] === '' && EXTENSION.test(parts[1]!) && PIN.test(parts[2]!)) return { kind: 'login', extension: parts[1]!, pin: parts[2]! }
      return { kind: 'malformed', feature }
    }
    const parts = rest.split('*')
    if (parts.length === 3 && parts[0] === '' && PIN.test(parts[1]!) && PIN.test(parts[2]!)) return { kind: 'change-pin', oldPin: parts[1]!, newPin: parts[2]! }
    return { kind: 'malformed', feature }
  }
  return undefined
}

/** Stands in for every PIN in logs: a fixed width, so the log does not even tell a PIN's length. */
const MASK = '****'

/**
 * The dialled string safe to log: PINs replaced by `****` (`*51*1001*****`). A string that
 * starts with a code but does not parse is masked after the code entirely, since where its PIN
 * would be cannot be told.
 */
export function maskFeatureCode(user: string, codes: FeatureCodeSet): string {
  const code = parseFeatureCode(user, codes)
  if (code === undefined) return user
  switch (code.kind) {
    case 'login':
      return `${codes.login}*${code.extension}*${MASK}`
    case 'logout':
      return codes.login
    case 'change-pin':
      return `${codes.changePin}*${MASK}*${MASK}`
    case 'malformed':
      return `${code.feature === 'login' ? codes.login : codes.changePin}*${MASK}`
  }
}

/**
 * The user part of a SIP/SIPS/TEL URI, '' when there is none. Percent-escapes are kept, and so are
 * telephone-subscriber parameters (`sip:112;phone-context=+31@d` → `112;phone-context=+31`):
 * {@link dialledNumber} takes the number out of it.
 * @see RFC 3261 §19.1.1 (userinfo may carry `;` parameters), RFC 3966 (tel:)
 */
export function uriUser(uri: string): string {
  const text = uri.trim().replace(/^<|>$/g, '')
  const scheme = /^(sips?|tel):/i.exec(text)
  if (scheme === null) return ''
  const rest = text.slice(scheme[0].length)
  // A tel: URI's number is its whole "user" (up to its parameters or headers).
  if (scheme[1]!.toLowerCase() === 'tel') return /^[^;?>]*/.exec(rest)![0]
  // A sip: URI has a user part only with an '@' before any URI headers ('?').
  const end = /[?>]/.exec(rest)?.index ?? rest.length
  const at = rest.slice(0, end).indexOf('@')
  return at < 0 ? '' : rest.slice(0, at)
}

/** The Request-URI safe to log: the user part masked when it is a feature code. */
export function maskUri(uri: string, codes: FeatureCodeSet): string {
  const user = uriUser(uri)
  if (user === '' || parseFeatureCode(user, codes) === undefined) return uri
  return uri.replace(user, maskFeatureCode(user, codes))
}
