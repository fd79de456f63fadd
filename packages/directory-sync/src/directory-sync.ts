import { randomUUID } from 'node:crypto'
import {
  type DirectoryChange,
  DirectoryChangeKind,
  type DirectoryConflict,
  DirectorySyncMode,
  DirectorySyncRun,
  DirectorySyncState,
  type GetDirectorySyncStatusResponse,
  type SyncDirectoryResponse,
  type User,
} from '@flexseat/proto'
import type { Logger } from 'pino'
import { type AttributeMap, type DirectorySyncConfig, departmentPolicies, type TemplatePolicy } from './config'
import { DirectorySyncError } from './errors'
import type { DirectoryReader } from './ldap-directory'
import { planSync } from './planner'

/** What applying one change came to. */
export interface ChangeOutcome {
  /** `applied` (or, in a dry run, would be), `unchanged` (the user matched by then), or `conflict`. */
  result: 'applied' | 'unchanged' | 'conflict'
  /** Why a conflict (the registry's message). */
  reason?: string
  /** The field at fault, as the API names it (`user.did`), when one is. */
  field?: string
  /** The change released the user's seat (reason DIRECTORY). */
  seatReleased?: boolean
}

/**
 * The registry as the sync uses it: the registry leader that hosts the sync implements it over its
 * own fenced writer (packages/registry/src/directory-sync-host.ts). Everything is in the API's
 * terms (proto messages); the rules (validation, one extension space, seats released on a
 * disable or a removal, users created by hand left alone) are the registry's.
 */
export interface SyncTarget {
  /** Every user (the planner compares those the directory created). */
  listUsers(signal: AbortSignal): Promise<User[]>
  /**
   * Applies `changes` in their order, every user written whole or not at all, in fenced
   * transactions that fit etcd's limits; with `dryRun`, plans each against the records of the
   * moment (and the changes before it) and writes nothing. One outcome per change, in order.
   * Throws when the run cannot go on (leadership lost, etcd unreachable).
   */
  apply(changes: readonly DirectoryChange[], options: { dryRun: boolean; signal: AbortSignal }): Promise<ChangeOutcome[]>
  /**
   * Makes the department policies the sync owns those of `policies` (department name in lower
   * case -> the template's key and settings): writes each that differs, removes those it wrote
   * earlier whose template no longer sets a policy; a department policy set by an administrator
   * for a department not in `policies` is left alone. Fenced writes in parts that fit etcd's
   * limits. Returns how many it wrote and removed. With `dryRun`, counts and writes nothing.
   */
  syncDepartmentPolicies(policies: ReadonlyMap<string, { template: string; policy: TemplatePolicy }>, options: { dryRun: boolean; signal: AbortSignal }): Promise<{ written: number; removed: number }>
  /** The recorded status (empty before any run). */
  readStatus(): Promise<GetDirectorySyncStatusResponse>
  /** Records the status; a fenced write, so only the leader's lands. */
  writeStatus(status: GetDirectorySyncStatusResponse): Promise<void>
}

/** Options of {@link DirectorySync}. */
export interface DirectorySyncOptions {
  config: Pick<DirectorySyncConfig, 'schedule' | 'templates' | 'attributes'>
  reader: DirectoryReader
  target: SyncTarget
  /** Recorded with each run. */
  instanceId: string
  logger: Logger
  /** After a failed run, the next scheduled one waits this long at least, in ms (default 30 000, at most the full interval). */
  retryMs?: number
}

/** What a run is asked to do. */
export interface RunRequest {
  /** '' for scheduled runs. */
  requestId: string
  mode: DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL | DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL
  dryRun: boolean
}

/** The conflicts a run record lists at most (they are counted in full). */
export const MAX_LISTED_CONFLICTS = 500

/**
 * - `stopped`: not leading (or not started): runs nothing, accepts no run;
 * - `running`: a full sync at once, then full syncs every `schedule.full_every` and incremental
 *   ones every `schedule.incremental_every` in between; runs asked for (syncNow) queue behind;
 * - `stopping`: the run under way is being aborted.
 */
export type DirectorySyncLifecycle = 'stopped' | 'running' | 'stopping'

