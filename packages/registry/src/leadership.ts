import { EventEmitter } from 'node:events'
import type { Campaign, Election, Etcd3, IKeyValue, Lease } from 'etcd3'
import type { Logger } from 'pino'
import type { Keys } from './keys'
import { parseJson, prefixEnd } from './kv'
import { LeaderView } from './leader-view'
import { countLeaderChange } from './registry-metrics'

/** Who leads, as the leader proclaimed it in its election key. */
export interface LeaderInfo {
  instanceId: string
  siteId: string
  address: string
  since: Date
  /**
   * Whether it has confirmed its election (proclaimed itself: its key's value was written again
   * after the campaign created it). The oldest key names the next leader as soon as the last one's
   * key is gone, while its campaign still has to learn that and confirm: until then it refuses
   * writes (NOT_LEADER), so a follower waits for the proclamation before sending it any.
   */
  proclaimed: boolean
}

/** The election key of the current leadership term: every leader write compares it. */
export interface Fence {
  /** The full etcd key of this instance's candidacy. */
  readonly key: string
  /** Its create revision: a new candidacy (after losing) has a new one. */
  readonly createRevision: string
}

/**
 * - `campaigning`: a candidate (queued behind the leader, or retrying after a failure);
 * - `leader`: elected, and the election lease is known to be alive;
 * - `resigned`: gave leadership away and does not campaign again;
 * - `stopped`.
 */
export type LeadershipState = 'idle' | 'campaigning' | 'leader' | 'resigned' | 'stopped'

interface Candidacy {
  readonly generation: number
  readonly campaign: Campaign
  /** The lease may have expired at this time: no keepalive answered since. */
  safeUntil: number
}

/**
 * Leadership among the registry instances through etcd3's Election (which follows the Go
 * client's concurrency/election.go), fenced:
 *
 * - the lease TTL is `ttlSeconds` (etcd3's default is 60 s): a crashed leader's successor
 *   serves after about TTL plus an election round; a shorter TTL risks a spurious failover on a
 *   GC pause or an etcd hiccup, and etcd will not grant less than its minimum (~2 s with the
 *   default election timeout).
 * - etcd3 reports a lost lease only after 2 × TTL without keepalive. This class tracks the
 *   keepalives itself: the lease is safe until TTL after the last keepalive request that etcd
 *   answered; past that (minus a margin), the instance steps down at once.
 * - a campaign error is lost leadership at once; the instance campaigns again after a backoff.
 * - {@link Leadership.fence} gives the election key and its create revision, which every
 *   leader write compares in its transaction, so a deposed or paused leader cannot write even
 *   when it does not know yet that it lost.
 *
 * Emits `change` (isLeader: boolean) on every change.
 */
export class Leadership extends EventEmitter {
  readonly #etcd: Etcd3
  readonly #keys: Keys
  readonly #election: Election
  readonly #ttlMs: number
  readonly #value: { instanceId: string; siteId: string; address: string }
  readonly #logger: Logger
  #state: LeadershipState = 'idle'
  #generation = 0
  #candidacy: Candidacy | undefined
  #fence: Fence | undefined
  #failures = 0
  #timer: NodeJS.Timeout | undefined
  #retryTimer: NodeJS.Timeout | undefined
  #lastEtcdContact = 0
  readonly #view: LeaderView

  constructor(etcd: Etcd3, keys: Keys, value: { instanceId: string; siteId: string; address: string }, ttlSeconds: number, logger: Logger) {
    super()
    this.#etcd = etcd
    this.#keys = keys
    this.#ttlMs = ttlSeconds * 1000
    this.#value = value
    this.#logger = logger
    this.#election = etcd.namespace(keys.prefix).election(keys.electionName, ttlSeconds)
    this.#view = new LeaderView(etcd, keys.election, logger)
  }

  get state(): LeadershipState {
    return this.#state
  }

  get isLeader(): boolean {
    return this.#state === 'leader' && this.fence() !== undefined
  }

  /** When etcd last answered a keepalive of the election lease (ms since epoch). */
  get lastEtcdContact(): number {
    return this.#lastEtcdContact
  }

