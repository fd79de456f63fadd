/**
 * Authentication of the inter-site trunk: a request one SIP node sends another carries
 * `X-Flexseat-Trunk: <from site>;ts=<unix ms>;sig=<hex HMAC-SHA256(secret, claim)>`, the claim
 * being the JSON array `["<from site>","<to site>","<ts>","<Call-ID>","<R-URI user>","<epoch>",
 * "<hops>","<P-Asserted-Identity>"]`. The signature binds the destination branch, the call, the
 * dialled number, the seat epoch, the hop count and the caller identity the sender asserted, so a
 * captured request can neither be replayed into another branch, nor reused for another call or
 * target, nor carry another caller; the timestamp bounds its life to {@link TRUNK_WINDOW_SECONDS}
 * either way, and {@link TrunkVerifier} accepts each signed request once within that life, and
 * none signed before the verifier started: a restart of the receiving node cannot reopen the
 * window (as far as the two nodes' clocks agree). The claim is a JSON array rather than a joined
 * string so that no field (a Call-ID or an identity may contain any separator) can shift into its
 * neighbour.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { uriUser } from './feature-codes'

/** The trunk headers (README "Inter-site trunk"). */
export const TRUNK_HEADER = 'X-Flexseat-Trunk'
export const EPOCH_HEADER = 'X-Flexseat-Epoch'
export const HOPS_HEADER = 'X-Flexseat-Hops'
/** The caller identity a trunk request carries (signed). */
export const IDENTITY_HEADER = 'P-Asserted-Identity'

/** Accepted clock difference between the signing and the verifying node (60 s). */
export const TRUNK_WINDOW_SECONDS = 60
/**
 * Most signed requests {@link TrunkVerifier} remembers (default). Only requests with a valid
 * signature are remembered, so only the cluster's own nodes can fill it; past it the oldest are
 * forgotten first.
 */
export const REPLAY_CACHE_SIZE = 50_000

/** What a trunk signature covers. */
export interface TrunkClaim {
  /** The sending node's site id. */
  fromSite: string
  /** The site the request is sent to (the receiving node checks it is its own). */
  toSite: string
  callId: string
  /** The Request-URI's user part (the dialled extension), percent-decoded. */
  user: string
  /** The seat epoch the sender routed on; '' for a call to a device's own extension. */
  epoch: string
  /** X-Flexseat-Hops (default 0). */
  hops?: number
  /** The P-Asserted-Identity value the request carries, trimmed; '' (the default) for none. */
  identity?: string
}

function mac(secret: string, claim: TrunkClaim, ts: string): Buffer {
  const fields = [claim.fromSite, claim.toSite, ts, claim.callId, claim.user, claim.epoch, String(claim.hops ?? 0), (claim.identity ?? '').trim()]
  return createHmac('sha256', secret).update(JSON.stringify(fields), 'utf8').digest()
}

/** The `X-Flexseat-Trunk` value for `claim` at `nowMs` (default now). */
export function signTrunk(secret: string, claim: TrunkClaim, nowMs = Date.now()): string {
  const ts = String(Math.floor(nowMs))
  return `${claim.fromSite};ts=${ts};sig=${mac(secret, claim, ts).toString('hex')}`
}

/** Outcome of {@link verifyTrunk} and {@link TrunkVerifier.verify}. */
export type TrunkVerdict =
  | { ok: true; fromSite: string }
  | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'bad-signature' | 'replayed' | 'before-start' }

/**
 * Verifies an `X-Flexseat-Trunk` value against the request's destination (the verifying node's
 * own site), Call-ID, R-URI user, epoch, hops and identity (a field left out counts as its
 * default: hops 0, no identity). The signature is compared in constant time; a timestamp more
 * than {@link TRUNK_WINDOW_SECONDS} off either way is refused (after the signature check, so the
 * reason never helps a forger). Stateless: a replay within the window passes;
 * {@link TrunkVerifier} is what refuses it.
 */
export function verifyTrunk(secret: string, header: string | undefined, request: Omit<TrunkClaim, 'fromSite'>, nowMs = Date.now()): TrunkVerdict {
  const checked = check(secret, header, request, nowMs)
  return checked.ok ? { ok: true, fromSite: checked.fromSite } : checked
}

function check(secret: string, header: string | undefined, request: Omit<TrunkClaim, 'fromSite'>, nowMs: number): ({ ok: true; fromSite: string; ts: number }) | { ok: false; reason: 'missing' | 'malformed' | 'expired' | 'bad-signature' } {
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' }
  const match = /^\s*([a-z0-9][a-z0-9._-]{0,63});ts=(\d{1,15});sig=([0-9a-f]{64})\s*$/.exec(header)
  if (match === null) return { ok: false, reason: 'malformed' }
  const [, fromSite, ts, sig] = match as unknown as [string, string, string, string]
  const expected = mac(secret, { ...request, fromSite }, ts)
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) return { ok: false, reason: 'bad-signature' }
  if (Math.abs(nowMs - Number(ts)) > TRUNK_WINDOW_SECONDS * 1_000) return { ok: false, reason: 'expired' }
  return { ok: true, fromSite, ts: Number(ts) }
}

