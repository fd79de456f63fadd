import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { ErrorCode } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryCallError } from './errors'
import { DEFAULT_REGISTRY_DEADLINE_MS, type RegistryClient } from './registry-client'
import type { SeatStream } from './seat-stream'
import type { SeatView } from './seat-view'
import { Pause } from './pause'

/** Options of {@link ConfirmationLease.start}. */
export interface ConfirmationLeaseOptions {
  /** `deadlineMs`, when present, is the client's own per-attempt deadline (the cap of {@link renewDeadline}). */
  client: Pick<RegistryClient, 'renewLease' | 'releaseLease'> & Partial<Pick<RegistryClient, 'deadlineMs'>>
  /** The branch this node serves. */
  siteId: string
  /** Unique per process (SipNodeConfig.nodeId): only the holder renews a lease. */
  nodeId: string
  view: SeatView
  /** Resynchronised after LEASE_REFUSED; its `synced()` (when present) says when to ask again. */
  stream: Pick<SeatStream, 'resync'> & Partial<Pick<SeatStream, 'synced'>>
  logger: Logger
  /** Monotonic clock in milliseconds (default `performance.now`). */
  now?: () => number
  /**
   * Wall clock in milliseconds (default `Date.now`). The monotonic clock stops while the host is
   * suspended (a paused VM), etcd's does not: the lease is valid only while both agree.
   */
  wallNow?: () => number
}

/** Events of {@link ConfirmationLease}: one per change of {@link ConfirmationLease.active}. */
export interface ConfirmationLeaseEvents {
  active: []
  suspended: [reason: string]
}

/** Retry interval after a transport or unexpected failure of RenewLease, in milliseconds. */
export const RENEW_RETRY_MS = 500
/** Retry interval while another node holds the branch's lease (LEASE_HELD), in milliseconds. */
export const HELD_RETRY_MS = 1_000
/** Smallest safety margin taken off the lease, in milliseconds (else 10 % of the lease). */
export const MIN_MARGIN_MS = 250
/** Longest wait for ReleaseLease when stopping, in milliseconds. */
const RELEASE_TIMEOUT_MS = 1_000

/**
 * The deadline of one RenewLease attempt: min(lease/3, remaining validity − {@link MIN_MARGIN_MS},
 * `clientDeadlineMs`), never below {@link MIN_MARGIN_MS}. A renewal sent to an address that does
 * not answer (black-holed) then fails while the lease is still valid, and the next attempt goes
 * to the client's next address; without a lease yet (or after it ran out) only lease/3 of the
 * last known lease and the client's deadline bound it.
 */
export function renewDeadline(now: number, lease: { leaseSeconds?: number | undefined; validUntil?: number | undefined }, clientDeadlineMs = DEFAULT_REGISTRY_DEADLINE_MS): number {
  let ms = clientDeadlineMs
  if (lease.leaseSeconds !== undefined) ms = Math.min(ms, (lease.leaseSeconds * 1_000) / 3)
  if (lease.validUntil !== undefined && lease.validUntil > now) ms = Math.min(ms, lease.validUntil - now - MIN_MARGIN_MS)
  return Math.max(MIN_MARGIN_MS, Math.floor(ms))
}

/**
 * How long a renewal sent at `sentAt` keeps the lease valid by the node's own clock: until
 * `sentAt + leaseSeconds·1000 − margin`, margin = max(250 ms, 10 % of the lease). etcd counts the
 * lease from when it processed the renewal, which is later than `sentAt`, so the node always
 * stops acting before etcd can expire the lease (and the registry complete a takeover).
 */
export function validUntil(sentAt: number, leaseSeconds: number): number {
  const leaseMs = leaseSeconds * 1_000
  return sentAt + leaseMs - Math.max(MIN_MARGIN_MS, leaseMs / 10)
}

interface Grant {
  leaseSeconds: number
  grantedRevision: bigint
  /** By the local monotonic clock; see {@link validUntil}. */
  validUntil: number
  /** The same instant by the wall clock. */
  validUntilWall: number
}

/**
 * The branch's confirmation lease, node side (invariant 4; proto BranchService). The node acts
 * on flex seats only while {@link active}: the lease is valid by the local clock AND the seat
 * view has applied everything up to the revision at which the current lease was granted.
 *
 * Renews at once, then every leaseSeconds/3, sending applied_revision = the view's revision. After
 * a new grant whose revision the view has not reached, it asks the stream for a fresh snapshot
 * (the grant is no seat change, so the stream alone would never carry the view past it).
 * Validity is never extended without a successful renewal: a transport failure is retried every
 * 500 ms while the validity runs down (a timer, unref'd, flips to suspended exactly when it ends);
 * LEASE_REFUSED suspends at once, resynchronises the seat view from a snapshot and asks again
 * once that is applied; LEASE_HELD (another node holds it) suspends and asks again every second.
 *
 * Emits `active` and `suspended` (reason) on every change of {@link active}, and logs them
 * (`lease active`, `lease suspended` {reason}). State: `starting` (inactive, no event yet) →
 * active ⇄ suspended → `stopped` (inactive, lease released).
 */
