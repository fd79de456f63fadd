import type { Etcd3, IKeyValue } from 'etcd3'
import {
  ErrorCode,
  type GetDeviceCredentialsRequest,
  type GetDeviceCredentialsResponse,
  type GetDeviceRequest,
  type GetDeviceResponse,
  type GetFunctionKeyProfileRequest,
  type GetFunctionKeyProfileResponse,
  type ListFunctionKeyProfilesRequest,
  type ListFunctionKeyProfilesResponse,
  type GetSeatRequest,
  type GetSeatResponse,
  type GetSiteRequest,
  type GetSiteResponse,
  type GetUserRequest,
  type GetUserResponse,
  type ListBindingsRequest,
  type ListFreeDesksRequest,
  type ListFreeDesksResponse,
  type ListBindingsResponse,
  type ListDevicesRequest,
  type ListDevicesResponse,
  type ListSeatsRequest,
  type ListSeatsResponse,
  type ListSitesRequest,
  type ListSitesResponse,
  type ListUsersRequest,
  type ListUsersResponse,
} from '@flexseat/proto'
import { RegistryError, invalidArgument } from './errors'
import { readKeys } from './fenced-writer'
import type { Keys } from './keys'
import { parseJson, prefixEnd } from './kv'
import { type LockoutRecord, shownLock } from './lockout'
import { freeDesks, validateFreeDesks } from './free-desks'
import { listPage } from './paging'
import { bindingLive } from './phone-bindings'
import {
  type BindingRecord,
  type DeviceRecord,
  type ProfileRecord,
  type SeatRecord,
  type SiteRecord,
  type UserRecord,
  toDevice,
  toPhoneBinding,
  toProfile,
  toSeat,
  toSite,
  toUser,
} from './records'
import * as v from './validate'

/** What the registry's read paths need (see {@link RegistryReads}). */
export interface RegistryReadsOptions {
  /** The etcd client; reads are linearizable unless said otherwise. */
  etcd: Etcd3
  keys: Keys
  /** The clock lockouts and phone bindings expire by (the core's seat clock). */
  now: () => number
  /**
   * Runs one read's etcd work: retries transient faults, turns other etcd faults into
   * UNAVAILABLE (RegistryErrors pass through) and records that etcd answered.
   */
  read: <T>(work: () => Promise<T>) => Promise<T>
}

/**
 * The directory, seat and phone-binding reads every instance serves (leader or not). Each read
 * validates its request first (INVALID_ARGUMENT naming the field), then reads etcd through
 * `read`; listings page through {@link listPage}.
 */
export class RegistryReads {
  readonly #etcd: Etcd3
  readonly #keys: Keys
  readonly #now: () => number
  readonly #read: <T>(work: () => Promise<T>) => Promise<T>

  constructor(o: RegistryReadsOptions) {
    this.#etcd = o.etcd
    this.#keys = o.keys
    this.#now = o.now
    this.#read = o.read
  }

  // ---- seats ----

  /**
   * The seat of a user (by id or extension) or the one a device hosts; no seat when there is
   * none. USER_NOT_FOUND, UNKNOWN_EXTENSION or DEVICE_NOT_FOUND when the target does not exist.
   */
  async getSeat(req: GetSeatRequest): Promise<GetSeatResponse> {
    const target = v.validTarget(req.target, 'target')
    return this.#read(async () => {
      let userId: string | undefined
      if (target.$case === 'userId') {
        if (!(await this.#get(this.#keys.user(target.value)))) throw new RegistryError(ErrorCode.ERROR_CODE_USER_NOT_FOUND, `no user "${target.value}"`)
        userId = target.value
      } else if (target.$case === 'extension') {
        userId = (await this.#userByExtension(target.value)).id
      } else {
        if (!(await this.#get(this.#keys.device(target.value)))) throw new RegistryError(ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, `no device "${target.value}"`)
        // hosts/<device> and seats/<user> are two reads: read both in one etcd request, so the
        // seat returned is the one the device hosts at that revision.
        const hostKey = this.#keys.host(target.value)
        const host = (await readKeys(this.#etcd, [hostKey])).get(hostKey)?.value.toString('utf8')
        if (host === undefined) return { seat: undefined }
        const seatKey = this.#keys.seat(host)
        const both = await readKeys(this.#etcd, [hostKey, seatKey])
        const kv = both.get(seatKey)
        if (both.get(hostKey)?.value.toString('utf8') !== host || !kv) return { seat: undefined }
        const seat = toSeat(parseJson<SeatRecord>(kv), kv.mod_revision)
        return { seat: seat.deviceId === target.value ? seat : undefined }
      }
      const kv = userId === undefined ? undefined : await this.#get(this.#keys.seat(userId))
      return { seat: kv ? toSeat(parseJson<SeatRecord>(kv), kv.mod_revision) : undefined }
    })
  }

  /** One page of the seats (at `site_id`, when given), with the revision it was read at. */
  async listSeats(req: ListSeatsRequest): Promise<ListSeatsResponse> {
    if (req.siteId !== '') v.id(req.siteId, 'site_id')
    return this.#read(async () => {
      const page = await listPage(this.#etcd, this.#keys.seats, req, (kv) => {
        const seat = toSeat(parseJson<SeatRecord>(kv), kv.mod_revision)
        return req.siteId === '' || seat.siteId === req.siteId ? seat : undefined
      })
      return { seats: page.items, nextPageToken: page.nextPageToken, revision: page.revision }
    })
  }

  /**
   * The flex desks nobody sits at (see free-desks.ts), read in one etcd request (devices, hosts
   * and bindings at one revision).
   */
  async listFreeDesks(req: ListFreeDesksRequest): Promise<ListFreeDesksResponse> {
    validateFreeDesks(req)
    return this.#read(async () => {
      const k = this.#keys
      const range = (prefix: string) => ({ request_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix) } })
      const res = await this.#etcd.kv.txn({ compare: [], success: [range(k.devices), range(k.hosts), range(req.siteId === '' ? k.bindings : k.siteBindings(req.siteId))], failure: [] })
      const [devices, hosts, bindings] = res.responses.map((r) => r.response_range.kvs)
      return freeDesks(k, req, devices ?? [], hosts ?? [], bindings ?? [], this.#now())
    })
  }

