import { mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { freePorts } from './free-port'
import { type ProcessExit, TetheredProcess } from './tethered-process'

/** One member of an etcd cluster. */
export interface EtcdMemberSpec {
  name: string
  /** e.g. http://127.0.0.1:2379 */
  clientUrl: string
  /** e.g. http://127.0.0.1:2380 */
  peerUrl: string
  /**
   * Where the other members reach this one (default `peerUrl`): another address that leads to
   * `peerUrl`, e.g. a {@link WanRelay} route that delays the peer traffic into this member.
   */
  advertisePeerUrl?: string
  /** Put in front of the etcd command line, e.g. `ip netns exec <ns>` (see {@link TetheredProcess.spawn}). */
  commandPrefix?: readonly string[]
}

/** Options of {@link EtcdCluster.start}. */
export interface EtcdClusterOptions {
  /** The members; or a count, for members on free loopback ports named etcd-0, etcd-1, ... */
  members: readonly EtcdMemberSpec[] | number
  /** Each member's data lives in `<dataDir>/<name>`. */
  dataDir: string
  /** Remove existing member data before starting (default false: an existing cluster resumes). */
  fresh?: boolean
  /** The etcd binary (default `etcd`, Debian's etcd-server). */
  etcdBin?: string
  /** Raft heartbeat interval in ms (etcd's default 100). */
  heartbeatMs?: number
  /** Raft election timeout in ms (etcd's default 1000). */
  electionTimeoutMs?: number
  /**
   * `--max-txn-ops` and `--max-request-bytes` of every member (default {@link ETCD_TXN_LIMITS},
   * etcd's own defaults, set explicitly): the registries must be told the same
   * (FLEXSEAT_ETCD_MAX_TXN_OPS, FLEXSEAT_ETCD_MAX_REQUEST_BYTES; see {@link EtcdCluster.registryEnv}).
   */
  txnLimits?: EtcdTxnLimits
  /** Wait at most this long for the cluster to become healthy (default 20 s). */
  startTimeoutMs?: number
  /** Receives each member's log lines (etcd logs to stderr). Default: discarded. */
  onLog?: (member: string, line: string) => void
}

/** etcd's per-transaction limits: the `--max-txn-ops` and `--max-request-bytes` flags. */
export interface EtcdTxnLimits {
  maxTxnOps: number
  maxRequestBytes: number
}

/** etcd's defaults (128 operations of each kind, 1.5 MiB), which the project's clusters set explicitly. */
export const ETCD_TXN_LIMITS: Readonly<EtcdTxnLimits> = Object.freeze({ maxTxnOps: 128, maxRequestBytes: 1_572_864 })

/** The registry settings that must match a cluster's transaction limits. */
export function etcdLimitsEnv(limits: EtcdTxnLimits = ETCD_TXN_LIMITS): Record<string, string> {
  return { FLEXSEAT_ETCD_MAX_TXN_OPS: String(limits.maxTxnOps), FLEXSEAT_ETCD_MAX_REQUEST_BYTES: String(limits.maxRequestBytes) }
}

/** A running member. */
export interface EtcdMember extends EtcdMemberSpec {
  process: TetheredProcess | undefined
}

/**
 * A real etcd cluster of child processes on this machine, for `npm start` and for tests.
 * Members can be killed, paused (SIGSTOP) and resumed, and restarted on their data.
 * Every member is tethered: it dies with the process that started it.
 */
export class EtcdCluster {
  readonly #options: Required<Omit<EtcdClusterOptions, 'members' | 'onLog'>> & Pick<EtcdClusterOptions, 'onLog'>
  readonly #members: Map<string, EtcdMember>
  #stopped = false

  private constructor(members: readonly EtcdMemberSpec[], options: EtcdClusterOptions) {
    this.#options = {
      dataDir: options.dataDir,
      fresh: options.fresh ?? false,
      etcdBin: options.etcdBin ?? 'etcd',
      heartbeatMs: options.heartbeatMs ?? 100,
      electionTimeoutMs: options.electionTimeoutMs ?? 1_000,
      txnLimits: options.txnLimits ?? ETCD_TXN_LIMITS,
      startTimeoutMs: options.startTimeoutMs ?? 20_000,
      onLog: options.onLog,
    }
    this.#members = new Map(members.map((spec) => [spec.name, { ...spec, process: undefined }]))
  }

  /**
   * Starts every member and resolves once each answers its health check. With `members` a
   * count, the ports are picked free but bound only later by etcd, so another process may take
   * one first: if a member exits while the cluster starts, it is started again on fresh ports
   * (at most {@link START_ATTEMPTS} times). Explicit member specs are started once, as given.
   */
  static async start(options: EtcdClusterOptions): Promise<EtcdCluster> {
    if (typeof options.members !== 'number') return EtcdCluster.#startOnce(options.members, options)
    const count = options.members
    for (let attempt = 1; ; attempt += 1) {
      const members = await loopbackMembers(count)
      // Member data written by a failed attempt names its ports: a retry must not resume it.
      const created = await absentDirs(members.map((member) => join(options.dataDir, member.name)))
      try {
        return await EtcdCluster.#startOnce(members, options)
      } catch (error) {
        if (!(error instanceof MemberExitedError) || attempt >= START_ATTEMPTS) throw error
        await Promise.all(created.map((dir) => rm(dir, { recursive: true, force: true })))
      }
    }
  }

  static async #startOnce(members: readonly EtcdMemberSpec[], options: EtcdClusterOptions): Promise<EtcdCluster> {
    if (members.length === 0) throw new Error('an etcd cluster needs at least one member')
    const cluster = new EtcdCluster(members, options)
    try {
      if (cluster.#options.fresh) await rm(cluster.#options.dataDir, { recursive: true, force: true })
      await mkdir(cluster.#options.dataDir, { recursive: true })
      await Promise.all(members.map((member) => cluster.#spawn(member.name)))
      const everyMember = cluster.members
      await waitUntil(
        async () => {
          // A member that ends before the cluster is healthy (typically: its port was taken)
          // will not come back; say so at once instead of waiting out the start timeout.
          const exited = everyMember.find((member) => !member.process?.running)
          if (exited) throw new MemberExitedError(exited.name)
          return (await Promise.all(everyMember.map((member) => isHealthy(member.clientUrl)))).every(Boolean)
        },
        cluster.#options.startTimeoutMs,
        'the etcd cluster did not become healthy',
      )
      return cluster
    } catch (error) {
      await cluster.stop()
      throw error
    }
  }

  /** The members' transaction limits (`--max-txn-ops`, `--max-request-bytes`). */
  get txnLimits(): EtcdTxnLimits {
    return this.#options.txnLimits
  }

  /** The registry environment that matches them (FLEXSEAT_ETCD_MAX_TXN_OPS, ..._MAX_REQUEST_BYTES). */
  get registryEnv(): Record<string, string> {
    return etcdLimitsEnv(this.#options.txnLimits)
  }

  /** Client URLs of every member, for etcd3's `hosts`. */
  get endpoints(): string[] {
    return [...this.#members.values()].map((member) => member.clientUrl)
  }

  /** The members, in the order given. */
  get members(): readonly EtcdMember[] {
    return [...this.#members.values()]
  }

  member(name: string): EtcdMember {
    const member = this.#members.get(name)
    if (!member) throw new Error(`no etcd member ${name}`)
    return member
  }

  /** Kills a member with SIGKILL (its data stays; {@link restart} brings it back). */
  async kill(name: string): Promise<ProcessExit | undefined> {
    return this.member(name).process?.kill()
  }

  /** Pauses a member (SIGSTOP): it stays in the cluster but answers nothing. */
  pause(name: string): void {
    this.member(name).process?.signal('SIGSTOP')
  }

  /** Resumes a paused member (SIGCONT). */
  resume(name: string): void {
    this.member(name).process?.signal('SIGCONT')
  }

  /** Starts a killed or stopped member again on its data and waits until it is healthy. */
  async restart(name: string): Promise<void> {
    const member = this.member(name)
    if (member.process?.running) await member.process.stop()
    await this.#spawn(name)
    await waitUntil(() => isHealthy(member.clientUrl), this.#options.startTimeoutMs, `etcd member ${name} did not become healthy`)
  }

  /** Resolves once every running member reports healthy (the cluster has a leader). */
  async waitHealthy(timeoutMs = this.#options.startTimeoutMs): Promise<void> {
    const running = this.members.filter((member) => member.process?.running)
    await waitUntil(
      async () => (await Promise.all(running.map((member) => isHealthy(member.clientUrl)))).every(Boolean),
      timeoutMs,
      'the etcd cluster did not become healthy',
    )
  }

  /**
   * Stops every member (SIGTERM, then SIGKILL after `graceMs`), one after another. Idempotent.
   * One at a time because a member told to stop while its peers are going away at the same
   * instant can hang until it is killed (etcd 3.4, seen here); in turn, each stop takes ~0.1 s.
   */
  async stop(graceMs = 5_000): Promise<void> {
    this.#stopped = true
    for (const member of this.members) await member.process?.stop(graceMs)
  }

  async #spawn(name: string): Promise<void> {
    if (this.#stopped) throw new Error('the etcd cluster was stopped')
    const member = this.member(name)
    const initialCluster = this.members.map((m) => `${m.name}=${m.advertisePeerUrl ?? m.peerUrl}`).join(',')
    const args = [
      '--name', member.name,
      '--data-dir', join(this.#options.dataDir, member.name),
      '--listen-client-urls', member.clientUrl,
      '--advertise-client-urls', member.clientUrl,
      '--listen-peer-urls', member.peerUrl,
      '--initial-advertise-peer-urls', member.advertisePeerUrl ?? member.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', 'flexseat',
      '--heartbeat-interval', String(this.#options.heartbeatMs),
      '--election-timeout', String(this.#options.electionTimeoutMs),
      // etcd's defaults, but said here: the registries split their batches by the same numbers.
      '--max-txn-ops', String(this.#options.txnLimits.maxTxnOps),
      '--max-request-bytes', String(this.#options.txnLimits.maxRequestBytes),
      '--logger', 'zap',
      '--log-level', 'warn',
    ]
    const child = await TetheredProcess.spawn(this.#options.etcdBin, args, member.commandPrefix ? { prefix: member.commandPrefix } : {})
    member.process = child
    const onLog = this.#options.onLog
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8')
      let pending = ''
      stream.on('data', (chunk: string) => {
        if (!onLog) return
        pending += chunk
        const lines = pending.split('\n')
        pending = lines.pop() ?? ''
        for (const line of lines) if (line) onLog(member.name, line)
      })
    }
  }
}

/** How often {@link EtcdCluster.start} tries fresh ports when a member exits during start. */
const START_ATTEMPTS = 3

/** A member ended while its cluster was starting. */
class MemberExitedError extends Error {
  constructor(member: string) {
    super(`etcd member ${member} exited while the cluster was starting (is its port taken?)`)
  }
}

/** Those of `dirs` that do not exist yet. */
async function absentDirs(dirs: readonly string[]): Promise<string[]> {
  const absent = await Promise.all(dirs.map((dir) => stat(dir).then(() => false, () => true)))
  return dirs.filter((_, i) => absent[i])
}

async function loopbackMembers(count: number): Promise<EtcdMemberSpec[]> {
  const ports = await freePorts(count * 2)
  return Array.from({ length: count }, (_, i) => ({
    name: `etcd-${i}`,
    clientUrl: `http://127.0.0.1:${ports[2 * i]}`,
    peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
  }))
}

/** Whether the member at `clientUrl` answers /health with health true. */
export async function isHealthy(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) })
    const body = (await response.json()) as { health?: string }
    return body.health === 'true'
  } catch {
    return false
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(message)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
