import { type Etcd3, EtcdLeaseInvalidError, type IKeyValue, castGrpcError } from 'etcd3'
import { ErrorCode, type RenewLeaseResponse, type Revocation } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryError } from './errors'
import { type FencedWriter, readKeys } from './fenced-writer'
import type { Keys } from './keys'
import { parseJson, prefixEnd } from './kv'
import { LeaseDeadlines } from './lease-deadlines'
import type { NodeLeaseRecord, RenewalRecord, RevokingRecord, SeatRecord } from './records'
import { type CompleteWhen, type NodeCondition, type PendingAt, planCompleteRevocations, usersOfIndexKeys } from './revocations'

/** Options of {@link ConfirmationLeases}. */
export interface ConfirmationLeasesOptions {
  etcd: Etcd3
  keys: Keys
  writer: FencedWriter
  /** The TTL of the branches' leases, in seconds. */
  ttlSeconds: number
  /**
   * A monotonic clock in milliseconds: how long a revocation has waited is measured from when this
   * instance, as leader, first saw it — never by comparing `pending[].since`, which another
   * machine's wall clock may have written.
   */
  monotonicClock: () => number
  logger: Logger
}

/**
 * What completing one user's revocation adds to a transaction at most: compares on the index key,
 * the seat and `revoking/<user>` (read by the plan), and as many writes (the seat, `revoking/`,
 * the index key). A batch is split by these counts (txn-limits.ts); each user is written whole.
 */
const PER_USER = { compares: 3, success: 3 }

/**
 * How often, at most, the sweep looks for stale index keys of a branch whose lease holds (ms).
 * That check reads three keys per pending revocation of the branch: every 250 ms it would load
 * etcd most just when many revocations wait on a connected branch. Stale keys are a leftover,
 * not a wait: nothing is delayed by finding them later.
 */
const STALE_INDEX_CHECK_MS = 10_000

/**
 * How long before a branch's lease deadline the sweep reads the records of the revocations
 * waiting on it (ms), so that at the deadline their completion is only writes: a thousand take 24
 * transactions, and each would otherwise read its records first.
 */
const PREPARE_MS = 1_000

/**
 * Parts written at once when a branch's lease has ended (the lease deadline or etcd's expiry):
 * every revocation waiting on it completes now, and etcd batches concurrent proposals into one
 * raft round. With records read beforehand, each part is a single transaction.
 */
const ENDED_PARTS_AT_ONCE = 32

/**
 * The registry side of bounded revocation (invariant 4): the branches' confirmation leases
 * (`nodes/<site>` on an etcd lease of {@link ConfirmationLeasesOptions.ttlSeconds}) and the
 * completion of pending revocations, by acknowledgement (explicit, or implicit through the
 * revision a node has applied) or because the branch's lease is gone. Leader only: every change
 * is a fenced transaction; the caller checks leadership first.
 *
 * A lease is gone when etcd expires it, or when the leader ends it at its deadline: the TTL after
 * the last renewal reached the leader (lease-deadlines.ts), by which time the node has stopped
 * acting on it by its own clock (it counts from when it sent that renewal, minus a margin). Every
 * renewal writes `renewals/<site>` before the node is told it succeeded, and the leader ends a
 * lease only by a fenced transaction that finds that record unchanged since the renewal its
 * deadline counts from; once the lease key is deleted, a renewal finds none and is a new grant,
 * which completes what waited first (docs/OPERATIONS.md, "Bounded revocation").
 *
 * Lease operations of one site are serialized here (a node's retries must not grant twice; the
 * end of a lease at its deadline must not interleave with a renewal).
 */
