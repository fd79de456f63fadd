/**
 * HTTP Digest authentication as SIP uses it (RFC 3261 §22.4): MD5, `qop=auth`, verified against
 * HA1 (the registry keeps only HA1 = MD5(username:realm:password), so the password never reaches
 * the node). Nonces are stateless: the timestamp they were issued at plus an HMAC-SHA256 of it
 * under a per-process random key, so any nonce this process issued can be checked without a table
 * and none can be forged; a node restart makes every outstanding nonce stale, which phones answer
 * by simply authenticating again.
 *
 * Without nonce state there is no `nc` replay tracking: a captured request can be replayed until
 * its nonce ages out (5 minutes). That is the usual trade-off of stateless SIP registrars.
 * @see RFC 2617 §3.2 (the response computation, worked example in §3.5), RFC 7616 §3.4
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** How long an issued nonce is accepted (5 minutes); after that it is answered with `stale=true`. */
export const NONCE_LIFETIME_SECONDS = 300

/** The parameters of an `Authorization` / `Proxy-Authorization` header (names lower case). */
export type DigestParams = Readonly<Record<string, string>>

/** Outcome of {@link DigestVerifier.verify}. */
export type DigestVerdict =
  /** The response matches. */
  | { ok: true }
  /** Challenge again with `stale=true`: the digest is right but the nonce is too old or not ours. */
  | { ok: false; reason: 'stale' }
  /** The response does not match (wrong password), or realm/uri disagree with the request. */
  | { ok: false; reason: 'mismatch' }
  /** Required fields missing or malformed, or a qop/algorithm we did not offer. */
  | { ok: false; reason: 'malformed' }

const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex')

/** HA1 = MD5(username:realm:password) (RFC 2617 §3.2.2.2); the registry stores exactly this. */
export function ha1Of(username: string, realm: string, password: string): string {
  return md5(`${username}:${realm}:${password}`)
}

/**
 * The `response` value for `qop=auth`: MD5(HA1:nonce:nc:cnonce:qop:MD5(method:uri)) (RFC 2617
 * §3.2.2.1). Pure, so it can be checked against the RFC's worked example.
 */
export function digestResponse(input: { ha1: string; method: string; uri: string; nonce: string; nc: string; cnonce: string; qop: string }): string {
  const ha2 = md5(`${input.method}:${input.uri}`)
  return md5(`${input.ha1.toLowerCase()}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`)
}

/**
 * Parses the value of an `Authorization` / `Proxy-Authorization` header of scheme Digest into
 * its parameters (names lower-cased, quotes and backslash escapes removed). Undefined when the
 * scheme is not Digest or the syntax is broken.
 * @see RFC 3261 §25.1 (auth-param), RFC 2617 §3.2.2
 */
