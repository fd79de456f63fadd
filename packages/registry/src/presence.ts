import type { Etcd3, Lease } from 'etcd3'
import type { Logger } from 'pino'
import type { Keys } from './keys'
import { isTransient } from './kv'

/** How long {@link Presence.start} retries a transient etcd failure before it rejects (ms). */
export const PRESENCE_START_RETRY_MS = 5_000

/** Stored at `instances/<id>` on the instance's own lease. */
export interface PresenceRecord {
  siteId: string
  address: string
  /** ISO time. */
  startedAt: string
  version: string
}

/**
 * Keeps `instances/<id>` alive on a lease of its own (TTL `ttlSeconds`), so the cluster status
 * lists exactly the live instances. When the lease is lost (etcd unreachable for long), a new
 * one is granted and the key written again.
 *
 * State: created → {@link Presence.start} → registered ↔ re-registering → {@link Presence.stop}.
 */
export class Presence {
  readonly #etcd: Etcd3
  readonly #key: string
  readonly #record: PresenceRecord
  readonly #ttl: number
  readonly #logger: Logger
  #lease: Lease | undefined
  #stopped = false
  #retry: NodeJS.Timeout | undefined
  /** While start() runs: it retries by itself, so a lost lease schedules nothing. */
  #starting = false
  #lastContact = 0

  constructor(etcd: Etcd3, keys: Keys, instanceId: string, record: PresenceRecord, ttlSeconds: number, logger: Logger) {
    this.#etcd = etcd
    this.#key = keys.instance(instanceId)
    this.#record = record
    this.#ttl = ttlSeconds
    this.#logger = logger
  }

  /** When etcd last answered a keepalive or the registration (ms since epoch). */
  get lastContact(): number {
    return this.#lastContact
  }

  /**
   * Registers; resolves once the key is written. A transient failure (a member unreachable, or
   * etcd dropping the proposal while its raft leadership moves: `raft proposal dropped`) is
   * retried for up to `retryMs`; then, or on any other failure, it rejects.
   */
  async start(retryMs = PRESENCE_START_RETRY_MS): Promise<void> {
    const deadline = Date.now() + retryMs
    this.#starting = true
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.#register()
        } catch (error) {
          if (this.#stopped || !isTransient(error) || Date.now() >= deadline) throw error
          this.#logger.warn({ err: error, attempt }, 'could not register presence; retrying')
          await new Promise((resolve) => setTimeout(resolve, Math.min(100 * attempt, 500)))
        }
      }
    } finally {
      this.#starting = false
    }
  }

  async #register(): Promise<void> {
    if (this.#stopped) return
    const lease = this.#etcd.lease(this.#ttl)
    this.#lease = lease
    lease.on('keepaliveSucceeded', () => (this.#lastContact = Date.now()))
    lease.on('lost', (error) => {
      if (this.#stopped || this.#lease !== lease || this.#starting) return
      this.#logger.warn({ err: error }, 'presence lease lost; registering again')
      this.#again()
    })
    try {
      await lease.put(this.#key).value(JSON.stringify(this.#record))
    } catch (error) {
      // The lease may have been granted (and be kept alive) even though the put failed: revoke
      // it, or every retry would leak one more kept-alive lease. revoke() stops the keepalive
      // at once; a failed server-side revoke just lets the lease expire after its TTL.
      if (this.#lease === lease) this.#lease = undefined
      await lease.revoke().catch(() => undefined)
      throw error
    }
    this.#lastContact = Date.now()
  }

  #again(): void {
    if (this.#retry || this.#stopped) return
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      this.#register().catch((error: unknown) => {
        this.#logger.warn({ err: error }, 'could not register presence; retrying')
        this.#again()
      })
    }, 500)
    this.#retry.unref()
  }

  /** Revokes the lease (the key goes with it). Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    if (this.#retry) clearTimeout(this.#retry)
    await this.#lease?.revoke().catch(() => undefined)
  }
}
