import type { CheckReport } from './report'

/** The package of the checkers (uniqueness per revision, durability, linearizability per worker, watch order, phones). */
export const CHECKER_PACKAGE = '@flexseat/history-check'

/** What the runner tells the checkers besides the run directory (history-check's CheckOptions). */
export interface CheckOptions {
  /**
   * The phones: the largest double act allowed, ms. The published bound of a takeover at a branch
   * that cannot acknowledge: the confirmation lease + 0.25 s (README, "Published bounds").
   */
  phoneBoundMs: number
  /**
   * Checkers that could not decide (a search bound reached): `separate` keeps them out of the
   * violations, in the report's `unknown` (the run then exits 3: neither pass nor failure).
   */
  unknownAs: 'violation' | 'separate'
  /**
   * Whether the operations' ids are registry request ids (history-check's RequestIdMode): the
   * runner's gRPC writes use their id as the request id, and its `*51` dials record theirs, so it
   * says `yes`; `auto` guesses from the run and cannot tell when no gRPC write succeeded.
   */
  requestIds: 'auto' | 'yes' | 'no'
}

/**
 * Runs `checkRun(dir, options)` of {@link CHECKER_PACKAGE} on a run directory (etcd still
 * running, so that the seat keys' history can be replayed). Resolves with its report, or with the
 * reason it could not run (the package is not installed, or it threw).
 */
export async function runCheckers(dir: string, options: CheckOptions): Promise<{ report: CheckReport } | { reason: string }> {
  let checker: { checkRun?: (dir: string, options: unknown) => Promise<CheckReport> }
  try {
    // By name at run time: the checkers are a package of their own, built beside this one.
    checker = (await import(CHECKER_PACKAGE)) as typeof checker
  } catch (error) {
    return { reason: `${CHECKER_PACKAGE} is not installed (${(error as Error).message.split('\n')[0]})` }
  }
  if (typeof checker.checkRun !== 'function') return { reason: `${CHECKER_PACKAGE} exports no checkRun` }
  try {
    return { report: await checker.checkRun(dir, options) }
  } catch (error) {
    return { reason: `${CHECKER_PACKAGE} failed: ${(error as Error).stack ?? String(error)}` }
  }
}