interface Term {
  readonly abort: AbortController
  chain: Promise<unknown>
  timer: NodeJS.Timeout | undefined
  lastFullAt: number
  lastRunAt: number
  /** Runs of this term asked for by request id (the last 100). */
  readonly byRequest: Map<string, Promise<SyncDirectoryResponse>>
}

/**
 * The directory sync's scheduler and runs, hosted by the registry leader: {@link start} when the
 * instance becomes leader, {@link stop} at once when it loses leadership (the run under way is
 * aborted; its fenced writes would fail anyway). Runs never overlap. A run: read the entries,
 * read the users, plan ({@link planSync}), apply through the target, record the run.
 *
 * Incremental runs start from the mark of the last successful run of this term; a new leader
 * has none and syncs in full first, which also finishes whatever an earlier leader left
 * half-done (every change is stated as the state wanted, so nothing is done twice).
 */
export class DirectorySync {
  readonly #o: DirectorySyncOptions
  readonly #retryMs: number
  #state: DirectorySyncLifecycle = 'stopped'
  #term: Term | undefined
  #mark: string | undefined
  #stopped: Promise<void> = Promise.resolve()

  constructor(options: DirectorySyncOptions) {
    this.#o = options
    this.#retryMs = Math.min(options.retryMs ?? 30_000, options.config.schedule.fullEveryMs)
  }

  get state(): DirectorySyncLifecycle {
    return this.#state
  }

  /** Starts the schedule (a full sync at once). Idempotent while running. */
  start(): void {
    if (this.#state === 'running') return
    this.#state = 'running'
    this.#mark = undefined
    const term: Term = { abort: new AbortController(), chain: this.#stopped, timer: undefined, lastFullAt: Number.NEGATIVE_INFINITY, lastRunAt: Number.NEGATIVE_INFINITY, byRequest: new Map() }
    this.#term = term
    this.#schedule(term, 0)
  }

  /** Aborts the run under way and stops the schedule; resolves once the run has ended. Idempotent. */
  stop(): Promise<void> {
    const term = this.#term
    if (term === undefined) return this.#stopped
    this.#term = undefined
    this.#state = 'stopping'
    clearTimeout(term.timer)
    term.abort.abort(new DirectorySyncError('ABORTED', 'leadership lost or the instance is stopping'))
    this.#stopped = term.chain.then(
      () => undefined,
      () => undefined,
    )
    void this.#stopped.then(() => {
      if (this.#term === undefined) this.#state = 'stopped'
    })
    return this.#stopped
  }

  /**
   * Runs a sync now, behind any run under way (see SyncDirectory). A dry run answers when it has
   * ended; another run when it has ended or after `waitMs`, still RUNNING. The same request id
   * answers with the same run. Throws DirectorySyncError ABORTED when not running.
   */
  async syncNow(request: RunRequest, waitMs: number): Promise<SyncDirectoryResponse> {
    const term = this.#term
    if (term === undefined) throw new DirectorySyncError('ABORTED', 'the directory sync runs on the leader only, and this instance does not lead now')
    if (request.requestId !== '') {
      const known = term.byRequest.get(request.requestId)
      if (known !== undefined) return this.#within(known, waitMs, request.requestId)
      const recorded = await this.#recorded(request.requestId)
      if (recorded !== undefined) return { run: recorded, changes: [] }
    }
    const runId = randomUUID()
    const result = this.#enqueue(term, { ...request, runId })
    if (request.requestId !== '') {
      term.byRequest.set(request.requestId, result)
      if (term.byRequest.size > 100) term.byRequest.delete(term.byRequest.keys().next().value!)
    }
    return request.dryRun ? result : this.#within(result, waitMs, request.requestId, runId, request)
  }

