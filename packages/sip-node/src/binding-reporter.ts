/**
 * Reports the branch's phone bindings to the cluster (BranchService.ReportBindings), so that a
 * restarted node can restore them and any registry instance can say which phones are online
 * (DESIGN.md, Flows → Register).
 *
 * The registrar's changes (a binding stored or refreshed, a phone unregistered, a registration
 * expired) are queued per device, the latest change winning, and sent together once the queue
 * has been quiet for `debounceMs` (default 200 ms; at the latest 1 s after the first change),
 * at most 1000 per call. Only the node holding
 * the site's confirmation lease may report: while it does not, changes wait. A report refused
 * (LEASE_HELD) or that does not get through keeps its changes queued and is tried again with
 * backoff (500 ms doubling to 10 s). Whenever the lease becomes active again, every current
 * binding is reported once (a full resync: what the node learnt while cut off never reached the
 * cluster, and bindings it reported may have expired there meanwhile); so it is every 6 hours,
 * which also renews bindings that outlive the 24 hours the cluster accepts ahead.
 *
 * Reporting never blocks or fails a REGISTER: it runs beside the registrar, on its events.
 *
 * State: running (from {@link BindingReporter.start}) → stopped ({@link BindingReporter.stop},
 * which sends what is queued once more, if the lease is held).
 */
import { performance } from 'node:perf_hooks'
import { ErrorCode, type PhoneBinding, type ReportBindingsRequest } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryCallError } from './errors'
import type { Binding, Registrar } from './registrar'

/** What the reporter needs of the registrar: its live bindings and its change events. */
export type ReporterRegistrar = Pick<Registrar, 'bindings' | 'on' | 'off'>

/** What the reporter needs of the confirmation lease. */
export interface ReporterLease {
  /** Whether the node holds the site's lease now (granted and valid by its own clock). */
  held(): boolean
  /** Calls `listener` whenever the lease becomes active; returns the unsubscribe. */
  onActive(listener: () => void): () => void
}

/** Options of {@link BindingReporter.start}. */
export interface BindingReporterOptions {
  client: { reportBindings(req: ReportBindingsRequest): Promise<void> }
  siteId: string
  nodeId: string
  registrar: ReporterRegistrar
  lease: ReporterLease
  logger: Logger
  /**
   * Quiet time before queued changes are sent, ms (default {@link DEBOUNCE_MS}); changes that
   * keep coming are sent at the latest 5 × this after the first of them.
   */
  debounceMs?: number
  /** Changes per call at most (default {@link MAX_REPORT}, the registry's limit). */
  maxBatch?: number
  /** First and longest retry delay, ms (default {@link RETRY_MS}). */
  retry?: { initialMs: number; maxMs: number }
  /** Period of the full resync, ms (default {@link RESYNC_INTERVAL_MS}). */
  resyncIntervalMs?: number
  /** Wall clock in ms (default Date.now): expiries are wall-clock times. */
  now?: () => number
}

/** Default quiet time before a report, ms. */
export const DEBOUNCE_MS = 200
/** Bindings set or removed per ReportBindings call at most (the registry's limit). */
export const MAX_REPORT = 1_000
/** Default retry backoff after a failed report, ms. */
export const RETRY_MS = { initialMs: 500, maxMs: 10_000 }
/** Default period of the full resync, ms. */
export const RESYNC_INTERVAL_MS = 6 * 3_600_000
/**
 * How far ahead a reported expiry may be: the cluster refuses more than 24 h ahead of its clock;
 * 5 minutes are left for the clocks to differ. A longer registration is reported again by the
 * periodic resync.
 */
