/**
 * The branch's registrar (RFC 3261 §10.3): authenticates REGISTERs of the branch's phones and
 * keeps one binding per device (the latest REGISTER wins). Bindings live in this process only;
 * they expire on a timer.
 *
 * Where a phone is reached is where its REGISTER came from, never where its Contact says: the
 * binding's destination is the Contact's user at the REGISTER's source address and port (and
 * transport), as a registrar does for a phone behind NAT (RFC 3581 received/rport). A phone
 * therefore cannot have calls to its extension, or its MESSAGEs, sent to a carrier or another
 * host; a Contact that names a configured carrier or trunk is refused outright (403).
 *
 * The node reports the bindings to the cluster (binding-reporter.ts, from the `bound` and
 * `unbound` events) and, when it starts, {@link Registrar.restore}s those the cluster kept, so
 * that a restarted node reaches its phones before they register again.
 */
import { EventEmitter } from 'node:events'
import type { SiteConfig } from '@flexseat/config'
import type { Device } from '@flexseat/proto'
import type { Logger } from 'pino'
import { uriUser } from './feature-codes'
import type { PhoneAuthenticator } from './phone-auth'
import type { SrfRequest, SrfResponse } from './srf-adapter'

/** A device's registration. */
export interface Binding {
  deviceId: string
  /**
   * Where calls and MESSAGEs for the device are sent: the Contact's user at the REGISTER's source
   * (`sip:desk-1@203.0.113.7:40112`, `;transport=tcp` unless UDP).
   */
  contact: string
  /** The Contact URI as the phone registered it (answers to REGISTER, logs). */
  registered: string
  /** ms since the epoch. */
  expiresAt: number
  /** Where the REGISTER came from: `<transport>:<address>:<port>`, e.g. `udp:203.0.113.7:40112` (IPv6 in brackets). */
  source: string
  /** The REGISTER's User-Agent ('' without one), control characters removed, at most 256 characters. */
  userAgent: string
  /** When the phone registered with this destination, ms since the epoch: a refresh keeps it. */
  registeredAt: number
  /**
   * Set on a binding {@link Registrar.restore}d from the cluster: the Contact as the phone
   * registered it is not known there (`registered` holds the destination), so the phone's own
   * Contact with Expires 0 removes it when it names the same destination.
   */
  restored?: true
}

/** Why a binding ended (the `unbound` event). */
export type UnbindReason = 'unregistered' | 'registration expired'

/** Events of {@link Registrar}. */
export interface RegistrarEvents {
  /** A REGISTER stored or refreshed a binding (not emitted by {@link Registrar.restore}). */
  bound: [binding: Binding]
  /** A binding ended: the phone unregistered or the registration expired (not on {@link Registrar.stop}). */
  unbound: [deviceId: string, reason: UnbindReason]
}

/** A binding the cluster kept (proto PhoneBinding), as {@link Registrar.restore} takes it. */
export interface SavedBinding {
  deviceId: string
  /** Where the node reached the phone (the destination it reported). */
  contact: string
  /** `<transport>:<address>:<port>`. */
  source: string
  userAgent: string
  /** ms since the epoch. */
  expiresAt: number
  /** ms since the epoch; now when unknown. */
  registeredAt?: number | undefined
}

/** What {@link Registrar.restore} needs of the directory: the node's site and its devices. */
export interface RestoreDirectory {
  siteId: string
  /** The device, answered from the directory held; may throw when the registry is needed and fails. */
  device(id: string): Promise<Device | undefined>
}

/** What {@link Registrar.restore} did with each saved binding. */
export interface RestoreOutcome {
  restored: string[]
  skipped: { deviceId: string; why: string }[]
}

/** Longest User-Agent kept (the cluster's limit). */
const USER_AGENT_MAX = 256

/** Options of {@link Registrar}. */
export interface RegistrarOptions {
  auth: PhoneAuthenticator
  /** Accepted registration intervals in seconds: 423 below `minSeconds`, capped at `maxSeconds`. */
  registration: { minSeconds: number; maxSeconds: number }
  logger: Logger
  /**
   * URIs a phone's Contact must not name (403): the carriers and the branches' trunks, see
   * {@link foreignTargetsOf}. Default none.
   */
  foreignTargets?: readonly string[]
  /** Clock in ms (default Date.now). */
  now?: () => number
}

/** The URIs no phone may register as its Contact: every site's carrier and trunk. */
export function foreignTargetsOf(config: { sites: ReadonlyMap<string, SiteConfig> }): string[] {
  const targets: string[] = []
  for (const site of config.sites.values()) {
    if (site.sip.carrierUri !== undefined && site.sip.carrierUri !== '') targets.push(site.sip.carrierUri)
    targets.push(site.sip.trunkUri)
  }
  return targets
}

