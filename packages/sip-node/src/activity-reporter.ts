/**
 * Reports the workers' call activity (CallListService.ReportCallActivity) as calls start, are
 * answered and end, so that the registry leader knows cluster-wide who is in a call and since
 * when the last call ended (sign-out policies: idle limit, an end deferred while in a call).
 * Fed by the call log of every call routed from a phone here (call-log.ts: both the calling
 * worker and the worker called, wherever the call is carried, the trunk included).
 *
 * Events are sent in the order they happened, batched (at most 500 per call) as soon as the
 * previous report answered. A report that does not get through stays queued and is tried again
 * with backoff (250 ms doubling to 5 s): the registry ignores a repeated event. A report refused as
 * malformed is logged and dropped. At most 10 000 events wait; past that the oldest are dropped.
 *
 * State: running (from {@link ActivityReporter.start}) → stopped.
 */
import { type DialogEvent, ErrorCode, type ReportCallActivityRequest } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryCallError } from './errors'

/** Where a call's dialog events go (call-log.ts). */
export interface ActivitySink {
  activity(events: readonly DialogEvent[]): void
}

export interface ActivityReporterOptions {
  client: { reportCallActivity(req: ReportCallActivityRequest): Promise<unknown> }
  siteId: string
  nodeId: string
  logger: Logger
}

const MAX_BATCH = 500
const MAX_QUEUED = 10_000
const RETRY = { initialMs: 250, maxMs: 5_000 }

export class ActivityReporter implements ActivitySink {
  readonly #o: ActivityReporterOptions
  #queue: DialogEvent[] = []
  #sending: Promise<void> | undefined
  #backoffMs = 0
  #timer: NodeJS.Timeout | undefined
  #running = true

  private constructor(options: ActivityReporterOptions) {
    this.#o = options
  }

  static start(options: ActivityReporterOptions): ActivityReporter {
    return new ActivityReporter(options)
  }

  activity(events: readonly DialogEvent[]): void {
    if (events.length === 0) return
    this.#queue.push(...events)
    if (this.#queue.length > MAX_QUEUED) {
      const dropped = this.#queue.length - MAX_QUEUED
      this.#queue.splice(0, dropped)
      this.#o.logger.warn({ dropped }, 'call activity queue full: oldest events dropped')
    }
    this.#kick()
  }

  #kick(): void {
    if (!this.#running || this.#sending !== undefined || this.#timer !== undefined || this.#queue.length === 0) return
    this.#sending = this.#send().finally(() => {
      this.#sending = undefined
      if (this.#backoffMs === 0) this.#kick()
    })
  }

  async #send(): Promise<void> {
    const batch = this.#queue.slice(0, MAX_BATCH)
    try {
      await this.#o.client.reportCallActivity({ siteId: this.#o.siteId, nodeId: this.#o.nodeId, events: batch })
      this.#queue.splice(0, batch.length)
      this.#backoffMs = 0
    } catch (error) {
      if (error instanceof RegistryCallError && error.code === ErrorCode.ERROR_CODE_INVALID_ARGUMENT) {
        this.#o.logger.error({ err: error, events: batch.length }, 'call activity refused as malformed; dropped')
        this.#queue.splice(0, batch.length)
        return
      }
      this.#backoffMs = this.#backoffMs === 0 ? RETRY.initialMs : Math.min(RETRY.maxMs, this.#backoffMs * 2)
      this.#o.logger.warn({ err: error, retryInMs: this.#backoffMs }, 'call activity report failed; retrying')
      this.#timer = setTimeout(() => {
        this.#timer = undefined
        this.#kick()
      }, this.#backoffMs)
      this.#timer.unref()
    }
  }

  /** Sends what is queued once more (bounded by the caller), then stops. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#running) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#sending
    if (this.#queue.length > 0) await this.#send().catch(() => undefined)
    this.#running = false
  }
}