export class ConfirmationLease extends EventEmitter<ConfirmationLeaseEvents> {
  readonly #client: ConfirmationLeaseOptions['client']
  readonly #siteId: string
  readonly #nodeId: string
  readonly #view: SeatView
  readonly #stream: ConfirmationLeaseOptions['stream']
  readonly #logger: Logger
  readonly #now: () => number
  readonly #wallNow: () => number
  #grant: Grant | undefined
  /** The lease length last granted (kept when the grant is dropped): bounds renewal deadlines. */
  #lastLeaseSeconds: number | undefined
  #reported = false
  #stopped = false
  #stopping: Promise<void> | undefined
  readonly #stopSignal = new AbortController()
  #flipTimer: NodeJS.Timeout | undefined
  readonly #pause = new Pause()
  #loop: Promise<void> | undefined
  #waitingForView = false
  #resyncedFor: bigint | undefined
  readonly #onViewChanges = (): void => this.#evaluate()

  private constructor(options: ConfirmationLeaseOptions) {
    super()
    this.#client = options.client
    this.#siteId = options.siteId
    this.#nodeId = options.nodeId
    this.#view = options.view
    this.#stream = options.stream
    this.#logger = options.logger
    this.#now = options.now ?? (() => performance.now())
    this.#wallNow = options.wallNow ?? Date.now
  }

