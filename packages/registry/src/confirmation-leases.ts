import { type Etcd3, EtcdLeaseInvalidError, type IKeyValue, castGrpcError } from 'etcd3'
import { ErrorCode, type RenewLeaseResponse, type Revocation } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryError } from './errors'
import { type FencedWriter, readKeys } from './fenced-writer'
import type { Keys } from './keys'
import { parseJson, prefixEnd } from './kv'
import type { NodeLeaseRecord, RevokingRecord, SeatRecord } from './records'
import { type CompleteWhen, type PendingAt, planCompleteRevocations, usersOfIndexKeys } from './revocations'

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
 * The registry side of bounded revocation (invariant 4): the branches' confirmation leases
 * (`nodes/<site>` on an etcd lease of {@link ConfirmationLeasesOptions.ttlSeconds}) and the
 * completion of pending revocations, by acknowledgement (explicit, or implicit through the
 * revision a node has applied) or because the branch's lease is gone. Leader only: every change
 * is a fenced transaction; the caller checks leadership first.
 *
 * Lease operations of one site are serialized here (a node's retries must not grant twice).
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

  constructor(options: ConfirmationLeasesOptions) {
    this.#o = options
  }

  /**
   * Grants (no lease at the site) or renews (the same node holds it) the site's lease, after
   * completing the revocations the node acknowledged implicitly (`appliedRevision` at or past
   * the revocation). Throws LEASE_HELD when another node holds the lease, LEASE_REFUSED when the
   * node has left a revocation older than the TTL unapplied (the lease then expires).
   */
  renew(siteId: string, nodeId: string, appliedRevision: bigint): Promise<RenewLeaseResponse> {
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
        await this.#complete(siteId, (p) => BigInt(p.revokedAt) <= appliedRevision)
        const waited = this.#waited(siteId, await this.pendingOf(siteId))
        const laggard = waited.find(({ pending, ms }) => ms > this.#o.ttlSeconds * 1_000 && BigInt(pending.revokedAt) > appliedRevision)?.pending
        if (laggard) {
          this.#o.logger.warn({ site: siteId, node: nodeId, user: laggard.userId, revokedAt: laggard.revokedAt, appliedRevision: String(appliedRevision) }, 'lease renewal refused: a revocation is older than the lease')
          throw new RegistryError(
            ErrorCode.ERROR_CODE_LEASE_REFUSED,
            `the node has not applied revision ${laggard.revokedAt} (a revocation older than ${this.#o.ttlSeconds} s); the lease runs out`,
          )
        }
        const ttl = await keepAliveOnce(this.#o.etcd, holder.leaseId)
        if (ttl > 0) return { leaseSeconds: ttl, grantedRevision: nodeKv.create_revision, granted: false }
        this.#o.logger.info({ site: siteId, node: nodeId }, 'the confirmation lease had expired; granting a new one')
      }
      return this.#grant(siteId, nodeId)
    })
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
      this.#o.logger.info({ site: siteId, node: nodeId }, 'confirmation lease released')
      await this.#complete(siteId, () => true, true)
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
    const nodeKv = (await readKeys(this.#o.etcd, [this.#o.keys.node(siteId)])).get(this.#o.keys.node(siteId))
    if (!nodeKv || parseJson<NodeLeaseRecord>(nodeKv).nodeId !== nodeId) return
    const acked = new Map<string, bigint>()
    for (const r of revocations) {
      const epoch = BigInt(r.epoch)
      if ((acked.get(r.userId) ?? -1n) < epoch) acked.set(r.userId, epoch)
    }
    await this.#complete(siteId, (p) => BigInt(p.entry.epoch) <= (acked.get(p.userId) ?? -1n), false, [...acked.keys()])
  }

  /**
   * One sweep (leader only): completes every revocation of a site whose lease is gone (expired
   * or revoked), in seats and in released seats' `revoking/<user>`, and deletes index keys for
   * which neither holds such an entry any more.
   */
  async sweep(): Promise<void> {
    const { keys, etcd } = this.#o
    const res = await etcd.kv.range({ key: Buffer.from(keys.revocations), range_end: prefixEnd(keys.revocations), keys_only: true })
    if (res.kvs.length === 0) return
    const bySite = new Map<string, string[]>()
    for (const kv of res.kvs) {
      const [site, user] = kv.key.toString('utf8').slice(keys.revocations.length).split('/')
      if (site === undefined || user === undefined) continue
      bySite.set(site, [...(bySite.get(site) ?? []), kv.key.toString('utf8')])
    }
    const nodes = await readKeys(etcd, [...bySite.keys()].map((site) => keys.node(site)), false, this.#o.writer.limits)
    for (const [site, names] of bySite) {
      const users = usersOfIndexKeys(keys, site, names)
      if (nodes.get(keys.node(site))) {
        // The lease holds: only drop stale index keys (no entry matches `never`, so only those go),
        // now and then.
        const now = this.#o.monotonicClock()
        if (now - (this.#staleChecked.get(site) ?? Number.NEGATIVE_INFINITY) < STALE_INDEX_CHECK_MS) continue
        this.#staleChecked.set(site, now)
        await this.#completeUsers(site, users, () => false)
      } else {
        const done = await this.#completeUsers(site, users, () => true, true)
        const completed = [...new Set(done.map((d) => d.userId))]
        if (completed.length > 0) this.#o.logger.info({ site, users: completed.slice(0, 20), count: completed.length }, 'revocations completed: the branch lease is gone')
      }
    }
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

  async #complete(siteId: string, when: CompleteWhen, requireNoNode = false, only?: readonly string[]) {
    const users = only ?? (await this.pendingOf(siteId)).map((p) => p.userId)
    return this.#completeUsers(siteId, users, when, requireNoNode)
  }

  /**
   * Completes the users' revocations at the site for which `when` holds, in as many fenced
   * transactions as etcd's limits need (each user's records in one of them, whole), several at
   * once. With `requireNoNode` every part also reads `nodes/<site>` and completes nothing while it
   * exists.
   */
  async #completeUsers(siteId: string, users: readonly string[], when: CompleteWhen, requireNoNode = false) {
    const parts = await this.#o.writer.applyInParts('complete revocations', [...new Set(users)], { perItem: PER_USER, perPart: { compares: requireNoNode ? 1 : 0 } }, (read, part) =>
      planCompleteRevocations(read, this.#o.keys, siteId, part, when, requireNoNode),
    )
    return parts.flat()
  }

  /** A new lease: the old one is gone, so its revocations complete first (as the sweeper would). */
  async #grant(siteId: string, nodeId: string): Promise<RenewLeaseResponse> {
    const { etcd, keys } = this.#o
    await this.#complete(siteId, () => true, true)
    const grant = await etcd.leaseClient.leaseGrant({ TTL: this.#o.ttlSeconds, ID: '0' })
    try {
      const record: NodeLeaseRecord = { nodeId, leaseId: grant.ID }
      const { outcome, revision } = await this.#o.writer.apply('grant lease', async (read) => {
        const existing = await read.get(keys.node(siteId))
        if (existing) return { ops: [], outcome: parseJson<NodeLeaseRecord>(existing) }
        return { ops: [{ type: 'put', key: keys.node(siteId), value: record, lease: grant.ID }], outcome: record }
      })
      if (revision === undefined) {
        await revokeLease(etcd, grant.ID)
        // Two leaders (a failover under way) granted at once: if the other grant went to this very
        // node, it holds the lease — answer with that one rather than make it drop a lease it has.
        const existing = outcome.nodeId === nodeId ? (await readKeys(etcd, [keys.node(siteId)])).get(keys.node(siteId)) : undefined
        const ttl = existing ? await keepAliveOnce(etcd, parseJson<NodeLeaseRecord>(existing).leaseId) : 0
        if (existing && ttl > 0) return { leaseSeconds: ttl, grantedRevision: existing.create_revision, granted: true }
        throw new RegistryError(ErrorCode.ERROR_CODE_LEASE_HELD, `the lease of site "${siteId}" was just granted to another node; retry`, {
          retryAfterMs: 100,
        })
      }
      this.#o.logger.info({ site: siteId, node: nodeId, lease: grant.ID, revision }, 'confirmation lease granted')
      return { leaseSeconds: Number(grant.TTL), grantedRevision: revision, granted: true }
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