  // ---- users ----

  /** A user by id or extension, with their lockout (if locked at `now`). */
  async getUser(req: GetUserRequest): Promise<GetUserResponse> {
    const key = req.key
    if (!key) throw invalidArgument('key', 'give user_id or extension')
    if (key.$case === 'userId') v.id(key.value, 'user_id')
    else v.extension(key.value, 'extension')
    return this.#read(async () => {
      let record: UserRecord
      let revision: string
      if (key.$case === 'userId') {
        const kv = await this.#get(this.#keys.user(key.value))
        if (!kv) throw new RegistryError(ErrorCode.ERROR_CODE_USER_NOT_FOUND, `no user "${key.value}"`)
        record = parseJson<UserRecord>(kv)
        revision = kv.mod_revision
      } else {
        const found = await this.#userByExtension(key.value)
        record = found
        revision = found.revision
      }
      const lock = await this.#get(this.#keys.lockout(record.id))
      return { user: toUser(record, revision, shownLock(lock ? parseJson<LockoutRecord>(lock) : undefined, this.#now())) }
    })
  }

  /** One page of the users (of `home_site_id`, when given), each with their lockout. */
  async listUsers(req: ListUsersRequest): Promise<ListUsersResponse> {
    if (req.homeSiteId !== '') v.id(req.homeSiteId, 'home_site_id')
    return this.#read(async () => {
      const page = await listPage(this.#etcd, this.#keys.users, req, (kv) => {
        const record = parseJson<UserRecord>(kv)
        return req.homeSiteId === '' || record.homeSiteId === req.homeSiteId ? { record, revision: kv.mod_revision } : undefined
      })
      const locks = new Map((await this.#range(this.#keys.lockouts)).kvs.map((kv) => [kv.key.toString('utf8'), parseJson<LockoutRecord>(kv)]))
      const now = this.#now()
      return {
        users: page.items.map(({ record, revision }) => toUser(record, revision, shownLock(locks.get(this.#keys.lockout(record.id)), now))),
        nextPageToken: page.nextPageToken,
      }
    })
  }

  // ---- devices ----

  /** A device by id or, with `device_id` empty, by MAC address (`macs/<mac>` names it). */
  async getDevice(req: GetDeviceRequest): Promise<GetDeviceResponse> {
    const mac = req.deviceId === '' && (req.mac ?? '') !== '' ? v.mac(req.mac ?? '', 'mac') : undefined
    if (mac === undefined) v.id(req.deviceId, 'device_id')
    return this.#read(async () => {
      const deviceId = mac === undefined ? req.deviceId : (await this.#get(this.#keys.mac(mac)))?.value.toString('utf8')
      const kv = deviceId === undefined ? undefined : await this.#get(this.#keys.device(deviceId))
      // The index and the record are written together; a device that no longer has the MAC is not it.
      const record = kv === undefined ? undefined : parseJson<DeviceRecord>(kv)
      if (!kv || !record || (mac !== undefined && record.mac !== mac)) {
        throw new RegistryError(ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, mac === undefined ? `no device "${req.deviceId}"` : `no device has MAC address ${mac}`)
      }
      return { device: toDevice(record, kv.mod_revision) }
    })
  }

  /** A device's digest credentials (HA1 and realm), for SIP nodes; NO_CREDENTIALS without a SIP password. */
  async getDeviceCredentials(req: GetDeviceCredentialsRequest): Promise<GetDeviceCredentialsResponse> {
    v.id(req.deviceId, 'device_id')
    return this.#read(async () => {
      const kv = await this.#get(this.#keys.device(req.deviceId))
      if (!kv) throw new RegistryError(ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, `no device "${req.deviceId}"`)
      const record = parseJson<DeviceRecord>(kv)
      if (record.sip === undefined) throw new RegistryError(ErrorCode.ERROR_CODE_NO_CREDENTIALS, `device "${req.deviceId}" has no SIP password set`)
      return { deviceId: record.id, siteId: record.siteId, realm: record.sip.realm, ha1: record.sip.ha1 }
    })
  }

  /** One page of the devices (at `site_id`, when given). */
  async listDevices(req: ListDevicesRequest): Promise<ListDevicesResponse> {
    if (req.siteId !== '') v.id(req.siteId, 'site_id')
    return this.#read(async () => {
      const page = await listPage(this.#etcd, this.#keys.devices, req, (kv) => {
        const device = toDevice(parseJson<DeviceRecord>(kv), kv.mod_revision)
        return req.siteId === '' || device.siteId === req.siteId ? device : undefined
      })
      return { devices: page.items, nextPageToken: page.nextPageToken }
    })
  }

  // ---- sites ----

  async getSite(req: GetSiteRequest): Promise<GetSiteResponse> {
    v.id(req.siteId, 'site_id')
    return this.#read(async () => {
      const kv = await this.#get(this.#keys.site(req.siteId))
      if (!kv) throw new RegistryError(ErrorCode.ERROR_CODE_SITE_NOT_FOUND, `no site "${req.siteId}"`)
      return { site: toSite(parseJson<SiteRecord>(kv), kv.mod_revision) }
    })
  }

  async listSites(req: ListSitesRequest): Promise<ListSitesResponse> {
    return this.#read(async () => {
      const page = await listPage(this.#etcd, this.#keys.sites, req, (kv) => toSite(parseJson<SiteRecord>(kv), kv.mod_revision))
      return { sites: page.items, nextPageToken: page.nextPageToken }
    })
  }

  // ---- function-key profiles ----

  async getFunctionKeyProfile(req: GetFunctionKeyProfileRequest): Promise<GetFunctionKeyProfileResponse> {
    v.id(req.name, 'name')
    return this.#read(async () => {
      const kv = await this.#get(this.#keys.profile(req.name))
      if (!kv) throw new RegistryError(ErrorCode.ERROR_CODE_PROFILE_NOT_FOUND, `no function-key profile "${req.name}"`)
      return { profile: toProfile(parseJson<ProfileRecord>(kv), kv.mod_revision) }
    })
  }

  async listFunctionKeyProfiles(req: ListFunctionKeyProfilesRequest): Promise<ListFunctionKeyProfilesResponse> {
    return this.#read(async () => {
      const page = await listPage(this.#etcd, this.#keys.profiles, req, (kv) => toProfile(parseJson<ProfileRecord>(kv), kv.mod_revision))
      return { profiles: page.items, nextPageToken: page.nextPageToken }
    })
  }

  // ---- phone bindings ----

  /** The phones registered and not expired (by `now`), of one site or all. */
  async listBindings(req: ListBindingsRequest): Promise<ListBindingsResponse> {
    if (req.siteId !== '') v.id(req.siteId, 'site_id')
    const folder = req.siteId === '' ? this.#keys.bindings : this.#keys.siteBindings(req.siteId)
    return this.#read(async () => {
      const now = this.#now()
      const page = await listPage(this.#etcd, folder, req, (kv) => (bindingLive(kv, now) ? toPhoneBinding(parseJson<BindingRecord>(kv)) : undefined))
      return { bindings: page.items, nextPageToken: page.nextPageToken }
    })
  }

  // ---- plumbing ----

  async #get(key: string): Promise<IKeyValue | undefined> {
    return (await this.#etcd.kv.range({ key: Buffer.from(key) })).kvs[0]
  }

  async #range(prefix: string) {
    return this.#etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) })
  }

  /** The user who owns `extension` (UNKNOWN_EXTENSION if none), with their record's revision. */
  async #userByExtension(extension: string): Promise<UserRecord & { revision: string }> {
    const owner = (await this.#get(this.#keys.extension(extension)))?.value.toString('utf8')
    const kv = owner?.startsWith('user:') ? await this.#get(this.#keys.user(owner.slice(5))) : undefined
    if (!kv) throw new RegistryError(ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, 'no user has this extension')
    return { ...parseJson<UserRecord>(kv), revision: kv.mod_revision }
  }
}
