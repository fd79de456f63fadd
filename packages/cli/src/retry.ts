import { setTimeout as sleep } from 'node:timers/promises'

/** How often and how patiently a call is retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included (default 4). */
  readonly attempts: number
  /** Delay before the first retry; doubles each time (default 200 ms). */
  readonly baseDelayMs: number
  /** Upper bound of one delay (default 2000 ms). */
  readonly maxDelayMs: number
}

/**
 * The default: 10 attempts, 250 ms doubling up to 2 s, with jitter: some 8 to 15 s of waiting in
 * all, enough to ride out a leader election (a lease of 3 s by default, then the campaign) on a
 * busy machine.
 */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 10, baseDelayMs: 250, maxDelayMs: 2_000 }

/**
 * The delay before retry number `retry` (1 for the first retry): exponential with "equal jitter"
 * (half fixed, half random), so that many clients retrying at once spread out; a server's hint
 * (`hintMs`, e.g. ErrorDetail.retry_after_ms) is a lower bound. Never above `maxDelayMs`.
 * @see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export function backoffDelay(policy: RetryPolicy, retry: number, hintMs = 0, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1))
  const jittered = ceiling / 2 + (random() * ceiling) / 2
  return Math.min(policy.maxDelayMs, Math.max(hintMs, jittered))
}

/** What {@link retrying} needs to know about the errors of an operation. */
export interface RetryOptions {
  policy?: RetryPolicy
  signal?: AbortSignal
  /**
   * Whether a failure may go away by itself (and the operation is safe to repeat), given the
   * number of the attempt that failed (1 for the first): a kind of failure may deserve fewer
   * attempts than the policy allows.
   */
  retryable(error: unknown, attempt: number): boolean
  /** The server's hint of when to retry, in milliseconds (0: none). */
  hintMs?(error: unknown): number
  /** Called before each delay, e.g. to say so on stderr. */
  onRetry?(error: unknown, retry: number, delayMs: number): void
}

/**
 * Runs `operation` until it succeeds, fails with an error that is not retryable, or has used all
 * attempts (then the last error is thrown). The caller makes the operation idempotent: a mutating
 * call is retried with the same request id, so the registry applies it once.
 */
export async function retrying<T>(operation: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt)
    } catch (error) {
      if (attempt >= policy.attempts || !options.retryable(error, attempt) || options.signal?.aborted === true) throw error
      const delayMs = backoffDelay(policy, attempt, options.hintMs?.(error) ?? 0)
      options.onRetry?.(error, attempt, delayMs)
      // Not unref'd: a command waiting to retry must keep the process alive.
      await sleep(delayMs, undefined, { signal: options.signal })
    }
  }
}
