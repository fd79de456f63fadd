import type { Etcd3, IStatusResponse } from 'etcd3'
import type { Logger } from 'pino'

/** Options of {@link EtcdLeaderPlacement}. */
export interface EtcdLeaderPlacementOptions {
  /**
   * The registry's etcd endpoints, nearest first (as createEtcdClient takes them): the first is
   * this instance's own member, the one raft leadership is moved to.
   */
  endpoints: readonly string[]
  /** A client that talks to `endpoint` alone (createEtcdClient([endpoint])); closed by the placement. */
  connect: (endpoint: string) => Etcd3
  /**
   * The least time between two attempts to move etcd's leadership, in ms (default 30 000): etcd
   * may move it away again (an election after a slow WAN), and every move stalls etcd's writes
   * for about a round trip; this bounds how often that can happen.
   */
  minIntervalMs?: number
  /** How often the leading instance looks where etcd's leader is, in ms (default {@link CHECK_INTERVAL_MS}). */
  checkIntervalMs?: number
  /** Deadline of each Status and of the MoveLeader call, in ms (default 3 000 and 5 000). */
  statusTimeoutMs?: number
  moveTimeoutMs?: number
  /** A monotonic clock in ms (default performance.now). */
  clock?: () => number
  logger: Logger
}

/** How often the leading instance looks where etcd's leader is (a Status of its own member, which answers locally). */
export const CHECK_INTERVAL_MS = 2_000

/**
 * The most raft entries the own member may be behind the leader's commit index and still be
 * given leadership: further behind, it is slow or was cut off, and raft would first have to send
 * it the missing entries while etcd's writes wait.
 */
export const MAX_RAFT_LAG = 1_000

/** A member's Status as the placement needs it. */
export interface MemberStatus {
  /** The answering member's id (decimal, as etcd3 gives uint64s). */
  memberId: string
  /** The leader it knows ('0': none). */
  leader: string
  raftIndex: bigint
  raftAppliedIndex: bigint
  isLearner: boolean
  /** Alarms (NOSPACE, CORRUPT) and health errors. */
  errors: readonly string[]
}

/** What one look at etcd's leadership found, or did. */
export type PlacementStep =
  | { action: 'none'; reason: 'in-place' | 'no-leader' | 'own-learner' | 'own-alarm' | 'own-lagging' | 'rate-limited' }
  | { action: 'find-leader' }
  | { action: 'move'; from: string; to: string }
  | { action: 'fail'; reason: 'leader-unreachable' }

/**
 * Decides what the leading instance does about etcd's leader, from its own member's Status, the
 * leader's Status once found (undefined: not looked for yet, null: none of the endpoints is the
 * leader or answered), and whether the rate limit allows a move now. Pure: see
 * {@link EtcdLeaderPlacement} for the calls.
 */
export function placementStep(own: MemberStatus, leader: MemberStatus | null | undefined, mayMove: boolean): PlacementStep {
  if (own.leader === own.memberId) return { action: 'none', reason: 'in-place' }
  if (own.leader === '0') return { action: 'none', reason: 'no-leader' }
  // etcd refuses a learner as transferee; a member with an alarm (no space, corruption) must not lead.
  if (own.isLearner) return { action: 'none', reason: 'own-learner' }
  if (own.errors.length > 0) return { action: 'none', reason: 'own-alarm' }
  if (!mayMove) return { action: 'none', reason: 'rate-limited' }
  if (leader === undefined) return { action: 'find-leader' }
  if (leader === null || leader.memberId !== own.leader) return { action: 'fail', reason: 'leader-unreachable' }
  if (leader.raftIndex - own.raftAppliedIndex > BigInt(MAX_RAFT_LAG)) return { action: 'none', reason: 'own-lagging' }
  return { action: 'move', from: leader.memberId, to: own.memberId }
}

/**
 * Keeps etcd's raft leader beside the registry leader (issue 13): while this instance leads, it
 * asks etcd to move raft leadership to its own member (the first endpoint, nearest first) when
 * the leader is elsewhere, so that its quorum writes and linearizable reads do not cross the WAN
 * once more to reach etcd's leader. It looks when it is elected and every
 * {@link CHECK_INTERVAL_MS} while it leads (etcd may have elected another leader since).
 *
 * - Which member is its own: the one the first endpoint answers as (Status' member id).
 * - MoveLeader must reach the current leader: the placement asks every other endpoint for its
 *   Status and sends MoveLeader to the one that answers as the leader. A leader none of the
 *   endpoints reaches is a failed move.
 * - Nothing is done when the own member has no leader, is a learner, has an alarm, or is more
 *   than {@link MAX_RAFT_LAG} entries behind; and at most one move is tried per `minIntervalMs`
 *   (successful or not), so the two cannot flap.
 * - It never touches the registry's leadership: every failure is logged and the instance goes on
 *   leading; the next look tries again once the interval has passed.
 *
 * State: idle until {@link follow}(true); {@link stop} ends it (idempotent).
 */
export class EtcdLeaderPlacement {
  readonly #endpoints: readonly string[]
  readonly #connect: (endpoint: string) => Etcd3
  readonly #minIntervalMs: number
  readonly #checkIntervalMs: number
  readonly #statusTimeoutMs: number
  readonly #moveTimeoutMs: number
  readonly #clock: () => number
  readonly #logger: Logger
  readonly #clients = new Map<string, Etcd3>()
  #leading = false
  #stopped = false
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #lastAttempt = -Infinity
  #lastReason: string | undefined

