import { EventEmitter } from 'node:events'
import type { Etcd3, IRangeRequest, Watcher } from 'etcd3'
import {
  type AckRevocationsRequest,
  type AckRevocationsResponse,
  type ChangePinRequest,
  type ChangePinResponse,
  type CreateSessionRequest,
  type CreateSessionResponse,
  type GetSessionResponse,
  type ListFreeDesksRequest,
  type ListFreeDesksResponse,
  type ListSeatHistoryRequest,
  type GetOccupancyReportRequest,
  type GetOccupancyReportResponse,
  type ListSeatHistoryResponse,
  type UnlockUserRequest,
  type UnlockUserResponse,
  type CreateDeviceRequest,
  type CreateDeviceResponse,
  type CreateSiteRequest,
  type CreateSiteResponse,
  type CreateUserRequest,
  type CreateUserResponse,
  type DeleteDeviceRequest,
  type DeleteDeviceResponse,
  type DeleteFunctionKeyProfileRequest,
  type DeleteFunctionKeyProfileResponse,
  type GetFunctionKeyProfileRequest,
  type GetFunctionKeyProfileResponse,
  type ListFunctionKeyProfilesRequest,
  type ListFunctionKeyProfilesResponse,
  type SetFunctionKeyProfileRequest,
  type SetFunctionKeyProfileResponse,
  type DeleteSiteRequest,
  type DeleteSiteResponse,
  type DeleteUserRequest,
  type DeleteUserResponse,
  ErrorCode,
  type GetClusterStatusRequest,
  type GetClusterStatusResponse,
  type GetDeviceCredentialsRequest,
  type GetDeviceCredentialsResponse,
  type GetDeviceRequest,
  type GetDeviceResponse,
  type GetSeatRequest,
  type GetSeatResponse,
  type GetSiteRequest,
  type GetSiteResponse,
  type GetUserRequest,
  type GetUserResponse,
  type ListBindingsRequest,
  type ListBindingsResponse,
  type ListCallsRequest,
  type ListCallsResponse,
  type ListDevicesRequest,
  type ListDevicesResponse,
  type ListSeatsRequest,
  type ListSeatsResponse,
  type ListSitesRequest,
  type ListSitesResponse,
  type ListUsersRequest,
  type ListUsersResponse,
  type LoginRequest,
  type LoginResponse,
  type LogoutRequest,
  type LogoutResponse,
  type RenewSeatRequest,
  type RenewSeatResponse,
  type ReleaseLeaseRequest,
  type ReleaseLeaseResponse,
  ReleaseReason,
  type RenewLeaseRequest,
  type RenewLeaseResponse,
  type ReportBindingsRequest,
  type ReportBindingsResponse,
  type ReportCallsRequest,
  type ReportCallsResponse,
  type GetDirectorySyncStatusRequest,
  type GetDirectorySyncStatusResponse,
  type ResetPinRequest,
  type ResetPinResponse,
  type ClearLockoutRequest,
  type ClearLockoutResponse,
  type SyncDirectoryRequest,
  type SyncDirectoryResponse,
  type UpdateDeviceRequest,
  type UpdateDeviceResponse,
  type UpdateSiteRequest,
  type UpdateSiteResponse,
  type UpdateUserRequest,
  type UpdateUserResponse,
  type WatchSeatsRequest,
  type WatchSeatsResponse,
  type WatchDialogsResponse,
  type DeleteSeatPolicyRequest,
  type DeleteSeatPolicyResponse,
  type GetEffectiveSeatPolicyRequest,
  type GetEffectiveSeatPolicyResponse,
  type GetSeatPolicyRequest,
  type GetSeatPolicyResponse,
  type SetSeatPolicyRequest,
  type SetSeatPolicyResponse,
  type ReportCallActivityRequest,
  type ReportCallActivityResponse,
  MAX_ACKS,
} from '@flexseat/proto'
import { type DirectoryReader, type DirectorySyncConfig, LdapDirectory } from '@flexseat/directory-sync'
import type { Meter } from '@opentelemetry/api'
import type { Logger } from 'pino'
import { CallList, type CallListPolicy, DEFAULT_CALL_LIST } from './call-list'
import { reportActivity, validateActivity } from './call-activity'
import type { Caller } from './caller'
import { SignInTelemetry, type SignInVia } from './sign-in-events'
import { RetentionLease } from './retention-lease'
import { OccupancyReport } from './occupancy-report'
import { DEFAULT_SEAT_HISTORY, SEAT_HISTORY_LEASE, SeatHistory, type SeatHistoryPolicy } from './seat-history'
import { DEFAULT_SESSIONS, type PasswordChecker, PortalSessions, planOwnPin, SESSION_LEASE, type SessionPolicy, toSession } from './sessions'
import {
  DEVICE_MASKABLE,
  DEVICE_WRITABLE,
  SITE_WRITABLE,
  USER_WRITABLE,
  newDeviceRecord,
  newSiteRecord,
  newUserRecord,
  planChangePin,
  planCreateDevice,
  planCreateSite,
  planCreateUser,
  planDeleteDevice,
  planDeleteSite,
  planDeleteUser,
  planResetPin,
  planClearLockout,
  planUpdateDevice,
  planUpdateSite,
  planUpdateUser,
  sipPasswordToSet,
  validateDeviceFields,
  validateSiteFields,
  validateUserFields,
} from './directory'
import { ClusterStatus } from './cluster-status'
import { planDeleteProfile, planSetProfile, profileRecord, validateProfile } from './function-key-profiles'
import { ConfirmationLeases } from './confirmation-leases'
import { DirectorySyncHost } from './directory-sync-host'
import { DEFAULT_DESK_THROTTLE, type DeskThrottlePolicy, type DeskThrottleRecord, deskPausedUntil } from './desk-throttle'
import { RegistryError, invalidArgument, unavailable } from './errors'
import { FencedWriter, TxnReader, type WritePlan, readKeys } from './fenced-writer'
import { type PolicyUnits, type SeatPolicyRecord, planDeletePolicy, planSetPolicy, policyKey, toSeatPolicy, validScope, validatePolicy } from './seat-policy'
import { RequestLease, type WriteMethod, type WriteResponses, callFingerprint } from './idempotency'
import { Keys } from './keys'
import { type Op, parseJson, prefixEnd, retryRead } from './kv'
import { type LeaderInfo, Leadership } from './leadership'
import { DEFAULT_LOCKOUT, type LockoutPolicy, type LockoutRecord, lockFor } from './lockout'
import { BINDING_SWEEP_INTERVAL_MS, PhoneBindings } from './phone-bindings'
import type { PinCheck } from './pin-check'
import { PinTelemetry } from './pin-events'
import { DEFAULT_SCRYPT, type ScryptParams, hashPin, verifyPin } from './pin-hash'
import { PrefetchHints } from './prefetch-hints'
import { Presence, type PresenceRecord } from './presence'
import { type ActivityRecord, type SeatRecord, type UserRecord, toSeat } from './records'
import { RegistryReads } from './registry-reads'
import { RevocationSweeper } from './revocation-sweeper'
import { SeatExpiry } from './seat-expiry'
import { SeatWaiters } from './seat-waiters'
import { watchSeats } from './seat-watch'
import { watchDialogs } from './dialog-watch'
import { planRenewSeat } from './seat-renewal'
import { type SeatContext, effectivePolicy, loginPrefetch, loginRanges, planLogin, planLogout, planSeatEnd, signInVia } from './seats'
import { seatEnd } from './seat-end'
import type { TxnLimits } from './txn-limits'
import * as v from './validate'

