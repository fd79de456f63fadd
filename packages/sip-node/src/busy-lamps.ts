/**
 * Busy lamps (BLF): the node is the notifier of RFC 4235 dialog-state subscriptions for its
 * phones, for every worker's extension and every desk's own extension of the cluster, wherever
 * the watched worker sits (the state comes from the registry's WatchDialogs stream,
 * dialog-view.ts, and the seat view).
 *
 * A SUBSCRIBE from a phone is authenticated as an INVITE is (407, phone-auth.ts), then:
 * - `Event` other than `dialog` → 489 with `Allow-Events: dialog`; an `Accept` without
 *   `application/dialog-info+xml` → 406;
 * - a Request-URI that names no worker and no desk → 404;
 * - `Expires` below the minimum → 423 with `Min-Expires`; above the maximum → shortened (RFC 6665
 *   §4.2.1.1); absent → 3600 s (RFC 4235 §4.1), shortened likewise; `Expires: 0` is a fetch (one
 *   NOTIFY with the state, `terminated;reason=timeout`);
 * - otherwise `200 OK` with the granted `Expires`, then at once a NOTIFY with the full state
 *   (dialog-info.ts), version 0, and one more whenever the lamp's state changes (versions count
 *   up per subscription; a change while a NOTIFY is unanswered is sent, latest state only, when it
 *   is answered). A refresh (SUBSCRIBE in the dialog) is answered 200 with the granted `Expires`
 *   and followed by a NOTIFY; `Expires: 0` ends the subscription with a final NOTIFY
 *   (`terminated`); a subscription not refreshed in time ends with `terminated;reason=timeout`; a
 *   NOTIFY answered 481 (or not at all) ends it silently. A SUBSCRIBE naming a dialog the node
 *   does not know (a To tag: the node restarted) gets 481, so the phone subscribes anew and gets
 *   the current state at once.
 *
 * What a lamp shows: a desk's own extension, the desk's calls (any call the phone places or that
 * rings it). A worker's extension, the worker's calls wherever they sit while they are signed
 * in; signed out, their home device's calls where `ring_home_device` applies, else idle. A lamp
 * follows a worker who moves (the same subscription: the state is the worker's, not the desk's).
 * The other party (the caller of a ringing call) is named in the dialog-info as the watched
 * worker's `show_caller_on_lamps` says (read when a lamp subscribes, and again after each
 * directory refresh: the lamps already watching follow a change from their next NOTIFY on, and
 * one that shows a call of the worker is NOTIFYed again at once; see compareWithDirectory),
 * unset and for a desk's own extension as FLEXSEAT_BLF_SHOW_CALLER says (default true).
 *
 * Resource lists (RFC 4662; Snom's, Poly's and Yealink's BLF lists): `sip:blf-list@<domain>`
 * names the list of the subscribing desk (the device that authenticated): its BLF keys as
 * provisioned (desk-keys.ts: the seated worker's keys, else the desk's profile). Without
 * `Supported: eventlist` → 421 with `Require: eventlist`; an `Accept` without multipart/related →
 * 406. Accepted with `Require: eventlist` (the 200 and every NOTIFY); NOTIFYs carry
 * `multipart/related` bodies (resource-list.ts): the RLMI (one resource per key, versions from 0
 * per subscription) and a dialog-info part per member (versions from 0 per member). Full state
 * first, after a refresh, at the end and when the seat at the desk changes (the members are read
 * again) or its keys are edited (compareWithDirectory, after each directory refresh: the desk's
 * profile, a profile's keys; a seated worker's own keys come as a seat change); in between,
 * partial state: only the members whose lamp changed. A refresh keeps the members it has.
 *
 * When the node stops, every subscription gets `terminated;reason=deactivated` (RFC 6665 §4.2.2:
 * subscribe again at once), best effort.
 * @see RFC 6665 (SIP-specific event notification), RFC 4235 (the dialog event package)
 */
import { CallDirection, type ActiveDialog, DialogState } from '@flexseat/proto'
import type { Logger } from 'pino'
import { dialogInfo, type LampDialog } from './dialog-info'
import { deviceKey, type DialogView, userKey } from './dialog-view'
import { uriUser } from './feature-codes'
import type { SeatChange, SeatView } from './seat-view'
import { EVENTLIST, type ListResource, listToken, RLMI_TYPE, resourceListBody } from './resource-list'
import { acceptSubscription, type SrfApp, type SrfDialog, type SrfRequest, type SrfResponse } from './srf-adapter'

