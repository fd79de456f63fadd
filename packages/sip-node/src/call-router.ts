/**
 * Where a call goes (packages/sip-node/README.md: "Calls from a phone", "Calls to a worker's
 * extension", "Calls to a device's extension", "Inter-site trunk"). The router only decides: it
 * reads the seat view, the lease, the directory and the registrar's bindings and returns a
 * {@link RouteDecision}; sip-node.ts carries it out. Everything it reads comes in through
 * {@link CallRouterOptions}, so it is unit-testable with plain objects.
 */
import { randomBytes } from 'node:crypto'
import { EXTERNAL_CLASSES, type ExternalClass, type SiteConfig, type TollClass } from '@flexseat/config'
import type { Device, Seat, User } from '@flexseat/proto'
import { type DeskLocation, deviceUrn, GEOLOCATION_HEADER, GEOLOCATION_ROUTING_HEADER, geolocationValue, type LocationPart, locationText, pidfLo } from './emergency-location'
import { dialledNumber } from './feature-codes'
import { isActive } from './seat-view'
import type { SipHeaders } from './srf-adapter'
import { EPOCH_HEADER, HOPS_HEADER, signTrunk, TRUNK_HEADER } from './trunk-auth'

/**
 * Header carrying the site's dispatchable location as text on external calls, and on emergency
 * calls from a branch without a civic address (`emergency.civic_address`): with one, emergency
 * calls carry the desk's location as RFC 6442 prescribes instead (emergency-location.ts).
 */
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
  /** A device by id (a worker's home device). */
  device(id: string): Promise<Device | undefined>
  /** A user by id (the DID of the worker on an emergency call). */
  user(id: string): Promise<User | undefined>
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
export type RouteTarget = 'phone' | 'trunk' | 'carrier' | 'fallback' | 'home'

/** A desk, as the call list names it. */
export interface CallDesk {
  siteId: string
  deviceId: string
}

/** A worker a call is to or from, as the call list needs it. */
export interface CallWorker {
  userId: string
  extension: string
  displayName: string
}

/**
 * What the call list and the busy lamps need to know of a routed call (call-log.ts): set on every
 * decision about a call from a phone, absent otherwise (calls from the trunk: the node where the
 * call came from records them).
 */
export interface CallFacts {
  /** The worker the call went out as (the seat acting at the calling phone), and where they sat. */
  caller?: CallWorker & CallDesk
  /** The worker called (their extension was dialled). */
  callee?: CallWorker
  /** Who was called, as the caller's list shows them. */
  called: { number: string; name: string }
  /** The desk the call rings for the callee (or the device whose own extension was dialled), when one leg (with several: each leg's own). */
  desk?: CallDesk
}

/** One leg of a call that rings several phones at once (ring-both). */
export interface ForkLeg {
  target: RouteTarget
  destination: string
  /** Headers of this leg's INVITE, set by the node ('' leaves one out). */
  headers: SipHeaders
  /** The seat this leg rings for (the seated desk at this branch): stopped on revocation. */
  seat?: Seat
  /** Its own Call-ID (a trunk leg beside another to the same call: a branch takes a signed Call-ID once). */
  callId?: string
  desk: CallDesk
}

/** An emergency call's location, for the node to put beside the SDP and to tell the security desk. */
export interface EmergencyFacts {
  /** The PIDF-LO body part (absent without a civic address: the text header then). */
  location?: LocationPart
  /** The security desk's MESSAGE. */
  alert: string
}

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
      /** The call list's facts (see {@link CallFacts}). */
      call?: CallFacts
      /** Set on emergency calls. */
      emergency?: EmergencyFacts
    }
  | {
      /** Ring several phones at once (ring-both); the first to answer takes the call. */
      kind: 'fork'
      legs: ForkLeg[]
      call: CallFacts
    }
  | { kind: 'reject'; status: number; reason: string; call?: CallFacts; emergency?: EmergencyFacts }

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

/** A decision that rings at most one place. */
type SingleDecision = Exclude<RouteDecision, { kind: 'fork' }>

