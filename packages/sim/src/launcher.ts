import { EventEmitter } from 'node:events'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import type { SiteConfig } from '@flexseat/config'
import { EtcdCluster } from './etcd-cluster'
import { SimError } from './errors'
import { type LogLine, parseLogLine } from './log-line'
import type { LaunchContext, SiteProcessKind } from './site-process-kind'
import { SITE_PROCESS_KINDS } from './site-process-kinds'
import { RestartBackoff } from './restart-backoff'
import { type ProcessExit, TetheredProcess } from './tethered-process'
import type { SimTokens } from './tokens'

/** Options of {@link Launcher.start}. */
export interface LauncherOptions {
  sites: readonly SiteConfig[]
  /** Absolute path of the folder the sites were loaded from (passed to the processes). */
  sitesDir: string
  /** Absolute path of the state folder; etcd's data is in `<stateDir>/etcd/<member>`. */
  stateDir: string
  /** The workspace root, where `packages/<name>/dist/main.js` live. */
  repoRoot: string
  tokens: SimTokens
  /**
   * The environment the per-site processes inherit (main.ts passes `process.env`); each kind's
   * own variables are laid over it.
   */
  env: Readonly<NodeJS.ProcessEnv>
  /** The per-site process kinds, in start order (default {@link SITE_PROCESS_KINDS}). */
  kinds?: readonly SiteProcessKind[]
  /** Receives every line the children write, with its source (`berlin registry`, `berlin etcd`). Default: discarded. */
  onLine?: (source: string, line: LogLine) => void
  /**
   * A command line put in front of each of a site's processes (its etcd member and every kind),
   * which must exec the rest: `ip netns exec <ns>` runs the site in its network namespace
   * (netns.ts). Default: none.
   */
  commandPrefix?: (site: SiteConfig) => readonly string[]
  /** How long etcd may take to become healthy (default 30 s). */
  etcdStartTimeoutMs?: number
  /** Cancels the start; whatever was started is stopped. */
  signal?: AbortSignal
}

/** A per-site child process. */
export interface SiteProcess {
  site: SiteConfig
  kind: SiteProcessKind
  /** `<site> <kind>`, as in the log prefixes. */
  source: string
  process: TetheredProcess
  /** Where it serves, once it reported ready. */
  address: string | undefined
}

/**
 * - `starting`: etcd, then each process kind in turn, is being started.
 * - `running`: every process is ready; an unexpected exit emits `'unexpected-exit'`.
 * - `stopping` / `stopped`: {@link Launcher.stop} was called (or the start failed).
 */
export type LauncherState = 'starting' | 'running' | 'stopping' | 'stopped'

/** Event payload of `'unexpected-exit'`: a child ended while the launcher was running. */
export interface UnexpectedExit {
  source: string
  pid: number
  exit: ProcessExit
}

/** Event payload of `'restarting'`: the child that ended is started again in `inMs`. */
export interface Restarting extends UnexpectedExit {
  inMs: number
  /** Crashes in a row (1 after a run of a minute or more). */
  attempt: number
}

/** Event payload of `'restarted'`: the child runs again (for a site process: it reported ready). */
export interface Restarted {
  source: string
  pid: number
}

/** Event payload of `'restart-failed'`: starting the child again failed; it is tried again later. */
export interface RestartFailed {
  source: string
  error: unknown
}

/** A child the launcher restarts when it ends: how, and how long to wait. */
interface Supervised {
  readonly source: string
  readonly backoff: RestartBackoff
  /** Starts it again; resolves once it runs (its exit is watched again). */
  restart(): Promise<void>
}

/** What `.state/etcd/members.json` records: the members the data was created for. */
interface MemberRecord {
  name: string
  clientUrl: string
  peerUrl: string
}

/**
 * Runs a set of sites on this machine: a real etcd cluster of one member per site, then one
 * process per site and kind (the registry, the SIP engine and the SIP node), each tethered to
 * this process, and supervises them: a child that ends while running (a crash, a kill) is
 * started again on its own, after 1 s, then twice as long after each crash that follows a short
 * run, up to 30 s ({@link RestartBackoff}). Emits `'unexpected-exit'` ({@link UnexpectedExit}),
 * then `'restarting'` ({@link Restarting}), and `'restarted'` ({@link Restarted}) or
 * `'restart-failed'` ({@link RestartFailed}, tried again later); only {@link stop} ends them.
 */