  /** Starts renewing (the first renewal is sent at once). */
  static start(options: ConfirmationLeaseOptions): ConfirmationLease {
    const lease = new ConfirmationLease(options)
    options.view.on('changes', lease.#onViewChanges)
    lease.#loop = lease.#run()
    return lease
  }

  /** Whether the node may act on flex seats: the lease is {@link held} and the view at or past the grant. */
  get active(): boolean {
    const grant = this.#grant
    return this.held && grant !== undefined && BigInt(this.#view.revision) >= grant.grantedRevision
  }

  /**
   * Whether the node holds the lease now: granted and valid by both the monotonic and the wall
   * clock (whether or not the seat view has caught up). What the registry requires of a node that
   * reports its phones' bindings.
   */
  get held(): boolean {
    const grant = this.#grant
    return !this.#stopped && grant !== undefined && this.#now() < grant.validUntil && this.#wallNow() < grant.validUntilWall
  }

  /** The lease's time to live as last granted or renewed, in seconds; undefined before the first success. */
  get leaseSeconds(): number | undefined {
    return this.#grant?.leaseSeconds
  }

  /** Local-clock instant (see `now`) until which the current lease is valid; undefined without one. */
  get validUntil(): number | undefined {
    return this.#grant?.validUntil
  }

  /**
   * Stops renewing, suspends, then gives the lease up with ReleaseLease (best effort: at most
   * 1 s, failures only logged), so that the branch's pending revocations complete at once.
   * Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping
    this.#stopped = true
    this.#view.off('changes', this.#onViewChanges)
    clearTimeout(this.#flipTimer)
    this.#pause.wake()
    this.#stopSignal.abort()
    this.#evaluate('stopped')
    this.#stopping = this.#release()
    return this.#stopping
  }

  async #release(): Promise<void> {
    // A renewal still in flight could reach the registry after the release and grant a lease
    // nobody renews (pending revocations would then wait it out): let it land first, briefly.
    await withTimeout(this.#loop ?? Promise.resolve(), RELEASE_TIMEOUT_MS)
    try {
      const outcome = await withTimeout(this.#client.releaseLease({ siteId: this.#siteId, nodeId: this.#nodeId }), RELEASE_TIMEOUT_MS)
      if (outcome === 'timeout') this.#logger.warn('lease release timed out')
      else this.#logger.info('lease released')
    } catch (error) {
      this.#logger.warn({ err: error }, 'lease release failed')
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const delayMs = await this.#renew()
      if (this.#stopped) break
      await this.#pause.for(delayMs)
    }
  }

  /** One renewal; returns the delay until the next. */
  async #renew(): Promise<number> {
    const appliedRevision = this.#view.revision
    // Taken just before sending: the validity counts from here, never from the answer.
    const sentAt = this.#now()
    const wallSentAt = this.#wallNow()
    const deadlineMs = renewDeadline(sentAt, { leaseSeconds: this.#lastLeaseSeconds, validUntil: this.#grant?.validUntil }, this.#client.deadlineMs)
    try {
      const res = await this.#client.renewLease({ siteId: this.#siteId, nodeId: this.#nodeId, appliedRevision }, deadlineMs)
      if (this.#stopped) return 0
      if (!(res.leaseSeconds > 0)) throw new Error(`RenewLease answered lease_seconds ${res.leaseSeconds}`)
      this.#lastLeaseSeconds = res.leaseSeconds
      const grant: Grant = { leaseSeconds: res.leaseSeconds, grantedRevision: BigInt(res.grantedRevision), validUntil: validUntil(sentAt, res.leaseSeconds), validUntilWall: validUntil(wallSentAt, res.leaseSeconds) }
      const previous = this.#grant
      this.#grant = grant
      if (res.granted || previous === undefined || previous.grantedRevision !== grant.grantedRevision) {
        this.#logger.info({ leaseSeconds: grant.leaseSeconds, grantedRevision: res.grantedRevision, appliedRevision }, 'lease granted')
      }
      this.#armFlip()
      this.#awaitView(grant)
      this.#evaluate()
      return (grant.leaseSeconds * 1_000) / 3
    } catch (error) {
      if (this.#stopped) return 0
      const code = error instanceof RegistryCallError ? error.code : undefined
      if (code === ErrorCode.ERROR_CODE_LEASE_REFUSED) {
        // The registry saw a revocation of this branch that the view has not applied within the
        // lease: stop acting now, rebuild the view from a snapshot, then ask again.
        this.#drop('lease refused: seat view behind')
        this.#logger.warn({ appliedRevision }, 'lease refused, resynchronising the seat view')
        this.#stream.resync()
        await withTimeout(this.#stream.synced?.() ?? Promise.resolve(), Infinity, this.#stopSignal.signal)
        return 0
      }
      if (code === ErrorCode.ERROR_CODE_LEASE_HELD) {
        this.#drop('lease held by another node')
        this.#logger.warn({ retryInMs: HELD_RETRY_MS }, 'lease held by another node')
        return HELD_RETRY_MS
      }
      // Transport failure or anything else: the current validity simply runs down. Attempts start
      // at most every RENEW_RETRY_MS: one that ran into its deadline has waited already.
      const retryInMs = Math.max(0, Math.round(RENEW_RETRY_MS - (this.#now() - sentAt)))
      this.#logger.warn({ err: error, deadlineMs, retryInMs, validForMs: this.#grant === undefined ? 0 : Math.max(0, Math.round(this.#grant.validUntil - this.#now())) }, 'lease renewal failed')
      return retryInMs
    }
  }

  #drop(reason: string): void {
    this.#grant = undefined
    clearTimeout(this.#flipTimer)
    this.#evaluate(reason)
  }

  #armFlip(): void {
    clearTimeout(this.#flipTimer)
    const grant = this.#grant
    if (grant === undefined || this.#stopped) return
    const remaining = grant.validUntil - this.#now()
    if (remaining <= 0) return
    // Re-arms for any remainder: a timer may fire a fraction of a millisecond before the
    // monotonic clock reaches validUntil.
    this.#flipTimer = setTimeout(() => {
      if (this.#grant === grant && this.#now() < grant.validUntil) this.#armFlip()
      else this.#evaluate()
    }, Math.ceil(remaining))
    this.#flipTimer.unref()
  }

  // The grant is an etcd write of its own, not a seat change: WatchSeats never delivers its
  // revision, and a quiet cluster would leave the view below it indefinitely. A snapshot read
  // after the grant is at or past it, so the stream is asked for one (once per grant); it also
  // reports any seat change the view missed while the lease was lapsed. The view's revision can
  // pass the grant's without a seat change (a snapshot with no difference): 'changes' alone would
  // miss it, hence waitForRevision.
  #awaitView(grant: Grant): void {
    if (BigInt(this.#view.revision) >= grant.grantedRevision) return
    if (this.#resyncedFor !== grant.grantedRevision) {
      this.#resyncedFor = grant.grantedRevision
      this.#logger.debug({ grantedRevision: grant.grantedRevision.toString(), viewRevision: this.#view.revision }, 'seat view behind the grant, asking for a snapshot')
      this.#stream.resync()
    }
    if (this.#waitingForView) return
    this.#waitingForView = true
    void this.#view.waitForRevision(grant.grantedRevision.toString(), grant.leaseSeconds * 1_000).then(() => {
      this.#waitingForView = false
      this.#evaluate()
      const current = this.#grant
      if (current !== undefined && current !== grant) this.#awaitView(current)
    })
  }

  // Emits only on a change of `active`: a node that starts inactive has nothing to suspend.
  #evaluate(reason?: string): void {
    const active = this.active
    if (active === this.#reported) return
    this.#reported = active
    if (active) {
      this.#logger.info({ leaseSeconds: this.#grant?.leaseSeconds }, 'lease active')
      this.emit('active')
    } else {
      const why = reason ?? this.#reason()
      this.#logger.warn({ reason: why }, 'lease suspended')
      this.emit('suspended', why)
    }
  }

  #reason(): string {
    if (this.#stopped) return 'stopped'
    const grant = this.#grant
    if (grant === undefined) return 'no lease'
    if (this.#now() >= grant.validUntil) return 'lease expired: no renewal in time'
    return 'seat view behind the lease grant'
  }

}

/** `work`'s outcome, or 'timeout' after `ms` (or once `signal` aborts); the timer does not hold the process. */
async function withTimeout<T>(work: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    if (Number.isFinite(ms)) {
      timer = setTimeout(() => resolve('timeout'), ms)
      timer.unref()
    }
    if (signal !== undefined) {
      onAbort = () => resolve('timeout')
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
    }
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
  }
}