/** The event package served. */
export const DIALOG_EVENT = 'dialog'
/** Its body type. */
export const DIALOG_INFO_TYPE = 'application/dialog-info+xml'
/** RFC 4235 §4.1: the package's default subscription duration. */
export const DEFAULT_EXPIRES = 3600
/** The user part of a desk's resource list: `sip:blf-list@<domain>` lists the subscribing desk's BLF keys. */
export const LIST_USER = 'blf-list'
/** A list's NOTIFY body type (RFC 4662 §5). */
export const MULTIPART_TYPE = 'multipart/related'

/** What the notifier needs of the directory. */
export interface LampDirectory {
  userByExtension(extension: string): Promise<{ id: string; ringHomeDevice: boolean; homeDeviceId: string; showCallerOnLamps?: boolean | undefined } | undefined>
  deviceByExtension(extension: string): Promise<{ id: string } | undefined>
  /** A user by id as the directory holds it (read after each directory refresh: no reload on a miss). */
  userHeld(id: string): Promise<{ showCallerOnLamps?: boolean | undefined } | undefined>
}

/** A desk's BLF keys (see {@link BusyLampsOptions.listKeys}). */
export type ListKeys = (deviceId: string) => Promise<{ extension: string; label: string }[]>

export interface BusyLampsOptions {
  srf: SrfApp
  /** The site's SIP domain (entity URIs). */
  domain: string
  directory: LampDirectory
  seats: Pick<SeatView, 'byUser' | 'on' | 'off'>
  dialogs: Pick<DialogView, 'dialogs' | 'on' | 'off'>
  config: { minSeconds: number; maxSeconds: number; showCaller: boolean }
  /**
   * The BLF keys of a desk (its provisioned function keys, in key order: the seated worker's,
   * else the desk's profile): the members of its resource list (`sip:blf-list@<domain>`).
   */
  listKeys: ListKeys
  logger: Logger
  now?: () => number
}

/** What a subscription watches. */
type Watched = { kind: 'desk'; deviceId: string } | { kind: 'worker'; userId: string; homeDeviceId?: string }

/** One entry of a resource list: a BLF key of the subscribing desk. */
interface Member {
  readonly extension: string
  readonly name: string
  /** Undefined: nobody has the extension (listed without an instance). */
  readonly watched: Watched | undefined
  readonly instanceId: string
  readonly cid: string
  /** The version of the member's next dialog-info part. */
  version: number
  /** The member's last state sent. */
  sent: string | undefined
}

/** A resource-list subscription's own state (RFC 4662). */
interface ListState {
  /** The subscribing desk, whose BLF keys are the list. */
  readonly deviceId: string
  members: Member[]
  readonly boundary: string
  readonly rlmiCid: string
}

interface Subscription {
  readonly id: string
  readonly dialog: SrfDialog
  /** The extension watched, or the list's user part. */
  readonly extension: string
  /** What a single lamp watches (undefined for a list). */
  readonly watched: Watched | undefined
  readonly list: ListState | undefined
  /** The index keys it is filed under. */
  keys: readonly string[]
  version: number
  expiresAt: number
  timer: NodeJS.Timeout | undefined
  /** The last state sent (without the version), to send only changes. */
  sent: string | undefined
  inFlight: boolean
  again: boolean
  ended: boolean
}

/** See the file comment. */
export class BusyLamps {
  readonly #o: BusyLampsOptions
  readonly #now: () => number
  readonly #subscriptions = new Set<Subscription>()
  readonly #index = new Map<string, Set<Subscription>>()
  /** Resource-list subscriptions by the desk whose keys they list. */
  readonly #lists = new Map<string, Set<Subscription>>()
  readonly #onDialogs: (keys: string[]) => void
  readonly #onSeats: (changes: SeatChange[]) => void
  /** The watched workers' `show_caller_on_lamps` (undefined: unset, the branch's switch applies). */
  readonly #showCaller = new Map<string, boolean | undefined>()
  #comparing = false
  #stopped = false

