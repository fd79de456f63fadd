/**
 * Where a call goes (packages/sip-node/README.md: "Calls from a phone", "Calls to a worker's
 * extension", "Calls to a device's extension", "Inter-site trunk"). The router only decides: it
 * reads the seat view, the lease, the directory and the registrar's bindings and returns a
 * {@link RouteDecision}; sip-node.ts carries it out. Everything it reads comes in through
 * {@link CallRouterOptions}, so it is unit-testable with plain objects.
 */
import type { SiteConfig } from '@flexseat/config'
import type { Device, Seat, User } from '@flexseat/proto'
import { dialledNumber } from './feature-codes'
import { isActive } from './seat-view'
import type { SipHeaders } from './srf-adapter'
import { EPOCH_HEADER, HOPS_HEADER, signTrunk, TRUNK_HEADER } from './trunk-auth'

/** Header carrying the site's dispatchable location on emergency and external calls. */
export const LOCATION_HEADER = 'X-Flexseat-Location'
/** The identity header stamped on calls from phones (any the phone sent is replaced). */
export const PAI_HEADER = 'P-Asserted-Identity'
/**
 * What may be dialled towards the carrier or over the trunk (after {@link dialledNumber}): digits,
 * `+`, `*`, `#`. Anything else (a loose `dial_plan.external` would let `0123%40evil.com` through)
 * is 404: it must never become a foreign host in a Request-URI.
 */