  async #within(result: Promise<SyncDirectoryResponse>, waitMs: number, requestId: string, runId?: string, request?: RunRequest): Promise<SyncDirectoryResponse> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), Math.max(0, waitMs))
      timer.unref()
    })
    const done = await Promise.race([result, late])
    clearTimeout(timer)
    if (done !== undefined) return done
    const status = await this.#o.target.readStatus().catch(() => undefined)
    const current = status?.current
    if (current !== undefined && (current.requestId === requestId || current.runId === runId)) return { run: current, changes: [] }
    // Still queued behind another run: say so with the run it will be.
    return {
      run: DirectorySyncRun.fromPartial({ runId: runId ?? '', requestId, instanceId: this.#o.instanceId, mode: request?.mode, dryRun: false, state: DirectorySyncState.DIRECTORY_SYNC_STATE_RUNNING }),
      changes: [],
    }
  }

  async #recorded(requestId: string): Promise<DirectorySyncRun | undefined> {
    const status = await this.#o.target.readStatus()
    return [status.current, status.last, status.lastFull].find((run) => run !== undefined && run.requestId === requestId)
  }

  #enqueue(term: Term, request: RunRequest & { runId: string }): Promise<SyncDirectoryResponse> {
    const result = term.chain.then(() => this.#run(term, request))
    term.chain = result.catch(() => undefined)
    return result
  }

  #schedule(term: Term, delayMs: number): void {
    if (this.#term !== term) return
    clearTimeout(term.timer)
    term.timer = setTimeout(() => {
      if (this.#term !== term) return
      const { fullEveryMs } = this.#o.config.schedule
      const mode = Date.now() - term.lastFullAt >= fullEveryMs || this.#mark === undefined ? DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL : DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL
      void this.#enqueue(term, { requestId: '', mode, dryRun: false, runId: randomUUID() }).then(
        (response) => this.#schedule(term, this.#nextDelay(term, response.run?.state === DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED)),
        () => this.#schedule(term, this.#retryMs),
      )
    }, delayMs)
    term.timer.unref()
  }

  #nextDelay(term: Term, succeeded: boolean): number {
    const { fullEveryMs, incrementalEveryMs } = this.#o.config.schedule
    const now = Date.now()
    if (!succeeded) return this.#retryMs
    const full = term.lastFullAt + fullEveryMs - now
    const incremental = incrementalEveryMs > 0 ? term.lastRunAt + incrementalEveryMs - now : Number.POSITIVE_INFINITY
    return Math.max(0, Math.min(full, incremental))
  }

  async #run(term: Term, request: RunRequest & { runId: string }): Promise<SyncDirectoryResponse> {
    const { reader, target, logger, config } = this.#o
    const signal = term.abort.signal
    const startedAt = Date.now()
    const since = request.mode === DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL ? this.#mark : undefined
    // Without a mark (a new leader) an incremental run reads everything.
    const mode = since === undefined ? DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL : request.mode
    const run = DirectorySyncRun.fromPartial({
      runId: request.runId,
      requestId: request.requestId,
      instanceId: this.#o.instanceId,
      mode,
      dryRun: request.dryRun,
      state: DirectorySyncState.DIRECTORY_SYNC_STATE_RUNNING,
      startedAt: new Date(startedAt),
    })
    const log = logger.child({ runId: run.runId, mode: mode === DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL ? 'full' : 'incremental', dryRun: run.dryRun })
    const applied: DirectoryChange[] = []
    const conflicts: DirectoryConflict[] = []
    try {
      if (signal.aborted) throw signal.reason
      if (!run.dryRun) await this.#record({ current: run })
      const read = await reader.read(mode === DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL ? 'full' : 'incremental', since, signal)
      run.entries = read.entries.length
      const users = await target.listUsers(signal)
      const plan = planSync({
        mode: mode === DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL ? 'full' : 'incremental',
        entries: read.entries,
        users,
        templates: config.templates,
        maxDeletions: config.schedule.maxDeletions,
        attributes: config.attributes,
      })
      conflicts.push(...plan.conflicts)
      run.unchanged = plan.unchanged
      const outcomes = plan.changes.length === 0 ? [] : await target.apply(plan.changes, { dryRun: run.dryRun, signal })
      plan.changes.forEach((change, i) => {
        const outcome = outcomes[i] ?? { result: 'conflict', reason: 'no outcome' }
        if (outcome.result === 'unchanged') run.unchanged += 1
        else if (outcome.result === 'conflict') conflicts.push(conflictOf(change, withAttribute(config.attributes, outcome)))
        else {
          applied.push(change)
          if (outcome.seatReleased === true) run.seatsReleased += 1
          if (change.kind === DirectoryChangeKind.DIRECTORY_CHANGE_KIND_CREATE) run.created += 1
          else if (change.kind === DirectoryChangeKind.DIRECTORY_CHANGE_KIND_UPDATE) run.updated += 1
          else if (change.kind === DirectoryChangeKind.DIRECTORY_CHANGE_KIND_DISABLE) run.disabled += 1
          else if (change.kind === DirectoryChangeKind.DIRECTORY_CHANGE_KIND_DELETE) run.deleted += 1
        }
      })
      // The department templates' sign-out policies, every run (a few keys): after a change of the
      // configuration the next run writes them.
      const policies = await target.syncDepartmentPolicies(departmentPolicies(config.templates), { dryRun: run.dryRun, signal })
      if (policies.written + policies.removed > 0) log.info(policies, 'department policies from the templates')
      run.state = DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED
      if (!run.dryRun) {
        if (read.mark !== undefined) this.#mark = read.mark
        if (mode === DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL) term.lastFullAt = startedAt
        term.lastRunAt = startedAt
      }
    } catch (error) {
      run.state = signal.aborted ? DirectorySyncState.DIRECTORY_SYNC_STATE_ABORTED : DirectorySyncState.DIRECTORY_SYNC_STATE_FAILED
      run.error = signal.aborted ? 'stopped: leadership lost or the instance is stopping' : (error as Error).message
      log.warn({ err: error }, run.state === DirectorySyncState.DIRECTORY_SYNC_STATE_ABORTED ? 'directory sync aborted' : 'directory sync failed')
    }
    run.conflictCount = conflicts.length
    run.conflicts = conflicts.slice(0, MAX_LISTED_CONFLICTS)
    run.finishedAt = new Date()
    if (!run.dryRun && !signal.aborted) {
      await this.#record({ last: run }).catch((error: unknown) => log.warn({ err: error }, 'could not record the directory sync run'))
    }
    if (run.state === DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED) {
      const { entries, created, updated, disabled, deleted, unchanged, seatsReleased, conflictCount } = run
      log.info({ entries, created, updated, disabled, deleted, unchanged, seatsReleased, conflicts: conflictCount, ms: Date.now() - startedAt }, 'directory sync finished')
    }
    return { run, changes: applied }
  }

  /** Records `current` (a run starting) or `last` (a run that ended) in the status. */
  async #record(patch: { current?: DirectorySyncRun; last?: DirectorySyncRun }): Promise<void> {
    const status = await this.#o.target.readStatus()
    const next: GetDirectorySyncStatusResponse = { ...status, configured: true }
    if (patch.current !== undefined) next.current = patch.current
    if (patch.last !== undefined) {
      const run = patch.last
      // Runs never overlap: whatever was under way (this run, or a run of a leader that died) has ended.
      next.current = undefined
      next.last = run
      if (run.mode === DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL && run.state === DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED) next.lastFull = run
    }
    await this.#o.target.writeStatus(next)
  }
}