  constructor(options: BusyLampsOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#onDialogs = (keys) => {
      for (const key of keys) for (const sub of this.#index.get(key) ?? []) this.#notify(sub)
    }
    this.#onSeats = (changes) => {
      for (const change of changes) {
        for (const sub of this.#index.get(userKey(change.seat.userId)) ?? []) this.#notify(sub)
        // Who sits at a desk decides its keys: its lists are resolved again.
        for (const deviceId of new Set([change.seat.deviceId, ...(change.kind === 'seated' && change.previous !== undefined ? [change.previous.deviceId] : [])])) {
          for (const sub of this.#lists.get(deviceId) ?? []) void this.#reload(sub)
        }
      }
    }
    options.dialogs.on('changes', this.#onDialogs)
    options.seats.on('changes', this.#onSeats)
  }

  /** Subscriptions held. */
  get size(): number {
    return this.#subscriptions.size
  }

  /**
   * Handles a new SUBSCRIBE that passed authentication (see the file comment). Answers every
   * request; directory lookups may throw (the caller maps that to 503).
   */
  async subscribe(req: SrfRequest, res: SrfResponse, deviceId?: string): Promise<void> {
    if (/;\s*tag=/i.test(req.get('To') ?? '')) return res.send(481, 'Subscription does not exist')
    const event = (req.has('Event') ? req.get('Event') : '').split(';')[0]!.trim()
    if (event !== DIALOG_EVENT) return res.send(489, 'Bad Event', { headers: { 'Allow-Events': DIALOG_EVENT } })
    const extension = uriUser(req.uri)
    const isList = extension === LIST_USER
    if (isList && !optionTags(req, 'Supported').includes(EVENTLIST)) return res.send(421, 'Extension Required', { headers: { Require: EVENTLIST } })
    if (req.has('Accept') && !acceptsDialogInfo(req.get('Accept'))) return res.send(406, 'Not Acceptable', { headers: { Accept: DIALOG_INFO_TYPE } })
    if (isList && req.has('Accept') && !acceptsMultipart(req.get('Accept'))) return res.send(406, 'Not Acceptable', { headers: { Accept: `${MULTIPART_TYPE}, ${RLMI_TYPE}, ${DIALOG_INFO_TYPE}` } })
    const expires = this.#expires(req, res)
    if (expires === undefined) return
    let watched: Watched | undefined
    let list: ListState | undefined
    if (isList) {
      if (deviceId === undefined) return res.send(404, 'Not Found')
      const token = listToken(`${req.get('Call-ID')} ${req.get('From')}`)
      list = { deviceId, members: await this.#members(deviceId, []), boundary: `fs-${token}`, rlmiCid: `rlmi-${token}@${this.#o.domain}` }
    } else {
      watched = await this.#resolve(extension)
      if (watched === undefined) return res.send(404, 'Not Found')
    }
    if (this.#stopped) return res.send(503, { headers: { 'Retry-After': '5' } })
    const dialog = await acceptSubscription(this.#o.srf, req, res, { Expires: String(expires), ...(isList ? { Require: EVENTLIST } : {}) })
    const keys = list === undefined ? keysOf(watched!) : list.members.flatMap((m) => (m.watched === undefined ? [] : keysOf(m.watched)))
    const sub: Subscription = { id: dialog.id, dialog, extension, watched, list, keys, version: 0, expiresAt: this.#now() + expires * 1_000, timer: undefined, sent: undefined, inFlight: false, again: false, ended: false }
    dialog.on('destroy', () => this.#forget(sub))
    dialog.on('unsubscribe', () => void this.#end(sub, 'terminated'))
    dialog.on('subscribe', (refresh, answer) => {
      const granted = this.#expires(refresh, answer)
      if (granted === undefined || sub.ended) return
      answer.send(200, { headers: { Expires: String(granted), ...(sub.list === undefined ? {} : { Require: EVENTLIST }) } })
      sub.expiresAt = this.#now() + granted * 1_000
      this.#arm(sub)
      sub.sent = undefined
      this.#notify(sub)
    })
    if (expires === 0) {
      // A fetch: the state once, and the subscription ends with it.
      void this.#end(sub, 'terminated;reason=timeout')
      return
    }
    this.#subscriptions.add(sub)
    this.#file(sub)
    if (list !== undefined) {
      const set = this.#lists.get(list.deviceId) ?? new Set<Subscription>()
      set.add(sub)
      this.#lists.set(list.deviceId, set)
    }
    this.#arm(sub)
    this.#o.logger.debug({ extension, watched, expires, subscription: sub.id }, 'busy lamp subscribed')
    this.#notify(sub)
  }

  /**
   * Ends every subscription with `terminated;reason=deactivated` (the phones subscribe again at
   * once: to this node when it comes back) and stops listening. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#o.dialogs.off('changes', this.#onDialogs)
    this.#o.seats.off('changes', this.#onSeats)
    await Promise.all([...this.#subscriptions].map((sub) => this.#end(sub, 'terminated;reason=deactivated')))
  }

  /** The granted interval, or undefined once the request has been answered (423, 400). */
  #expires(req: SrfRequest, res: SrfResponse): number | undefined {
    const { minSeconds, maxSeconds } = this.#o.config
    const text = req.has('Expires') ? req.get('Expires').trim() : ''
    if (text !== '' && !/^\d{1,10}$/.test(text)) {
      res.send(400, 'Bad Expires')
      return undefined
    }
    const asked = text === '' ? DEFAULT_EXPIRES : Number(text)
    if (asked !== 0 && asked < minSeconds) {
      res.send(423, 'Interval Too Brief', { headers: { 'Min-Expires': String(minSeconds) } })
      return undefined
    }
    return Math.min(asked, maxSeconds)
  }

  async #resolve(extension: string): Promise<Watched | undefined> {
    if (!/^[0-9*#+]{1,32}$/.test(extension)) return undefined
    const user = await this.#o.directory.userByExtension(extension)
    if (user !== undefined) {
      const known = this.#showCaller.has(user.id)
      const was = this.#showCaller.get(user.id)
      this.#showCaller.set(user.id, user.showCallerOnLamps)
      // Read fresher than the last directory comparison: the lamps already watching follow it too.
      if (known && was !== user.showCallerOnLamps) for (const sub of this.#index.get(userKey(user.id)) ?? []) this.#notify(sub)
      return { kind: 'worker', userId: user.id, ...(user.ringHomeDevice && user.homeDeviceId !== '' ? { homeDeviceId: user.homeDeviceId } : {}) }
    }
    const device = await this.#o.directory.deviceByExtension(extension)
    return device === undefined ? undefined : { kind: 'desk', deviceId: device.id }
  }

  /**
   * Compares what the lamps hold with the directory just refreshed (the node calls it after each
   * directory refresh): a watched worker whose `show_caller_on_lamps` changed, the lamps watching
   * them are NOTIFYed where that changes what they show (a ringing call: its caller shown or
   * withheld; idle lamps show nothing new, their next NOTIFY follows the new setting); a desk
   * whose BLF keys (`listKeys`, as of the refresh) are no longer its list's members, its lists are
   * resolved again and get a full-state NOTIFY. Never throws; a pass still running is not
   * started again.
   */
  async compareWithDirectory(listKeys: ListKeys): Promise<void> {
    if (this.#comparing || this.#stopped) return
    this.#comparing = true
    try {
      for (const [userId, was] of [...this.#showCaller]) {
        const subs = this.#index.get(userKey(userId))
        if (subs === undefined) {
          this.#showCaller.delete(userId)
          continue
        }
        const user = await this.#o.directory.userHeld(userId).catch(() => undefined)
        if (user === undefined || user.showCallerOnLamps === was) continue
        this.#showCaller.set(userId, user.showCallerOnLamps)
        this.#o.logger.debug({ user: userId, showCallerOnLamps: user.showCallerOnLamps, subscriptions: subs.size }, 'busy lamps: show_caller_on_lamps changed')
        for (const sub of subs) this.#notify(sub)
      }
      for (const [deviceId, subs] of [...this.#lists]) {
        let keys: { extension: string; label: string }[]
        try {
          keys = uniqueKeys(await listKeys(deviceId))
        } catch (error) {
          this.#o.logger.debug({ err: error, device: deviceId }, 'busy lamp list: keys not compared')
          continue
        }
        const wanted = keys.map((k) => `${k.extension} ${k.label}`).join('\n')
        for (const sub of subs) {
          if (sub.list!.members.map((m) => `${m.extension} ${m.name}`).join('\n') === wanted) continue
          this.#o.logger.debug({ subscription: sub.id, device: deviceId }, 'busy lamp list: BLF keys edited')
          void this.#reload(sub, keys)
        }
      }
    } finally {
      this.#comparing = false
    }
  }

  /** The members of a desk's list (`keys`, else read), keeping the instances of those already in `old`. */
  async #members(deviceId: string, old: readonly Member[], keys?: readonly { extension: string; label: string }[]): Promise<Member[]> {
    const members: Member[] = []
    for (const key of uniqueKeys(keys ?? (await this.#o.listKeys(deviceId)))) {
      const kept = old.find((m) => m.extension === key.extension)
      const watched = await this.#resolve(key.extension)
      if (kept !== undefined && kept.name === key.label && JSON.stringify(kept.watched) === JSON.stringify(watched)) {
        members.push(kept)
        continue
      }
      const token = listToken(`${deviceId} ${key.extension} ${this.#now()} ${Math.random()}`)
      members.push({ extension: key.extension, name: key.label, watched, instanceId: token.slice(0, 10), cid: `${token}@${this.#o.domain}`, version: 0, sent: undefined })
    }
    return members
  }

  /** A list's members resolved again (a seat change at its desk, its keys edited), then a full-state NOTIFY. */
  async #reload(sub: Subscription, keys?: readonly { extension: string; label: string }[]): Promise<void> {
    const list = sub.list
    if (list === undefined || sub.ended) return
    let members: Member[]
    try {
      members = await this.#members(list.deviceId, list.members, keys)
    } catch (error) {
      // The next seat change at the desk (or a new subscription) reads them again.
      this.#o.logger.warn({ err: error, subscription: sub.id, device: list.deviceId }, 'busy lamp list: keys not read')
      return
    }
    if (sub.ended) return
    this.#unfile(sub)
    list.members = members
    sub.keys = members.flatMap((m) => (m.watched === undefined ? [] : keysOf(m.watched)))
    this.#file(sub)
    sub.sent = undefined
    this.#notify(sub)
  }

  #file(sub: Subscription): void {
    for (const key of sub.keys) {
      const set = this.#index.get(key) ?? new Set<Subscription>()
      set.add(sub)
      this.#index.set(key, set)
    }
  }

  #unfile(sub: Subscription): void {
    for (const key of sub.keys) {
      const set = this.#index.get(key)
      set?.delete(sub)
      if (set?.size === 0) this.#index.delete(key)
    }
  }

  /** What a lamp shows now (see the file comment). */
  #state(w: Watched): LampDialog[] {
    let dialogs: readonly ActiveDialog[]
    if (w.kind === 'desk') dialogs = this.#o.dialogs.dialogs(deviceKey(w.deviceId))
    else if (this.#o.seats.byUser(w.userId) !== undefined) dialogs = this.#o.dialogs.dialogs(userKey(w.userId))
    else if (w.homeDeviceId !== undefined) dialogs = this.#o.dialogs.dialogs(deviceKey(w.homeDeviceId))
    else dialogs = []
    return dialogs
      .filter((d) => d.state === DialogState.DIALOG_STATE_EARLY || d.state === DialogState.DIALOG_STATE_CONFIRMED)
      .map((d) => ({
        callId: d.callId,
        state: d.state === DialogState.DIALOG_STATE_CONFIRMED ? 'confirmed' : 'early',
        direction: d.direction === CallDirection.CALL_DIRECTION_OUTGOING ? 'initiator' : 'recipient',
        callerTag: d.callerTag,
        ...((w.kind === 'worker' ? (this.#showCaller.get(w.userId) ?? this.#o.config.showCaller) : this.#o.config.showCaller) ? { other: { number: d.otherParty, name: d.otherPartyName } } : {}),
      }))
  }

  /**
   * The NOTIFY's body: a lamp's dialog-info, or a list's multipart (every member when `full` or
   * nothing was sent since the subscription began or was refreshed, else only the members whose
   * state changed); undefined when nothing changed since the last one.
   */
  #payload(sub: Subscription, full: boolean): { contentType: string; body: string } | undefined {
    const list = sub.list
    if (list === undefined) {
      const state = this.#state(sub.watched!)
      const signature = JSON.stringify(state)
      if (!full && signature === sub.sent) return undefined
      sub.sent = signature
      const body = dialogInfo(`sip:${sub.extension}@${this.#o.domain}`, sub.version, state, this.#o.domain)
      return { contentType: DIALOG_INFO_TYPE, body }
    }
    const fullState = full || sub.sent === undefined
    const resources: ListResource[] = []
    for (const m of list.members) {
      const uri = `sip:${m.extension}@${this.#o.domain}`
      if (m.watched === undefined) {
        if (fullState) resources.push({ uri, name: m.name })
        continue
      }
      const state = this.#state(m.watched)
      const signature = JSON.stringify(state)
      if (!fullState && signature === m.sent) continue
      m.sent = signature
      const body = dialogInfo(uri, m.version, state, this.#o.domain)
      m.version += 1
      resources.push({ uri, name: m.name, instance: { id: m.instanceId, cid: m.cid, body, bodyType: DIALOG_INFO_TYPE } })
    }
    if (!fullState && resources.length === 0) return undefined
    sub.sent = 'list'
    return resourceListBody({ uri: `sip:${sub.extension}@${this.#o.domain}`, version: sub.version, fullState, resources, boundary: list.boundary, rlmiCid: list.rlmiCid })
  }

  /** Sends the current state if it changed since the last NOTIFY (one NOTIFY in flight at a time). */
  #notify(sub: Subscription): void {
    if (sub.ended) return
    if (sub.inFlight) {
      sub.again = true
      return
    }
    const payload = this.#payload(sub, false)
    if (payload === undefined) return
    const seconds = Math.max(0, Math.round((sub.expiresAt - this.#now()) / 1_000))
    sub.version += 1
    sub.inFlight = true
    this.#send(sub, `active;expires=${seconds}`, payload).then((ok) => {
      sub.inFlight = false
      if (!ok) return this.#forget(sub)
      if (sub.again) {
        sub.again = false
        this.#notify(sub)
      }
    })
  }

  /** Sends a NOTIFY in the subscription's dialog; false when the phone no longer has it. */
  async #send(sub: Subscription, state: string, payload: { contentType: string; body: string }): Promise<boolean> {
    try {
      const headers = { Event: DIALOG_EVENT, 'Subscription-State': state, 'Content-Type': payload.contentType, ...(sub.list === undefined ? {} : { Require: EVENTLIST }) }
      const answer = await sub.dialog.request({ method: 'NOTIFY', headers, body: payload.body })
      if (answer.status >= 300) {
        this.#o.logger.debug({ subscription: sub.id, status: answer.status }, 'busy lamp NOTIFY refused: subscription ended')
        return false
      }
      return true
    } catch (error) {
      this.#o.logger.debug({ err: error, subscription: sub.id }, 'busy lamp NOTIFY failed: subscription ended')
      return false
    }
  }

  /** The final NOTIFY (`state` is a terminated Subscription-State), then forget the subscription. */
  async #end(sub: Subscription, state: string): Promise<void> {
    if (sub.ended) return
    sub.ended = true
    this.#forget(sub)
    const payload = this.#payload(sub, true)!
    sub.version += 1
    await this.#send(sub, state, payload)
  }

  #arm(sub: Subscription): void {
    if (sub.timer !== undefined) clearTimeout(sub.timer)
    sub.timer = setTimeout(() => void this.#end(sub, 'terminated;reason=timeout'), Math.max(0, sub.expiresAt - this.#now()))
    sub.timer.unref()
  }

  #forget(sub: Subscription): void {
    sub.ended = true
    if (sub.timer !== undefined) clearTimeout(sub.timer)
    sub.timer = undefined
    if (!this.#subscriptions.delete(sub)) return
    this.#unfile(sub)
    if (sub.list !== undefined) {
      const set = this.#lists.get(sub.list.deviceId)
      set?.delete(sub)
      if (set?.size === 0) this.#lists.delete(sub.list.deviceId)
    }
  }
}

/** One key per extension, the first: two keys for one colleague are one entry of the list. */
function uniqueKeys(keys: readonly { extension: string; label: string }[]): { extension: string; label: string }[] {
  const seen = new Set<string>()
  return keys.filter((key) => !seen.has(key.extension) && seen.add(key.extension) !== undefined)
}

/** The index keys of what a lamp watches. */
function keysOf(watched: Watched): string[] {
  return watched.kind === 'desk' ? [deviceKey(watched.deviceId)] : [userKey(watched.userId), ...(watched.homeDeviceId === undefined ? [] : [deviceKey(watched.homeDeviceId)])]
}

/** The option tags of a header (`Supported`, `Require`: a comma-separated list, possibly repeated). */
function optionTags(req: SrfRequest, name: string): string[] {
  if (!req.has(name)) return []
  return req.get(name).split(',').map((tag) => tag.trim().toLowerCase()).filter((tag) => tag !== '')
}

/** Whether an Accept header admits multipart/related (a list's NOTIFY). */
function acceptsMultipart(accept: string): boolean {
  if (accept.trim() === '') return true
  return accept.split(',').some((range) => {
    const type = range.split(';')[0]!.trim().toLowerCase()
    return type === MULTIPART_TYPE || type === 'multipart/*' || type === '*/*'
  })
}

/** Whether an Accept header admits dialog-info (RFC 3261 §20.1 media ranges). */
function acceptsDialogInfo(accept: string): boolean {
  if (accept.trim() === '') return true
  return accept.split(',').some((range) => {
    const type = range.split(';')[0]!.trim().toLowerCase()
    return type === DIALOG_INFO_TYPE || type === 'application/*' || type === '*/*'
  })
}
