import type { Etcd3, Lease } from 'etcd3'

/**
 * The lease that records kept for a retention are written on (request records, seat history,
 * portal sessions): one granted per `retention/24` (at least 1 s, at most an hour) with a TTL of
 * the retention plus that period, never kept alive. A record therefore lives at least the
 * retention after it was last written and at most a period longer, at the cost of one lease grant
 * per period; etcd deletes it by itself.
 *
 * Named in a write's operations by a marker (`lease: <name>`), which the fenced writer replaces
 * with {@link id} (fenced-writer.ts, `leases`).
 */
export class RetentionLease {
  readonly #etcd: Etcd3
  readonly #ttl: number
  readonly #reuseMs: number
  #current: { lease: Lease; id: Promise<string>; grantedAt: number } | undefined

  constructor(etcd: Etcd3, retentionSeconds: number) {
    if (!Number.isInteger(retentionSeconds) || retentionSeconds < 1) throw new RangeError(`a retention is a whole number of seconds >= 1: ${retentionSeconds}`)
    this.#etcd = etcd
    const reuse = Math.min(3_600, Math.max(1, Math.floor(retentionSeconds / 24)))
    this.#reuseMs = reuse * 1_000
    this.#ttl = retentionSeconds + reuse
  }

  /** The lease id to write a record on now (granted when the current one is a period old). */
  async id(now = Date.now()): Promise<string> {
    if (!this.#current || now - this.#current.grantedAt >= this.#reuseMs) {
      this.#current?.lease.release()
      const lease = this.#etcd.lease(this.#ttl, { autoKeepAlive: false })
      lease.on('lost', () => undefined) // a failed grant is reported through grant()
      this.#current = { lease, id: lease.grant(), grantedAt: now }
    }
    try {
      return await this.#current.id
    } catch (error) {
      this.#current = undefined
      throw error
    }
  }

  /** Forgets the current lease (etcd said it is gone): the next call grants another. */
  invalidate(): void {
    this.#current?.lease.release()
    this.#current = undefined
  }

  close(): void {
    this.invalidate()
  }
}
