/**
 * Why the simulation could not start or keep running.
 * - `STATE_MISMATCH`: `.state/` holds an etcd cluster of other members than the sites now name.
 * - `START_TIMEOUT`: a process did not report ready (or no leader was elected) in time.
 * - `PROCESS_EXITED`: a child process ended while it was expected to run.
 * - `ABORTED`: the start was cancelled (Ctrl-C during start).
 * - `BAD_SITE`: a site file's value cannot be used to start a process.
 * - `SEED_FAILED`: the simulation's phones and workers could not be created in the registry.
 * - `PHONE_FAILED`: a simulated phone (sipp) could not register, listen or dial.
 * - `DEMO_FAILED`: `npm run demo` found no simulation to play on and could not start one.
 * - `NETNS_UNAVAILABLE`: the multi-host mode cannot run here (not root, no `ip netns`, no netem
 *   for a WAN delay); the message says what is missing.
 * - `NETNS_IN_USE`: another multi-host simulation runs (its namespaces hold processes).
 * - `NETNS_UNKNOWN_SITE`: `cut`/`heal` named a site that has no namespace.
 * - `NETNS_FAILED`: an `ip`/`tc` command failed; the message names the command and its stderr.
 * - `RELAY_FAILED`: the userspace WAN relay (wan-relay.ts) could not listen on one of its routes.
 * - `BAD_OPTION`: an option is out of range (e.g. a WAN delay, a subnet that is not a /24).
 */
export type SimErrorCode = 'STATE_MISMATCH' | 'START_TIMEOUT' | 'PROCESS_EXITED' | 'ABORTED' | 'BAD_SITE' | 'SEED_FAILED' | 'PHONE_FAILED' | 'DEMO_FAILED'
  | 'NETNS_UNAVAILABLE' | 'NETNS_IN_USE' | 'NETNS_UNKNOWN_SITE' | 'NETNS_FAILED' | 'RELAY_FAILED' | 'BAD_OPTION'

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
