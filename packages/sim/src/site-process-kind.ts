import type { SiteConfig } from '@flexseat/config'
import type { LogLine } from './log-line'
import type { SimTokens } from './tokens'

/** What a process kind may know when it builds a site's command. */
export interface LaunchContext {
  /** The repository root (the workspace), where `packages/<name>/dist/main.js` live. */
  repoRoot: string
  /** Absolute path of the sites folder. */
  sitesDir: string
  /** Absolute path of the state folder (`.state/`). */
  stateDir: string
  sites: readonly SiteConfig[]
  /** Client URLs of the etcd cluster. */
  etcdEndpoints: readonly string[]
  tokens: SimTokens
  /** Addresses reported by the processes started before: kind name → site id → address. */
  addresses: ReadonlyMap<string, ReadonlyMap<string, string>>
}

/** A command line and the environment it needs (undefined removes an inherited variable). */
export interface ProcessCommand {
  command: string
  args: string[]
  env: Record<string, string | undefined>
}

/**
 * One kind of per-site process (registry; later SIP engine and SIP node). The launcher starts
 * the kinds in the order given, one process per site each, and waits for every process of a
 * kind to be ready before starting the next kind; it stops them in reverse order.
 * Adding a kind is adding one of these to {@link SITE_PROCESS_KINDS}.
 */
export interface SiteProcessKind {
  /** Short name, shown in log prefixes (`berlin registry`). */
  readonly name: string
  command(site: SiteConfig, context: LaunchContext): ProcessCommand
  /** Given a line of the process's output (of `site`'s process), the address it serves at once it is ready; otherwise undefined. */
  readyAddress(line: LogLine, site?: SiteConfig): string | undefined
  /** Runs once every process of the kind is ready (e.g. waits for a leader). */
  settle?(context: LaunchContext, signal: AbortSignal): Promise<void>
  /** How long the processes of the kind may take to be ready (default 60 s). */
  readonly startTimeoutMs?: number
  /** Grace before SIGKILL when stopping (default 10 s). */
  readonly stopGraceMs?: number
}

/**
 * Where a site's flexseat processes serve their Prometheus metrics in the simulation: a free
 * port (0) on the host of the site's registry address (its namespace's address in netns mode);
 * each process logs `metrics listening` with the port it got (see `flexseat logs`).
 */
export function metricsListen(site: SiteConfig): string {
  const host = site.registry.listen.slice(0, site.registry.listen.lastIndexOf(':'))
  return `${host === '0.0.0.0' || host === '' ? '127.0.0.1' : host}:0`
}