export class Launcher extends EventEmitter {
  readonly #options: LauncherOptions
  readonly #kinds: readonly SiteProcessKind[]
  readonly #processes: SiteProcess[] = []
  readonly #addresses = new Map<string, Map<string, string>>()
  #etcd: EtcdCluster | undefined
  #state: LauncherState = 'starting'
  /** Aborted (with a SimError) when a child ends during the start. */
  readonly #startFailure = new AbortController()
  #stopping: Promise<void> | undefined
  /** Restarts waiting for their delay, and restarts under way (stop waits for these). */
  readonly #restartTimers = new Set<NodeJS.Timeout>()
  readonly #restarting = new Set<Promise<void>>()

  private constructor(options: LauncherOptions) {
    super()
    this.#options = options
    this.#kinds = options.kinds ?? SITE_PROCESS_KINDS
  }

  /**
   * Starts everything and resolves once every process is ready and each kind has settled
   * (for the registry: a leader is elected). On failure or abort, stops what it started and
   * rejects with a {@link SimError}.
   */
  static async start(options: LauncherOptions): Promise<Launcher> {
    const launcher = new Launcher(options)
    try {
      await launcher.#start()
      return launcher
    } catch (error) {
      await launcher.stop()
      throw options.signal?.aborted ? new SimError('ABORTED', 'the start was cancelled', { cause: error }) : error
    }
  }

  get state(): LauncherState {
    return this.#state
  }

  /** The etcd cluster (undefined before it started). */
  get etcd(): EtcdCluster | undefined {
    return this.#etcd
  }

  /** The per-site processes, in start order. */
  get processes(): readonly SiteProcess[] {
    return this.#processes
  }

  /** Where each process of `kind` serves, by site id. */
  addresses(kind: string): ReadonlyMap<string, string> {
    return this.#addresses.get(kind) ?? new Map()
  }

