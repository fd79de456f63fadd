/**
 * Where a call goes (packages/sip-node/README.md: "Calls from a phone", "Calls to a worker's
 * extension", "Calls to a device's extension", "Inter-site trunk"). The router only decides: it
 * reads the seat view, the lease, the directory and the registrar's bindings and returns a
 * {@link RouteDecision}; sip-node.ts carries it out. Everything it reads comes in through
 * {@link CallRouterOptions}, so it is unit-testable with plain objects.
 */
import type { SiteConfig } from '@flexseat/config'
import type { Device, Seat, User } from '@flexseat/proto'
import { isActive } from './seat-view'
import type { SipHeaders } from './srf-adapter'
import { EPOCH_HEADER, HOPS_HEADER, signTrunk, TRUNK_HEADER } from './trunk-auth'

/** Header carrying the site's dispatchable location on emergency and external calls. */
export const LOCATION_HEADER = 'X-Flexseat-Location'
/** The identity header stamped on calls from phones (any the phone sent is replaced). */
export const PAI_HEADER = 'P-Asserted-Identity'
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
  | { kind: 'proxy'; target: RouteTarget; destinations: string[]; headers: SipHeaders }
  | { kind: 'reject'; status: number; reason: string }

/** A call from one of this branch's phones (already authenticated). */
export interface PhoneCall {
  device: Device
  /** The Request-URI's user part as received (may be percent-encoded). */
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
}

const reject = (status: number, reason: string): RouteDecision => ({ kind: 'reject', status, reason })

/** Replaces (or adds) the user part of a SIP URI: `sip:host:5060` + `1001` → `sip:1001@host:5060`. */
export function withUser(uri: string, user: string): string {
  const match = /^(sips?:)(?:[^@;?]*@)?(.*)$/i.exec(uri.trim())
  return match === null ? uri : `${match[1]}${user}@${match[2]}`
}

function decode(user: string): string {
  try {
    return decodeURIComponent(user)
  } catch {
    return user
  }
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

  /** Routes a call dialled at one of this branch's phones (feature codes are handled before). */
  async fromPhone(call: PhoneCall): Promise<RouteDecision> {
    const site = this.#o.site
    const dialled = decode(call.user)
    const headers: SipHeaders = { [PAI_HEADER]: this.identity(call.device) }
    const emergency = site.emergencyNumbers.includes(dialled)
    // BroadWorks' rule for host phones: an idle flex desk is for emergencies and signing in.
    if (call.device.flexHost && this.actingSeat(call.device) === undefined && !emergency) return reject(403, `Sign in with ${site.featureCodes.login} to call`)
    if (emergency) return this.#carrier(dialled, headers)
    if (matches(site.dialPlan.extension, dialled)) return this.#withHeaders(await this.#extension(dialled, call.callId, true), headers)
    if (matches(site.dialPlan.external, dialled)) return this.#carrier(dialled, headers)
    // Outside the dial plan: still an extension if the directory knows it (extensions are 2 to
    // 15 digits, the plan's pattern may be narrower), else nothing.
    return this.#withHeaders(await this.#extension(dialled, call.callId, true), headers)
  }

  /**
   * Routes a call that came over the trunk. A worker is rung only if this node's own view seats
   * them here, actively, at the sender's epoch or later; a view behind the sender's epoch first
   * waits (up to {@link CATCH_UP_MS}) to catch up. A view that knows a newer seat elsewhere
   * forwards once.
   */
  async fromTrunk(call: TrunkCall): Promise<RouteDecision> {
    const extension = decode(call.user)
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
      return this.#phone(seat.deviceId, extension, 'phone')
    }
    if (seatEpoch > epoch && call.hops < 1) return this.#trunk(seat.siteId, extension, call.callId, seat.epoch, call.hops + 1)
    return reject(480, `${extension} is not signed in`)
  }

  // A worker's or a device's extension dialled at this branch.
  async #extension(extension: string, callId: string, allowFallback: boolean): Promise<RouteDecision> {
    const here = this.#o.site.id
    const seat = this.#o.seats.byExtension(extension)
    let unseated = `${extension} is not signed in`
    if (seat !== undefined && isActive(seat)) {
      if (seat.siteId !== here) return this.#trunk(seat.siteId, extension, callId, seat.epoch, 0)
      if (this.#o.lease.active) return this.#phone(seat.deviceId, extension, 'phone')
      unseated = `${extension} is unreachable (branch offline)`
    }
    const user = await this.#o.directory.userByExtension(extension)
    if (user !== undefined || seat !== undefined) {
      const fallback = user?.fallback.trim() ?? ''
      if (fallback !== '' && allowFallback) {
        if (/^sips?:/i.test(fallback)) return { kind: 'proxy', target: 'fallback', destinations: [fallback], headers: {} }
        // An extension: routed again, once (a fallback's fallback is not followed: no loops).
        return this.#extension(fallback, callId, false)
      }
      return reject(480, unseated)
    }
    const device = await this.#o.directory.deviceByExtension(extension)
    if (device === undefined) return reject(404, 'Not Found')
    if (device.siteId === here) return this.#phone(device.id, extension, 'phone')
    return this.#trunk(device.siteId, extension, callId, '', 0)
  }

  #phone(deviceId: string, extension: string, target: RouteTarget): RouteDecision {
    const binding = this.#o.binding(deviceId)
    if (binding === undefined) return reject(480, `${extension} is unreachable`)
    return { kind: 'proxy', target, destinations: [binding.contact], headers: {} }
  }

  #trunk(siteId: string, extension: string, callId: string, epoch: string, hops: number): RouteDecision {
    const site = this.#o.sites.get(siteId)
    if (site === undefined) return reject(480, `${extension} is unreachable`)
    const signature = signTrunk(this.#o.trunkSecret, { fromSite: this.#o.site.id, callId, user: extension, epoch }, (this.#o.now ?? Date.now)())
    return {
      kind: 'proxy',
      target: 'trunk',
      destinations: [withUser(site.sip.trunkUri, extension)],
      headers: { [TRUNK_HEADER]: signature, [EPOCH_HEADER]: epoch, [HOPS_HEADER]: String(hops) },
    }
  }

  #carrier(dialled: string, headers: SipHeaders): RouteDecision {
    const site = this.#o.site
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
