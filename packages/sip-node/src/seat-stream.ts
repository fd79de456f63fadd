import type { WatchSeatsResponse } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryCallError } from './errors'
import type { RegistryClient } from './registry-client'
import type { SeatView } from './seat-view'
import { Pause } from './pause'

/** Options of {@link SeatStream.start}. */
export interface SeatStreamOptions {
  client: Pick<RegistryClient, 'watchSeats'>
  view: SeatView
  logger: Logger
}

/** First delay before reopening a broken stream, in milliseconds; doubles up to {@link MAX_BACKOFF_MS}. */
export const INITIAL_BACKOFF_MS = 100
/** Longest delay between reopening attempts, in milliseconds. */
export const MAX_BACKOFF_MS = 2_000
/**
 * A stream that has not failed for this long counts as open even before its first message: a
 * resumed stream with no seat change to deliver sends nothing, and grpc-js does not tell the
 * iterator when the call was accepted.
 */
const OPEN_AFTER_MS = 1_000

/**
 * Keeps one WatchSeats stream (every site) open and applies its messages to the {@link SeatView}.
 *
 * State: `connecting` → `open` (a message arrived, or the stream survived 1 s) → `broken`
 * (reopened after a backoff of 100 ms doubling to 2 s, reset by every message) → ... → `stopped`.
 * Each reopening resumes with after_revision = the view's revision, which seat.proto makes exact
 * (no gap, no duplicate); a view that has no snapshot yet asks for one ("0"). Every state change
 * is logged. Refusals (bad token) are retried like transport failures, at the longest delay:
 * a SIP node without its seat stream can do nothing useful but wait for the registry.
 */
export class SeatStream {
  readonly #client: Pick<RegistryClient, 'watchSeats'>
  readonly #view: SeatView
  readonly #logger: Logger
  #open = false
  #stopped = false
  // Aborts the current stream only (resync, stop); #stopped ends the loop.
  #current: AbortController | undefined
  #resync = false
  readonly #pause = new Pause()
  #loop: Promise<void> | undefined
  readonly #syncWaiters = new Set<() => void>()

  private constructor(options: SeatStreamOptions) {
    this.#client = options.client
    this.#view = options.view
    this.#logger = options.logger
  }

  /** Opens the stream (in the background) and keeps it open until {@link stop}. */
  static start(options: SeatStreamOptions): SeatStream {
    const stream = new SeatStream(options)
    stream.#loop = stream.#run()
    return stream
  }

  /** Whether the stream is open and the view is ready (complete at its revision). */
  get live(): boolean {
    return this.#open && this.#view.ready && !this.#resync
  }

  /**
   * Restarts the stream from a snapshot that replaces the view (used after LEASE_REFUSED: the view
   * missed something). Until the snapshot arrives the view keeps what it has; the snapshot then
   * reports the difference (a seat the view held that is gone comes out as released with reason
   * UNSPECIFIED), so the node learns of every seat it must drop. {@link synced} resolves once it
   * is applied.
   */
  resync(): void {
    if (this.#stopped) return
    this.#resync = true
    this.#logger.info({ revision: this.#view.revision }, 'seat view resync requested')
    this.#current?.abort(new Error('resync'))
    this.#pause.wake()
  }

  /** Resolves once no resync is outstanding (at once if none is), or when the stream stops. */
  synced(): Promise<void> {
    if (!this.#resync || this.#stopped) return Promise.resolve()
    return new Promise((resolve) => this.#syncWaiters.add(resolve))
  }

  /** Closes the stream and ends the loop. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#stopped) {
      this.#stopped = true
      this.#current?.abort(new Error('stopped'))
      this.#pause.wake()
      this.#settleSync()
    }
    await this.#loop
  }

  async #run(): Promise<void> {
    let failures = 0
    while (!this.#stopped) {
      const controller = new AbortController()
      this.#current = controller
      const replacing = this.#resync
      const after = replacing || !this.#view.ready ? '0' : this.#view.revision
      this.#logger.debug({ afterRevision: after }, 'opening seat stream')
      const openTimer = setTimeout(() => this.#setOpen(true, after), OPEN_AFTER_MS)
      openTimer.unref()
      let failure: unknown
      try {
        for await (const message of this.#client.watchSeats(after, controller.signal)) {
          clearTimeout(openTimer)
          this.#setOpen(true, after)
          failures = 0
          this.#apply(message, replacing && this.#resync)
        }
      } catch (error) {
        failure = error
      } finally {
        clearTimeout(openTimer)
      }
      const wasOpen = this.#open
      this.#setOpen(false, after)
      if (this.#stopped) break
      // A resync aborted the stream on purpose: reopen at once from a snapshot.
      if (controller.signal.aborted && this.#resync) continue
      failures++
      const refused = failure instanceof RegistryCallError && !failure.retryable && !failure.transport
      const delayMs = refused ? MAX_BACKOFF_MS : Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** (failures - 1))
      const fields = { err: failure, retryInMs: delayMs, revision: this.#view.revision, failures }
      if (refused) this.#logger.error(fields, 'seat stream refused by the registry')
      else if (wasOpen || failures === 1) this.#logger.warn(fields, failure === undefined ? 'seat stream ended by the registry' : 'seat stream broken')
      else this.#logger.debug(fields, 'seat stream still unavailable')
      await this.#pause.for(delayMs)
    }
    this.#current = undefined
    this.#logger.info({ revision: this.#view.revision }, 'seat stream stopped')
  }

  #apply(message: WatchSeatsResponse, replace: boolean): void {
    const body = message.message
    if (body?.$case === 'snapshot') {
      const wasReady = this.#view.ready
      this.#view.apply(message, { replace })
      this.#logger.info({ revision: body.value.revision, seats: body.value.seats.length, reason: body.value.reason, resync: replace }, wasReady ? 'seat view replaced' : 'seat view loaded')
      if (replace) {
        this.#resync = false
        this.#settleSync()
      }
      return
    }
    this.#view.apply(message)
  }

  #setOpen(open: boolean, after: string): void {
    if (this.#open === open) return
    this.#open = open
    if (open) this.#logger.info({ afterRevision: after }, 'seat stream open')
  }

  #settleSync(): void {
    for (const resolve of this.#syncWaiters) resolve()
    this.#syncWaiters.clear()
  }

}