/** What {@link trunkRequestOf} reads of a request. */
export interface TrunkRequestSource {
  readonly uri: string
  get(header: string): string
  has(header: string): boolean
}

/**
 * The signed fields of a received trunk request, read the way {@link signTrunk}'s caller wrote
 * them: Call-ID, the R-URI user percent-decoded, X-Flexseat-Epoch (trimmed, '' when absent),
 * X-Flexseat-Hops (0 when absent; -1 when not a non-negative integer, which no signature covers)
 * and P-Asserted-Identity (trimmed, '' when absent).
 */
export function trunkRequestOf(req: TrunkRequestSource): Omit<TrunkClaim, 'fromSite' | 'toSite'> & { hops: number; identity: string } {
  const text = (name: string): string => (req.has(name) ? (req.get(name) ?? '').trim() : '')
  const hopsText = text(HOPS_HEADER)
  const hops = hopsText === '' ? 0 : /^\d{1,3}$/.test(hopsText) ? Number(hopsText) : -1
  let user = uriUser(req.uri)
  try {
    user = decodeURIComponent(user)
  } catch {
    // a broken escape: verified as it stands (and no signature covers it)
  }
  return { callId: text('Call-ID'), user, epoch: text(EPOCH_HEADER), hops, identity: text(IDENTITY_HEADER) }
}

/** Options of {@link TrunkVerifier}. */
export interface TrunkVerifierOptions {
  secret: string
  /** The verifying node's own site: requests must have been signed for it. */
  siteId: string
  /** Clock in ms (default Date.now). */
  now?: () => number
  /** Default {@link REPLAY_CACHE_SIZE}. */
  capacity?: number
  /** Requests signed before this (ms since the epoch) are refused (default: when the verifier is made). */
  notBefore?: number
}

/**
 * Verifies trunk requests ({@link verifyTrunk}) for its own site, and accepts each signed request
 * once: a valid signature's (from site, Call-ID, ts) is remembered for twice the window (the
 * whole span in which its timestamp passes, whichever way the clocks differ), and the same triple
 * again is refused as `replayed`. The engine absorbs retransmissions of a transaction, so a
 * second delivery to the node is never the sender's own.
 *
 * The memory is the process': so that a restart does not open the window again, a request signed
 * before the verifier was made (`notBefore`) is refused as `before-start`. With the nodes' clocks
 * in step (NTP), no request captured before the restart passes; a sender whose clock runs `d`
 * behind has its requests refused for `d` after the receiver starts (the node is not serving
 * then anyway: it connects to its engine and the cluster first), one running `d` ahead could
 * replay what it captured in the last `d` before the restart.
 */
export class TrunkVerifier {
  readonly #secret: string
  readonly #siteId: string
  readonly #now: () => number
  readonly #capacity: number
  readonly #notBefore: number
  /** key → ms until which it is remembered; insertion order is expiry order. */
  readonly #seen = new Map<string, number>()

  constructor(options: TrunkVerifierOptions) {
    this.#secret = options.secret
    this.#siteId = options.siteId
    this.#now = options.now ?? Date.now
    this.#capacity = Math.max(1, options.capacity ?? REPLAY_CACHE_SIZE)
    this.#notBefore = options.notBefore ?? this.#now()
  }

  /** Number of signed requests remembered. */
  get size(): number {
    return this.#seen.size
  }

  /** Verifies `header` against `request` (see {@link trunkRequestOf}), sent to this site, and records it. */
  verify(header: string | undefined, request: Omit<TrunkClaim, 'fromSite' | 'toSite'>): TrunkVerdict {
    const now = this.#now()
    const checked = check(this.#secret, header, { ...request, toSite: this.#siteId }, now)
    if (!checked.ok) return checked
    if (checked.ts < this.#notBefore) return { ok: false, reason: 'before-start' }
    this.#expire(now)
    const key = JSON.stringify([checked.fromSite, request.callId, String(checked.ts)])
    if (this.#seen.has(key)) return { ok: false, reason: 'replayed' }
    if (this.#seen.size >= this.#capacity) this.#seen.delete(this.#seen.keys().next().value as string)
    this.#seen.set(key, now + 2 * TRUNK_WINDOW_SECONDS * 1_000)
    return { ok: true, fromSite: checked.fromSite }
  }

  #expire(now: number): void {
    for (const [key, until] of this.#seen) {
      if (until > now) return
      this.#seen.delete(key)
    }
  }
}
