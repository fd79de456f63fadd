import type { IKeyValue } from 'etcd3'
import { parseJson } from './kv'
import type { RenewalRecord } from './records'

/**
 * One renewal of a branch's confirmation lease that the node may have been told succeeded, as
 * written at `renewals/<site>` (docs/OPERATIONS.md, "Bounded revocation").
 */
export interface RenewalTerm {
  /** The create revision of `nodes/<site>`: the grant this renewal belongs to. */
  grantRevision: string
  /** The mod revision of `renewals/<site>` the renewal wrote. */
  renewalRevision: string
  /** The etcd lease id (decimal string). */
  leaseId: string
  /** The lease's TTL as the node was told it, in seconds. */
  leaseSeconds: number
}

/** What the leader knows of a branch's lease: a {@link RenewalTerm} and when its node has stopped acting. */
export interface LeaseDeadline extends RenewalTerm {
  /**
   * By the leader's monotonic clock: an instant at or after which the node has stopped acting on
   * the lease of the renewal `renewalRevision` (and of every earlier one), whatever it was told.
   */
  deadline: number
  /**
   * `renewal`: this instance wrote that renewal (the deadline is exact: TTL after the request
   * reached it); `read`: it found the renewal in etcd (after a leader change) and bounds it from
   * when it read it, then more closely from etcd's remaining TTL ({@link LeaseDeadlines.probe}).
   */
  source: 'renewal' | 'read'
}

/** etcd's answer to LeaseTimeToLive: whole seconds, truncated (−1: no such lease). */
export type TimeToLive = (leaseId: string) => Promise<number>

/** Options of {@link LeaseDeadlines}. */
export interface LeaseDeadlinesOptions {
  /** The leader's monotonic clock, in milliseconds. */
  clock: () => number
  /** LeaseTimeToLive of a lease, for deadlines found in etcd (see {@link LeaseDeadlines.probe}). */
  timeToLive: TimeToLive
}

/**
 * The node's safety margin for a lease of `leaseSeconds` (ms): it stops acting at least this long
 * before the send time of its last successful renewal + TTL. The BranchService contract
 * (branch.proto): max(250 ms, 10 % of the lease), as sip-node's `validUntil` applies it.
 */
export function nodeMarginMs(leaseSeconds: number): number {
  return Math.max(250, leaseSeconds * 100)
}

/**
 * How far apart the leader's questions to etcd about a lease found after a leader change are,
 * near its expiry (ms): with a round trip, how far the deadline may lag etcd's expiry less half
 * the margin. A second of questions at most: about twenty, per branch with something waiting.
 */
const PROBE_STEP_MS = 50

interface Probe {
  /** etcd's expiry of the lease was at or after this instant, when last asked (monotonic ms). */
  lo: number
  /** When to ask next (monotonic ms); undefined: no more questions. */
  nextAt: number | undefined
}

/**
 * The leader's record, per branch, of when the node holding the confirmation lease has certainly
 * stopped acting on it, so that the branch's revocations can complete then rather than when etcd
 * gets round to expiring the lease (its lessor looks every 500 ms).
 *
 * The node counts its lease from the moment it *sent* the renewal that succeeded, and stops a
 * margin ({@link nodeMarginMs}) before the TTL runs out. The deadline is always an instant by
 * which that end has certainly passed, by the leader's clock:
 *
 * - a renewal this instance served: the TTL after the request reached it ({@link renewed}), which
 *   is after the node sent it;
 * - a renewal found in etcd (`renewals/<site>`, after a leader change): the TTL after the read that
 *   found it answered ({@link observe}); every renewal writes that record, fenced, before it
 *   answers the node, so no successful renewal is missing from etcd;
 * - closer, etcd's own count ({@link probe}): etcd received the keepalive of the renewal found
 *   after the node sent it, so the node stops at least the margin before etcd's expiry.
 *   LeaseTimeToLive answers whole seconds, truncated: an answer `r` received at `t` says the
 *   expiry is before `t + (r + 1) s`; the deadline is that, less half the margin.
 *
 * What is left between the node's end and the deadline (the network's delays, and at least half
 * the margin, 125 ms) is for clock rates, which differ by a few hundred parts per million at most:
 * a few milliseconds over a lease. A renewal unknown here (written by another leader) changes
 * `renewals/<site>`, which ending the lease compares: the leader never acts on the deadline of a
 * renewal that is not the last one.
 */
export class LeaseDeadlines {
  readonly #o: LeaseDeadlinesOptions
  readonly #bySite = new Map<string, LeaseDeadline & { probe?: Probe }>()

  constructor(options: LeaseDeadlinesOptions) {
    this.#o = options
  }

  /** The site's deadline as known now, if any. */
  get(siteId: string): LeaseDeadline | undefined {
    return this.#bySite.get(siteId)
  }