const reject = (status: number, reason: string): SingleDecision => ({ kind: 'reject', status, reason })

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
    if (emergency) return this.#withCaller(call.device, dialled, await this.#emergency(call.device, dialled))
    // Toll classes (dial_plan.classes): refused before anything is looked up or rung.
    const external = matches(site.dialPlan.external, dialled) && !matches(site.dialPlan.extension, dialled)
    const refused = await this.#classRefusal(call.device, external ? tollClass(site, dialled) : 'internal')
    if (refused !== undefined) return this.#withCaller(call.device, dialled, refused)
    if (external) return this.#withCaller(call.device, dialled, this.#carrier(dialled, headers()))
    // An extension, or outside the dial plan: still an extension if the directory knows it
    // (extensions are 2 to 15 digits, the plan's pattern may be narrower), else nothing.
    return this.#withCaller(call.device, dialled, this.#withHeaders(await this.#extension(dialled, call.callId, identity, true), headers()))
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

  /**
   * A worker's or a device's extension dialled at this branch. A worker: their active seat (here,
   * or over the trunk), with their home device beside it when they ring both; not seated (or
   * pending, or this branch offline): their fallback, else their home device, else 480. A device:
   * the phone, wherever it is.
   */
  async #extension(extension: string, callId: string, identity: () => string, allowFallback: boolean): Promise<RouteDecision> {
    const here = this.#o.site.id
    // Every directory lookup comes before the seat is read: nothing is awaited between reading the
    // seat and deciding (invariant 4). A failed lookup matters only where the seat does not decide.
    let user: User | undefined
    let lookupError: unknown
    let home: Device | undefined
    try {
      user = await this.#o.directory.userByExtension(extension)
      if (user !== undefined && user.homeDeviceId !== '') home = await this.#o.directory.device(user.homeDeviceId)
    } catch (error) {
      lookupError = error
    }
    const seat = this.#o.seats.byExtension(extension)
    const callee: CallWorker | undefined = seat !== undefined ? { userId: seat.userId, extension, displayName: seat.displayName } : user === undefined ? undefined : { userId: user.id, extension, displayName: user.displayName }
    const facts = (desk?: CallDesk): CallFacts => ({ ...(callee === undefined ? {} : { callee }), called: { number: extension, name: callee?.displayName ?? '' }, ...(desk === undefined ? {} : { desk }) })
    let unseated = `${extension} is not signed in`
    if (seat !== undefined && isActive(seat)) {
      let seated: SingleDecision | undefined
      if (seat.siteId !== here) seated = this.#trunk(seat.siteId, extension, callId, seat.epoch, 0, identity)
      else if (this.#o.lease.active) seated = this.#phone(seat.deviceId, extension, 'phone', seat)
      else unseated = `${extension} is unreachable (branch offline)`
      if (seated !== undefined) {
        const desk = { siteId: seat.siteId, deviceId: seat.deviceId }
        // Ring-both: the worker's own phone rings beside the desk they sit at; a revocation stops
        // the seated desk's leg only (the home device is not a flex seat).
        if (user?.ringHomeDevice === true && home !== undefined && home.id !== seat.deviceId) {
          const homeLeg = this.#device(home, `home-${callId}`, identity)
          if (homeLeg.kind === 'proxy') {
            const homeDesk = { siteId: home.siteId, deviceId: home.id }
            if (seated.kind !== 'proxy') return { ...homeLeg, target: 'home', call: facts(homeDesk) }
            return {
              kind: 'fork',
              legs: [
                { target: seated.target, destination: seated.destinations[0]!, headers: seated.headers, ...(seated.seat === undefined ? {} : { seat: seated.seat }), desk },
                { target: 'home', destination: homeLeg.destinations[0]!, headers: homeLeg.headers, ...(homeLeg.target === 'trunk' ? { callId: `home-${callId}` } : {}), desk: homeDesk },
              ],
              call: facts(),
            }
          }
        }
        return { ...seated, call: facts(desk) }
      }
    }
    if (lookupError !== undefined) throw lookupError
    if (user !== undefined || seat !== undefined) {
      // Not seated: the fallback if there is one (an administrator's explicit choice), else the
      // worker's own phone, else 480.
      const fallback = user?.fallback.trim() ?? ''
      if (fallback !== '' && allowFallback) {
        if (/^sips?:/i.test(fallback)) return { kind: 'proxy', target: 'fallback', destinations: [fallback], headers: {}, call: facts() }
        // An extension: routed again, once (a fallback's fallback is not followed: no loops).
        const next = await this.#extension(fallback, callId, identity, false)
        const desk = next.kind === 'fork' ? undefined : next.call?.desk
        return { ...next, call: facts(desk) }
      }
      if (home !== undefined && allowFallback) {
        const rings = this.#device(home, callId, identity)
        if (rings.kind === 'proxy') return { ...rings, target: 'home', call: facts({ siteId: home.siteId, deviceId: home.id }) }
      }
      return { ...reject(480, unseated), call: facts() }
    }
    const device = await this.#o.directory.deviceByExtension(extension)
    if (device === undefined) return reject(404, 'Not Found')
    return { ...this.#device(device, callId, identity), call: { called: { number: extension, name: device.label }, desk: { siteId: device.siteId, deviceId: device.id } } }
  }

  /** A device's own phone: its binding here, or its branch over the trunk (by its extension). */
  #device(device: Device, callId: string, identity: () => string): SingleDecision {
    if (device.siteId === this.#o.site.id) return this.#phone(device.id, device.extension === '' ? device.id : device.extension, 'phone')
    if (device.extension === '') return reject(480, `${device.id} is unreachable`)
    return this.#trunk(device.siteId, device.extension, callId, '', 0, identity)
  }

  /**
   * An emergency number dialled at `device`: out through this branch's carrier with the desk's
   * dispatchable location (RFC 6442, when the site has a civic address; else the text header) and
   * the caller's identity plus a call-back number (the seated worker's DID, else the site's
   * `emergency.callback_number`) in P-Asserted-Identity; and the text for the security desk.
   */
  async #emergency(device: Device, dialled: string): Promise<RouteDecision> {
    const site = this.#o.site
    const config = site.emergency
    const domain = site.sip.domain
    // The worker's DID is looked up first; the seat is read again afterwards (invariant 4).
    const before = this.actingSeat(device)
    let did = ''
    if (before !== undefined) {
      try {
        did = (await this.#o.directory.user(before.userId))?.did ?? ''
      } catch {
        // The directory cannot say: the site's call-back number stands in.
      }
    }
    const seat = this.actingSeat(device)
    const callback = seat !== undefined && seat.userId === before?.userId && did !== '' ? did : (config?.callbackNumber ?? '')
    const headers: SipHeaders = { [PAI_HEADER]: `${this.identity(device)}${callback === '' ? '' : `, <tel:${callback}>`}` }
    const address = config?.civicAddress
    const location: DeskLocation | undefined = address === undefined ? undefined : { address, floor: device.floor ?? '', room: device.room ?? '', seat: device.label }
    let part: LocationPart | undefined
    if (location !== undefined) {
      part = {
        contentId: `${randomBytes(8).toString('hex')}@${domain}`,
        pidf: pidfLo({
          entity: `pres:${seat?.extension ?? (device.extension === '' ? device.id : device.extension)}@${domain}`,
          location,
          deviceId: device.id,
          deviceUrn: deviceUrn(device.id, domain),
          timestamp: new Date((this.#o.now ?? Date.now)()),
        }),
      }
      headers[GEOLOCATION_HEADER] = geolocationValue(part.contentId)
      headers[GEOLOCATION_ROUTING_HEADER] = 'yes'
    }
    const where = location === undefined ? site.dispatchableLocation : locationText(location)
    const who = seat === undefined ? 'nobody signed in' : `${seat.extension} ${seat.displayName}`.trim()
    const alert = `EMERGENCY call to ${dialled} from ${device.label === '' ? device.id : device.label} (${device.id}${device.extension === '' ? '' : `, ${device.extension}`}), ${site.name}: ${where}; ${who}${callback === '' ? '' : `; call back ${callback}`}`
    const decision = this.#carrier(dialled, headers, location === undefined)
    return { ...decision, emergency: { ...(part === undefined ? {} : { location: part }), alert } }
  }

  /**
   * The refusal of a call of class `wanted` from `device`, if its toll classes forbid it: at a
   * flex desk (a worker is signed in: idle desks are refused before) the seated worker's
   * `call_classes`, else the site's `dial_plan.allow.seated`; at any other phone its own
   * `call_classes`, else the site's `allow.fixed`. Nothing is refused where none of them is set.
   * Where the site has classes, a seated worker the directory does not show under the seat's
   * extension (renumbered, removed) is refused anything but emergency calls: their classes are
   * unknown, and another worker's or the site's must not stand in for them.
   */
  async #classRefusal(device: Device, wanted: TollClass): Promise<SingleDecision | undefined> {
    const classes = this.#o.site.dialPlan.classes
    let own = device.callClasses?.classes
    if (device.flexHost) {
      const seat = this.actingSeat(device)
      const worker = seat === undefined ? undefined : await this.#o.directory.userByExtension(seat.extension)
      if (classes !== undefined && seat !== undefined && worker?.id !== seat.userId && wanted !== 'emergency') return reject(403, 'Call classes unknown')
      own = worker?.callClasses?.classes
    }
    const allowed: readonly string[] | undefined = own ?? (device.flexHost ? classes?.seated : classes?.fixed)
    if (allowed === undefined || wanted === 'emergency' || allowed.includes(wanted)) return undefined
    return reject(403, `${wanted[0]!.toUpperCase()}${wanted.slice(1)} calls not allowed`)
  }

  /**
   * The call list's facts of a call from `device` (see {@link CallFacts}): the worker acting at it
   * now (the decision is final: nothing is awaited after this), beside what the routing found.
   */
  #withCaller(device: Device, dialled: string, decision: RouteDecision): RouteDecision {
    const seat = this.actingSeat(device)
    const caller = seat === undefined ? undefined : { userId: seat.userId, extension: seat.extension, displayName: seat.displayName, siteId: seat.siteId, deviceId: seat.deviceId }
    const { call, ...rest } = decision
    // Calls between phones too: the desks' own busy lamps follow them (call-log.ts makes no
    // call-list record without a worker).
    return { ...rest, call: { ...call, ...(caller === undefined ? {} : { caller }), called: call?.called ?? { number: dialled, name: '' } } } as RouteDecision
  }

  /**
   * The trunk INVITE to another branch's node that carries a directed pickup (pickup.ts) from
   * `device`: to `extension` at `siteId`, signed, with the device's identity (no seat epoch: the
   * receiving node looks the ringing call up by its Call-ID).
   */
  pickupOverTrunk(device: Device, siteId: string, extension: string, callId: string): SingleDecision {
    return this.#trunk(siteId, extension, callId, '', 0, () => this.identity(device))
  }

  #phone(deviceId: string, extension: string, target: RouteTarget, seat?: Seat): SingleDecision {
    const binding = this.#o.binding(deviceId)
    if (binding === undefined) return reject(480, `${extension} is unreachable`)
    return { kind: 'proxy', target, destinations: [binding.contact], headers: {}, ...(seat === undefined ? {} : { seat }) }
  }

  // The identity is signed and set here, as signed: the receiving node verifies the very value
  // the request carries ('' leaves it out).
  #trunk(siteId: string, extension: string, callId: string, epoch: string, hops: number, identityOf: () => string): SingleDecision {
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

  #carrier(dialled: string, headers: SipHeaders, locationText = true): SingleDecision {
    const site = this.#o.site
    if (!DIALLABLE.test(dialled)) return reject(404, 'Not Found')
    if (site.sip.carrierUri === undefined || site.sip.carrierUri === '') return reject(503, 'No carrier route')
    return { kind: 'proxy', target: 'carrier', destinations: [withUser(site.sip.carrierUri, dialled)], headers: { ...headers, ...(locationText ? { [LOCATION_HEADER]: site.dispatchableLocation } : {}) } }
  }

  #withHeaders(decision: RouteDecision, headers: SipHeaders): RouteDecision {
    if (decision.kind === 'proxy') return { ...decision, headers: { ...headers, ...decision.headers } }
    if (decision.kind === 'fork') return { ...decision, legs: decision.legs.map((leg) => ({ ...leg, headers: { ...headers, ...leg.headers } })) }
    return decision
  }
}

/**
 * The toll class of an external number: the first of the site's class patterns that matches,
 * tried from the most expensive down; a number of no class counts as international (the most
 * restricted ordinary class: an unforeseen number is not called cheaply by mistake).
 */
export function tollClass(site: SiteConfig, dialled: string): ExternalClass {
  const patterns = site.dialPlan.classes?.patterns ?? {}
  return EXTERNAL_CLASSES.find((name) => patterns[name] !== undefined && matches(patterns[name], dialled)) ?? 'international'
}

function matches(pattern: string, text: string): boolean {
  try {
    return new RegExp(pattern).test(text)
  } catch {
    return false
  }
}
