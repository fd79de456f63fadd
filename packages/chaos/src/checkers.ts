import type { CheckOptions as CheckerOptions } from '@flexseat/history-check'
import type { CheckReport } from './report'

/** The package of the checkers (uniqueness per revision, durability, linearizability per worker, watch order, phones). */
export const CHECKER_PACKAGE = '@flexseat/history-check'

/**
 * What the runner tells the checkers besides the run directory (history-check's CheckOptions),
 * each set: `phoneBoundMs`, the published bound of a takeover at a branch that cannot
 * acknowledge (the confirmation lease + 0.25 s, README "Published bounds"); `unknownAs:
 * 'separate'`, so an undecided checker is reported apart (the run then exits 3: neither pass nor
 * failure); `requestIds: 'yes'`, since the runner's gRPC writes use their id as the request id
 * and its `*51` dials record theirs (`auto` cannot tell when no gRPC write succeeded).
 */
export type CheckOptions = Required<Pick<CheckerOptions, 'phoneBoundMs' | 'unknownAs' | 'requestIds'>>

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
