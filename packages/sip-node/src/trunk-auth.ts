/**
 * Authentication of the inter-site trunk: a request one SIP node sends another carries
 * `X-Flexseat-Trunk: <from site>;ts=<unix seconds>;sig=<hex HMAC-SHA256(secret,
 * "<from site>|<ts>|<Call-ID>|<R-URI user>|<epoch>")>`. The signature binds the call, the dialled
 * number and the seat epoch, so a captured header cannot be reused for another call or target,
 * and the timestamp bounds its replay to a window of {@link TRUNK_WINDOW_SECONDS}.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

/** The trunk headers (README "Inter-site trunk"). */
export const TRUNK_HEADER = 'X-Flexseat-Trunk'
export const EPOCH_HEADER = 'X-Flexseat-Epoch'
export const HOPS_HEADER = 'X-Flexseat-Hops'

/** Accepted clock difference between the signing and the verifying node (60 s). */
export const TRUNK_WINDOW_SECONDS = 60

/** What a trunk signature covers. */
export interface TrunkClaim {
  /** The sending node's site id. */
  fromSite: string
  callId: string
  /** The Request-URI's user part (the dialled extension). */
  user: string
  /** The seat epoch the sender routed on; '' for a call to a device's own extension. */
  epoch: string
}

function mac(secret: string, claim: TrunkClaim, ts: string): Buffer {
  return createHmac('sha256', secret).update(`${claim.fromSite}|${ts}|${claim.callId}|${claim.user}|${claim.epoch}`, 'utf8').digest()
}

/** The `X-Flexseat-Trunk` value for `claim` at `nowMs` (default now). */
export function signTrunk(secret: string, claim: TrunkClaim, nowMs = Date.now()): string {
  const ts = String(Math.floor(nowMs / 1000))
  return `${claim.fromSite};ts=${ts};sig=${mac(secret, claim, ts).toString('hex')}`
}

/** Outcome of {@link verifyTrunk}. */
export type TrunkVerdict =
  | { ok: true; fromSite: string }
  | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'bad-signature' }

/**
 * Verifies an `X-Flexseat-Trunk` value against the request's Call-ID, R-URI user and epoch. The
 * signature is compared in constant time; a timestamp more than {@link TRUNK_WINDOW_SECONDS} off
 * either way is refused (after the signature check, so the reason never helps a forger).
 */
export function verifyTrunk(secret: string, header: string | undefined, request: Omit<TrunkClaim, 'fromSite'>, nowMs = Date.now()): TrunkVerdict {
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' }
  const match = /^\s*([a-z0-9][a-z0-9._-]{0,63});ts=(\d{1,12});sig=([0-9a-f]{64})\s*$/.exec(header)
  if (match === null) return { ok: false, reason: 'malformed' }
  const [, fromSite, ts, sig] = match as unknown as [string, string, string, string]
  const expected = mac(secret, { ...request, fromSite }, ts)
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) return { ok: false, reason: 'bad-signature' }
  if (Math.abs(Math.floor(nowMs / 1000) - Number(ts)) > TRUNK_WINDOW_SECONDS) return { ok: false, reason: 'expired' }
  return { ok: true, fromSite }
}