  /** This instance wrote `term` for a renewal request that reached it at `receivedAt` (monotonic ms). */
  renewed(siteId: string, term: RenewalTerm, receivedAt: number): void {
    this.#bySite.set(siteId, { ...term, deadline: receivedAt + term.leaseSeconds * 1_000, source: 'renewal' })
  }

  /**
   * What a read of `nodes/<site>` and `renewals/<site>` that answered at `readAt` (monotonic ms)
   * shows. The renewal known already (or a later one of the same grant: the read began before
   * this instance wrote it) keeps its deadline; another one (written by another leader) starts at
   * `readAt` and is probed; without a lease key, or without a renewal record (a lease granted by a
   * registry that wrote none), there is no deadline: etcd's expiry decides.
   */
  observe(siteId: string, node: IKeyValue | undefined, renewal: IKeyValue | undefined, readAt: number): LeaseDeadline | undefined {
    const known = this.#bySite.get(siteId)
    if (!node || !renewal) {
      this.#bySite.delete(siteId)
      return undefined
    }
    if (known && known.grantRevision === node.create_revision && BigInt(renewal.mod_revision) <= BigInt(known.renewalRevision)) return known
    const record = parseJson<RenewalRecord>(renewal)
    if (!(record.leaseSeconds > 0) || record.leaseId !== renewal.lease) {
      this.#bySite.delete(siteId)
      return undefined
    }
    const entry = {
      grantRevision: node.create_revision,
      renewalRevision: renewal.mod_revision,
      leaseId: record.leaseId,
      leaseSeconds: record.leaseSeconds,
      deadline: readAt + record.leaseSeconds * 1_000,
      source: 'read' as const,
      probe: { lo: Number.NEGATIVE_INFINITY, nextAt: readAt },
    }
    this.#bySite.set(siteId, entry)
    return entry
  }

  /** Forgets the site's deadline (its lease was released, expired or ended). */
  forget(siteId: string): void {
    this.#bySite.delete(siteId)
  }

  /** Forgets everything (leadership changed: a next term learns afresh). */
  clear(): void {
    this.#bySite.clear()
  }

  /** The sites whose deadline has come. */
  due(): string[] {
    const now = this.#o.clock()
    return [...this.#bySite].filter(([, d]) => d.deadline <= now).map(([site]) => site)
  }

  /**
   * Asks etcd for the remaining TTL of the leases of `sites` found in etcd whose next question is
   * due, and brings each deadline forward to what the answer proves: an answer `r` (whole
   * seconds, truncated) received at `t` means etcd's expiry is before `t + (r + 1) s`, so the node
   * stopped before that less the margin. An answer of 1 or more also says the expiry is at least
   * `r` seconds after the question was sent; the next question comes {@link PROBE_STEP_MS} past
   * the instant where the answer could first be 0, and so on until one is: the deadline then lags
   * etcd's expiry less half the margin by at most a step and a round trip. A failed question ends
   * the questions (the deadline stays as it was: later, never wrong).
   */
  async probe(sites: Iterable<string>): Promise<void> {
    const now = this.#o.clock()
    const due = [...sites].flatMap((site) => {
      const entry = this.#bySite.get(site)
      return entry?.probe?.nextAt !== undefined && entry.probe.nextAt <= now ? [[site, entry] as const] : []
    })
    await Promise.all(
      due.map(async ([siteId, entry]) => {
        const probe = entry.probe!
        const sentAt = this.#o.clock()
        let ttl: number
        try {
          ttl = await this.#o.timeToLive(entry.leaseId)
        } catch {
          probe.nextAt = undefined
          return
        }
        const answeredAt = this.#o.clock()
        if (this.#bySite.get(siteId) !== entry) return
        probe.nextAt = undefined
        // Below 0: etcd has expired the lease; it deletes the lease key, and the sweep completes.
        if (ttl < 0) return
        entry.deadline = Math.min(entry.deadline, answeredAt + (ttl + 1) * 1_000 - nodeMarginMs(entry.leaseSeconds) / 2)
        if (ttl === 0) return
        probe.lo = Math.max(probe.lo, sentAt + ttl * 1_000)
        probe.nextAt = Math.max(answeredAt, probe.lo - 1_000 + PROBE_STEP_MS)
      }),
    )
  }

  /**
   * How long until the next deadline, or the next question to etcd about one of `probed`, in ms
   * from now (undefined: none).
   */
  nextInMs(probed: Iterable<string>): number | undefined {
    const now = this.#o.clock()
    let next = Number.POSITIVE_INFINITY
    for (const d of this.#bySite.values()) next = Math.min(next, d.deadline)
    for (const site of probed) next = Math.min(next, this.#bySite.get(site)?.probe?.nextAt ?? Number.POSITIVE_INFINITY)
    return Number.isFinite(next) ? Math.max(0, next - now) : undefined
  }
}
