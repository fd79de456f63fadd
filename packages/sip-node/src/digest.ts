/**
 * HTTP Digest authentication as SIP uses it (RFC 3261 §22.4): MD5, `qop=auth`, verified against
 * HA1 (the registry keeps only HA1 = MD5(username:realm:password), so the password never reaches
 * the node). Nonces are the timestamp they were issued at and 9 random bytes, signed with an
 * HMAC-SHA256 under a per-process random key, so no nonce can be forged and none survives a restart: a node restart
 * makes every outstanding nonce stale, which phones answer by simply authenticating again.
 *
 * Replays: the digest covers the method and Request-URI, not the Contact, so a captured REGISTER
 * replayed from elsewhere would move the phone's binding (and calls). The verifier therefore
 * remembers the nonce counts (`nc`) it accepted per nonce, in a sliding window of 32 as IPsec's
 * anti-replay does (RFC 4303 §3.4.3: requests reordered on UDP still pass), and refuses a count
 * seen before. The memory is bounded ({@link NONCE_TRACKING_CAPACITY} nonces): past it the
 * oldest nonces are forgotten, and with them every nonce issued no later, which become stale
 * (their phones authenticate again; a forgotten nonce can never be replayed). A restart forgets
 * the counts and the key together, so no old nonce is accepted again.
 * @see RFC 2617 §3.2 (the response computation, worked example in §3.5; §3.2.2 nonce count),
 * RFC 7616 §3.4, §5.5
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** How long an issued nonce is accepted (5 minutes); after that it is answered with `stale=true`. */
export const NONCE_LIFETIME_SECONDS = 300
/**
 * Nonces whose nonce counts are remembered, at most (default): about 150 bytes each, so 7.5 MB.
 * Only requests with a right digest add one, so only the branch's own phones can fill it (a
 * phone uses about one nonce per registration interval).
 */
export const NONCE_TRACKING_CAPACITY = 50_000
/** Nonce counts accepted out of order: a count up to this far below the highest seen passes once. */
const NC_WINDOW = 32

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
  /** A right digest whose nonce count was already used with this nonce: a replayed request. */
  | { ok: false; reason: 'replayed' }
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
  /** Nonces whose counts are remembered, at most (default {@link NONCE_TRACKING_CAPACITY}). */
  capacity?: number
}

/** The counts accepted with one nonce: the highest, and which of the {@link NC_WINDOW} below it. */
interface NonceCounts {
  /** Unix seconds the nonce was issued. */
  readonly issued: number
  highest: number
  /** Bit i set: count `highest - i` was accepted. */
  seen: number
}

/**
 * Issues challenges and verifies digest responses, with signed nonces (`<unix seconds hex>.<12
 * base64url random>.<base64url HMAC-SHA256(key, both)>`) and the nonce counts each was
 * used with (see the file comment).
 */
export class DigestVerifier {
  readonly #key: Buffer
  readonly #now: () => number
  readonly #lifetime: number
  readonly #capacity: number
  /** Nonce → the counts accepted with it; insertion (first use) order. */
  readonly #counts = new Map<string, NonceCounts>()
  /** Nonces issued at or before this second were forgotten to bound the memory: stale. */
  #forgottenUpTo = -1

  constructor(options: DigestVerifierOptions = {}) {
    this.#key = options.key ?? randomBytes(32)
    this.#now = options.now ?? Date.now
    this.#lifetime = options.nonceLifetimeSeconds ?? NONCE_LIFETIME_SECONDS
    this.#capacity = Math.max(1, options.capacity ?? NONCE_TRACKING_CAPACITY)
  }

  /** Nonces whose counts are remembered now. */
  get trackedNonces(): number {
    return this.#counts.size
  }

  /** A fresh nonce for now: unique (its counts are its own), signed. */
  nonce(): string {
    const issued = `${Math.floor(this.#now() / 1000).toString(16)}.${randomBytes(9).toString('base64url')}`
    return `${issued}.${this.#mac(issued)}`
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
   * line), the response (compared in constant time), a nonce this process issued within its
   * lifetime and has not forgotten (else `stale`), and last a nonce count not accepted before
   * with that nonce (else `replayed`); an accepted count is remembered.
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
    const issued = this.#issuedAt(nonce)
    const now = Math.floor(this.#now() / 1000)
    if (issued === undefined || now - issued > this.#lifetime || issued <= this.#forgottenUpTo) return { ok: false, reason: 'stale' }
    const count = parseInt(nc, 16)
    if (count === 0) return { ok: false, reason: 'malformed' }
    return this.#accept(nonce, issued, count, now) ? { ok: true } : { ok: false, reason: 'replayed' }
  }

  /** Records `count` for `nonce`; false when it was accepted before (or is too far behind). */
  #accept(nonce: string, issued: number, count: number, now: number): boolean {
    const known = this.#counts.get(nonce)
    if (known === undefined) {
      this.#forget(now)
      this.#counts.set(nonce, { issued, highest: count, seen: 1 })
      return true
    }
    if (count > known.highest) {
      const shift = count - known.highest
      known.seen = shift >= NC_WINDOW ? 1 : ((known.seen << shift) | 1) >>> 0
      known.highest = count
      return true
    }
    const behind = known.highest - count
    if (behind >= NC_WINDOW || (known.seen & (1 << behind)) !== 0) return false
    known.seen = (known.seen | (1 << behind)) >>> 0
    return true
  }

  /** Drops expired nonces at the head, then the oldest until there is room for one more. */
  #forget(now: number): void {
    for (const [nonce, counts] of this.#counts) {
      const expired = now - counts.issued > this.#lifetime
      if (!expired && this.#counts.size < this.#capacity) return
      // A nonce forgotten before it expired could be replayed as new: every nonce issued no
      // later than it is stale from now on.
      if (!expired) this.#forgottenUpTo = Math.max(this.#forgottenUpTo, counts.issued)
      this.#counts.delete(nonce)
    }
  }

  // The second the nonce was issued; undefined when this process did not issue it (or it claims
  // to come from the future, which our own clock cannot produce).
  #issuedAt(nonce: string): number | undefined {
    const match = /^([0-9a-f]{1,12})\.([A-Za-z0-9_-]{12})\.([A-Za-z0-9_-]{43})$/.exec(nonce)
    if (match === null) return undefined
    const [, seconds, unique, mac] = match as unknown as [string, string, string, string]
    if (!constantTimeEqual(this.#mac(`${seconds}.${unique}`), mac)) return undefined
    const issued = parseInt(seconds, 16)
    return issued > Math.floor(this.#now() / 1000) ? undefined : issued
  }

  #mac(issued: string): string {
    return createHmac('sha256', this.#key).update(issued).digest('base64url')
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