  /**
   * Stops every process in reverse start order (each kind with SIGTERM, SIGKILL after its
   * grace), then etcd. Idempotent; resolves when everything has ended.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async #stop(): Promise<void> {
    this.#state = 'stopping'
    for (const timer of this.#restartTimers) clearTimeout(timer)
    this.#restartTimers.clear()
    // A restart under way finishes first (and stops what it started: the state is `stopping`).
    await Promise.allSettled([...this.#restarting])
    for (const kind of [...this.#kinds].reverse()) {
      const group = this.#processes.filter((p) => p.kind === kind)
      await Promise.all(group.map((p) => p.process.stop(kind.stopGraceMs ?? 10_000)))
    }
    await this.#etcd?.stop()
    this.#state = 'stopped'
  }

  async #start(): Promise<void> {
    const { sites, stateDir, signal } = this.#options
    const dataDir = join(stateDir, 'etcd')
    await checkEtcdState(dataDir, sites)
    signal?.throwIfAborted()
    this.#etcd = await EtcdCluster.start({
      members: sites.map((site) => ({ ...site.etcd, commandPrefix: this.#options.commandPrefix?.(site) })),
      dataDir,
      startTimeoutMs: this.#options.etcdStartTimeoutMs ?? 30_000,
      onLog: (member, text) => this.#line(`${siteOfMember(sites, member)} etcd`, text),
    })
    await writeFile(join(dataDir, 'members.json'), `${JSON.stringify(sites.map((site) => site.etcd), null, 2)}\n`)
    for (const member of this.#etcd.members) this.#superviseMember(member.name)
    for (const kind of this.#kinds) {
      signal?.throwIfAborted()
      await this.#startKind(kind)
    }
    if (this.#state === 'starting') this.#state = 'running'
  }

  async #startKind(kind: SiteProcessKind): Promise<void> {
    const context = this.#context()
    const timeoutMs = kind.startTimeoutMs ?? 60_000
    const deadline = AbortSignal.timeout(timeoutMs)
    const signals = [deadline, this.#startFailure.signal]
    if (this.#options.signal) signals.push(this.#options.signal)
    const waitSignal = AbortSignal.any(signals)
    const failure = (): unknown =>
      this.#startFailure.signal.aborted
        ? this.#startFailure.signal.reason
        : deadline.aborted
          ? new SimError('START_TIMEOUT', `the ${kind.name} processes were not ready within ${timeoutMs} ms`)
          : new SimError('ABORTED', 'the start was cancelled')
    this.#addresses.set(kind.name, new Map<string, string>())

    const ready = this.#options.sites.map(async (site) => {
      if (waitSignal.aborted) throw failure()
      const child = await this.#spawn(site, kind, context)
      const entry: SiteProcess = { site, kind, source: `${site.id} ${kind.name}`, process: child, address: undefined }
      this.#processes.push(entry)
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          reject(
            deadline.aborted && !this.#startFailure.signal.aborted
              ? new SimError('START_TIMEOUT', `${entry.source} did not report ready within ${timeoutMs} ms`)
              : failure(),
          )
        }
        if (waitSignal.aborted) onAbort()
        waitSignal.addEventListener('abort', onAbort, { once: true })
        this.#watch(entry, child, () => {
          waitSignal.removeEventListener('abort', onAbort)
          resolve()
        })
        void child.exited.then(() => {
          waitSignal.removeEventListener('abort', onAbort)
          reject(failure())
        })
      })
    })
    const results = await Promise.allSettled(ready)
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected')
    if (failed) throw failed.reason
    if (kind.settle) {
      try {
        await kind.settle(this.#context(), waitSignal)
      } catch (error) {
        throw waitSignal.aborted ? failure() : error
      }
    }
  }

  /** Starts `kind`'s process for `site`: its command, its environment over the inherited one, the prefix. */
  async #spawn(site: SiteConfig, kind: SiteProcessKind, context: LaunchContext): Promise<TetheredProcess> {
    const { command, args, env } = kind.command(site, context)
    const childEnv: NodeJS.ProcessEnv = { ...this.#options.env }
    for (const [key, value] of Object.entries(env)) {
      if (value === undefined) delete childEnv[key]
      else childEnv[key] = value
    }
    const prefix = this.#options.commandPrefix?.(site)
    return TetheredProcess.spawn(command, args, { cwd: this.#options.repoRoot, env: childEnv, ...(prefix ? { prefix } : {}) })
  }

  /**
   * Feeds `child`'s lines to the log, calls `onReady` once it reports ready (recording where it
   * serves) and supervises it: when it ends while running, it is started again (see the class).
   */
  #watch(entry: SiteProcess, child: TetheredProcess, onReady: () => void): void {
    const startedAt = performance.now()
    let ready = false
    const onLine = (line: LogLine): void => {
      if (ready) return
      const address = entry.kind.readyAddress(line, entry.site)
      if (address === undefined) return
      ready = true
      entry.address = address
      this.#addresses.get(entry.kind.name)?.set(entry.site.id, address)
      onReady()
    }
    for (const stream of [child.stdout, child.stderr]) eachLine(stream, (text) => onLine(this.#line(entry.source, text)))
    const supervised: Supervised = {
      source: entry.source,
      backoff: this.#backoffOf(entry.source),
      restart: async () => {
        const next = await this.#spawn(entry.site, entry.kind, this.#context())
        entry.process = next
        if (this.#state !== 'running') {
          await next.stop(entry.kind.stopGraceMs ?? 10_000)
          return
        }
        this.#watch(entry, next, () => this.emit('restarted', { source: entry.source, pid: next.pid } satisfies Restarted))
      },
    }
    void child.exited.then((exit) => this.#exited(supervised, child.pid, exit, performance.now() - startedAt))
  }

  /** Supervises etcd member `name` (its current process). */
  #superviseMember(name: string): void {
    const etcd = this.#etcd
    const member = etcd?.member(name)
    const child = member?.process
    if (etcd === undefined || child === undefined) return
    const startedAt = performance.now()
    const source = `${siteOfMember(this.#options.sites, name)} etcd`
    const supervised: Supervised = {
      source,
      backoff: this.#backoffOf(source),
      restart: async () => {
        await etcd.restart(name)
        const next = etcd.member(name).process
        if (this.#state !== 'running') {
          await next?.stop()
          return
        }
        this.#superviseMember(name)
        if (next !== undefined) this.emit('restarted', { source, pid: next.pid } satisfies Restarted)
      },
    }
    void child.exited.then((exit) => this.#exited(supervised, child.pid, exit, performance.now() - startedAt))
  }

  readonly #backoffs = new Map<string, RestartBackoff>()

  #backoffOf(source: string): RestartBackoff {
    let backoff = this.#backoffs.get(source)
    if (backoff === undefined) this.#backoffs.set(source, (backoff = new RestartBackoff()))
    return backoff
  }

  /** Restarts `target` after its backoff delay; a failed restart is tried again later. */
  #scheduleRestart(target: Supervised, ranMs: number, ended?: { pid: number; exit: ProcessExit }): void {
    const inMs = target.backoff.next(ranMs)
    if (ended !== undefined) this.emit('restarting', { source: target.source, pid: ended.pid, exit: ended.exit, inMs, attempt: target.backoff.attempt } satisfies Restarting)
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer)
      if (this.#state !== 'running') return
      const attempt = target.restart().catch((error: unknown) => {
        if (this.#state !== 'running') return
        this.emit('restart-failed', { source: target.source, error } satisfies RestartFailed)
        this.#scheduleRestart(target, 0)
      })
      this.#restarting.add(attempt)
      void attempt.finally(() => this.#restarting.delete(attempt))
    }, inMs)
    timer.unref()
    this.#restartTimers.add(timer)
  }

  #context(): LaunchContext {
    const { repoRoot, sitesDir, stateDir, sites, tokens } = this.#options
    return { repoRoot, sitesDir, stateDir, sites, tokens, etcdEndpoints: this.#etcd?.endpoints ?? [], addresses: this.#addresses }
  }

  #line(source: string, text: string): LogLine {
    const line = parseLogLine(text)
    this.#options.onLine?.(source, line)
    return line
  }

  #exited(target: Supervised, pid: number, exit: ProcessExit, ranMs: number): void {
    if (this.#state === 'starting') {
      this.#startFailure.abort(new SimError('PROCESS_EXITED', `${target.source} exited during the start (${describeExit(exit)})`))
      return
    }
    if (this.#state !== 'running') return
    const event: UnexpectedExit = { source: target.source, pid, exit }
    this.emit('unexpected-exit', event)
    this.#scheduleRestart(target, ranMs, { pid, exit })
  }
}

/** `exit code 1` / `killed by SIGKILL`. */
export function describeExit(exit: ProcessExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`
}

function siteOfMember(sites: readonly SiteConfig[], member: string): string {
  return sites.find((site) => site.etcd.name === member)?.id ?? member
}

function eachLine(stream: Readable, onLine: (line: string) => void): void {
  stream.setEncoding('utf8')
  let pending = ''
  stream.on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) if (line.trim() !== '') onLine(line)
  })
  stream.on('end', () => {
    if (pending.trim() !== '') onLine(pending)
  })
}

/**
 * etcd keeps the member list of its first start in its data: resuming with other names or
 * URLs would hang or fail obscurely. Refuse with a clear error instead.
 */
async function checkEtcdState(dataDir: string, sites: readonly SiteConfig[]): Promise<void> {
  await mkdir(dataDir, { recursive: true })
  const entries = await readdir(dataDir)
  const memberDirs = entries.filter((name) => name !== 'members.json')
  if (memberDirs.length === 0) return
  let recorded: MemberRecord[] | undefined
  try {
    recorded = JSON.parse(await readFile(join(dataDir, 'members.json'), 'utf8')) as MemberRecord[]
  } catch {
    recorded = undefined
  }
  const wanted = sites.map((site) => site.etcd)
  const same =
    recorded !== undefined &&
    recorded.length === wanted.length &&
    wanted.every((w) => recorded.some((r) => r.name === w.name && r.clientUrl === w.clientUrl && r.peerUrl === w.peerUrl))
  if (!same) {
    throw new SimError(
      'STATE_MISMATCH',
      `${dataDir} holds an etcd cluster of other members than the sites name (the sites' etcd sections changed?); start with --reset to begin a new cluster`,
    )
  }
}
