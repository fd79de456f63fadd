import type { Logger } from 'pino'

/**
 * How often the leader looks for revocations whose branch lease is gone, in ms. The leader also
 * sweeps at once when its watch of `nodes/` sees a lease key deleted (RegistryCore); the tick
 * bounds the wait only when that watch missed the deletion (docs/OPERATIONS.md, "The bound").
 * Each sweep is one keys-only range of `revocations/`, empty and cheap while nothing is pending.
 */
export const SWEEP_INTERVAL_MS = 250

/** Options of {@link RevocationSweeper}. */
export interface RevocationSweeperOptions {
  /** One sweep (ConfirmationLeases.sweep). */
  sweep: () => Promise<void>
  logger: Logger
  /** Default {@link SWEEP_INTERVAL_MS}. */
  intervalMs?: number
  /** What the sweep does, for its log lines (default "revocation sweep"). */
  what?: string
}

/**
 * Runs a periodic sweep on the leader (the revocation sweep; also the expiry of phone bindings,
 * phone-bindings.ts): started when the instance is elected, stopped when it
 * loses leadership. The next sweep is scheduled when the previous one ends, so sweeps never
 * overlap; the timer is unref'd.
 *
 * State: `stopped` → {@link start} → `running` → {@link stop} → `stopped`.
 */
export class RevocationSweeper {
  readonly #o: Required<RevocationSweeperOptions>
  #running = false
  #timer: NodeJS.Timeout | undefined
  #failing = false
  /** A sweep is under way. */
  #sweeping = false
  /** {@link poke} came during a sweep: the next one follows at once. */
  #again = false

  constructor(options: RevocationSweeperOptions) {
    this.#o = { intervalMs: SWEEP_INTERVAL_MS, what: 'revocation sweep', ...options }
  }

  get running(): boolean {
    return this.#running
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.#schedule()
  }

  stop(): void {
    this.#running = false
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
  }

  /**
   * Sweeps now rather than at the next tick (something it looks for has just happened, e.g. a
   * branch's lease key was deleted); after the sweep under way, if there is one. No-op while stopped.
   */
  poke(): void {
    if (!this.#running) return
    if (this.#sweeping) {
      this.#again = true
      return
    }
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    void this.#run()
  }

  #schedule(): void {
    if (!this.#running) return
    const again = this.#again
    this.#again = false
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => void this.#run(), again ? 0 : this.#o.intervalMs)
    this.#timer.unref()
  }

  async #run(): Promise<void> {
    this.#timer = undefined
    if (!this.#running || this.#sweeping) return
    this.#sweeping = true
    try {
      await this.#o.sweep()
      this.#failing = false
    } catch (error) {
      // Leadership lost or etcd unreachable: the next sweep (here or on the next leader) retries.
      if (!this.#failing) this.#o.logger.warn({ err: error }, `${this.#o.what} failed; retrying`)
      this.#failing = true
    } finally {
      this.#sweeping = false
    }
    this.#schedule()
  }
}