/** Options of {@link RegistryCore.create}. */
export interface RegistryCoreOptions {
  /** The etcd client (main.ts builds it with createEtcdClient). Not closed by the core. */
  etcd: Etcd3
  /** Every key lives under this prefix, e.g. `flexseat/`. */
  prefix: string
  instance: {
    /** Unique per process: site id plus a random suffix. */
    id: string
    siteId: string
    /** host:port other instances forward writes to. */
    address: string
    version: string
  }
  /**
   * TTL of the election and presence leases, in seconds (default 3). A crashed leader's
   * successor serves after about this long plus an election round; shorter risks spurious
   * failovers on GC pauses or etcd hiccups (etcd's minimum is about 2 s).
   */
  leaseTtlSeconds?: number
  /** Wrong-PIN lockout (default: 5 failures in 15 minutes lock for 15 minutes). */
  lockout?: LockoutPolicy
  /** Wrong PINs at one desk, for any workers (default: 10 in 15 minutes pause it for 15 minutes). */
  deskThrottle?: DeskThrottlePolicy
  /** Where PIN events are counted (default the global OpenTelemetry meter `@flexseat/registry`). */
  meter?: Meter
  logger: Logger
  /** scrypt cost of new PIN hashes (default N=16384, r=8, p=1). */
  pinHash?: ScryptParams
  /** The clock for seat times, expiry and lockouts (default Date.now; tests move it). */
  clock?: () => number
  /**
   * A monotonic clock in milliseconds (default performance.now) for how long a revocation has
   * waited on this leader: wall clocks of different machines must not decide a lease refusal.
   */
  monotonicClock?: () => number
  /**
   * TTL of the branches' confirmation leases, in seconds (default 5): a cut-off branch stops
   * acting on flex seats at most this long after its last renewal, and a takeover waiting on it
   * completes once etcd has expired that lease, up to 0.5 s later (invariant 4).
   */
  confirmationLeaseSeconds?: number
  /**
   * etcd's transaction limits, as the cluster's flags set them (default etcd's defaults: 128
   * operations of each kind, 1.5 MiB): batches are split by them, and a transaction over them is
   * refused before it is sent (txn-limits.ts).
   */
  txnLimits?: TxnLimits
  /**
   * Concurrent logins share fenced etcd transactions (group-commit.ts; default true). False: each
   * login commits alone (FLEXSEAT_GROUP_COMMIT=false).
   */
  groupCommit?: boolean
  /**
   * The directory sync this instance runs while it leads (packages/directory-sync); without it
   * SyncDirectory answers NOT_CONFIGURED here. `reader` replaces the LDAP server (tests).
   */
  directorySync?: { config: DirectorySyncConfig; reader?: DirectoryReader }
  /** The bound and retention of the workers' call lists (default 50 calls, 90 days: call-list.ts). */
  callList?: CallListPolicy
  /**
   * How long web portal sessions last (default 8 h for workers, 1 h for administrators;
   * sessions.ts). Their directory password checks use the directory sync's LDAP server
   * (`directorySync`), or `passwordChecker` (tests).
   */
  sessions?: SessionPolicy
  passwordChecker?: PasswordChecker
  /** The seat history's bound per worker and retention (default 500 records, 90 days; seat-history.ts). */
  seatHistory?: SeatHistoryPolicy
  /**
   * How long a sign-out policy's hour and minute last (default real time; tests: SECOND_UNITS,
   * from FLEXSEAT_TEST_POLICY_SECONDS, which config.ts refuses with NODE_ENV=production).
   */
  policyUnits?: PolicyUnits
}

/** Options of {@link RegistryCore.login}. */
export interface LoginOptions {
  /**
   * The caller's deadline (ms since epoch): a login that has to wait for a branch's
   * acknowledgement returns the pending seat shortly before it, and not earlier (without one: at
   * the confirmation lease + 2 s).
   */
  deadline?: number
}

/**
 * What a waiting login leaves of the caller's deadline to send its answer, in ms: enough for the
 * answer to travel back through a follower while the instances are busy (a thousand Logins
 * answered at once).
 */
const ANSWER_MARGIN_MS = 500

/**
 * - `starting`: registering presence, joining the election;
 * - `follower`: serves reads and watches; writes throw NOT_LEADER (the server forwards them);
 * - `leader`: also performs writes and expires time-limited seats;
 * - `stopping` / `stopped`.
 */
export type RegistryCoreState = 'starting' | 'follower' | 'leader' | 'stopping' | 'stopped'

const RELEASE_REASONS_FOR_LOGOUT = new Set([ReleaseReason.RELEASE_REASON_LOGOUT, ReleaseReason.RELEASE_REASON_ADMIN])

/**
 * The seat registry over etcd: one instance per site; one leader performs every write as a
 * fenced, idempotent etcd transaction; every instance serves reads and seat watches.
 *
 * Emits `leadership` (isLeader: boolean) on every change.
 * @see /work/shared/DESIGN.md, invariants 1 to 5.
 */
export class RegistryCore extends EventEmitter {
  readonly #etcd: Etcd3
  readonly #keys: Keys
  readonly #ttl: number
  readonly #logger: Logger
  readonly #ctx: SeatContext
  readonly #scrypt: ScryptParams
  readonly #leadership: Leadership
  readonly #presence: Presence
  readonly #requestLease: RequestLease
  readonly #writer: FencedWriter
  readonly #expiry: SeatExpiry
  readonly #confirmationTtl: number
  readonly #leases: ConfirmationLeases
  readonly #sweeper: RevocationSweeper
  readonly #bindings: PhoneBindings
  readonly #bindingSweeper: RevocationSweeper
  readonly #waiters: SeatWaiters
  /** The leader's watch of `nodes/`: a branch's lease key deleted wakes the revocation sweep. */
  #leaseKeys: Watcher | undefined
  readonly #reads: RegistryReads
  readonly #clusterStatus: ClusterStatus
  readonly #directorySync: DirectorySyncHost
  readonly #callList: CallList
  readonly #history: SeatHistory
  readonly #sessions: PortalSessions
  readonly #retentionLeases: RetentionLease[]
  readonly #pins: PinTelemetry
  readonly #signIns: SignInTelemetry
  readonly #stopping = new AbortController()
  #state: RegistryCoreState = 'starting'
  #lastContact = 0
  #stopped: Promise<void> | undefined

