/**
 * Reports the calls the node recorded (call-log.ts) to the cluster's call lists
 * (CallListService.ReportCalls), off the call path: records are queued and sent together once
 * the queue has been quiet for `debounceMs` (default 200 ms; at the latest 5 × that after the
 * first), at most 500 per call.
 *
 * A report that does not get through keeps its records queued, unchanged, and is tried again with
 * backoff (500 ms doubling to 10 s): each record carries its own id, so a report the registry
 * stored but whose answer was lost (a registry failover) stores nothing twice when it is repeated.
 * A report refused as malformed (INVALID_ARGUMENT: a bug, not a moment) is logged and dropped:
 * repeating it could not help. At most `maxQueued` records wait (default 10 000); past that the
 * oldest are dropped and counted in the log.
 *
 * What is queued when the node stops is sent once more ({@link stop}, bounded by the node's stop
 * timeout). Records not yet acknowledged when the process is killed are lost; none that was
 * acknowledged is (the registry answers after etcd committed them).
 *
 * State: running (from {@link CallReporter.start}) → stopped.
 */
import { performance } from 'node:perf_hooks'
import { type CallRecord, ErrorCode, type ReportCallsRequest } from '@flexseat/proto'
import type { Logger } from 'pino'
import type { CallSink } from './call-log'
import { RegistryCallError } from './errors'

/** Options of {@link CallReporter.start}. */
export interface CallReporterOptions {
  client: { reportCalls(req: ReportCallsRequest): Promise<unknown> }
  siteId: string
  nodeId: string
  logger: Logger
  /** Quiet time before queued records are sent, ms (default {@link CALL_DEBOUNCE_MS}). */
  debounceMs?: number
  /** Records per call at most (default {@link MAX_CALLS_PER_CALL}). */
  maxBatch?: number
  /** Records waiting at most (default {@link MAX_QUEUED_CALLS}). */
  maxQueued?: number
  /** First and longest retry delay, ms (default {@link CALL_RETRY_MS}). */
  retry?: { initialMs: number; maxMs: number }
}

export const CALL_DEBOUNCE_MS = 200
export const MAX_CALLS_PER_CALL = 500
export const MAX_QUEUED_CALLS = 10_000
export const CALL_RETRY_MS = { initialMs: 500, maxMs: 10_000 }

/** See the file comment. */
export class CallReporter implements CallSink {
  readonly #o: CallReporterOptions
  readonly #debounceMs: number
  readonly #maxBatch: number
  readonly #maxQueued: number
  readonly #retry: { initialMs: number; maxMs: number }
  /** Records not acknowledged yet, oldest first (a batch under way stays at the head until acknowledged). */
  #queue: CallRecord[] = []
  #timer: NodeJS.Timeout | undefined
  #firstQueuedAt: number | undefined
  #backoffMs = 0
  #sending: Promise<void> | undefined
  /** How many records at the head of the queue a report under way carries (0: none). */
  #inFlight = 0
  #stopped = false
  #dropped = 0

  private constructor(options: CallReporterOptions) {
    this.#o = options
    this.#debounceMs = options.debounceMs ?? CALL_DEBOUNCE_MS
    this.#maxBatch = Math.max(1, options.maxBatch ?? MAX_CALLS_PER_CALL)
    this.#maxQueued = Math.max(1, options.maxQueued ?? MAX_QUEUED_CALLS)
    this.#retry = options.retry ?? CALL_RETRY_MS
  }

  static start(options: CallReporterOptions): CallReporter {
    return new CallReporter(options)
  }

  /** Records waiting to be acknowledged (for tests and status). */
  get pending(): number {
    return this.#queue.length
  }

  /** Records dropped since the start because the queue was full (also in the log, `droppedTotal`). */
  get dropped(): number {
    return this.#dropped
  }

  /** Queues records for the next report (never blocks, never throws). */
  add(records: readonly CallRecord[]): void {
    if (records.length === 0 || this.#stopped) return
    this.#queue.push(...records)
    if (this.#queue.length > this.#maxQueued) {
      // The head may be a batch under way: it is acknowledged or repeated whole, so only what
      // lies behind it is dropped (the oldest of those first).
      const excess = this.#queue.length - this.#maxQueued
      const dropped = this.#queue.splice(this.#inFlight, excess).length
      this.#dropped += dropped
      this.#o.logger.warn({ dropped, droppedTotal: this.#dropped, queued: this.#queue.length }, 'call records dropped: the queue is full (the registry is unreachable)')
    }
    if (this.#backoffMs !== 0 || this.#sending !== undefined) return
    const now = performance.now()
    this.#firstQueuedAt ??= now
    this.#schedule(Math.max(0, Math.min(this.#debounceMs, this.#firstQueuedAt + 5 * this.#debounceMs - now)))
  }

  /** Sends what is queued once more, then stops. Idempotent; the caller bounds the wait. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#sending?.catch(() => undefined)
    while (this.#queue.length > 0) {
      try {
        await this.#sendBatch()
      } catch (error) {
        this.#o.logger.warn({ err: error, queued: this.#queue.length }, 'call records not reported before stopping')
        return
      }
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.#flush(), ms)
    this.#timer.unref()
  }

  #flush(): void {
    this.#timer = undefined
    this.#firstQueuedAt = undefined
    if (this.#stopped || this.#sending !== undefined || this.#queue.length === 0) return
    this.#sending = this.#sendBatch()
      .then(
        () => {
          this.#backoffMs = 0
        },
        (error: unknown) => {
          this.#backoffMs = this.#backoffMs === 0 ? this.#retry.initialMs : Math.min(this.#backoffMs * 2, this.#retry.maxMs)
          this.#o.logger.warn({ err: error, queued: this.#queue.length, retryInMs: this.#backoffMs }, 'call records not reported; retrying')
        },
      )
      .finally(() => {
        this.#sending = undefined
        if (this.#queue.length > 0) this.#schedule(this.#backoffMs === 0 ? 0 : this.#backoffMs)
      })
  }

  /** Reports the head of the queue; removes it once acknowledged (or refused as malformed). */
  async #sendBatch(): Promise<void> {
    const batch = this.#queue.slice(0, this.#maxBatch)
    const started = performance.now()
    this.#inFlight = batch.length
    try {
      await this.#o.client.reportCalls({ siteId: this.#o.siteId, nodeId: this.#o.nodeId, calls: batch })
    } catch (error) {
      if (!(error instanceof RegistryCallError) || error.code !== ErrorCode.ERROR_CODE_INVALID_ARGUMENT) throw error
      this.#o.logger.error({ err: error, records: batch.length }, 'call records refused as malformed; dropped')
    } finally {
      this.#inFlight = 0
    }
    // Only the batch sent leaves the queue (records added meanwhile stay behind it).
    this.#queue.splice(0, batch.length)
    this.#o.logger.debug({ records: batch.length, ms: Math.round(performance.now() - started) }, 'calls reported')
  }
}