/** The user fields the directory fills, by the API's name, and the attribute they come from. */
const ATTRIBUTE_OF: Readonly<Record<string, keyof AttributeMap>> = {
  'user.id': 'username',
  'user.username': 'username',
  'user.extension': 'extension',
  'user.display_name': 'displayName',
  'user.given_name': 'givenName',
  'user.surname': 'surname',
  'user.did': 'did',
  'user.mobile': 'mobile',
  'user.email': 'email',
  'user.department': 'department',
}

/** The registry's reason, led by the directory attribute it is about ("telephoneNumber: user.did: must be ..."). */
function withAttribute(attributes: AttributeMap, outcome: ChangeOutcome): string {
  const reason = outcome.reason ?? 'refused'
  const attribute = outcome.field === undefined ? undefined : ATTRIBUTE_OF[outcome.field]
  return attribute === undefined || attributes[attribute] === '' ? reason : `${attributes[attribute]}: ${reason}`
}

/** A change the registry refused, as a conflict of its entry. */
function conflictOf(change: DirectoryChange, reason: string): DirectoryConflict {
  return {
    directoryKey: change.directoryKey,
    dn: '',
    username: change.user?.username ?? '',
    extension: change.user?.extension ?? change.previousExtension,
    userId: change.userId,
    reason,
  }
}