/**
 * `host:port` of a SIP URI, lower-cased, the port defaulted (5060, 5061 for sips); undefined when
 * it is no SIP URI.
 */
export function uriHostPort(uri: string): string | undefined {
  const match = /^(sips?):(?:[^@;?>]*@)?(\[[0-9a-f:.]+\]|[^:;?>\s]+)(?::(\d{1,5}))?/i.exec(uri.trim().replace(/^<|>$/g, ''))
  if (match === null) return undefined
  const port = match[3] ?? (match[1]!.toLowerCase() === 'sips' ? '5061' : '5060')
  return `${match[2]!.toLowerCase()}:${Number(port)}`
}

/** The binding's destination: the Contact's user at the REGISTER's source (see the file comment). */
export function sourceDestination(contact: string, source: { protocol: string; address: string; port: number }): string {
  const user = uriUser(contact)
  const host = source.address.includes(':') && !source.address.startsWith('[') ? `[${source.address}]` : source.address
  const transport = source.protocol.toLowerCase()
  const scheme = /^sips:/i.test(contact) && transport === 'tls' ? 'sips' : 'sip'
  return `${scheme}:${user === '' ? '' : `${user}@`}${host}:${source.port}${transport === '' || transport === 'udp' ? '' : `;transport=${transport}`}`
}

/** `<transport>:<address>:<port>` of a request's source (IPv6 in brackets), e.g. `udp:192.0.2.10:5060`. */
export function sourceText(source: { protocol: string; address: string; port: number }): string {
  const host = source.address.includes(':') && !source.address.startsWith('[') ? `[${source.address}]` : source.address
  return `${source.protocol.toLowerCase()}:${host}:${source.port}`
}

/** The inverse of {@link sourceText}; undefined when `text` is not `<transport>:<address>:<port>`. */
export function parseSource(text: string): { protocol: string; address: string; port: number } | undefined {
  const match = /^([a-z]{2,5}):(\[[0-9a-f:.]+\]|[^\s:[\]]+):(\d{1,5})$/i.exec(text)
  if (match === null) return undefined
  const port = Number(match[3])
  if (port < 1 || port > 65_535) return undefined
  return { protocol: match[1]!.toLowerCase(), address: match[2]!.replace(/^\[|\]$/g, ''), port }
}

/** RFC 3261 §10.2.1.1: the interval a REGISTER without any expiry asks for (3600 s), before capping. */
const DEFAULT_EXPIRES = 3_600

/**
 * One Contact of a REGISTER: its URI and its `expires` parameter, if any. Handles the name-addr
 * (`"Desk" <sip:a@b>;expires=60`) and addr-spec (`sip:a@b;expires=60`) forms.
 * @see RFC 3261 §20.10 (in the addr-spec form, parameters after the URI are header parameters)
 */
export function parseContact(value: string): { uri: string; expires: number | undefined } | undefined {
  const text = value.trim()
  let uri: string
  let params: string
  const open = text.indexOf('<')
  if (open >= 0) {
    const close = text.indexOf('>', open)
    if (close < 0) return undefined
    uri = text.slice(open + 1, close).trim()
    params = text.slice(close + 1)
  } else {
    const semi = text.indexOf(';')
    uri = semi < 0 ? text : text.slice(0, semi)
    params = semi < 0 ? '' : text.slice(semi)
  }
  if (!/^sips?:/i.test(uri)) return undefined
  const expires = /;\s*expires\s*=\s*(\d+)/i.exec(params)
  return { uri, expires: expires ? Number(expires[1]) : undefined }
}

/** Splits a header value at commas outside quotes and angle brackets (several Contacts in one line). */
function splitContacts(value: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < value.length; i++) {
    const c = value[i]
    if (c === '"' && value[i - 1] !== '\\') quoted = !quoted
    else if (!quoted && c === '<') depth++
    else if (!quoted && c === '>') depth--
    else if (!quoted && depth === 0 && c === ',') {
      parts.push(value.slice(start, i))
      start = i + 1
    }
  }
  parts.push(value.slice(start))
  return parts.map((p) => p.trim()).filter((p) => p !== '')
}

/**
 * Answers REGISTER (see the file comment). The AOR (To) must be the authenticated device's id or
 * its own extension (403 otherwise: a phone registers itself only); its host is not checked,
 * since phones commonly address the registrar by IP.
 */
export class Registrar extends EventEmitter<RegistrarEvents> {
  readonly #o: RegistrarOptions
  readonly #now: () => number
  readonly #bindings = new Map<string, { binding: Binding; timer: NodeJS.Timeout }>()

  constructor(options: RegistrarOptions) {
    super()
    this.#o = options
    this.#now = options.now ?? Date.now
  }