  private constructor(o: RegistryCoreOptions) {
    super()
    if (!/^[\x21-\x7e]*\/$|^$/.test(o.prefix)) throw new Error(`the etcd prefix must be empty or end with "/": ${o.prefix}`)
    this.#etcd = o.etcd
    this.#keys = new Keys(o.prefix)
    this.#ttl = o.leaseTtlSeconds ?? 3
    if (!Number.isInteger(this.#ttl) || this.#ttl < 1) throw new Error(`leaseTtlSeconds must be a whole number of seconds >= 1: ${this.#ttl}`)
    this.#logger = o.logger.child({ site: o.instance.siteId, instance: o.instance.id })
    this.#ctx = { keys: this.#keys, lockout: o.lockout ?? DEFAULT_LOCKOUT, deskThrottle: o.deskThrottle ?? DEFAULT_DESK_THROTTLE, now: o.clock ?? Date.now, hints: new PrefetchHints(), ...(o.policyUnits === undefined ? {} : { policyUnits: o.policyUnits }) }
    this.#pins = new PinTelemetry(this.#logger, o.meter)
    this.#signIns = new SignInTelemetry(this.#logger, o.meter)
    this.#history = new SeatHistory({ etcd: o.etcd, keys: this.#keys, policy: o.seatHistory ?? DEFAULT_SEAT_HISTORY, clock: this.#ctx.now })
    this.#ctx.history = { size: this.#history.policy.size }
    const config = o.directorySync?.config
    const checker = o.passwordChecker ?? (config === undefined ? undefined : new LdapDirectory(config, this.#logger.child({ component: 'portal-sign-in' })))
    this.#sessions = new PortalSessions({
      etcd: o.etcd,
      keys: this.#keys,
      ctx: this.#ctx,
      policy: o.sessions ?? DEFAULT_SESSIONS,
      directory: checker === undefined ? undefined : { checker, adminGroup: config?.portal.adminGroup },
    })
    const historyLease = new RetentionLease(o.etcd, this.#history.policy.retentionSeconds)
    const sessionLease = new RetentionLease(o.etcd, this.#sessions.longestSeconds)
    this.#retentionLeases = [historyLease, sessionLease]
    this.#scrypt = o.pinHash ?? DEFAULT_SCRYPT
    this.#leadership = new Leadership(o.etcd, this.#keys, { instanceId: o.instance.id, siteId: o.instance.siteId, address: o.instance.address }, this.#ttl, this.#logger)
    const record: PresenceRecord = { siteId: o.instance.siteId, address: o.instance.address, startedAt: new Date().toISOString(), version: o.instance.version }
    this.#presence = new Presence(o.etcd, this.#keys, o.instance.id, record, this.#ttl, this.#logger)
    this.#requestLease = new RequestLease(o.etcd)
    this.#writer = new FencedWriter({
      etcd: o.etcd,
      keys: this.#keys,
      leadership: this.#leadership,
      requestLease: this.#requestLease,
      logger: this.#logger,
      ...(o.txnLimits ? { limits: o.txnLimits } : {}),
      leases: { [SEAT_HISTORY_LEASE]: historyLease, [SESSION_LEASE]: sessionLease },
      groupCommit: o.groupCommit === false ? [] : ['login'],
    })
    // Seat deadlines (seat-end.ts: time limit, daily sign-out, idle, deferred during calls): the
    // scan computes every seat's next end from `seats/` and `activity/`; the release is a fenced
    // transaction compared on the seat's revision, so it happens once whichever leader runs it.
    this.#expiry = new SeatExpiry({
      logger: this.#logger,
      clock: this.#ctx.now,
      scan: async () => {
        const [seats, activity] = await Promise.all([this.#keys.seats, this.#keys.activities].map((prefix) => this.#etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) })))
        const calls = new Map(activity!.kvs.map((kv) => [kv.key.toString('utf8').slice(this.#keys.activities.length), parseJson<ActivityRecord>(kv)]))
        return seats!.kvs.flatMap((kv) => {
          const seat = parseJson<SeatRecord>(kv)
          const end = seatEnd(seat, calls.get(seat.userId))
          return end === undefined ? [] : [{ userId: seat.userId, epoch: kv.mod_revision, expiresAt: new Date(end.at) }]
        })
      },
      release: async (seat) => {
        const { outcome } = await this.#writer.apply('seat end', (read) => planSeatEnd(this.#ctx, seat.userId, seat.epoch, read))
        if (outcome instanceof RegistryError) throw outcome
      },
    })
    this.#confirmationTtl = o.confirmationLeaseSeconds ?? 5
    if (!Number.isInteger(this.#confirmationTtl) || this.#confirmationTtl < 1) {
      throw new Error(`confirmationLeaseSeconds must be a whole number of seconds >= 1: ${this.#confirmationTtl}`)
    }
    this.#leases = new ConfirmationLeases({ etcd: o.etcd, keys: this.#keys, writer: this.#writer, ttlSeconds: this.#confirmationTtl, monotonicClock: o.monotonicClock ?? (() => performance.now()), logger: this.#logger })
    this.#sweeper = new RevocationSweeper({ sweep: () => this.#leases.sweep(), logger: this.#logger })
    this.#bindings = new PhoneBindings({ etcd: o.etcd, keys: this.#keys, writer: this.#writer, clock: this.#ctx.now, leaseSeconds: this.#confirmationTtl, logger: this.#logger })
    this.#bindingSweeper = new RevocationSweeper({ sweep: () => this.#bindings.sweep(), logger: this.#logger, intervalMs: BINDING_SWEEP_INTERVAL_MS, what: 'phone binding expiry' })
    this.#waiters = new SeatWaiters({ etcd: o.etcd, keys: this.#keys, limits: this.#writer.limits, logger: this.#logger })
    this.#reads = new RegistryReads({ etcd: o.etcd, keys: this.#keys, now: this.#ctx.now, read: (work) => this.#read(work) })
    this.#clusterStatus = new ClusterStatus({
      etcd: o.etcd,
      keys: this.#keys,
      instanceId: o.instance.id,
      currentLeader: () => this.#leadership.currentLeader(),
      healthy: () => this.healthy(),
      now: this.#ctx.now,
    })
    this.#directorySync = new DirectorySyncHost({
      etcd: o.etcd,
      keys: this.#keys,
      writer: this.#writer,
      ctx: this.#ctx,
      reads: this.#reads,
      limits: this.#writer.limits,
      instanceId: o.instance.id,
      logger: this.#logger,
      ...(o.directorySync === undefined ? {} : { config: o.directorySync.config, ...(o.directorySync.reader === undefined ? {} : { reader: o.directorySync.reader }) }),
    })
    this.#callList = new CallList({
      etcd: o.etcd,
      keys: this.#keys,
      writer: this.#writer,
      clock: this.#ctx.now,
      policy: o.callList ?? DEFAULT_CALL_LIST,
      limits: this.#writer.limits,
      logger: this.#logger,
    })
    this.#leadership.on('change', (leader: boolean) => {
      this.#leases.resetDeadlines()
      this.#directorySync.follow(leader)
      if (leader) {
        this.#expiry.start()
        this.#sweeper.start()
        this.#watchLeaseKeys()
        this.#bindings.resetSweep()
        this.#bindingSweeper.start()
      } else {
        this.#expiry.stop()
        this.#sweeper.stop()
        this.#unwatchLeaseKeys()
        this.#bindingSweeper.stop()
      }
      if (this.#state !== 'stopping' && this.#state !== 'stopped') this.#state = leader ? 'leader' : 'follower'
      this.emit('leadership', leader)
    })
  }

