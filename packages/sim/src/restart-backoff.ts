/** Options of {@link RestartBackoff}. */
export interface RestartBackoffOptions {
  /** The first delay, in ms (default 1 000). */
  baseMs?: number
  /** The longest delay, in ms (default 30 000). */
  maxMs?: number
  /** A process that ran at least this long, in ms, crashed "fresh": the delay starts over (default 60 000). */
  stableMs?: number
}

/**
 * When to restart a process that ended unexpectedly, as a supervisor (systemd's `RestartSec`,
 * Kubernetes' CrashLoopBackOff) does: after 1 s, then twice as long after each crash that follows
 * a short run, up to 30 s; a process that had run a minute or more starts over at 1 s. Pure: the
 * caller says when the process started and ended.
 */
export class RestartBackoff {
  readonly #baseMs: number
  readonly #maxMs: number
  readonly #stableMs: number
  #crashes = 0

  constructor(options: RestartBackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? 1_000
    this.#maxMs = options.maxMs ?? 30_000
    this.#stableMs = options.stableMs ?? 60_000
  }

  /** Crashes in a row, the one being handled included (1 after a stable run). */
  get attempt(): number {
    return this.#crashes
  }

  /** The delay before restarting a process that ran `ranMs`. */
  next(ranMs: number): number {
    this.#crashes = ranMs >= this.#stableMs ? 1 : this.#crashes + 1
    return Math.min(this.#maxMs, this.#baseMs * 2 ** (this.#crashes - 1))
  }
}
