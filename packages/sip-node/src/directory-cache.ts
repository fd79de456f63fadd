import { performance } from 'node:perf_hooks'
import { status as GrpcStatus } from '@grpc/grpc-js'
import { type Device, ErrorCode, type GetDeviceCredentialsResponse, type Site, type User } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryCallError } from './errors'
import type { RegistryClient } from './registry-client'

/** The registry calls the cache makes. */
export type DirectoryClient = Pick<RegistryClient, 'listDevices' | 'listUsers' | 'listSites' | 'getDeviceCredentials' | 'getUserByExtension' | 'getUser'>

/** Options of {@link DirectoryCache.create}. */
export interface DirectoryCacheOptions {
  client: DirectoryClient
  logger: Logger
  /** Period of the background refresh in milliseconds (default {@link DEFAULT_REFRESH_MS}). */
  refreshMs?: number
  /** Monotonic clock in milliseconds (default `performance.now`). */
  now?: () => number
}

/** Default period of the background refresh, in milliseconds. */
export const DEFAULT_REFRESH_MS = 10_000
/** A lookup that misses refreshes the cache at most this often, in milliseconds. */
export const MISS_REFRESH_MS = 1_000
/** How long device credentials are served from memory, in milliseconds. */
export const CREDENTIALS_TTL_MS = 30_000
/**
 * How long "no credentials" (unknown device, no password) is remembered, in milliseconds: short,
 * so a password just set works at the phone's next REGISTER, yet a phone hammering REGISTER with
 * a bad account costs the registry one call per 5 s.
 */
export const NO_CREDENTIALS_TTL_MS = 5_000

interface Snapshot {
  devices: Map<string, Device>
  deviceByExtension: Map<string, Device>
  sites: Map<string, Site>
  /** Undefined when the registry does not let this node list users (then users are looked up one by one). */
  users: Map<string, User> | undefined
  userByExtension: Map<string, User> | undefined
}

interface Cached<T> {
  value: T
  until: number
}

/**
 * The directory as the SIP node needs it: devices, users, sites, and devices' digest credentials.
 *
 * Devices, users and sites are listed in full and served from memory, refreshed every
 * `refreshMs` (default 10 s, timer unref'd); a lookup that misses triggers one refresh (at most
 * once per second, shared by concurrent lookups) and answers from it, so a phone created a moment
 * ago is found at once. When the registry refuses ListUsers to this node's role, users are
 * looked up one by one (GetUser) and remembered for `refreshMs`. Credentials are fetched per
 * device and kept 30 s (a miss 5 s).
 *
 * A lookup throws {@link RegistryCallError} when it needed the registry and the registry failed:
 * an unknown phone and an unreachable registry must not look the same to a caller deciding
 * between 403/404 and 503.
 */
export class DirectoryCache {
  readonly #client: DirectoryClient
  readonly #logger: Logger
  readonly #refreshMs: number
  readonly #now: () => number
  #data: Snapshot | undefined
  #refreshing: Promise<void> | undefined
  #lastRefreshAt = -Infinity
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #usersDenied = false
  /** The site whose devices' credentials are kept in memory ({@link holdCredentialsOf}). */
  #credentialSite: string | undefined
  readonly #userLookups = new Map<string, Cached<User | undefined>>()
  readonly #credentials = new Map<string, Cached<GetDeviceCredentialsResponse | undefined>>()
  readonly #credentialsInFlight = new Map<string, Promise<GetDeviceCredentialsResponse | undefined>>()
  readonly #refreshListeners = new Set<() => void>()

  private constructor(options: DirectoryCacheOptions) {
    this.#client = options.client
    this.#logger = options.logger
    this.#refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS
    this.#now = options.now ?? (() => performance.now())
  }

  /**
   * Loads the directory once and starts the periodic refresh. A registry that cannot be reached
   * yet does not fail the creation: the failure is logged and lookups refresh on demand.
   */
  static async create(options: DirectoryCacheOptions): Promise<DirectoryCache> {
    const cache = new DirectoryCache(options)
    try {
      await cache.refresh()
    } catch (error) {
      cache.#logger.warn({ err: error }, 'directory not loaded yet; will retry')
    }
    cache.#schedule()
    return cache
  }

  /** A device by id. */
  async device(id: string): Promise<Device | undefined> {
    return this.#lookup((data) => data.devices.get(id))
  }

