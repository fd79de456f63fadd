import type { Logger } from 'pino'

/** A seat with a time limit, as the expiry needs it. */
export interface ExpiringSeat {
  userId: string
  epoch: string
  expiresAt: Date
}

/** Options of {@link SeatExpiry}. */
export interface SeatExpiryOptions {
  /** Every seat that has a time limit. */
  scan: () => Promise<ExpiringSeat[]>
  /** Releases the seat at `epoch` with reason EXPIRED (a fenced leader write). */
  release: (seat: ExpiringSeat) => Promise<void>
  logger: Logger
  /** Re-scan at least this often while running, in ms (default 60 s), and after a failure (default 1 s). */
  rescanMs?: number
  retryMs?: number
  /** The clock seats expire by (default Date.now; tests move it). */
  clock?: () => number
}

/**
 * Releases time-limited seats when their time runs out. Runs only on the leader: started when
 * the instance is elected, stopped when it loses leadership. One timer, set to the nearest
 * expiry; the leader tells it about every new limit it writes ({@link SeatExpiry.note}), and a
 * slow periodic re-scan covers seats written by an earlier leader.
 *
 * State: `stopped` → {@link SeatExpiry.start} → `running` → {@link SeatExpiry.stop} → `stopped`.
 */
export class SeatExpiry {
  readonly #o: Required<SeatExpiryOptions>
  #running = false
  #timer: NodeJS.Timeout | undefined
  #nextAt = Number.POSITIVE_INFINITY
  #busy: Promise<void> | undefined

  constructor(options: SeatExpiryOptions) {
    this.#o = { rescanMs: 60_000, retryMs: 1_000, clock: Date.now, ...options }
  }

  get running(): boolean {
    return this.#running
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.#schedule(this.#o.clock())
  }

  stop(): void {
    this.#running = false
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#nextAt = Number.POSITIVE_INFINITY
  }

  /** A seat with a limit was just written: make sure the timer fires by then. */
  note(expiresAt: Date): void {
    if (this.#running && expiresAt.getTime() < this.#nextAt) this.#schedule(expiresAt.getTime())
  }

  #schedule(at: number): void {
    if (!this.#running) return
    if (this.#timer) clearTimeout(this.#timer)
    this.#nextAt = at
    // setTimeout takes at most 2^31-1 ms; the periodic re-scan bounds the wait anyway.
    const delay = Math.min(Math.max(0, at - this.#o.clock()), this.#o.rescanMs)
    this.#timer = setTimeout(() => void this.#run(), delay)
    this.#timer.unref()
  }

  async #run(): Promise<void> {
    if (!this.#running || this.#busy) return
    this.#nextAt = Number.POSITIVE_INFINITY
    this.#busy = this.#sweep().finally(() => (this.#busy = undefined))
    await this.#busy
  }

  async #sweep(): Promise<void> {
    let next = this.#o.clock() + this.#o.rescanMs
    try {
      const seats = await this.#o.scan()
      const now = this.#o.clock()
      for (const seat of seats) {
        if (!this.#running) return
        if (seat.expiresAt.getTime() <= now) {
          await this.#o.release(seat)
          this.#o.logger.info({ user: seat.userId, epoch: seat.epoch }, 'seat expired')
        } else {
          next = Math.min(next, seat.expiresAt.getTime())
        }
      }
    } catch (error) {
      this.#o.logger.warn({ err: error }, 'seat expiry sweep failed; retrying')
      next = this.#o.clock() + this.#o.retryMs
    }
    this.#schedule(Math.min(next, this.#nextAt))
  }
}