  /** The device's live binding, if any. */
  binding(deviceId: string): Binding | undefined {
    const entry = this.#bindings.get(deviceId)
    if (entry === undefined || entry.binding.expiresAt <= this.#now()) return undefined
    return entry.binding
  }

  /** Number of live bindings. */
  get size(): number {
    return this.#bindings.size
  }

  /** Every live binding. */
  bindings(): Binding[] {
    const now = this.#now()
    return [...this.#bindings.values()].map((e) => e.binding).filter((b) => b.expiresAt > now)
  }

  /**
   * Loads bindings the cluster kept (a restarted node), with the checks a REGISTER gets: the
   * device must be one of this site's, the destination is recomputed from the saved contact's
   * user and source (the phone is reached where it registered from) and must not name a carrier
   * or trunk, the expiry must be ahead (capped at the maximum interval from now). A device bound
   * already (it registered meanwhile) keeps its binding. Emits nothing: the cluster has these.
   */
  async restore(saved: readonly SavedBinding[], directory: RestoreDirectory): Promise<RestoreOutcome> {
    const outcome: RestoreOutcome = { restored: [], skipped: [] }
    const skip = (deviceId: string, why: string): void => {
      outcome.skipped.push({ deviceId, why })
    }
    for (const entry of saved) {
      const now = this.#now()
      if (!(entry.expiresAt > now)) {
        skip(entry.deviceId, 'expired')
        continue
      }
      let device: Device | undefined
      try {
        device = await directory.device(entry.deviceId)
      } catch {
        skip(entry.deviceId, 'directory unavailable')
        continue
      }
      if (device === undefined) {
        skip(entry.deviceId, 'unknown device')
        continue
      }
      if (device.siteId !== directory.siteId) {
        skip(entry.deviceId, 'device of another site')
        continue
      }
      if (this.#bindings.has(device.id)) {
        skip(entry.deviceId, 'registered since')
        continue
      }
      const source = parseSource(entry.source)
      const contact = parseContact(entry.contact)
      if (source === undefined || contact === undefined) {
        skip(entry.deviceId, 'malformed')
        continue
      }
      const destination = sourceDestination(contact.uri, source)
      if (this.#foreign(contact.uri) || this.#foreign(destination)) {
        skip(entry.deviceId, 'contact names a carrier or trunk')
        continue
      }
      this.#store({
        deviceId: device.id,
        contact: destination,
        registered: contact.uri,
        expiresAt: Math.min(entry.expiresAt, now + this.#o.registration.maxSeconds * 1000),
        source: sourceText(source),
        userAgent: cleanUserAgent(entry.userAgent),
        registeredAt: entry.registeredAt ?? now,
        restored: true,
      })
      outcome.restored.push(device.id)
    }
    return outcome
  }

  /** The REGISTER handler. Directory failures surface as a rejected promise (the caller answers 503). */
  async handle(req: SrfRequest, res: SrfResponse): Promise<void> {
    const auth = await this.#o.auth.authenticate(req)
    if (auth.kind === 'challenge') {
      if (auth.replayOf !== undefined) this.#o.logger.warn({ device: auth.replayOf, source: `${req.source_address}:${req.source_port}` }, 'register refused: replayed credentials')
      return res.send(auth.status, { headers: { [auth.header]: auth.value } })
    }
    if (auth.kind === 'forbidden') {
      // A banned source's requests are not logged one by one (its ban was).
      if (auth.why !== 'banned') this.#o.logger.info({ why: auth.why, source: `${req.source_address}:${req.source_port}` }, 'register refused')
      return res.send(403)
    }
    const device = auth.device
    const aorUser = decodeURIComponentSafe(uriUser(stripNameAddr(req.get('To'))))
    if (aorUser !== device.id && (device.extension === '' || aorUser !== device.extension)) {
      this.#o.logger.info({ device: device.id, aor: aorUser }, 'register refused: AOR of another device')
      return res.send(403, 'Not your AOR')
    }

    const contactHeader = req.has('Contact') ? req.get('Contact') : ''
    const headerExpires = req.has('Expires') ? req.get('Expires').trim() : ''
    if (headerExpires !== '' && !/^\d+$/.test(headerExpires)) return res.send(400, 'Bad Expires')
    const now = this.#now()
    const date = new Date(now).toUTCString()

    // A query (no Contact): report the current binding.
    if (contactHeader.trim() === '') return res.send(200, { headers: { ...this.#contactHeaders(device.id), Date: date } })

    // RFC 3261 §10.3 step 6: `Contact: *` removes every binding, and only with Expires: 0.
    if (contactHeader.trim() === '*') {
      if (headerExpires !== '0') return res.send(400, 'Contact * needs Expires 0')
      this.#remove(device.id, 'unregistered')
      return res.send(200, { headers: { Date: date } })
    }

    const contacts = splitContacts(contactHeader).map(parseContact)
    if (contacts.length === 0 || contacts.some((c) => c === undefined)) return res.send(400, 'Bad Contact')
    // One binding per device: the phone's first Contact is the one kept.
    const contact = contacts[0]!
    if (this.#foreign(contact.uri)) {
      this.#o.logger.warn({ device: device.id, contact: contact.uri, source: `${req.source_address}:${req.source_port}` }, 'register refused: Contact names a carrier or trunk')
      return res.send(403, 'Contact not allowed')
    }
    const requested = contact.expires ?? (headerExpires === '' ? DEFAULT_EXPIRES : Number(headerExpires))
    if (requested === 0) {
      // Only the phone's own binding is removed: an old Contact being cleaned up must not drop
      // the one the phone registered since.
      // A restored binding knows the destination only: the same destination is the same phone.
      const current = this.#bindings.get(device.id)?.binding
      const own = current !== undefined && (current.registered === contact.uri || (current.restored === true && current.contact === sourceDestination(contact.uri, { protocol: req.protocol, address: req.source_address, port: req.source_port })))
      if (own) this.#remove(device.id, 'unregistered')
      return res.send(200, { headers: { ...this.#contactHeaders(device.id), Date: date } })
    }
    const { minSeconds, maxSeconds } = this.#o.registration
    if (requested < minSeconds) return res.send(423, { headers: { 'Min-Expires': String(minSeconds), Date: date } })
    const expires = Math.min(requested, maxSeconds)
    const destination = sourceDestination(contact.uri, { protocol: req.protocol, address: req.source_address, port: req.source_port })
    const previous = this.#bindings.get(device.id)?.binding
    const binding: Binding = {
      deviceId: device.id,
      contact: destination,
      registered: contact.uri,
      expiresAt: now + expires * 1000,
      source: sourceText({ protocol: req.protocol, address: req.source_address, port: req.source_port }),
      userAgent: cleanUserAgent(req.has('User-Agent') ? req.get('User-Agent') : ''),
      registeredAt: previous !== undefined && previous.contact === destination ? previous.registeredAt : now,
    }
    this.#store(binding)
    this.#o.logger.info({ device: device.id, contact: contact.uri, destination, expires }, 'phone registered')
    this.emit('bound', binding)
    return res.send(200, { headers: { ...this.#contactHeaders(device.id), Date: date } })
  }

  /**
   * Drops every binding and its timer, without `unbound` events: the phones are still registered
   * as far as the cluster knows (a restarted node restores them).
   */
  stop(): void {
    for (const { timer } of this.#bindings.values()) clearTimeout(timer)
    this.#bindings.clear()
  }

  #contactHeaders(deviceId: string): Record<string, string> {
    const binding = this.binding(deviceId)
    if (binding === undefined) return {}
    const left = Math.max(0, Math.round((binding.expiresAt - this.#now()) / 1000))
    return { Contact: `<${binding.registered}>;expires=${left}` }
  }

  /** Whether `uri` names a configured carrier or trunk (host and port). */
  #foreign(uri: string): boolean {
    const target = uriHostPort(uri)
    return target !== undefined && (this.#o.foreignTargets ?? []).some((foreign) => uriHostPort(foreign) === target)
  }

  #store(binding: Binding): void {
    const previous = this.#bindings.get(binding.deviceId)
    if (previous !== undefined) clearTimeout(previous.timer)
    const timer = setTimeout(() => {
      if (this.#bindings.get(binding.deviceId)?.binding === binding) this.#remove(binding.deviceId, 'registration expired')
    }, Math.max(0, binding.expiresAt - this.#now()))
    // A binding must not keep the process alive.
    timer.unref()
    this.#bindings.set(binding.deviceId, { binding, timer })
  }

  #remove(deviceId: string, why: UnbindReason): void {
    const entry = this.#bindings.get(deviceId)
    if (entry === undefined) return
    clearTimeout(entry.timer)
    this.#bindings.delete(deviceId)
    this.#o.logger.info({ device: deviceId, contact: entry.binding.registered, why }, 'phone unregistered')
    this.emit('unbound', deviceId, why)
  }
}

function cleanUserAgent(value: string): string {
  // eslint-disable-next-line no-control-regex
  return value.replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, USER_AGENT_MAX)
}

function stripNameAddr(value: string): string {
  const open = value.indexOf('<')
  if (open < 0) return value.split(';')[0]!.trim()
  const close = value.indexOf('>', open)
  return value.slice(open + 1, close < 0 ? undefined : close)
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