  /** The fence of the current term, while leader and the lease is safe; else undefined. */
  fence(): Fence | undefined {
    const c = this.#candidacy
    if (this.#state !== 'leader' || !c || !this.#fence || Date.now() >= c.safeUntil - this.#margin()) return undefined
    return this.#fence
  }

  /** Starts campaigning. */
  start(): void {
    if (this.#state !== 'idle') return
    this.#state = 'campaigning'
    this.#view.start()
    this.#timer = setInterval(() => this.#checkLease(), 100)
    this.#timer.unref()
    this.#campaign()
  }

  /** A leader write found its fence gone: this instance no longer leads. */
  depose(reason: string): void {
    if (this.#candidacy) this.#lose(this.#candidacy.generation, reason)
  }

  /** Gives leadership away at once (revokes the election lease) and stops campaigning. */
  async resign(): Promise<void> {
    if (this.#state === 'resigned' || this.#state === 'stopped') return
    await this.#endCandidacy('resigned')
  }

  /** Resigns and stops. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return
    await this.#endCandidacy('stopped')
    this.#view.stop()
    if (this.#timer) clearInterval(this.#timer)
  }

  /**
   * The current leader as etcd knows it (the candidate with the oldest key), if any: from the
   * watch of the election keys while it is caught up (leader-view.ts), else read from etcd.
   */
  async currentLeader(): Promise<LeaderInfo | undefined> {
    const seen = this.#view.leader()
    if (seen.known) return seen.leaderKey === undefined ? undefined : leaderOf(seen.leaderKey)
    const res = await this.#etcd.kv.range({
      key: Buffer.from(this.#keys.election),
      range_end: prefixEnd(this.#keys.election),
      sort_target: 'Create',
      sort_order: 'Ascend',
      limit: 1,
    })
    const kv = res.kvs[0]
    return kv === undefined ? undefined : leaderOf(kv)
  }

  #margin(): number {
    return Math.min(500, this.#ttlMs / 6)
  }

  #campaign(): void {
    if (this.#state !== 'campaigning') return
    const generation = ++this.#generation
    const startedAt = Date.now()
    const campaign = this.#election.campaign(JSON.stringify({ ...this.#value, since: new Date().toISOString() }))
    const candidacy: Candidacy = { generation, campaign, safeUntil: startedAt + this.#ttlMs }
    this.#candidacy = candidacy
    // etcd3 keeps the lease private; its events are the only way to know when etcd last
    // renewed it. A lease expires TTL after etcd received the last renewal, which is after we
    // sent it: so the request time of an answered keepalive bounds the expiry safely.
    const lease = (campaign as unknown as { lease: Lease }).lease
    const fired: number[] = []
    lease.on('keepaliveFired', () => fired.push(Date.now()))
    lease.on('keepaliveFailed', () => (fired.length = 0))
    lease.on('keepaliveSucceeded', () => {
      const sentAt = fired.shift()
      this.#lastEtcdContact = Date.now()
      if (sentAt !== undefined) candidacy.safeUntil = Math.max(candidacy.safeUntil, sentAt + this.#ttlMs)
    })
    campaign.on('error', (error) => this.#lose(generation, 'campaign failed', error))
    campaign.on('elected', () => {
      void this.#confirm(candidacy).catch((error: unknown) => this.#lose(generation, 'could not confirm the election', error))
    })
  }

  async #confirm(candidacy: Candidacy): Promise<void> {
    const since = new Date()
    await candidacy.campaign.proclaim(JSON.stringify({ ...this.#value, since: since.toISOString() }))
    const key = await candidacy.campaign.getCampaignKey()
    const res = await this.#etcd.kv.range({ key: Buffer.from(key) })
    const kv = res.kvs[0]
    if (!kv) throw new Error('the election key vanished')
    if (candidacy.generation !== this.#generation || this.#state !== 'campaigning') return
    this.#fence = { key, createRevision: kv.create_revision }
    this.#failures = 0
    this.#state = 'leader'
    this.#logger.info({ key, createRevision: kv.create_revision }, 'elected leader')
    countLeaderChange('elected', this.#value.siteId)
    this.emit('change', true)
  }

  #checkLease(): void {
    const c = this.#candidacy
    if (!c || (this.#state !== 'leader' && this.#state !== 'campaigning')) return
    if (Date.now() >= c.safeUntil - this.#margin()) this.#lose(c.generation, 'the election lease may have expired (no keepalive answered)')
  }

  #lose(generation: number, reason: string, error?: unknown): void {
    if (generation !== this.#generation || (this.#state !== 'leader' && this.#state !== 'campaigning')) return
    const wasLeader = this.#state === 'leader'
    const old = this.#candidacy
    this.#generation++
    this.#candidacy = undefined
    this.#fence = undefined
    this.#state = 'campaigning'
    this.#failures++
    this.#logger.warn({ err: error, reason, wasLeader }, wasLeader ? 'lost leadership' : 'campaign ended')
    if (wasLeader) countLeaderChange('lost', this.#value.siteId)
    if (wasLeader) this.emit('change', false)
    old?.campaign.resign().catch(() => undefined)
    const delay = Math.min(2_000, 100 * 2 ** Math.min(this.#failures, 5)) * (0.5 + Math.random() / 2)
    this.#retryTimer = setTimeout(() => this.#campaign(), delay)
    this.#retryTimer.unref()
  }

  async #endCandidacy(state: 'resigned' | 'stopped'): Promise<void> {
    const wasLeader = this.#state === 'leader'
    const old = this.#candidacy
    this.#generation++
    this.#candidacy = undefined
    this.#fence = undefined
    this.#state = state
    if (this.#retryTimer) clearTimeout(this.#retryTimer)
    if (wasLeader) countLeaderChange('lost', this.#value.siteId)
    if (wasLeader) this.emit('change', false)
    if (old) {
      try {
        await old.campaign.resign()
        if (wasLeader) this.#logger.info('resigned leadership')
      } catch (error) {
        this.#logger.warn({ err: error }, 'could not revoke the election lease; it expires on its own')
      }
    }
  }
}

/** The leader an election key names (its value as the candidate proclaimed it); undefined if unreadable. */
function leaderOf(kv: IKeyValue): LeaderInfo | undefined {
  try {
    const v = parseJson<{ instanceId: string; siteId: string; address: string; since?: string }>(kv)
    return { instanceId: v.instanceId, siteId: v.siteId, address: v.address, since: new Date(v.since ?? 0), proclaimed: kv.mod_revision !== kv.create_revision }
  } catch {
    return undefined
  }
}