  /** Registers the instance's presence and joins the election. Rejects if etcd stays unreachable (Presence.start retries a transient failure for 5 s). */
  static async create(options: RegistryCoreOptions): Promise<RegistryCore> {
    const core = new RegistryCore(options)
    await core.#presence.start()
    core.#lastContact = Date.now()
    core.#state = 'follower'
    core.#leadership.start()
    core.#logger.info({ prefix: options.prefix, leaseTtlSeconds: core.#ttl }, 'registry core started')
    return core
  }

  get state(): RegistryCoreState {
    return this.#state
  }

  get isLeader(): boolean {
    return this.#state === 'leader' && this.#leadership.isLeader
  }

  /** The current leader as etcd knows it, if any. */
  async currentLeader(): Promise<LeaderInfo | undefined> {
    return this.#read(() => this.#leadership.currentLeader())
  }

  /** Whether etcd answered recently (within 2 × lease TTL, at least 3 s). */
  healthy(): boolean {
    if (this.#state === 'stopping' || this.#state === 'stopped') return false
    const last = Math.max(this.#lastContact, this.#presence.lastContact, this.#leadership.lastEtcdContact)
    return Date.now() - last < Math.max(3_000, 2_000 * this.#ttl)
  }

  /** Gives leadership away at once (revokes the election lease); does not campaign again. */
  async resign(): Promise<void> {
    void this.#directorySync.stop()
    this.#expiry.stop()
    this.#sweeper.stop()
    this.#unwatchLeaseKeys()
    this.#bindingSweeper.stop()
    await this.#leadership.resign()
    if (this.#state === 'leader') this.#state = 'follower'
  }

  /** Resigns, revokes presence, ends watches. Idempotent; gives up waiting after `timeoutMs`. */
  stop(timeoutMs = 5_000): Promise<void> {
    this.#stopped ??= (async () => {
      this.#state = 'stopping'
      this.#expiry.stop()
      this.#sweeper.stop()
      this.#unwatchLeaseKeys()
      this.#bindingSweeper.stop()
      this.#waiters.stop()
      this.#stopping.abort()
      const work = Promise.allSettled([this.#directorySync.stop(), this.#leadership.stop(), this.#presence.stop()])
      let timer: NodeJS.Timeout | undefined
      await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))])
      clearTimeout(timer)
      this.#requestLease.close()
      this.#callList.stop()
      for (const lease of this.#retentionLeases) lease.close()
      this.#state = 'stopped'
      this.#logger.info('registry core stopped')
    })()
    return this.#stopped
  }

  // ---- seats ----

  /**
   * Seats a worker (see SeatService.Login). When the new seat is pending (its previous seat is
   * at a branch whose node holds a confirmation lease), waits until it is active and returns it
   * at its new epoch; if `options.deadline` comes first (without one, the confirmation lease +
   * 2 s), returns it still pending (the registry completes it anyway).
   */
  async login(req: LoginRequest, caller: Caller, options: LoginOptions = {}): Promise<LoginResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    v.id(req.deviceId, 'device_id')
    v.extension(req.extension, 'extension')
    if (req.pin === '') {
      // An administrator, or a worker's portal session (its PIN or directory password was checked
      // when it was opened; seats.ts confines it to its worker).
      if (caller.role !== 'admin' && caller.role !== 'worker') throw invalidArgument('pin', 'is required to sign in at a phone')
    } else {
      v.pin(req.pin, 'pin')
    }
    v.hours(req.durationHours, 'duration_hours')
    // The forwarding instance's verdict stands for the user record it checked (that revision is
    // compared at commit); else the PIN is checked here, once per stored hash (an attempt that
    // conflicts runs its plan again).
    let checked: { hash: string; ok: Promise<boolean> } | undefined
    const verify = (pin: string, hash: string, user: { id: string; revision: string }): Promise<boolean> => {
      const forwarded = caller.pinCheck
      if (forwarded !== undefined && forwarded.userId === user.id && forwarded.revision === user.revision) return Promise.resolve(forwarded.ok)
      if (checked?.hash !== hash) checked = { hash, ok: verifyPin(pin, hash) }
      return checked.ok
    }
    // Counted by how the worker signed in, as the seat records it (the label a dashboard splits by).
    const via: SignInVia = signInVia(caller)
    const plan = (read: TxnReader): Promise<WritePlan<LoginResponse>> => planLogin(this.#ctx, req, caller, read, verify)
    const res = await this.#write('login', req, caller, plan, loginPrefetch(this.#keys, req, this.#ctx.hints), loginRanges(this.#ctx, req.extension)).catch(
      (error: unknown) => {
        this.#pins.reportOutcome(error)
        this.#signIns.report(via, { error })
        throw error
      },
    )
    this.#signIns.report(via, { response: res })
    for (const at of [res.seat?.expiresAt, res.seat?.dailySignOutAt]) if (at) this.#expiry.note(at)
    if (res.seat !== undefined && res.seat.idleSeconds > 0) this.#expiry.note(new Date((res.seat.since?.getTime() ?? Date.now()) + res.seat.idleSeconds * 1_000))
    if (res.seat !== undefined && res.seat.pending.length > 0) return this.#untilActive(res, options.deadline)
    return res
  }

  /**
   * Waits until the login's seat is active (returned at its new epoch) or has changed away (a
   * later login or a logout: the pending outcome stands), woken by the watch event that
   * completes it (seat-waiters.ts); until `deadline` less the time to answer, or, without one,
   * the confirmation lease + 2 s.
   */
  async #untilActive(res: LoginResponse, deadline: number | undefined): Promise<LoginResponse> {
    const seat = res.seat!
    const until = deadline === undefined ? Date.now() + (this.#confirmationTtl + 2) * 1_000 : deadline - ANSWER_MARGIN_MS
    const outcome = await this.#waiters.wait({ userId: seat.userId, deviceId: seat.deviceId, since: seat.since?.toISOString() ?? '' }, BigInt(seat.epoch), until)
    return outcome.kind === 'active' ? { ...res, seat: toSeat(outcome.record, outcome.revision) } : res
  }