export class ConfirmationLeases {
  readonly #o: ConfirmationLeasesOptions
  readonly #locks = new Map<string, Promise<unknown>>()
  /**
   * When this instance first saw each pending revocation (`<site>/<user>/<revision of the index
   * key>`), by {@link ConfirmationLeasesOptions.monotonicClock}. After a failover the new leader
   * starts counting afresh: a refusal comes at most one lease later, never earlier.
   */
  readonly #firstSeen = new Map<string, number>()
  /** When the sweep last looked for stale index keys of each site whose lease holds (monotonic ms). */
  readonly #staleChecked = new Map<string, number>()
  /** When each branch's node has certainly stopped acting on its lease. */
  readonly #deadlines: LeaseDeadlines
  /**
   * Records of revocations waiting on a branch whose deadline is near (the seat, the index key and
   * `revoking/<user>` of each user), read ahead by the sweep; taken by the completion.
   */
  readonly #prepared = new Map<string, { users: Set<string>; records: Map<string, IKeyValue | undefined> }>()

  constructor(options: ConfirmationLeasesOptions) {
    this.#o = options
    this.#deadlines = new LeaseDeadlines({
      clock: options.monotonicClock,
      timeToLive: async (leaseId) => Number((await options.etcd.leaseClient.leaseTimeToLive({ ID: leaseId, keys: false })).TTL),
    })
  }

  /**
   * Grants (no lease at the site) or renews (the same node holds it) the site's lease, after
   * completing the revocations the node acknowledged implicitly (`appliedRevision` at or past
   * the revocation). Throws LEASE_HELD when another node holds the lease, LEASE_REFUSED when the
   * node has left a revocation older than the TTL unapplied (the lease then expires).
   */
  renew(siteId: string, nodeId: string, appliedRevision: bigint): Promise<RenewLeaseResponse> {
    // The node sent the request before this: the lease it is given counts from here at the latest.
    const receivedAt = this.#o.monotonicClock()
    return this.#serial(siteId, async () => {
      const { keys } = this.#o
      const found = await readKeys(this.#o.etcd, [keys.site(siteId), keys.node(siteId)], false, this.#o.writer.limits)
      if (!found.get(keys.site(siteId))) throw new RegistryError(ErrorCode.ERROR_CODE_SITE_NOT_FOUND, `no site "${siteId}"`)
      const nodeKv = found.get(keys.node(siteId))
      if (nodeKv) {
        const holder = parseJson<NodeLeaseRecord>(nodeKv)
        if (holder.nodeId !== nodeId) {
          throw new RegistryError(ErrorCode.ERROR_CODE_LEASE_HELD, `the lease of site "${siteId}" is held by another node; retry after it expires`, {
            retryAfterMs: this.#o.ttlSeconds * 1_000,
          })
        }
        // One read of what waits on the branch serves both the completion of what the node has
        // applied and the laggard check (which looks only at what it has not applied): each
        // round trip counts across a WAN (a renewal must answer within a third of the lease).
        const pending = await this.pendingOf(siteId)
        const applied = (p: PendingAt): boolean => BigInt(p.revokedAt) <= appliedRevision
        if (pending.some(applied)) await this.#completeUsers(siteId, pending.filter(applied).map((p) => p.userId), applied)
        const waited = this.#waited(siteId, pending)
        const laggard = waited.find(({ pending, ms }) => ms > this.#o.ttlSeconds * 1_000 && BigInt(pending.revokedAt) > appliedRevision)?.pending
        if (laggard) {
          this.#o.logger.warn({ site: siteId, node: nodeId, user: laggard.userId, revokedAt: laggard.revokedAt, appliedRevision: String(appliedRevision) }, 'lease renewal refused: a revocation is older than the lease')
          throw new RegistryError(
            ErrorCode.ERROR_CODE_LEASE_REFUSED,
            `the node has not applied revision ${laggard.revokedAt} (a revocation older than ${this.#o.ttlSeconds} s); the lease runs out`,
          )
        }
        const ttl = await this.#keepAlive(siteId, nodeKv, receivedAt)
        if (ttl !== undefined) return { leaseSeconds: ttl, grantedRevision: nodeKv.create_revision, granted: false }
        this.#o.logger.info({ site: siteId, node: nodeId }, 'the confirmation lease had ended; granting a new one')
      }
      return this.#grant(siteId, nodeId, receivedAt)
    })
  }

  /**
   * Renews the lease behind `nodeKv` for a request that reached this instance at `receivedAt`:
   * etcd's keepalive first, then `renewals/<site>`, fenced and only while `nodes/<site>` is still
   * that grant. Only then may the node be told (the TTL is returned): a renewal the node hears of
   * is always in etcd, where a leader that takes over finds it, and etcd received its keepalive
   * before. Undefined when the lease has ended meanwhile (expired, or ended at its deadline).
   */
  async #keepAlive(siteId: string, nodeKv: IKeyValue, receivedAt: number): Promise<number | undefined> {
    const { keys } = this.#o
    const holder = parseJson<NodeLeaseRecord>(nodeKv)
    const ttl = await keepAliveOnce(this.#o.etcd, holder.leaseId)
    if (!(ttl > 0)) return undefined
    const record: RenewalRecord = { nodeId: holder.nodeId, leaseId: holder.leaseId, leaseSeconds: ttl }
    // `nodes/<site>` as read just before (compared at commit; a stale value only fails the attempt).
    const { outcome: renewed, revision } = await this.#o.writer.apply(
      'renew lease',
      async (read) => {
        const node = await read.get(keys.node(siteId))
        if (node?.create_revision !== nodeKv.create_revision) return { ops: [], outcome: false }
        return { ops: [{ type: 'put', key: keys.renewal(siteId), value: record, lease: holder.leaseId }], outcome: true }
      },
      new Map([[keys.node(siteId), nodeKv]]),
    )
    if (!renewed || revision === undefined) return undefined
    this.#deadlines.renewed(siteId, { grantRevision: nodeKv.create_revision, renewalRevision: revision, leaseId: holder.leaseId, leaseSeconds: ttl }, receivedAt)
    return ttl
  }

  /** How long each of the site's pending revocations has waited, by this instance's clock. */
  #waited(siteId: string, pending: readonly PendingAt[]): { pending: PendingAt; ms: number }[] {
    const now = this.#o.monotonicClock()
    const current = new Set<string>()
    const waited = pending.map((p) => {
      const key = `${siteId}/${p.userId}/${p.revokedAt}`
      current.add(key)
      if (!this.#firstSeen.has(key)) this.#firstSeen.set(key, now)
      return { pending: p, ms: now - (this.#firstSeen.get(key) as number) }
    })
    for (const key of this.#firstSeen.keys()) if (key.startsWith(`${siteId}/`) && !current.has(key)) this.#firstSeen.delete(key)
    return waited
  }

  /** Gives the site's lease up if `nodeId` holds it; its pending revocations complete at once. */
  release(siteId: string, nodeId: string): Promise<void> {
    return this.#serial(siteId, async () => {
      const nodeKv = (await readKeys(this.#o.etcd, [this.#o.keys.node(siteId)])).get(this.#o.keys.node(siteId))
      if (!nodeKv || parseJson<NodeLeaseRecord>(nodeKv).nodeId !== nodeId) return
      await revokeLease(this.#o.etcd, parseJson<NodeLeaseRecord>(nodeKv).leaseId)
      this.#deadlines.forget(siteId)
      this.#o.logger.info({ site: siteId, node: nodeId }, 'confirmation lease released')
      await this.#complete(siteId, () => true, 'none')
    })
  }

  /**
   * Completes the revocations a node acknowledged: each user's pending entry for the site whose
   * epoch is at or below the acknowledged one, in the user's seat or, for a released seat, in
   * `revoking/<user>`. Acks from a node that does not hold the site's lease (nobody holding it
   * included: the sweep completes those revocations) say nothing about the holder and are
   * ignored; unknown or old acks are no-ops.
   */
  async ack(siteId: string, nodeId: string, revocations: readonly Revocation[]): Promise<void> {
    if (revocations.length === 0) return
    const acked = new Map<string, bigint>()
    for (const r of revocations) {
      const epoch = BigInt(r.epoch)
      if ((acked.get(r.userId) ?? -1n) < epoch) acked.set(r.userId, epoch)
    }
    // The holder is read with the records (one round trip, compared at commit like them),
    // linearizably: the node saw the takeover on its registry's watch, which may be served by
    // another etcd member than this read; a serializable read from a member not there yet found
    // nothing to complete, and the takeover waited for the node's next renewal (~1.7 s).
    await this.#completeUsers(siteId, [...acked.keys()], (p) => BigInt(p.entry.epoch) <= (acked.get(p.userId) ?? -1n), { holder: nodeId }, { linearizable: true })
  }

  /**
   * Forgets what this instance knew of the branches' lease deadlines and read-ahead records (it
   * starts or stops leading: another leader may have served renewals meanwhile). Only precision is
   * lost: a deadline is found again in etcd, and ending a lease compares the renewal record anyway.
   */
  resetDeadlines(): void {
    this.#deadlines.clear()
    this.#prepared.clear()
  }

  /**
   * One sweep (leader only): ends the leases whose known deadline has come (their nodes have
   * stopped acting), completes every revocation of a site whose lease is gone (ended, expired or revoked),
   * in seats and in released seats' `revoking/<user>`, and deletes index keys for which neither
   * holds such an entry any more. Near a deadline, it reads ahead the records of what waits on
   * that branch. Answers how soon it wants to run again (the next deadline or question to etcd,
   * in ms), or undefined.
   */
  async sweep(): Promise<number | undefined> {
    const { keys, etcd } = this.#o
    const index = await etcd.kv.range({ key: Buffer.from(keys.revocations), range_end: prefixEnd(keys.revocations), keys_only: true })
    const bySite = new Map<string, string[]>()
    for (const kv of index.kvs) {
      const [site, user] = kv.key.toString('utf8').slice(keys.revocations.length).split('/')
      if (site === undefined || user === undefined) continue
      bySite.set(site, [...(bySite.get(site) ?? []), kv.key.toString('utf8')])
    }
    // Read only for the branches something waits on (this instance knows the deadlines of the
    // renewals it served; the rest can wait for etcd's expiry). Every known deadline that has come
    // is ended below, fenced by the renewal record.
    const sites = [...bySite.keys()]
    const found = sites.length === 0 ? new Map<string, IKeyValue | undefined>() : await readKeys(etcd, sites.flatMap((site) => [keys.node(site), keys.renewal(site)]), false, this.#o.writer.limits)
    // Taken once etcd answered: later than every renewal the answer shows.
    const readAt = this.#o.monotonicClock()
    const nodes = new Map(sites.map((site) => [site, found.get(keys.node(site))]))
    for (const site of sites) this.#deadlines.observe(site, nodes.get(site), found.get(keys.renewal(site)), readAt)
    await this.#deadlines.probe(sites)
    const ended = await Promise.all(this.#deadlines.due().map(async (site) => ((await this.#end(site)) ? site : undefined)))
    for (const site of ended) if (site !== undefined) nodes.delete(site)

    for (const site of this.#prepared.keys()) if (!bySite.has(site)) this.#prepared.delete(site)
    await Promise.all(
      [...bySite].map(async ([site, names]) => {
        const users = usersOfIndexKeys(keys, site, names)
        if (nodes.get(site)) {
          await this.#prepare(site, users)
          // The lease holds: only drop stale index keys (no entry matches `never`, so only those go),
          // now and then.
          const now = this.#o.monotonicClock()
          if (now - (this.#staleChecked.get(site) ?? Number.NEGATIVE_INFINITY) < STALE_INDEX_CHECK_MS) return
          this.#staleChecked.set(site, now)
          await this.#completeUsers(site, users, () => false)
        } else {
          const prepared = this.#prepared.get(site)?.records
          this.#prepared.delete(site)
          // Read just now: the lease key is absent (the completion compares it, as any read).
          const fetched = new Map(prepared ?? [])
          fetched.set(keys.node(site), undefined)
          const done = await this.#completeUsers(site, users, () => true, 'none', { fetched, concurrency: ENDED_PARTS_AT_ONCE })
          const completed = [...new Set(done.map((d) => d.userId))]
          if (completed.length > 0) this.#o.logger.info({ site, users: completed.slice(0, 20), count: completed.length }, 'revocations completed: the branch lease is gone')
        }
      }),
    )
    return this.#nextInMs(sites)
  }

  /**
   * Ends the site's lease at its deadline: one fenced transaction deletes `nodes/<site>` and
   * `renewals/<site>` if both are still those of the renewal the deadline counts from (a renewal
   * since, by another leader, changed the record: nothing happens, the deadline is forgotten, and
   * the next sweep learns the new one from etcd). Then the etcd lease is revoked (only to free it:
   * nothing refers to it any more). True when the lease key is gone.
   */
  #end(siteId: string): Promise<boolean> {
    return this.#serial(siteId, async () => {
      const { keys, etcd, writer, logger } = this.#o
      const term = this.#deadlines.get(siteId)
      if (!term || term.deadline > this.#o.monotonicClock()) return false
      const { outcome } = await writer.apply('end lease', async (read) => {
        const node = await read.get(keys.node(siteId))
        const renewal = await read.get(keys.renewal(siteId))
        if (!node) return { ops: [], outcome: 'gone' as const }
        if (node.create_revision !== term.grantRevision || renewal?.mod_revision !== term.renewalRevision) return { ops: [], outcome: 'renewed' as const }
        return { ops: [{ type: 'delete', key: keys.node(siteId) }, { type: 'delete', key: keys.renewal(siteId) }], outcome: 'ended' as const }
      })
      this.#deadlines.forget(siteId)
      if (outcome === 'renewed') {
        // Not by this instance (its renewals replace the term first): another leader's. The sweep
        // learns that renewal's deadline from etcd once something waits on the branch.
        logger.info({ site: siteId, lease: term.leaseId, renewalRevision: term.renewalRevision }, 'confirmation lease not ended at its deadline: renewed since, by another leader')
        return false
      }
      if (outcome === 'ended') {
        logger.info({ site: siteId, lease: term.leaseId, grantRevision: term.grantRevision, deadline: term.source }, 'confirmation lease ended at its deadline: the node has stopped acting')
        void revokeLease(etcd, term.leaseId).catch((error: unknown) => logger.debug({ err: error }, 'revoking an ended lease failed; it expires on its own'))
      }
      return true
    })
  }

  /**
   * Reads ahead the records of the revocations waiting on a branch whose deadline is less than
   * {@link PREPARE_MS} away (those not read yet), for {@link sweep} to complete them at the deadline
   * with writes only. A record that changes meanwhile only fails its part, which reads afresh.
   */
  async #prepare(siteId: string, users: readonly string[]): Promise<void> {
    const term = this.#deadlines.get(siteId)
    if (!term || term.deadline - this.#o.monotonicClock() > PREPARE_MS) return
    let prepared = this.#prepared.get(siteId)
    if (prepared === undefined) this.#prepared.set(siteId, (prepared = { users: new Set(), records: new Map() }))
    const fresh = users.filter((u) => !prepared.users.has(u))
    if (fresh.length === 0) return
    const { keys } = this.#o
    const found = await readKeys(this.#o.etcd, fresh.flatMap((u) => [keys.seat(u), keys.revocation(siteId, u), keys.revoking(u)]), false, this.#o.writer.limits)
    for (const [key, kv] of found) prepared.records.set(key, kv)
    for (const u of fresh) prepared.users.add(u)
  }

  /** How soon the sweep should run again: a deadline, a question to etcd, or reading ahead (ms). */
  #nextInMs(sites: readonly string[]): number | undefined {
    const now = this.#o.monotonicClock()
    const wakes = [this.#deadlines.nextInMs(sites)]
    for (const site of sites) {
      const term = this.#deadlines.get(site)
      if (term && !this.#prepared.has(site) && term.deadline - PREPARE_MS > now) wakes.push(term.deadline - PREPARE_MS - now)
    }
    const next = Math.min(...wakes.filter((w): w is number => w !== undefined))
    return Number.isFinite(next) ? next : undefined
  }

  /**
   * Every pending revocation of the site, from the index, the seats and the outstanding
   * revocations of released seats (`revoking/<user>`).
   */
  async pendingOf(siteId: string): Promise<PendingAt[]> {
    const { keys, etcd } = this.#o
    const prefix = keys.siteRevocations(siteId)
    const index = await etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) })
    if (index.kvs.length === 0) return []
    const users = index.kvs.map((kv) => kv.key.toString('utf8').slice(prefix.length))
    const records = await readKeys(etcd, users.flatMap((u) => [keys.seat(u), keys.revoking(u)]), false, this.#o.writer.limits)
    return index.kvs.flatMap((kv: IKeyValue, i) => {
      const userId = users[i]!
      const found: PendingAt[] = []
      const seat = records.get(keys.seat(userId))
      const inSeat = seat ? parseJson<SeatRecord>(seat).pending?.find((p) => p.siteId === siteId) : undefined
      if (seat && inSeat) found.push({ userId, entry: inSeat, heldBy: 'seat', recordRevision: seat.mod_revision, revokedAt: kv.mod_revision })
      const left = records.get(keys.revoking(userId))
      const inLeft = left ? parseJson<RevokingRecord>(left).find((p) => p.siteId === siteId) : undefined
      if (left && inLeft) found.push({ userId, entry: inLeft, heldBy: 'revoking', recordRevision: left.mod_revision, revokedAt: kv.mod_revision })
      return found
    })
  }

  async #complete(siteId: string, when: CompleteWhen, node: NodeCondition = 'any', only?: readonly string[]) {
    const users = only ?? (await this.pendingOf(siteId)).map((p) => p.userId)
    return this.#completeUsers(siteId, users, when, node)
  }

  /**
   * Completes the users' revocations at the site for which `when` holds, in as many fenced
   * transactions as etcd's limits need (each user's records in one of them, whole), several at
   * once. `node`: whose confirmation lease allows it ({@link planCompleteRevocations}); unless
   * `'any'`, every part also reads `nodes/<site>`.
   */
  async #completeUsers(
    siteId: string,
    users: readonly string[],
    when: CompleteWhen,
    node: NodeCondition = 'any',
    options: { fetched?: ReadonlyMap<string, IKeyValue | undefined>; concurrency?: number; linearizable?: boolean } = {},
  ) {
    const parts = await this.#o.writer.applyInParts(
      'complete revocations',
      [...new Set(users)],
      { perItem: PER_USER, perPart: { compares: node === 'any' ? 0 : 1 } },
      (read, part) => planCompleteRevocations(read, this.#o.keys, siteId, part, when, node),
      options,
    )
    return parts.flat()
  }

  /**
   * A new lease, for a request that reached this instance at `receivedAt`: the old one is gone, so
   * its revocations complete first (as the sweeper would). The grant writes `nodes/<site>` and
   * its first `renewals/<site>` together.
   */
  async #grant(siteId: string, nodeId: string, receivedAt: number): Promise<RenewLeaseResponse> {
    const { etcd, keys } = this.#o
    await this.#complete(siteId, () => true, 'none')
    const grant = await etcd.leaseClient.leaseGrant({ TTL: this.#o.ttlSeconds, ID: '0' })
    try {
      const record: NodeLeaseRecord = { nodeId, leaseId: grant.ID }
      const renewal: RenewalRecord = { ...record, leaseSeconds: Number(grant.TTL) }
      const { outcome, revision } = await this.#o.writer.apply('grant lease', async (read) => {
        const existing = await read.get(keys.node(siteId))
        if (existing) return { ops: [], outcome: parseJson<NodeLeaseRecord>(existing) }
        return {
          ops: [
            { type: 'put', key: keys.node(siteId), value: record, lease: grant.ID },
            { type: 'put', key: keys.renewal(siteId), value: renewal, lease: grant.ID },
          ],
          outcome: record,
        }
      })
      if (revision === undefined) {
        await revokeLease(etcd, grant.ID)
        // Two leaders (a failover under way) granted at once: if the other grant went to this very
        // node, it holds the lease — answer with that one rather than make it drop a lease it has.
        const existing = outcome.nodeId === nodeId ? (await readKeys(etcd, [keys.node(siteId)])).get(keys.node(siteId)) : undefined
        const ttl = existing ? await this.#keepAlive(siteId, existing, receivedAt) : undefined
        if (existing && ttl !== undefined) return { leaseSeconds: ttl, grantedRevision: existing.create_revision, granted: true }
        throw new RegistryError(ErrorCode.ERROR_CODE_LEASE_HELD, `the lease of site "${siteId}" was just granted to another node; retry`, {
          retryAfterMs: 100,
        })
      }
      this.#deadlines.renewed(siteId, { grantRevision: revision, renewalRevision: revision, leaseId: grant.ID, leaseSeconds: renewal.leaseSeconds }, receivedAt)
      this.#o.logger.info({ site: siteId, node: nodeId, lease: grant.ID, revision }, 'confirmation lease granted')
      return { leaseSeconds: renewal.leaseSeconds, grantedRevision: revision, granted: true }
    } catch (error) {
      if (!(error instanceof RegistryError && error.code === ErrorCode.ERROR_CODE_LEASE_HELD)) await revokeLease(etcd, grant.ID).catch(() => undefined)
      throw error
    }
  }

  #serial<T>(siteId: string, run: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(siteId) ?? Promise.resolve()
    const next = previous.then(run, run)
    const tail = next.catch(() => undefined)
    this.#locks.set(siteId, tail)
    void tail.then(() => {
      if (this.#locks.get(siteId) === tail) this.#locks.delete(siteId)
    })
    return next
  }
}

/**
 * One keepalive of lease `id` through etcd's raw lease API: etcd3's Lease object can only keep
 * alive a lease it granted itself, and a registry instance elected after the grant must renew
 * it too. Returns the new TTL in seconds, 0 when the lease has expired.
 */
export async function keepAliveOnce(etcd: Etcd3, id: string): Promise<number> {
  const stream = await etcd.leaseClient.leaseKeepAlive()
  try {
    const res = await new Promise<{ TTL: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RegistryError(ErrorCode.ERROR_CODE_UNAVAILABLE, 'etcd did not answer the lease keepalive', { retryAfterMs: 500 })), 3_000)
      timer.unref()
      stream.on('data', (data: { TTL: string }) => {
        clearTimeout(timer)
        resolve(data)
      })
      stream.on('error', (error: Error) => {
        clearTimeout(timer)
        reject(castGrpcError(error))
      })
      stream.write({ ID: id })
    })
    return Number(res.TTL)
  } finally {
    stream.end()
  }
}

/** Revokes lease `id` (its keys go at once); a lease that is already gone is fine. */
export async function revokeLease(etcd: Etcd3, id: string): Promise<void> {
  try {
    await etcd.leaseClient.leaseRevoke({ ID: id })
  } catch (error) {
    if (!(error instanceof EtcdLeaseInvalidError)) throw error
  }
}