const MAX_AHEAD_MS = 24 * 3_600_000 - 5 * 60_000
/** The contact and source the cluster accepts (registry phone-bindings.ts). */
const CONTACT = /^sips?:[^\s<>"]{1,507}$/i
const SOURCE = /^[A-Za-z]{2,5}:\S{1,116}:[0-9]{1,5}$/

/** A queued change of one device: its binding to set, or undefined to remove it. */
type Change = { deviceId: string; binding: Binding | undefined }

/** See the file comment. */
export class BindingReporter {
  readonly #o: BindingReporterOptions
  readonly #now: () => number
  readonly #debounceMs: number
  readonly #maxBatch: number
  readonly #retry: { initialMs: number; maxMs: number }
  /** Changes not reported yet, by device (insertion order: oldest first). */
  readonly #pending = new Map<string, Binding | undefined>()
  #resync = false
  #timer: NodeJS.Timeout | undefined
  #resyncTimer: NodeJS.Timeout | undefined
  #backoffMs = 0
  /** When the oldest change not yet scheduled for sending was queued (monotonic ms). */
  #firstQueuedAt: number | undefined
  #sending: Promise<void> | undefined
  #stopped = false
  #unsubscribe: () => void = () => undefined
  readonly #onBound = (binding: Binding): void => this.#queue(binding.deviceId, binding)
  readonly #onUnbound = (deviceId: string): void => this.#queue(deviceId, undefined)

  private constructor(options: BindingReporterOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#debounceMs = options.debounceMs ?? DEBOUNCE_MS
    this.#maxBatch = Math.max(1, Math.min(options.maxBatch ?? MAX_REPORT, MAX_REPORT))
    this.#retry = options.retry ?? RETRY_MS
  }

  /** Listens to the registrar and the lease; a first full resync follows once the lease is active. */
  static start(options: BindingReporterOptions): BindingReporter {
    const reporter = new BindingReporter(options)
    options.registrar.on('bound', reporter.#onBound)
    options.registrar.on('unbound', reporter.#onUnbound)
    reporter.#unsubscribe = options.lease.onActive(() => reporter.resync())
    const period = options.resyncIntervalMs ?? RESYNC_INTERVAL_MS
    reporter.#resyncTimer = setInterval(() => reporter.resync(), period)
    reporter.#resyncTimer.unref()
    // A lease active already (it became so before the reporter listened) resyncs now.
    if (options.lease.held()) reporter.resync()
    return reporter
  }

  /** Changes waiting to be reported (for tests and status). */
  get pending(): number {
    return this.#pending.size
  }

  /** Reports every current binding (and what is queued) at the next send; at once unless one is under way. */
  resync(): void {
    if (this.#stopped) return
    this.#resync = true
    this.#backoffMs = 0
    this.#schedule(0)
  }

  /**
   * Stops listening; sends what is queued once more if the lease is held (the caller bounds the
   * wait: the node stops within its own timeout). Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#o.registrar.off('bound', this.#onBound)
    this.#o.registrar.off('unbound', this.#onUnbound)
    this.#unsubscribe()
    clearTimeout(this.#timer)
    clearInterval(this.#resyncTimer)
    await this.#sending?.catch(() => undefined)
    if ((this.#pending.size > 0 || this.#resync) && this.#o.lease.held()) await this.#send().catch(() => undefined)
  }

  #queue(deviceId: string, binding: Binding | undefined): void {
    if (this.#stopped) return
    // Re-inserted so that the map's order stays oldest change first.
    this.#pending.delete(deviceId)
    this.#pending.set(deviceId, binding)
    // A report failing meanwhile has its own retry timer: a new change does not hurry it.
    if (this.#backoffMs !== 0 || this.#sending !== undefined) return
    const now = performance.now()
    this.#firstQueuedAt ??= now
    this.#schedule(Math.max(0, Math.min(this.#debounceMs, this.#firstQueuedAt + 5 * this.#debounceMs - now)))
  }

  /** (Re)arms the send timer: a change pushes a pending debounce back. */
  #schedule(ms: number): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.#flush(), ms)
    this.#timer.unref()
  }

  #flush(): void {
    this.#timer = undefined
    this.#firstQueuedAt = undefined
    if (this.#stopped) return
    if (this.#sending !== undefined) return // the send under way schedules the next
    if (this.#pending.size === 0 && !this.#resync) return
    if (!this.#o.lease.held()) {
      // Wait for the lease: its becoming active resyncs; meanwhile look now and then (a lease
      // granted again with the seat view still behind is held but not yet active).
      this.#retryLater('lease not held')
      return
    }
    this.#sending = this.#send().then(
      () => {
        this.#backoffMs = 0
      },
      (error: unknown) => this.#retryLater(error),
    ).finally(() => {
      this.#sending = undefined
      if (!this.#stopped && this.#backoffMs === 0 && (this.#pending.size > 0 || this.#resync)) this.#schedule(this.#debounceMs)
    })
  }

  #retryLater(why: unknown): void {
    this.#backoffMs = this.#backoffMs === 0 ? this.#retry.initialMs : Math.min(this.#backoffMs * 2, this.#retry.maxMs)
    const leaseHeld = why instanceof RegistryCallError && why.code === ErrorCode.ERROR_CODE_LEASE_HELD
    const fields = { pending: this.#pending.size, resync: this.#resync, retryInMs: this.#backoffMs }
    if (typeof why === 'string') this.#o.logger.debug({ ...fields, reason: why }, 'bindings not reported yet')
    else if (leaseHeld) this.#o.logger.info(fields, 'bindings not reported: the lease is not held')
    else this.#o.logger.warn({ ...fields, err: why }, 'bindings report failed')
    this.#schedule(this.#backoffMs)
  }

  /**
   * Takes everything queued (all current bindings too after a resync) and reports it, at most
   * `maxBatch` per call. What was not reported when a call fails is queued again, unless a newer
   * change of the same device was queued meanwhile; then the failure is thrown.
   */
  async #send(): Promise<void> {
    const changes = new Map<string, Binding | undefined>()
    if (this.#resync) {
      for (const binding of this.#o.registrar.bindings()) changes.set(binding.deviceId, binding)
    }
    // After a resync the registrar's bindings are the truth; the queue adds the devices gone since.
    for (const [deviceId, binding] of this.#pending) if (!changes.has(deviceId)) changes.set(deviceId, binding)
    this.#resync = false
    this.#pending.clear()
    const list: Change[] = [...changes].map(([deviceId, binding]) => ({ deviceId, binding }))
    for (let i = 0; i < list.length; i += this.#maxBatch) {
      const batch = list.slice(i, i + this.#maxBatch)
      try {
        await this.#report(batch)
      } catch (error) {
        for (const change of list.slice(i)) if (!this.#pending.has(change.deviceId)) this.#pending.set(change.deviceId, change.binding)
        throw error
      }
    }
  }

  async #report(batch: readonly Change[]): Promise<void> {
    const now = this.#now()
    const bindings: PhoneBinding[] = []
    const removedDeviceIds: string[] = []
    for (const { deviceId, binding } of batch) {
      if (binding === undefined) {
        removedDeviceIds.push(deviceId)
        continue
      }
      if (!CONTACT.test(binding.contact) || !SOURCE.test(binding.source)) {
        // The cluster would refuse the whole call: this phone stays out of it (and out of a restart).
        this.#o.logger.warn({ device: deviceId, contact: binding.contact, source: binding.source }, 'binding not reported: contact or source the cluster does not accept')
        removedDeviceIds.push(deviceId)
        continue
      }
      bindings.push({
        deviceId,
        siteId: this.#o.siteId,
        contact: binding.contact,
        source: binding.source,
        userAgent: binding.userAgent,
        // Past: the cluster removes it; more than 24 h ahead: capped (renewed by the resync).
        expiresAt: new Date(Math.min(binding.expiresAt, now + MAX_AHEAD_MS)),
        registeredAt: new Date(binding.registeredAt),
      })
    }
    const started = performance.now()
    await this.#o.client.reportBindings({ siteId: this.#o.siteId, nodeId: this.#o.nodeId, bindings, removedDeviceIds })
    this.#o.logger.debug({ set: bindings.length, removed: removedDeviceIds.length, ms: Math.round(performance.now() - started) }, 'bindings reported')
  }
}