  /**
   * Checks a phone login's PIN on this instance, so that the leader, to which the login is
   * forwarded, need not (see pin-check.ts): reads the extension's user and lockout (serializably:
   * the leader uses the verdict only for the user record revision checked here) and verifies the
   * PIN. Undefined when there is nothing to check (no PIN, an invalid request, an unknown
   * extension, a locked user) or etcd did not answer: the leader then decides alone.
   */
  async checkPin(req: LoginRequest): Promise<PinCheck | undefined> {
    if (req.pin === '') return undefined
    try {
      v.extension(req.extension, 'extension')
      v.pin(req.pin, 'pin')
      v.id(req.deviceId, 'device_id')
      // One round trip when the extension's owner is the one seen last (the hint): the
      // extension, the desk's throttle and that user's record and lockout together.
      const extensionKey = this.#keys.extension(req.extension)
      const deskKey = this.#keys.deskThrottle(req.deviceId)
      const hinted = this.#ctx.hints?.ownerOf(req.extension)
      const found = await readKeys(this.#etcd, [extensionKey, deskKey, ...(hinted === undefined ? [] : [this.#keys.user(hinted), this.#keys.lockout(hinted)])], true)
      const owner = found.get(extensionKey)?.value.toString('utf8')
      if (!owner?.startsWith('user:')) return undefined
      const userId = owner.slice('user:'.length)
      this.#ctx.hints?.noteOwner(req.extension, userId)
      const userKey = this.#keys.user(userId)
      const lockKey = this.#keys.lockout(userId)
      if (userId !== hinted) for (const [key, kv] of await readKeys(this.#etcd, [userKey, lockKey], true)) found.set(key, kv)
      const user = found.get(userKey)
      const lock = found.get(lockKey)
      const desk = found.get(deskKey)
      const now = this.#ctx.now()
      // A worker locked (everywhere or at this desk) or a paused desk is refused unchecked: no scrypt spent on it.
      if (!user || lockFor(lock ? parseJson<LockoutRecord>(lock) : undefined, req.deviceId, now) || deskPausedUntil(desk ? parseJson<DeskThrottleRecord>(desk) : undefined, now)) return undefined
      const record = parseJson<UserRecord>(user)
      // Nothing to verify (no PIN, a disabled account): the leader refuses it on its own.
      if (record.pinHash === '' || record.disabled === true) return undefined
      return { userId, revision: user.mod_revision, ok: await verifyPin(req.pin, record.pinHash) }
    } catch {
      return undefined
    }
  }

  /**
   * Renews the seat of the worker seated at a desk (seat-renewal.ts), with the PIN checked here
   * (once per stored hash). The new deadlines are noted for the expiry scheduler.
   */
  async renewSeat(req: RenewSeatRequest, caller: Caller): Promise<RenewSeatResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    v.id(req.deviceId, 'device_id')
    v.extension(req.extension, 'extension')
    v.pin(req.pin, 'pin')
    let checked: { hash: string; ok: Promise<boolean> } | undefined
    const verify = (pin: string, hash: string): Promise<boolean> => {
      if (checked?.hash !== hash) checked = { hash, ok: verifyPin(pin, hash) }
      return checked.ok
    }
    const res = await this.#write('renewSeat', req, caller, (read) => planRenewSeat(this.#ctx, req, read, verify)).catch((error: unknown) => {
      this.#pins.reportOutcome(error)
      throw error
    })
    for (const at of [res.seat?.expiresAt, res.seat?.dailySignOutAt]) if (at) this.#expiry.note(at)
    if (res.seat !== undefined && res.seat.idleSeconds > 0) this.#expiry.note(new Date(this.#ctx.now() + res.seat.idleSeconds * 1_000))
    return res
  }

