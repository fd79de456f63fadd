/**
 * Who a request comes from: one phone, proven by its own SIP credentials. Either an HTTP Digest
 * answer (RFC 7616 / RFC 2617, MD5, `qop=auth`) whose username is the device id and whose HA1 is
 * the device's (GetDeviceCredentials, as the SIP node challenges REGISTERs; the realm is the
 * site's SIP domain, the realm HA1 was computed for), or the device's token (device-token.ts) in
 * the URL. The same stateless nonces as the SIP node (DigestVerifier). Never logs a credential.
 */
import { ErrorCode, type Device } from '@flexseat/proto'
import { type DigestVerifier, parseDigestHeader, RegistryCallError } from '@flexseat/sip-node'
import { tokenMatches } from './device-token'

/** The verdict on a request for `device`. */
export type AuthVerdict =
  | { ok: true; ha1: string }
  /** 401 with this WWW-Authenticate value. */
  | { ok: false; challenge: string; why: 'missing' | 'malformed' | 'mismatch' | 'stale' | 'other-device' | 'no-credentials' }
  /** 403: a token that is not the device's. */
  | { ok: false; challenge: undefined; why: 'bad-token' | 'no-credentials' }

/** Options of {@link DeviceAuth}. */
export interface DeviceAuthOptions {
  verifier: DigestVerifier
  /** The digest realm of the site's phones (its SIP domain). */
  realm: string
  credentials(deviceId: string): Promise<{ realm: string; ha1: string }>
}

/** Checks a phone's credentials against its device. */
export class DeviceAuth {
  readonly #o: DeviceAuthOptions

  constructor(options: DeviceAuthOptions) {
    this.#o = options
  }

  /** The WWW-Authenticate value of a fresh challenge. */
  challenge(stale = false): string {
    return this.#o.verifier.challenge(this.#o.realm, stale)
  }

  /** Checks an `Authorization: Digest …` header for `device`; `uri` is the request-target as sent. */
  async digest(device: Device, authorization: string | undefined, method: string, uri: string): Promise<AuthVerdict> {
    if (authorization === undefined) return { ok: false, challenge: this.challenge(), why: 'missing' }
    const params = parseDigestHeader(authorization)
    if (params === undefined) return { ok: false, challenge: this.challenge(), why: 'malformed' }
    // Device X's file needs X's credentials: another phone's (valid) answer is no answer for this one.
    if (params['username'] !== device.id) return { ok: false, challenge: this.challenge(), why: 'other-device' }
    const credentials = await this.#credentials(device.id)
    if (credentials === undefined) return { ok: false, challenge: this.challenge(), why: 'no-credentials' }
    const verdict = this.#o.verifier.verify(params, { method, uri, realm: credentials.realm, ha1: credentials.ha1 })
    if (verdict.ok) return { ok: true, ha1: credentials.ha1 }
    return { ok: false, challenge: this.challenge(verdict.reason === 'stale'), why: verdict.reason === 'stale' ? 'stale' : verdict.reason === 'malformed' ? 'malformed' : 'mismatch' }
  }

  /** Checks the token in a URL for `device`. */
  async token(device: Device, token: string): Promise<AuthVerdict> {
    const credentials = await this.#credentials(device.id)
    if (credentials === undefined) return { ok: false, challenge: undefined, why: 'no-credentials' }
    return tokenMatches(token, device.id, credentials.ha1) ? { ok: true, ha1: credentials.ha1 } : { ok: false, challenge: undefined, why: 'bad-token' }
  }

  // A device without a SIP password cannot prove anything: it has no credentials.
  async #credentials(deviceId: string): Promise<{ realm: string; ha1: string } | undefined> {
    try {
      return await this.#o.credentials(deviceId)
    } catch (error) {
      if (error instanceof RegistryCallError && (error.code === ErrorCode.ERROR_CODE_NO_CREDENTIALS || error.code === ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND)) return undefined
      throw error
    }
  }
}
