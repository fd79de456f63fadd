/**
 * Digest authentication of a branch's phones (devices): the digest username is the device id,
 * the realm the site's `sip.domain`, the password equivalent the HA1 the registry serves through
 * GetDeviceCredentials. REGISTER is challenged with 401/WWW-Authenticate, every other request
 * with 407/Proxy-Authenticate (RFC 3261 §22.2, §22.3).
 */
import type { Device, GetDeviceCredentialsResponse } from '@flexseat/proto'
import type { AuthGuard } from './auth-guard'
import { type DigestVerifier, parseDigestHeader } from './digest'
import type { SrfRequest } from './srf-adapter'

/**
 * What phone authentication needs of the directory. Every digest username a prober makes up
 * reaches `deviceForAuth`, so it must answer from what it holds (no registry call per unknown
 * id: see DirectoryCache.deviceForAuth); `credentials` is asked only for a known device of this
 * site.
 */
export interface PhoneDirectory {
  deviceForAuth(id: string): Promise<Device | undefined>
  credentials(deviceId: string): Promise<GetDeviceCredentialsResponse | undefined>
}

/**
 * Outcome of {@link PhoneAuthenticator.authenticate}:
 * - `ok`: the request proves to come from `device`, a device of this site;
 * - `challenge`: answer `status` (401/407) with `header: value` (no or stale credentials, or a
 *   replayed request: `replayOf` then names the device whose request it repeats, to log);
 * - `forbidden`: answer 403. Deliberately one outcome for a wrong password, an unknown device, a
 *   device without credentials and a device of another site: the answer must not tell a prober
 *   which device ids exist. `banned`: the source is banned for guessing (auth-guard.ts); the
 *   answer is the same 403.
 */
export type PhoneAuthResult =
  | { kind: 'ok'; device: Device }
  | { kind: 'challenge'; status: 401 | 407; header: string; value: string; replayOf?: string }
  | { kind: 'forbidden'; why: 'unknown-device' | 'no-credentials' | 'other-site' | 'wrong-credentials' | 'malformed' | 'banned' }

/** Options of {@link PhoneAuthenticator}. */
export interface PhoneAuthenticatorOptions {
  siteId: string
  /** The site's SIP domain: the digest realm. */
  realm: string
  digest: DigestVerifier
  directory: PhoneDirectory
  /** Failure counting, delays and bans (auth-guard.ts); without one every request is heard at once. */
  guard?: AuthGuard
}

/** An HA1 no password has (not hex): what a refused id's digest is checked against. */
const DUMMY_HA1 = 'x'.repeat(32)

/** What {@link PhoneAuthenticator.authenticate} reads of a request. */
export type AuthRequest = Pick<SrfRequest, 'method' | 'uri' | 'get' | 'has' | 'source_address'>

/** Challenges and verifies requests from the branch's phones. */
export class PhoneAuthenticator {
  readonly #options: PhoneAuthenticatorOptions

  constructor(options: PhoneAuthenticatorOptions) {
    this.#options = options
  }

  /**
   * Authenticates `req`. Directory lookups may throw a RegistryCallError (registry unreachable);
   * the caller maps it to 503. With a guard, a banned source gets `forbidden` (`banned`) without
   * a lookup, failures are counted, and the answer is held as long as the guard says (the
   * promise resolves late: answer it at once when it does).
   */
  async authenticate(req: AuthRequest): Promise<PhoneAuthResult> {
    const guard = this.#options.guard
    if (guard === undefined) return this.#verify(req)
    const source = req.source_address
    const register = req.method === 'REGISTER'
    const credentialsHeader = register ? 'Authorization' : 'Proxy-Authorization'
    const account = req.has(credentialsHeader) ? parseDigestHeader(req.get(credentialsHeader))?.username : undefined
    if (guard.admit(source, account).kind === 'banned') return { kind: 'forbidden', why: 'banned' }
    const result = await this.#verify(req)
    if (result.kind === 'ok') {
      guard.succeeded(source, result.device.id)
      return result
    }
    const failure = result.kind === 'forbidden'
    if (failure) guard.failed(source, account)
    await guard.hold(guard.delayFor(source, account, failure))
    return result
  }

  async #verify(req: AuthRequest): Promise<PhoneAuthResult> {
    const register = req.method === 'REGISTER'
    const status = register ? 401 : 407
    const header = register ? 'WWW-Authenticate' : 'Proxy-Authenticate'
    const credentialsHeader = register ? 'Authorization' : 'Proxy-Authorization'
    const challenge = (stale = false): PhoneAuthResult & { kind: 'challenge' } => ({ kind: 'challenge', status, header, value: this.#options.digest.challenge(this.#options.realm, stale) })

    if (!req.has(credentialsHeader)) return challenge()
    const params = parseDigestHeader(req.get(credentialsHeader))
    // Credentials for another realm (a phone configured for the wrong branch, or a header meant
    // for another hop): challenge for ours instead of refusing outright.
    if (params === undefined) return { kind: 'forbidden', why: 'malformed' }
    if (params.realm !== this.#options.realm) return challenge()
    const deviceId = params.username
    if (deviceId === undefined || deviceId === '') return { kind: 'forbidden', why: 'malformed' }

    // The device first, from the directory held: an unknown id or another site's device costs
    // the registry nothing (no credentials fetched for names a prober makes up).
    // Every refusal below checks the digest against a made-up HA1 first: the same work as a wrong
    // password, so the time taken does not tell which ids exist (the credentials themselves are
    // held in memory: DirectoryCache.holdCredentialsOf).
    const refuse = (why: 'unknown-device' | 'other-site' | 'no-credentials'): PhoneAuthResult => {
      this.#options.digest.verify(params, { method: req.method, uri: req.uri, realm: this.#options.realm, ha1: DUMMY_HA1 })
      return { kind: 'forbidden', why }
    }
    const device = await this.#options.directory.deviceForAuth(deviceId)
    if (device === undefined) return refuse('unknown-device')
    if (device.siteId !== this.#options.siteId) return refuse('other-site')
    const credentials = await this.#options.directory.credentials(deviceId)
    if (credentials === undefined || credentials.ha1 === '') return refuse('no-credentials')
    if (credentials.realm !== this.#options.realm) return refuse('other-site')

    const verdict = this.#options.digest.verify(params, { method: req.method, uri: req.uri, realm: this.#options.realm, ha1: credentials.ha1 })
    if (verdict.ok) return { kind: 'ok', device }
    if (verdict.reason === 'stale') return challenge(true)
    // A right digest with a nonce count used before: someone repeats a captured request. Its
    // sender gets a fresh challenge it cannot answer without the password; the phone, if it ever
    // repeated a count itself, simply authenticates again.
    if (verdict.reason === 'replayed') return { ...challenge(true), replayOf: device.id }
    return { kind: 'forbidden', why: verdict.reason === 'mismatch' ? 'wrong-credentials' : 'malformed' }
  }
}