  async logout(req: LogoutRequest, caller: Caller): Promise<LogoutResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const target = v.validTarget(req.target, 'target')
    const reason = req.reason === ReleaseReason.RELEASE_REASON_UNSPECIFIED ? ReleaseReason.RELEASE_REASON_LOGOUT : req.reason
    if (!RELEASE_REASONS_FOR_LOGOUT.has(reason)) throw invalidArgument('reason', 'must be LOGOUT or ADMIN (expiry and moves are decided by the registry)')
    return this.#write('logout', req, caller, (read) => planLogout(this.#ctx, target, reason, read))
  }

  /**
   * The seat of a user (by id or extension) or the one a device hosts (see
   * {@link RegistryReads.getSeat}).
   */
  async getSeat(req: GetSeatRequest): Promise<GetSeatResponse> {
    return this.#reads.getSeat(req)
  }

  async listSeats(req: ListSeatsRequest): Promise<ListSeatsResponse> {
    return this.#reads.listSeats(req)
  }

  /** The flex desks nobody sits at (see free-desks.ts). */
  async listFreeDesks(req: ListFreeDesksRequest): Promise<ListFreeDesksResponse> {
    return this.#reads.listFreeDesks(req)
  }

  /** A worker's seats, newest first (see seat-history.ts). */
  async listSeatHistory(req: ListSeatHistoryRequest): Promise<ListSeatHistoryResponse> {
    return this.#read(() => this.#history.list(req))
  }

  /** A branch's occupancy from the seat history (occupancy-report.ts); any instance. */
  async getOccupancyReport(req: GetOccupancyReportRequest): Promise<GetOccupancyReportResponse> {
    const report = new OccupancyReport({ etcd: this.#etcd, keys: this.#keys, retentionSeconds: this.#history.policy.retentionSeconds, clock: this.#ctx.now })
    return this.#read(() => report.report(req))
  }

  // ---- portal sessions (sessions.ts) ----

  /**
   * Opens a portal session (see SessionService.CreateSession): the credential is checked here,
   * on the leader (an LDAP bind, a token; a PIN inside the transaction, with the forwarding
   * instance's verdict when it matches), then the session is written with the lockout's change.
   * `adminName` names the tokens file's admin entry a token matches.
   */
  async createSession(req: CreateSessionRequest, caller: Caller, adminName: (token: string) => string | undefined): Promise<CreateSessionResponse> {
    this.#mayWrite(caller)
    if (caller.role !== 'portal') throw new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'only a portal opens sessions')
    this.#sessions.validate(req)
    this.#mustLead()
    const proof = await this.#sessions.prove(req, adminName)
    let checked: { hash: string; ok: Promise<boolean> } | undefined
    const verify = (pin: string, hash: string, user: { id: string; revision: string }): Promise<boolean> => {
      const forwarded = caller.pinCheck
      if (forwarded !== undefined && forwarded.userId === user.id && forwarded.revision === user.revision) return Promise.resolve(forwarded.ok)
      if (checked?.hash !== hash) checked = { hash, ok: verifyPin(pin, hash) }
      return checked.ok
    }
    // The fingerprint never holds a credential (idempotency.ts blanks the PIN and the password; the token here).
    const credential = req.credential?.$case === 'adminToken' ? { $case: 'adminToken' as const, value: '<secret>' } : req.credential
    const res = await this.#writer
      .write('createSession', req.requestId, callFingerprint('createSession', caller, { ...req, credential }), (read) => this.#sessions.plan(req, proof, caller, read, verify))
      .catch((error: unknown) => {
        this.#pins.reportOutcome(error)
        throw error
      })
    this.#lastContact = Date.now()
    return res
  }

  /** The caller a portal's session token stands for (sessions.ts; SESSION_INVALID otherwise). */
  async resolveSession(token: string, portal: string, hasAdmin: (name: string) => boolean): Promise<Caller> {
    return this.#read(() => this.#sessions.resolve(token, portal, hasAdmin))
  }

  /** The session the caller presents. */
  getSession(caller: Caller): GetSessionResponse {
    if (caller.session === undefined) throw new RegistryError(ErrorCode.ERROR_CODE_SESSION_INVALID, 'the call presents no session')
    return { session: toSession(caller.session) }
  }

  /** Ends the session the caller presents (idempotent). */
  async endSession(caller: Caller): Promise<void> {
    this.#mayWrite(caller)
    this.#mustLead()
    await this.#leaderWork(() => this.#writer.apply('end session', (read) => this.#sessions.planEnd(caller, read)))
  }

  /** Seat changes as an async iterable (see seat-watch.ts); ends when `signal` aborts or the core stops. */
  watchSeats(req: WatchSeatsRequest, signal: AbortSignal): AsyncIterable<WatchSeatsResponse> {
    const both = AbortSignal.any([signal, this.#stopping.signal])
    return watchSeats({ etcd: this.#etcd, keys: this.#keys, logger: this.#logger, onContact: () => (this.#lastContact = Date.now()) }, req, both)
  }

  /** The dialogs in progress of every worker and desk (see dialog-watch.ts); ends when `signal` aborts or the core stops. */
  watchDialogs(signal: AbortSignal): AsyncIterable<WatchDialogsResponse> {
    const both = AbortSignal.any([signal, this.#stopping.signal])
    return watchDialogs({ etcd: this.#etcd, keys: this.#keys, logger: this.#logger, onContact: () => (this.#lastContact = Date.now()) }, both)
  }

  // ---- branches (confirmation leases, invariant 4) ----

  /** Grants or renews a branch's confirmation lease (see BranchService.RenewLease). */
  async renewLease(req: RenewLeaseRequest, caller: Caller): Promise<RenewLeaseResponse> {
    this.#mayWrite(caller)
    v.id(req.siteId, 'site_id')
    v.id(req.nodeId, 'node_id')
    const applied = v.revision(req.appliedRevision, 'applied_revision')
    this.#mustLead()
    return this.#leaderWork(() => this.#leases.renew(req.siteId, req.nodeId, applied))
  }

  /** Releases a branch's lease held by the node; its pending revocations complete at once. */
  async releaseLease(req: ReleaseLeaseRequest, caller: Caller): Promise<ReleaseLeaseResponse> {
    this.#mayWrite(caller)
    v.id(req.siteId, 'site_id')
    v.id(req.nodeId, 'node_id')
    this.#mustLead()
    await this.#leaderWork(() => this.#leases.release(req.siteId, req.nodeId))
    return {}
  }

  /** Completes the revocations a branch's node acknowledged (unknown or old acks are no-ops). */
  async ackRevocations(req: AckRevocationsRequest, caller: Caller): Promise<AckRevocationsResponse> {
    this.#mayWrite(caller)
    v.id(req.siteId, 'site_id')
    v.id(req.nodeId, 'node_id')
    if (req.revocations.length > MAX_ACKS) throw invalidArgument('revocations', `at most ${MAX_ACKS} per call`)
    req.revocations.forEach((r, i) => {
      v.id(r.userId, `revocations[${i}].user_id`)
      v.revision(r.epoch, `revocations[${i}].epoch`)
    })
    this.#mustLead()
    await this.#leaderWork(() => this.#leases.ack(req.siteId, req.nodeId, req.revocations))
    return {}
  }

  /**
   * Stores the phones registered at a branch, as the node holding its confirmation lease reports
   * them (see BranchService.ReportBindings and phone-bindings.ts). Validates the whole request
   * before writing anything.
   */
  async reportBindings(req: ReportBindingsRequest, caller: Caller): Promise<ReportBindingsResponse> {
    this.#mayWrite(caller)
    const changes = this.#bindings.validate(req)
    this.#mustLead()
    await this.#leaderWork(() => this.#bindings.report(req.siteId, req.nodeId, changes))
    return {}
  }

  /** The phones registered and not expired (by this instance's clock), of one site or all. */
  async listBindings(req: ListBindingsRequest): Promise<ListBindingsResponse> {
    return this.#reads.listBindings(req)
  }

  // ---- call lists ----

  /**
   * Stores the calls a branch's node reports (see CallListService.ReportCalls and call-list.ts).
   * Validates the whole request before writing anything.
   */
  async reportCalls(req: ReportCallsRequest, caller: Caller): Promise<ReportCallsResponse> {
    this.#mayWrite(caller)
    const calls = this.#callList.validate(req, caller)
    this.#mustLead()
    return this.#leaderWork(() => this.#callList.report(calls))
  }

  /**
   * Applies the call activity a branch's node reports (see CallListService.ReportCallActivity and
   * call-activity.ts), then wakes the seat deadlines: a call that ended may end a deferred seat
   * now, one that started restarts the idle time.
   */
  async reportCallActivity(req: ReportCallActivityRequest, caller: Caller): Promise<ReportCallActivityResponse> {
    this.#mayWrite(caller)
    const events = validateActivity(req, caller)
    this.#mustLead()
    await this.#leaderWork(() => reportActivity(this.#writer, this.#keys, events, this.#ctx.now))
    if (events.length > 0) this.#expiry.note(new Date(this.#ctx.now()))
    return {}
  }

  /** A worker's calls, newest first (see CallListService.ListCalls for who may read which). */
  async listCalls(req: ListCallsRequest, caller: Caller): Promise<ListCallsResponse> {
    return this.#read(() => this.#callList.list(req, caller))
  }

  /**
   * While leading: sweeps at once when etcd deletes a branch's lease key (it expired or was
   * revoked), rather than at the next 250 ms tick. The tick stays: a missed event only costs it.
   */
  #watchLeaseKeys(): void {
    this.#unwatchLeaseKeys()
    const watcher = this.#etcd.watch().prefix(this.#keys.nodes).watcher()
    watcher.on('delete', () => this.#sweeper.poke())
    watcher.on('error', (error) => this.#logger.debug({ err: error }, 'lease key watch ended; the sweep runs on its tick'))
    this.#leaseKeys = watcher
  }

  #unwatchLeaseKeys(): void {
    const watcher = this.#leaseKeys
    this.#leaseKeys = undefined
    watcher?.cancel().catch(() => undefined)
  }

  #mustLead(): void {
    if (!this.#leadership.fence()) throw new RegistryError(ErrorCode.ERROR_CODE_NOT_LEADER, 'this instance does not lead', { retryAfterMs: 500 })
  }

  /** Leader work outside the fenced writer's request records: etcd faults become UNAVAILABLE. */
  async #leaderWork<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work()
      this.#lastContact = Date.now()
      return result
    } catch (error) {
      if (error instanceof RegistryError) throw error
      this.#logger.warn({ err: error }, 'branch lease operation failed')
      throw unavailable('etcd did not answer; retry', 500, error)
    }
  }

  // ---- users ----

  async createUser(req: CreateUserRequest, caller: Caller): Promise<CreateUserResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const user = required(req.user, 'user')
    const id = v.idOrNew(user.id, 'user.id', 'user')
    validateUserFields(user, new Set(USER_WRITABLE))
    v.pin(req.pin, 'pin')
    const pinHash = await hashPin(req.pin, this.#scrypt)
    const record = newUserRecord(id, user, pinHash)
    return this.#write('createUser', req, caller, (read) => planCreateUser(this.#ctx, record, read))
  }

  async updateUser(req: UpdateUserRequest, caller: Caller): Promise<UpdateUserResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const user = required(req.user, 'user')
    v.id(user.id, 'user.id')
    const fields = v.updateMask(req.updateMask, USER_WRITABLE)
    validateUserFields(user, fields)
    return this.#write('updateUser', req, caller, (read) => planUpdateUser(this.#ctx, user, fields, read))
  }

  async deleteUser(req: DeleteUserRequest, caller: Caller): Promise<DeleteUserResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    v.id(req.userId, 'user_id')
    return this.#write('deleteUser', req, caller, (read) => planDeleteUser(this.#ctx, req.userId, read))
  }

  async changePin(req: ChangePinRequest, caller: Caller): Promise<ChangePinResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    v.extension(req.extension, 'extension')
    const session = caller.role === 'worker' ? caller.session : undefined
    // A worker who proved themselves with the company password may set a PIN without the old one.
    const ownPin = session?.proof === 'directory' && req.oldPin === ''
    if (!ownPin) v.pin(req.oldPin, 'old_pin')
    v.pin(req.newPin, 'new_pin')
    const newHash = await hashPin(req.newPin, this.#scrypt)
    const written = ownPin
      ? this.#write('changePin', req, caller, (read) => planOwnPin(this.#keys, session.userId ?? '', req.extension, newHash, read))
      : this.#write('changePin', req, caller, (read) => planChangePin(this.#ctx, req.extension, req.oldPin, newHash, read, session?.userId))
    return written.catch((error: unknown) => {
      this.#pins.reportOutcome(error)
      throw error
    })
  }

  /** Ends a user's lockout, keeping the PIN (see DirectoryService.UnlockUser). */
  async unlockUser(req: UnlockUserRequest, caller: Caller): Promise<UnlockUserResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    v.id(req.userId, 'user_id')
    return this.#write('unlockUser', req, caller, async (read): Promise<WritePlan<UnlockUserResponse>> => {
      if (!(await read.get(this.#keys.user(req.userId)))) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_USER_NOT_FOUND, `no user "${req.userId}"`) }
      const lock = await read.get(this.#keys.lockout(req.userId))
      const ops: Op[] = lock === undefined ? [] : [{ type: 'delete', key: this.#keys.lockout(req.userId) }]
      return { ops, outcome: {} }
    })
  }

  async resetPin(req: ResetPinRequest, caller: Caller): Promise<ResetPinResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    v.id(req.userId, 'user_id')
    v.pin(req.newPin, 'new_pin')
    const newHash = await hashPin(req.newPin, this.#scrypt)
    return this.#write('resetPin', req, caller, (read) => planResetPin(this.#ctx, req.userId, newHash, read))
  }

  /** Lifts wrong-PIN locks (administrators): see {@link planClearLockout}. */
  async clearLockout(req: ClearLockoutRequest, caller: Caller): Promise<ClearLockoutResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    if (req.userId === '' && req.deviceId === '') throw invalidArgument('user_id', 'name a worker (user_id), a desk (device_id) or both')
    if (req.userId !== '') v.id(req.userId, 'user_id')
    if (req.deviceId !== '') v.id(req.deviceId, 'device_id')
    return this.#write('clearLockout', req, caller, (read) => planClearLockout(this.#ctx, req.userId, req.deviceId, read))
  }

  async getUser(req: GetUserRequest): Promise<GetUserResponse> {
    return this.#reads.getUser(req)
  }

  async listUsers(req: ListUsersRequest): Promise<ListUsersResponse> {
    return this.#reads.listUsers(req)
  }

  // ---- devices ----

  async createDevice(req: CreateDeviceRequest, caller: Caller): Promise<CreateDeviceResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const device = required(req.device, 'device')
    const id = v.idOrNew(device.id, 'device.id', 'device')
    const password = sipPasswordToSet(device, undefined)
    validateDeviceFields(device, new Set(password === undefined ? DEVICE_WRITABLE : DEVICE_MASKABLE))
    const record = newDeviceRecord(id, device)
    return this.#write('createDevice', req, caller, (read) => planCreateDevice(this.#ctx, record, password, read))
  }

  async updateDevice(req: UpdateDeviceRequest, caller: Caller): Promise<UpdateDeviceResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const device = required(req.device, 'device')
    v.id(device.id, 'device.id')
    const masked = req.updateMask !== undefined && req.updateMask.length > 0
    const fields = v.updateMask(req.updateMask, DEVICE_MASKABLE)
    // An empty mask means every writable field, and the password only when one is given.
    if (!masked && (device.sipPassword ?? '') === '') fields.delete('sip_password')
    const password = sipPasswordToSet(device, fields)
    validateDeviceFields(device, fields)
    return this.#write('updateDevice', req, caller, (read) => planUpdateDevice(this.#ctx, device, fields, password, read))
  }

  async deleteDevice(req: DeleteDeviceRequest, caller: Caller): Promise<DeleteDeviceResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    v.id(req.deviceId, 'device_id')
    return this.#write('deleteDevice', req, caller, (read) => planDeleteDevice(this.#ctx, req.deviceId, read))
  }

  async getDevice(req: GetDeviceRequest): Promise<GetDeviceResponse> {
    return this.#reads.getDevice(req)
  }

  /** A device's digest credentials (HA1 and realm), for SIP nodes; NO_CREDENTIALS without a SIP password. */
  async getDeviceCredentials(req: GetDeviceCredentialsRequest): Promise<GetDeviceCredentialsResponse> {
    return this.#reads.getDeviceCredentials(req)
  }

  async listDevices(req: ListDevicesRequest): Promise<ListDevicesResponse> {
    return this.#reads.listDevices(req)
  }

  // ---- function-key profiles ----

  async setFunctionKeyProfile(req: SetFunctionKeyProfileRequest, caller: Caller): Promise<SetFunctionKeyProfileResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const record = profileRecord(validateProfile(req.profile))
    return this.#write('setFunctionKeyProfile', req, caller, (read) => planSetProfile(this.#keys, record, read))
  }

  async deleteFunctionKeyProfile(req: DeleteFunctionKeyProfileRequest, caller: Caller): Promise<DeleteFunctionKeyProfileResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    v.id(req.name, 'name')
    return this.#write('deleteFunctionKeyProfile', req, caller, (read) => planDeleteProfile(this.#keys, req.name, read))
  }

  async getFunctionKeyProfile(req: GetFunctionKeyProfileRequest): Promise<GetFunctionKeyProfileResponse> {
    return this.#reads.getFunctionKeyProfile(req)
  }

  async listFunctionKeyProfiles(req: ListFunctionKeyProfilesRequest): Promise<ListFunctionKeyProfilesResponse> {
    return this.#reads.listFunctionKeyProfiles(req)
  }

  // ---- sites ----

  async createSite(req: CreateSiteRequest, caller: Caller): Promise<CreateSiteResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const site = required(req.site, 'site')
    const id = v.idOrNew(site.id, 'site.id', 'site')
    validateSiteFields(site, new Set(SITE_WRITABLE))
    const record = newSiteRecord(id, site)
    return this.#write('createSite', req, caller, (read) => planCreateSite(this.#ctx, record, read))
  }

  async updateSite(req: UpdateSiteRequest, caller: Caller): Promise<UpdateSiteResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const site = required(req.site, 'site')
    v.id(site.id, 'site.id')
    const fields = v.updateMask(req.updateMask, SITE_WRITABLE)
    validateSiteFields(site, fields)
    return this.#write('updateSite', req, caller, (read) => planUpdateSite(this.#ctx, site, fields, read))
  }

  async deleteSite(req: DeleteSiteRequest, caller: Caller): Promise<DeleteSiteResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    v.id(req.siteId, 'site_id')
    return this.#write('deleteSite', req, caller, (read) => planDeleteSite(this.#ctx, req.siteId, read))
  }

  async getSite(req: GetSiteRequest): Promise<GetSiteResponse> {
    return this.#reads.getSite(req)
  }

  async listSites(req: ListSitesRequest): Promise<ListSitesResponse> {
    return this.#reads.listSites(req)
  }

  // ---- sign-out policies (seat-policy.ts) ----

  /** Replaces the policy of one scope (see SeatPolicyService.SetSeatPolicy). Validates it whole first. */
  async setSeatPolicy(req: SetSeatPolicyRequest, caller: Caller): Promise<SetSeatPolicyResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const scope = validScope(req.scope)
    const record = validatePolicy(req.policy)
    return this.#write('setSeatPolicy', req, caller, (read) => planSetPolicy(this.#keys, scope, record, read))
  }

  async deleteSeatPolicy(req: DeleteSeatPolicyRequest, caller: Caller): Promise<DeleteSeatPolicyResponse> {
    this.#mayWrite(caller)
    v.requestId(req.requestId)
    const scope = validScope(req.scope)
    return this.#write('deleteSeatPolicy', req, caller, (read) => planDeletePolicy(this.#keys, scope, read))
  }

  async getSeatPolicy(req: GetSeatPolicyRequest): Promise<GetSeatPolicyResponse> {
    const key = policyKey(this.#keys, validScope(req.scope))
    return this.#read(async () => {
      const kv = (await readKeys(this.#etcd, [key])).get(key)
      return { policy: toSeatPolicy(kv === undefined ? undefined : parseJson<SeatPolicyRecord>(kv)) }
    })
  }

  /** The policy a worker gets at a site's desks (default their home site), and where each value came from. */
  async getEffectiveSeatPolicy(req: GetEffectiveSeatPolicyRequest): Promise<GetEffectiveSeatPolicyResponse> {
    v.id(req.userId, 'user_id')
    if (req.siteId !== '') v.id(req.siteId, 'site_id')
    return this.#read(async () => {
      const read = new TxnReader(this.#etcd)
      const user = await read.json<UserRecord>(this.#keys.user(req.userId))
      if (!user) throw new RegistryError(ErrorCode.ERROR_CODE_USER_NOT_FOUND, `no user "${req.userId}"`)
      const siteId = req.siteId === '' ? user.value.homeSiteId : req.siteId
      if ((await read.get(this.#keys.site(siteId))) === undefined) throw new RegistryError(ErrorCode.ERROR_CODE_SITE_NOT_FOUND, `no site "${siteId}"`)
      return { policy: await effectivePolicy(read, this.#keys, user.value, siteId) }
    })
  }

  // ---- directory sync ----

  /** Runs a directory sync now, on the leader (see DirectorySyncService.SyncDirectory). Admins only. */
  async syncDirectory(req: SyncDirectoryRequest, caller: Caller, options: { deadline?: number } = {}): Promise<SyncDirectoryResponse> {
    this.#mayWrite(caller)
    if (caller.role !== 'admin') throw new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'only administrators run the directory sync')
    this.#mustLead()
    return this.#directorySync.syncDirectory(req, options.deadline)
  }

  /** The directory sync's run under way and last runs, as recorded in etcd. */
  async getDirectorySyncStatus(_req: GetDirectorySyncStatusRequest = {}): Promise<GetDirectorySyncStatusResponse> {
    return this.#read(() => this.#directorySync.status())
  }

  // ---- cluster ----

  /** The instances, the leader and the branches (see cluster-status.ts), as this instance sees them. */
  async getClusterStatus(_req: GetClusterStatusRequest = {}): Promise<GetClusterStatusResponse> {
    return this.#read(() => this.#clusterStatus.read())
  }

  // ---- plumbing ----

  #mayWrite(caller: Caller): void {
    if (caller.role === 'viewer') throw new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'viewers may not write')
    if (this.#state === 'stopping' || this.#state === 'stopped') throw unavailable('this instance is shutting down')
  }

  async #write<M extends WriteMethod>(
    method: M,
    req: { requestId: string },
    caller: Caller,
    plan: (read: TxnReader) => Promise<WritePlan<WriteResponses[M]>>,
    prefetch: readonly string[] = [],
    ranges: readonly IRangeRequest[] = [],
  ): Promise<WriteResponses[M]> {
    // The caller's role is part of the request: the same id from another role is another request.
    const res = await this.#writer.write(method, req.requestId, callFingerprint(method, caller, req), plan, prefetch, ranges)
    this.#lastContact = Date.now()
    return res
  }

  async #read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await retryRead(fn)
      this.#lastContact = Date.now()
      return result
    } catch (error) {
      if (error instanceof RegistryError) throw error
      this.#logger.warn({ err: error }, 'read failed')
      throw unavailable('etcd did not answer; retry', 500, error)
    }
  }
}

function required<T>(value: T | undefined, field: string): T {
  if (value === undefined || value === null) throw invalidArgument(field, 'is required')
  return value
}