  /**
   * A device by id for authentication: answered from the directory held, without the refresh a
   * miss triggers in {@link device} (each made-up digest username would otherwise cost a full
   * reload). A device created since the last refresh is found after the next (≤ `refreshMs`).
   * Only while no directory was ever loaded does it load one (at most once per second, shared),
   * and throws {@link RegistryCallError} when that fails.
   */
  async deviceForAuth(id: string): Promise<Device | undefined> {
    if (this.#data === undefined) {
      if (this.#refreshing !== undefined) await this.#refreshing
      else if (this.#now() - this.#lastRefreshAt >= MISS_REFRESH_MS) await this.refresh()
      if (this.#data === undefined) throw new RegistryCallError('directory not loaded yet', { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpcCode: GrpcStatus.UNAVAILABLE })
    }
    return this.#data.devices.get(id)
  }

  /** A device by its own extension. */
  async deviceByExtension(extension: string): Promise<Device | undefined> {
    return this.#lookup((data) => data.deviceByExtension.get(extension))
  }

  /** A user by id. */
  async user(id: string): Promise<User | undefined> {
    if (this.#usersDenied) return this.#lookupUser(`id:${id}`, () => this.#client.getUser(id))
    return this.#lookup((data) => data.users?.get(id))
  }

  /** A user by extension. */
  async userByExtension(extension: string): Promise<User | undefined> {
    if (this.#usersDenied) return this.#lookupUser(`ext:${extension}`, () => this.#client.getUserByExtension(extension))
    return this.#lookup((data) => data.userByExtension?.get(extension))
  }

  /**
   * A user by id as the directory held has it, without the refresh a miss triggers in
   * {@link user} (for readers that run after every refresh: a user deleted since must not cost a
   * reload a second). Looked up one by one (remembered `refreshMs`) where users cannot be listed.
   */
  async userHeld(id: string): Promise<User | undefined> {
    if (this.#usersDenied) return this.user(id)
    return this.#data?.users?.get(id)
  }

  /**
   * Calls `listener` after each successful refresh (periodic or on demand), when the directory
   * held is the registry's as of then: readers of what an administrator may have edited (the
   * busy lamps: a worker's `show_caller_on_lamps`, a desk's BLF keys) compare it with what they
   * hold. Returns the function that removes it.
   */
  onRefresh(listener: () => void): () => void {
    this.#refreshListeners.add(listener)
    return () => void this.#refreshListeners.delete(listener)
  }

  /** A site by id. */
  async site(id: string): Promise<Site | undefined> {
    return this.#lookup((data) => data.sites.get(id))
  }

  /**
   * The device's digest credentials (HA1 for its realm), kept 30 s. Undefined when the device is
   * unknown or has no SIP password (DEVICE_NOT_FOUND / NO_CREDENTIALS, remembered 5 s). While the
   * registry cannot be reached, credentials fetched before are used as they were; other
   * failures throw {@link RegistryCallError}.
   */
  async credentials(deviceId: string): Promise<GetDeviceCredentialsResponse | undefined> {
    const cached = this.#credentials.get(deviceId)
    if (cached !== undefined && this.#now() < cached.until) return cached.value
    // Expired credentials of a device are answered at once and fetched again behind: a wrong
    // password for an existing device then takes as long as an unknown id (no registry round
    // trip to time). A changed password works from the request after the fetch.
    if (cached?.value !== undefined) {
      this.#fetchBehind(deviceId)
      return cached.value
    }
    let inFlight = this.#credentialsInFlight.get(deviceId)
    if (inFlight === undefined) {
      inFlight = this.#fetchCredentials(deviceId).finally(() => this.#credentialsInFlight.delete(deviceId))
      this.#credentialsInFlight.set(deviceId, inFlight)
    }
    return inFlight
  }

  /**
   * Keeps the credentials of `siteId`'s devices in memory: fetched now in the background and for
   * each device a refresh finds new, so that a phone's first REGISTER, like an unknown id's, is
   * answered without a registry round trip (issue 21: no timing tells which device ids exist).
   */
  holdCredentialsOf(siteId: string): void {
    this.#credentialSite = siteId
    this.#prefetchCredentials()
  }

  #fetchBehind(deviceId: string): void {
    if (this.#credentialsInFlight.has(deviceId)) return
    const inFlight = this.#fetchCredentials(deviceId).finally(() => this.#credentialsInFlight.delete(deviceId))
    this.#credentialsInFlight.set(deviceId, inFlight)
    inFlight.catch((error: unknown) => this.#logger.debug({ err: error, device: deviceId }, 'device credentials not fetched again'))
  }

  // Four at a time, in the background; devices whose credentials are held are skipped.
  #prefetchCredentials(): void {
    const siteId = this.#credentialSite
    if (siteId === undefined || this.#data === undefined || this.#stopped) return
    const wanted = [...this.#data.devices.values()].filter((d) => d.siteId === siteId && !this.#credentials.has(d.id) && !this.#credentialsInFlight.has(d.id)).map((d) => d.id)
    const next = async (): Promise<void> => {
      for (let id = wanted.shift(); id !== undefined && !this.#stopped; id = wanted.shift()) {
        await this.credentials(id).catch(() => undefined)
      }
    }
    for (let i = 0; i < 4; i++) void next()
  }

  /**
   * Lists devices, sites and users again and replaces the cached directory. Concurrent calls share
   * one refresh. Throws {@link RegistryCallError} (the cached directory stays as it was).
   */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#load().finally(() => {
      this.#refreshing = undefined
    })
    return this.#refreshing
  }

  /** Stops the periodic refresh. Idempotent. */
  stop(): void {
    this.#stopped = true
    clearTimeout(this.#timer)
  }

  async #load(): Promise<void> {
    this.#lastRefreshAt = this.#now()
    const [devices, sites, users] = await Promise.all([this.#client.listDevices(), this.#client.listSites(), this.#listUsers()])
    this.#data = {
      devices: new Map(devices.map((d) => [d.id, d] as const)),
      deviceByExtension: new Map(devices.filter((d) => d.extension !== '').map((d) => [d.extension, d] as const)),
      sites: new Map(sites.map((s) => [s.id, s] as const)),
      users: users === undefined ? undefined : new Map(users.map((u) => [u.id, u] as const)),
      userByExtension: users === undefined ? undefined : new Map(users.map((u) => [u.extension, u] as const)),
    }
    this.#logger.debug({ devices: devices.length, sites: sites.length, users: users?.length }, 'directory refreshed')
    this.#prefetchCredentials()
    for (const listener of this.#refreshListeners) {
      try {
        listener()
      } catch (error) {
        this.#logger.warn({ err: error }, 'directory refresh listener failed')
      }
    }
  }

  async #listUsers(): Promise<User[] | undefined> {
    try {
      const users = await this.#client.listUsers()
      this.#usersDenied = false
      return users
    } catch (error) {
      if (error instanceof RegistryCallError && error.code === ErrorCode.ERROR_CODE_PERMISSION_DENIED) {
        if (!this.#usersDenied) this.#logger.info('the registry does not let this node list users; looking users up one by one')
        this.#usersDenied = true
        return undefined
      }
      throw error
    }
  }

  async #lookup<T>(find: (data: Snapshot) => T | undefined): Promise<T | undefined> {
    if (this.#data !== undefined) {
      const hit = find(this.#data)
      if (hit !== undefined) return hit
    }
    if (this.#refreshing !== undefined) {
      await this.#refreshing
    } else if (this.#data === undefined || this.#now() - this.#lastRefreshAt >= MISS_REFRESH_MS) {
      await this.refresh()
    } else {
      // Refreshed a moment ago: a record created since (a worker added, then called at once) must
      // still be found, so wait for the next refresh rather than answer "unknown" — the registry
      // still sees at most one listing a second, however many misses.
      await new Promise<void>((resolve) => setTimeout(resolve, MISS_REFRESH_MS - (this.#now() - this.#lastRefreshAt)).unref())
      await (this.#refreshing ?? this.refresh())
    }
    // After a refresh that found users unlistable, `find` answers undefined for users; the
    // callers above route user lookups one by one from then on.
    return this.#data === undefined ? undefined : find(this.#data)
  }

  async #lookupUser(key: string, fetch: () => Promise<User | undefined>): Promise<User | undefined> {
    const cached = this.#userLookups.get(key)
    if (cached !== undefined && this.#now() < cached.until) return cached.value
    const user = await fetch()
    // A miss is remembered only for the miss-refresh interval, a hit for the refresh period.
    prune(this.#userLookups, this.#now())
    this.#userLookups.set(key, { value: user, until: this.#now() + (user === undefined ? MISS_REFRESH_MS : this.#refreshMs) })
    return user
  }

  async #fetchCredentials(deviceId: string): Promise<GetDeviceCredentialsResponse | undefined> {
    let value: GetDeviceCredentialsResponse | undefined
    try {
      value = await this.#client.getDeviceCredentials(deviceId)
    } catch (error) {
      // The branch's phones keep registering and calling while the cluster is unreachable (only
      // flex seats depend on it): credentials we had stay good until the registry answers again.
      const stale = this.#credentials.get(deviceId)
      if (error instanceof RegistryCallError && error.retryable && stale?.value !== undefined) {
        this.#logger.debug({ device: deviceId, code: error.code }, 'registry unreachable: using the device credentials held')
        return stale.value
      }
      if (!(error instanceof RegistryCallError) || !NO_CREDENTIALS.has(error.code)) throw error
      value = undefined
    }
    prune(this.#credentials, this.#now())
    this.#credentials.delete(deviceId)
    this.#credentials.set(deviceId, { value, until: this.#now() + (value === undefined ? NO_CREDENTIALS_TTL_MS : CREDENTIALS_TTL_MS) })
    return value
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.refresh()
        .catch((error: unknown) => this.#logger.warn({ err: error }, 'directory refresh failed'))
        .finally(() => this.#schedule())
    }, this.#refreshMs)
    this.#timer.unref()
  }
}

const NO_CREDENTIALS = new Set<ErrorCode>([ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, ErrorCode.ERROR_CODE_NO_CREDENTIALS])

/**
 * Past this many entries, expired ones are dropped, and if that is not enough the oldest: lookups
 * of ids that do not exist must not grow memory without bound.
 */
const PRUNE_ABOVE = 10_000

function prune<T>(map: Map<string, Cached<T>>, now: number): void {
  if (map.size < PRUNE_ABOVE) return
  for (const [key, entry] of map) if (now >= entry.until) map.delete(key)
  // Insertion order is age order (entries are re-inserted when renewed).
  for (const key of map.keys()) {
    if (map.size < PRUNE_ABOVE) break
    map.delete(key)
  }
}