export function parseDigestHeader(value: string | undefined): DigestParams | undefined {
  if (value === undefined) return undefined
  const match = /^\s*digest\s+/i.exec(value)
  if (match === null) return undefined
  const params: Record<string, string> = {}
  let i = match[0].length
  const text = value
  while (i < text.length) {
    while (i < text.length && /[\s,]/.test(text[i]!)) i++
    if (i >= text.length) break
    const name = /^[A-Za-z0-9_.!%*+`'~-]+/.exec(text.slice(i))
    if (name === null) return undefined
    i += name[0].length
    while (i < text.length && text[i] === ' ') i++
    if (text[i] !== '=') return undefined
    i++
    while (i < text.length && text[i] === ' ') i++
    let paramValue = ''
    if (text[i] === '"') {
      i++
      let closed = false
      while (i < text.length) {
        const c = text[i]!
        if (c === '\\' && i + 1 < text.length) {
          paramValue += text[i + 1]
          i += 2
          continue
        }
        if (c === '"') {
          closed = true
          i++
          break
        }
        paramValue += c
        i++
      }
      if (!closed) return undefined
    } else {
      const token = /^[^\s,]*/.exec(text.slice(i))![0]
      paramValue = token
      i += token.length
    }
    params[name[0].toLowerCase()] = paramValue
  }
  return params
}

/** Options of {@link DigestVerifier}. */
export interface DigestVerifierOptions {
  /** HMAC key of the nonces (default: 32 random bytes, new per process). */
  key?: Buffer
  /** Clock in ms (default Date.now); tests move it. */
  now?: () => number
  /** Nonce lifetime in seconds (default {@link NONCE_LIFETIME_SECONDS}). */
  nonceLifetimeSeconds?: number
}

/**
 * Issues challenges and verifies digest responses with stateless nonces
 * (`<unix seconds hex>.<base64url HMAC-SHA256(key, seconds)>`).
 */
export class DigestVerifier {
  readonly #key: Buffer
  readonly #now: () => number
  readonly #lifetime: number

  constructor(options: DigestVerifierOptions = {}) {
    this.#key = options.key ?? randomBytes(32)
    this.#now = options.now ?? Date.now
    this.#lifetime = options.nonceLifetimeSeconds ?? NONCE_LIFETIME_SECONDS
  }

  /** A fresh nonce for now. */
  nonce(): string {
    const seconds = Math.floor(this.#now() / 1000).toString(16)
    return `${seconds}.${this.#mac(seconds)}`
  }

  /**
   * The value of a `WWW-Authenticate` (REGISTER, 401) or `Proxy-Authenticate` (INVITE, 407)
   * header: realm, a fresh nonce, `qop="auth"`, `algorithm=MD5`, and `stale=true` when the
   * previous attempt only failed on an expired nonce.
   */
  challenge(realm: string, stale = false): string {
    return `Digest realm="${quote(realm)}", nonce="${this.nonce()}", qop="auth", algorithm=MD5${stale ? ', stale=true' : ''}`
  }

  /**
   * Checks a parsed Authorization header for `method` against `ha1` of `realm`. Requires
   * `qop=auth` (what we offer), `algorithm` MD5 or absent, the realm we challenged with, `uri`
   * equal to the request's Request-URI (so a response cannot be replayed onto another request
   * line), the response (compared in constant time), and last a nonce this process issued within
   * its lifetime (else `stale`).
   */
  verify(params: DigestParams, request: { method: string; uri: string; realm: string; ha1: string }): DigestVerdict {
    const { nonce, response, uri, nc, cnonce, qop, realm } = params
    if (nonce === undefined || response === undefined || uri === undefined || nc === undefined || cnonce === undefined) return { ok: false, reason: 'malformed' }
    if (qop?.toLowerCase() !== 'auth') return { ok: false, reason: 'malformed' }
    if (params.algorithm !== undefined && params.algorithm.toLowerCase() !== 'md5') return { ok: false, reason: 'malformed' }
    if (!/^[0-9a-fA-F]{8}$/.test(nc) || !/^[0-9a-fA-F]{32}$/.test(response)) return { ok: false, reason: 'malformed' }
    if (realm !== request.realm || uri !== request.uri) return { ok: false, reason: 'mismatch' }
    const expected = digestResponse({ ha1: request.ha1, method: request.method, uri, nonce, nc, cnonce, qop: 'auth' })
    if (!constantTimeEqual(expected, response.toLowerCase())) return { ok: false, reason: 'mismatch' }
    // The nonce is judged after the digest: stale=true is only for a valid digest (RFC 7616
    // §3.3), so it never tells a guesser anything. A nonce we did not issue (a previous process'
    // after a restart) counts as stale too: the phone re-authenticates without asking its user.
    const age = this.#nonceAge(nonce)
    if (age === undefined || age > this.#lifetime) return { ok: false, reason: 'stale' }
    return { ok: true }
  }

  // Seconds since the nonce was issued; undefined when this process did not issue it (or it
  // claims to come from the future, which our own clock cannot produce).
  #nonceAge(nonce: string): number | undefined {
    const dot = nonce.indexOf('.')
    if (dot <= 0) return undefined
    const seconds = nonce.slice(0, dot)
    if (!/^[0-9a-f]{1,12}$/.test(seconds)) return undefined
    if (!constantTimeEqual(this.#mac(seconds), nonce.slice(dot + 1))) return undefined
    const age = Math.floor(this.#now() / 1000) - parseInt(seconds, 16)
    return age < 0 ? undefined : age
  }

  #mac(seconds: string): string {
    return createHmac('sha256', this.#key).update(seconds).digest('base64url')
  }
}

/** Equality of two strings in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8')
  const y = Buffer.from(b, 'utf8')
  // timingSafeEqual needs equal lengths; comparing x with itself keeps the timing of a mismatch.
  if (x.length !== y.length) {
    timingSafeEqual(x, x)
    return false
  }
  return timingSafeEqual(x, y)
}

function quote(text: string): string {
  return text.replace(/["\\]/g, (c) => `\\${c}`)
}