export const DIALLABLE = /^[0-9+*#]+$/
/** How long a trunk call for an epoch the view has not reached yet waits for it (2 s). */
export const CATCH_UP_MS = 2_000

/** What the router needs of the seat view. */
export interface RouterSeats {
  readonly revision: string
  byExtension(extension: string): Seat | undefined
  byDevice(deviceId: string): Seat | undefined
  waitForRevision(revision: string, timeoutMs: number): Promise<boolean>
}

/** What the router needs of the directory. */
export interface RouterDirectory {
  userByExtension(extension: string): Promise<User | undefined>
  deviceByExtension(extension: string): Promise<Device | undefined>
}

/** Options of {@link CallRouter}. */
export interface CallRouterOptions {
  site: SiteConfig
  sites: ReadonlyMap<string, SiteConfig>
  seats: RouterSeats
  /** This branch's confirmation lease: while it is not active, its own flex seats do not act. */
  lease: { readonly active: boolean }
  directory: RouterDirectory
  /** The registrar's current binding (Contact URI) of a device. */
  binding: (deviceId: string) => { contact: string } | undefined
  trunkSecret: string
  /** Clock in ms for trunk signatures (default Date.now). */
  now?: () => number
  /** Default {@link CATCH_UP_MS}. */
  catchUpMs?: number
}

/** Which kind of place a proxied call goes to (for logs). */
export type RouteTarget = 'phone' | 'trunk' | 'carrier' | 'fallback'

/** The router's decision. */
export type RouteDecision =
  | {
      /** Route the call onward (carried back to back, or proxied: sip-node.ts decides how). */
      kind: 'proxy'
      target: RouteTarget
      destinations: string[]
      /** Headers the call carries onward, set by the node ('' leaves one out). */
      headers: SipHeaders
      /**
       * Set when the call rings a phone of this branch only because this worker sits there (the
       * worker's extension, or a fallback extension that is a worker's): the node carries such a
       * call itself, so that it can stop the ringing when the worker leaves (invariant 4).
       */
      seat?: Seat
    }
  | { kind: 'reject'; status: number; reason: string }

/** A call from one of this branch's phones (already authenticated). */
export interface PhoneCall {
  device: Device
  /** The Request-URI's user part as received (may be percent-encoded, may carry `;` parameters). */
  user: string
  callId: string
}

/** A call from another branch's node (trunk signature already verified). */
export interface TrunkCall {
  user: string
  callId: string
  /** X-Flexseat-Epoch: '' for a call to a device's own extension. */
  epoch: string
  /** X-Flexseat-Hops. */
  hops: number
  /**
   * The (signed) P-Asserted-Identity the call came with, trimmed; signed again when the call is
   * forwarded. Absent: forwarded without an identity.
   */
  identity?: string
}

const reject = (status: number, reason: string): RouteDecision => ({ kind: 'reject', status, reason })

/**
 * Replaces (or adds) the user part of a SIP URI: `sip:host:5060` + `1001` → `sip:1001@host:5060`.
 * `user` is the plain (decoded) user: every character outside RFC 3261's unreserved set and `+`
 * is percent-encoded (`#` → `%23`, `@` → `%40`, `;` → `%3B`), so it can never end the user part.
 * @see RFC 3261 §19.1.1, §25.1 (user, escaped)
 */
export function withUser(uri: string, user: string): string {
  const match = /^(sips?:)(?:[^@;?]*@)?(.*)$/i.exec(uri.trim())
  return match === null ? uri : `${match[1]}${encodeUser(user)}@${match[2]}`
}

function encodeUser(user: string): string {
  return Array.from(new TextEncoder().encode(user), (byte) => {
    const c = String.fromCharCode(byte)
    return /[A-Za-z0-9\-_.!~*'()+]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }).join('')
}

function quoted(text: string): string {
  return `"${text.replace(/["\\]/g, (c) => `\\${c}`)}"`
}

/** Decides where calls go (see the file comment). */
export class CallRouter {
  readonly #o: CallRouterOptions

  constructor(options: CallRouterOptions) {
    this.#o = options
  }

  /**
   * The seat a phone acts for: the worker seated at it, if that seat is active, at this site, and
   * the branch's lease is valid (invariant 4: a branch without a valid lease must not present a
   * worker's identity). Undefined: the phone is itself.
   */
  actingSeat(device: Device): Seat | undefined {
    const seat = this.#o.seats.byDevice(device.id)
    if (seat === undefined || !isActive(seat) || seat.siteId !== this.#o.site.id || !this.#o.lease.active) return undefined
    return seat
  }

  /**
   * The P-Asserted-Identity of calls from `device`: the acting worker (`"Ada Lovelace"
   * <sip:1001@domain>`), else the phone's own extension (or id, without one).
   */
  identity(device: Device): string {
    const domain = this.#o.site.sip.domain
    const seat = this.actingSeat(device)
    if (seat !== undefined) return `${seat.displayName === '' ? '' : `${quoted(seat.displayName)} `}<sip:${seat.extension}@${domain}>`
    return `<sip:${device.extension === '' ? device.id : device.extension}@${domain}>`
  }

  /**
   * Routes a call dialled at one of this branch's phones (feature codes are handled before). The
   * number is taken with {@link dialledNumber} (`112;phone-context=...`, `112#` are 112); only
   * {@link DIALLABLE} numbers are routed. Every call it routes carries the node's
   * P-Asserted-Identity; the node carries it back to back, so nothing else of the phone's
   * request (its credentials, its own identity claims) passes on.
   */
  async fromPhone(call: PhoneCall): Promise<RouteDecision> {
    const site = this.#o.site
    const dialled = dialledNumber(call.user)
    if (dialled === undefined || !DIALLABLE.test(dialled)) return reject(404, 'Not Found')
    // The identity is read when the decision is made, after every lookup: a worker who moved away
    // while the directory answered must not go out on this phone's call (invariant 4).
    const identity = (): string => this.identity(call.device)
    const headers = (): SipHeaders => ({ [PAI_HEADER]: identity() })
    const emergency = site.emergencyNumbers.includes(dialled)
    // BroadWorks' rule for host phones: an idle flex desk is for emergencies and signing in.
    if (call.device.flexHost && this.actingSeat(call.device) === undefined && !emergency) return reject(403, `Sign in with ${site.featureCodes.login} to call`)
    if (emergency) return this.#carrier(dialled, headers())
    if (matches(site.dialPlan.extension, dialled)) return this.#withHeaders(await this.#extension(dialled, call.callId, identity, true), headers())
    if (matches(site.dialPlan.external, dialled)) return this.#carrier(dialled, headers())
    // Outside the dial plan: still an extension if the directory knows it (extensions are 2 to
    // 15 digits, the plan's pattern may be narrower), else nothing.
    return this.#withHeaders(await this.#extension(dialled, call.callId, identity, true), headers())
  }

  /**
   * Routes a call that came over the trunk. A worker is rung only if this node's own view seats
   * them here, actively, at the sender's epoch or later; a view behind the sender's epoch first
   * waits (up to {@link CATCH_UP_MS}) to catch up. A view that knows a newer seat elsewhere
   * forwards once.
   */
  async fromTrunk(call: TrunkCall): Promise<RouteDecision> {
    const extension = dialledNumber(call.user)
    if (extension === undefined || !DIALLABLE.test(extension)) return reject(404, 'Not Found')
    if (call.epoch === '') {
      const device = await this.#o.directory.deviceByExtension(extension)
      if (device === undefined || device.siteId !== this.#o.site.id) return reject(404, 'Not Found')
      return this.#phone(device.id, extension, 'phone')
    }
    if (!/^[0-9]{1,19}$/.test(call.epoch)) return reject(400, 'Bad X-Flexseat-Epoch')
    const epoch = BigInt(call.epoch)
    if (BigInt(this.#o.seats.revision) < epoch) await this.#o.seats.waitForRevision(call.epoch, this.#o.catchUpMs ?? CATCH_UP_MS)
    const seat = this.#o.seats.byExtension(extension)
    if (seat === undefined || !isActive(seat)) return reject(480, `${extension} is not signed in`)
    const seatEpoch = BigInt(seat.epoch)
    if (seat.siteId === this.#o.site.id) {
      // Our seat is older than what the sender routed on and the view could not catch up: the
      // worker may have moved between our own phones since; ringing the old one is what must
      // never happen.
      if (seatEpoch < epoch) return reject(480, `${extension} is unreachable`)
      if (!this.#o.lease.active) return reject(480, `${extension} is unreachable (branch offline)`)
      return this.#phone(seat.deviceId, extension, 'phone', seat)
    }
    if (seatEpoch > epoch && call.hops < 1) return this.#trunk(seat.siteId, extension, call.callId, seat.epoch, call.hops + 1, () => call.identity?.trim() ?? '')
    return reject(480, `${extension} is not signed in`)
  }

  // A worker's or a device's extension dialled at this branch.
  async #extension(extension: string, callId: string, identity: () => string, allowFallback: boolean): Promise<RouteDecision> {
    const here = this.#o.site.id
    const seat = this.#o.seats.byExtension(extension)
    let unseated = `${extension} is not signed in`
    if (seat !== undefined && isActive(seat)) {
      if (seat.siteId !== here) return this.#trunk(seat.siteId, extension, callId, seat.epoch, 0, identity)
      if (this.#o.lease.active) return this.#phone(seat.deviceId, extension, 'phone', seat)
      unseated = `${extension} is unreachable (branch offline)`
    }
    const user = await this.#o.directory.userByExtension(extension)
    if (user !== undefined || seat !== undefined) {
      const fallback = user?.fallback.trim() ?? ''
      if (fallback !== '' && allowFallback) {
        if (/^sips?:/i.test(fallback)) return { kind: 'proxy', target: 'fallback', destinations: [fallback], headers: {} }
        // An extension: routed again, once (a fallback's fallback is not followed: no loops).
        return this.#extension(fallback, callId, identity, false)
      }
      return reject(480, unseated)
    }
    const device = await this.#o.directory.deviceByExtension(extension)
    if (device === undefined) return reject(404, 'Not Found')
    if (device.siteId === here) return this.#phone(device.id, extension, 'phone')
    return this.#trunk(device.siteId, extension, callId, '', 0, identity)
  }

  #phone(deviceId: string, extension: string, target: RouteTarget, seat?: Seat): RouteDecision {
    const binding = this.#o.binding(deviceId)
    if (binding === undefined) return reject(480, `${extension} is unreachable`)
    return { kind: 'proxy', target, destinations: [binding.contact], headers: {}, ...(seat === undefined ? {} : { seat }) }
  }

  // The identity is signed and set here, as signed: the receiving node verifies the very value
  // the request carries ('' leaves it out).
  #trunk(siteId: string, extension: string, callId: string, epoch: string, hops: number, identityOf: () => string): RouteDecision {
    if (!DIALLABLE.test(extension)) return reject(404, 'Not Found')
    const identity = identityOf()
    const site = this.#o.sites.get(siteId)
    if (site === undefined) return reject(480, `${extension} is unreachable`)
    const signature = signTrunk(this.#o.trunkSecret, { fromSite: this.#o.site.id, toSite: siteId, callId, user: extension, epoch, hops, identity }, (this.#o.now ?? Date.now)())
    return {
      kind: 'proxy',
      target: 'trunk',
      destinations: [withUser(site.sip.trunkUri, extension)],
      headers: { [TRUNK_HEADER]: signature, [EPOCH_HEADER]: epoch, [HOPS_HEADER]: String(hops), [PAI_HEADER]: identity },
    }
  }

  #carrier(dialled: string, headers: SipHeaders): RouteDecision {
    const site = this.#o.site
    if (!DIALLABLE.test(dialled)) return reject(404, 'Not Found')
    if (site.sip.carrierUri === undefined || site.sip.carrierUri === '') return reject(503, 'No carrier route')
    return { kind: 'proxy', target: 'carrier', destinations: [withUser(site.sip.carrierUri, dialled)], headers: { ...headers, [LOCATION_HEADER]: site.dispatchableLocation } }
  }

  #withHeaders(decision: RouteDecision, headers: SipHeaders): RouteDecision {
    return decision.kind === 'proxy' ? { ...decision, headers: { ...headers, ...decision.headers } } : decision
  }
}

function matches(pattern: string, text: string): boolean {
  try {
    return new RegExp(pattern).test(text)
  } catch {
    return false
  }
}
