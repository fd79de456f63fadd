/**
 * Why a chaos run could not be made.
 * - `BAD_OPTION`: a flag or option is out of range or names nothing (a branch, a fault).
 * - `CLUSTER_FAILED`: a process of the simulated system did not start or could not be reached.
 * - `CLOCK_UNAVAILABLE`: a clock step was asked for but libfaketime is not installed.
 * - `CHECKER_UNAVAILABLE`: `@flexseat/history-check` is not installed (the run is written, not checked).
 */
export type ChaosErrorCode = 'BAD_OPTION' | 'CLUSTER_FAILED' | 'CLOCK_UNAVAILABLE' | 'CHECKER_UNAVAILABLE'

/** An error of the chaos runner. None is retryable without a change. */
export class ChaosError extends Error {
  override readonly name = 'ChaosError'
  readonly code: ChaosErrorCode
  readonly retryable = false

  constructor(code: ChaosErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}
