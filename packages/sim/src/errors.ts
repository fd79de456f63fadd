/**
 * Why the simulation could not start or keep running.
 * - `STATE_MISMATCH`: `.state/` holds an etcd cluster of other members than the sites now name.
 * - `START_TIMEOUT`: a process did not report ready (or no leader was elected) in time.
 * - `PROCESS_EXITED`: a child process ended while it was expected to run.
 * - `ABORTED`: the start was cancelled (Ctrl-C during start).
 */
export type SimErrorCode = 'STATE_MISMATCH' | 'START_TIMEOUT' | 'PROCESS_EXITED' | 'ABORTED'

/** An error of the simulation launcher. None is retryable without a change (or `--reset`). */
export class SimError extends Error {
  override readonly name = 'SimError'
  readonly code: SimErrorCode
  readonly retryable = false

  constructor(code: SimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}