  constructor(options: EtcdLeaderPlacementOptions) {
    if (options.endpoints.length === 0) throw new Error('EtcdLeaderPlacement needs at least one endpoint')
    this.#endpoints = options.endpoints
    this.#connect = options.connect
    this.#minIntervalMs = options.minIntervalMs ?? 30_000
    this.#checkIntervalMs = options.checkIntervalMs ?? CHECK_INTERVAL_MS
    this.#statusTimeoutMs = options.statusTimeoutMs ?? 3_000
    this.#moveTimeoutMs = options.moveTimeoutMs ?? 5_000
    this.#clock = options.clock ?? (() => performance.now())
    this.#logger = options.logger.child({ component: 'etcd-leader-placement' })
  }

  /** The instance became the leader (true: look now, then periodically) or stopped being it. Never throws. */
  follow(leading: boolean): void {
    if (this.#stopped || leading === this.#leading) return
    this.#leading = leading
    if (leading) {
      this.#lastReason = undefined
      this.#schedule(0)
    } else {
      if (this.#timer) clearTimeout(this.#timer)
      this.#timer = undefined
      this.#closeClients()
    }
  }

  /** Stops looking and closes its clients. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#leading = false
    if (this.#timer) clearTimeout(this.#timer)
    await this.#running?.catch(() => undefined)
    this.#closeClients()
  }

  #schedule(delayMs: number): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      // A look still under way (leadership lost and won again meanwhile) schedules the next one.
      if (this.#running !== undefined) return
      this.#running = this.#look()
        .catch((error: unknown) => this.#logger.warn({ err: error }, 'could not look where etcd\'s leader is'))
        .finally(() => {
          this.#running = undefined
          if (this.#leading && !this.#stopped) this.#schedule(this.#checkIntervalMs)
        })
    }, delayMs)
    this.#timer.unref()
  }

  async #look(): Promise<void> {
    const ownEndpoint = this.#endpoints[0]!
    const own = await this.#status(ownEndpoint)
    if (!this.#leading) return
    if (own === undefined) return this.#note('own-unreachable', { endpoint: ownEndpoint }, 'debug')
    const mayMove = this.#clock() - this.#lastAttempt >= this.#minIntervalMs
    let step = placementStep(own, undefined, mayMove)
    if (step.action === 'find-leader') {
      this.#lastAttempt = this.#clock()
      const others = this.#endpoints.slice(1)
      const statuses = await Promise.all(others.map(async (endpoint) => ({ endpoint, status: await this.#status(endpoint) })))
      if (!this.#leading) return
      const found = statuses.find((s) => s.status !== undefined && s.status.memberId === own.leader)
      step = placementStep(own, found?.status ?? null, true)
      if (step.action === 'move' && found !== undefined) return this.#move(found.endpoint, step.from, step.to)
    }
    if (step.action === 'fail') return this.#note(step.reason, { leader: own.leader, member: own.memberId }, 'warn', 'could not move etcd leadership to this site\'s member: no endpoint reaches etcd\'s leader')
    if (step.action === 'none') return this.#note(step.reason, { leader: own.leader, member: own.memberId }, step.reason === 'in-place' || step.reason === 'rate-limited' ? 'debug' : 'info')
  }

  async #move(endpoint: string, from: string, to: string): Promise<void> {
    const started = this.#clock()
    try {
      await this.#client(endpoint).maintenance.moveLeader({ targetID: to }, { deadline: Date.now() + this.#moveTimeoutMs })
      this.#lastReason = 'moved'
      this.#logger.info({ from, to, endpoint, ms: Math.round(this.#clock() - started) }, 'moved etcd leadership to this site\'s member')
    } catch (error) {
      this.#lastReason = 'move-failed'
      // Its clients are closed when this instance stops leading: then the failure is no news.
      this.#logger[this.#leading ? 'warn' : 'debug']({ err: error, from, to, endpoint, ms: Math.round(this.#clock() - started) }, 'could not move etcd leadership to this site\'s member')
    }
  }

  async #status(endpoint: string): Promise<MemberStatus | undefined> {
    try {
      const res: IStatusResponse = await this.#client(endpoint).maintenance.status({ deadline: Date.now() + this.#statusTimeoutMs })
      return {
        memberId: String(res.header.member_id),
        leader: String(res.leader),
        raftIndex: BigInt(res.raftIndex),
        raftAppliedIndex: BigInt(res.raftAppliedIndex),
        isLearner: res.isLearner === true,
        errors: res.errors ?? [],
      }
    } catch (error) {
      this.#logger.debug({ err: error, endpoint }, 'etcd member did not answer its status')
      return undefined
    }
  }

  /** Logs a look's outcome: a warning always (failures are rate-limited), else at `level` when it differs from the last one, at debug when not. */
  #note(reason: string, fields: Record<string, unknown>, level: 'debug' | 'info' | 'warn', msg = 'etcd leadership left where it is'): void {
    const changed = reason !== this.#lastReason
    this.#lastReason = reason
    this.#logger[changed || level === 'warn' ? level : 'debug']({ ...fields, reason }, msg)
  }

  #client(endpoint: string): Etcd3 {
    let client = this.#clients.get(endpoint)
    if (client === undefined) {
      client = this.#connect(endpoint)
      this.#clients.set(endpoint, client)
    }
    return client
  }

  #closeClients(): void {
    for (const client of this.#clients.values()) client.close()
    this.#clients.clear()
  }
}
