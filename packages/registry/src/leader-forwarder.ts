import { setTimeout as delay } from 'node:timers/promises'
import { type ChannelCredentials, Client, Metadata, type MethodDefinition, type ServiceError } from '@grpc/grpc-js'
import { context as otelContext, propagation } from '@opentelemetry/api'
import { ErrorCode } from '@flexseat/proto'
import type { Logger } from 'pino'
import { formatOnBehalfOf, ON_BEHALF_OF_KEY, SESSION_KEY } from './auth'
import type { Caller } from './caller'
import { RegistryError, unavailable } from './errors'
import { registryErrorFromServiceError } from './grpc-errors'
import type { LeaderInfo } from './leadership'
import type { ServedCore } from './served-core'

/**
 * Metadata key marking a call as already forwarded once: an instance that receives a forwarded
 * write while not leading does not forward it again (two instances with stale views of the
 * leader would otherwise bounce it); it answers NOT_LEADER and the first hop retries.
 */
export const FORWARDED_KEY = 'x-flexseat-forwarded'

/**
 * After a leader refused a write or could not be reached: how long to look for another leader
 * before the one retry (read every {@link LEADER_POLL_MS}; a leader that resigned on SIGTERM has
 * a successor within a campaign round, tens of ms), and the pause when none is found in time.
 */
const RETRY_PAUSE_MS = 150
const LEADER_POLL_MS = 20

/**
 * How often a follower with writes in flight at the leader reads who leads (one etcd range). A
 * leader that is paused (SIGSTOP, a frozen VM) or cut off keeps its connections open: without
 * this, a write forwarded to it would wait for the caller's deadline even after another
 * instance was elected. With it, such a write moves to the new leader within this interval of
 * the election (the old leader's lease TTL after its last keepalive).
 */
const LEADER_CHECK_MS = 250

/** Re-routes of one write after leader changes, at most (each needs a new election). */
const MAX_REROUTES = 3

/** The forwarded call was cancelled because another instance now leads: run it again there. */
class LeaderChanged extends Error {
  override readonly name = 'LeaderChanged'
}

/**
 * How long a follower trusts the leader it read from etcd before reading it again. The leader
 * lookup was an etcd round trip on every forwarded write; a stale entry costs at most one failed
 * hop (a dead address is UNAVAILABLE, a deposed leader answers NOT_LEADER at once), after which
 * the entry is dropped and the leader re-read, exactly as before; a paused leader is left by the
 * in-flight check ({@link LEADER_CHECK_MS}). At 1 s a branch's acknowledgements (one per sign-in
 * that leaves it, seconds apart) each paid that round trip (issue 15's traces). Past it, the
 * entry is still used while it is read again beside the forward, so no forwarded write waits for
 * that read (the one in several that came after an expiry did, on a sign-in's path twice: the
 * login's forward and the old branch's acknowledgement).
 */
const LEADER_CACHE_MS = 5_000

/** Options of {@link LeaderForwarder}. */
export interface LeaderForwarderOptions {
  /** The core (throws RegistryError UNAVAILABLE while the instance is starting). */
  core: () => Pick<ServedCore, 'isLeader' | 'currentLeader'>
  /** This instance's id, to recognise itself as leader before its state says so. */
  instanceId: string
  /** The token presented to the leader (role registry). Without it, forwarded calls are refused by the leader. */
  clusterToken: string | undefined
  /** Credentials of the channels to other instances (insecure, TLS or mTLS as the server). */
  credentials: ChannelCredentials
  /** TLS name to expect from the leader's certificate when it differs from the address' host. */
  tlsServerName?: string
  logger: Logger
  /** Deadline of a forwarded call when the incoming call has none (default 10 000 ms); one the caller set is kept. */
  timeoutMs?: number
  /** How long the leader read from etcd is fresh, in ms (default {@link LEADER_CACHE_MS}; tests shorten it). */
  leaderCacheMs?: number
}

/** What a forwarded write needs to know of the incoming call. */
export interface IncomingCall {
  metadata: Metadata
  /** The incoming call's deadline (grpc-js `call.getDeadline()`). */
  deadline?: Date | number
}

/**
 * Runs a write on the leader: here when this instance leads, else by forwarding the call to the
 * leader's advertised address (the leader read from etcd is fresh for 5 s; after that it is read
 * again beside the next forward, which still goes to the leader known) on one channel
 * per address, as the registry caller
 * (`FLEXSEAT_CLUSTER_TOKEN`) on behalf of the original caller. When the core answers NOT_LEADER
 * or the leader cannot be reached, it re-reads the leader and tries once more; writes are
 * idempotent by request id, so the retry is safe. No leader: UNAVAILABLE with a retry hint.
 *
 * While writes are in flight at the leader it reads who leads every {@link LEADER_CHECK_MS}: when
 * another instance leads, it cancels them there and runs them again on the new leader (here, if
 * this instance was elected), without counting that as the retry. The request id makes the
 * second run return the first outcome if the old leader committed it; a paused leader that
 * resumes cannot commit (its writes are fenced on its election key). The BranchService calls,
 * which carry no request id, are safe to repeat (docs/OPERATIONS.md, "Restarts").
 *
 * State: open until {@link stop}, which closes every channel (idempotent).
 */
export class LeaderForwarder {
  readonly #options: LeaderForwarderOptions
  readonly #clients = new Map<string, Client>()
  #leader: { info: LeaderInfo; until: number } | undefined
  #stopped = false
  /** Forwarded writes in flight: the instance each was sent to, and what to do when another leads. */
  readonly #inFlight = new Set<{ instanceId: string; changed: (leader: LeaderInfo) => void }>()
  #checkTimer: NodeJS.Timeout | undefined
  #checking = false
  /** The read of the leader under way after the cached one went stale. */
  #refreshing: Promise<void> | undefined

  constructor(options: LeaderForwarderOptions) {
    this.#options = options
  }

  /**
   * Runs `local` (the core's write) on the leader, or forwards `request` as `method` to it, with
   * the metadata `annotate` (optional) gives: work done here to spare the leader (a failure of
   * it only leaves the metadata out).
   * Throws RegistryError (the leader's own errors pass through with their details).
   */
  async execute<Req, Res>(
    method: MethodDefinition<Req, Res>,
    request: Req,
    caller: Caller,
    incoming: IncomingCall,
    local: () => Promise<Res>,
    annotate?: () => Promise<Record<string, string>>,
  ): Promise<Res> {
    const alreadyForwarded = incoming.metadata.get(FORWARDED_KEY).length > 0
    let extra: Record<string, string> | undefined
    let attempt = 0
    let reroutes = 0
    for (;;) {
      try {
        const core = this.#options.core()
        // A forwarded write is answered here or refused at once (the first hop re-reads the leader).
        if (alreadyForwarded && !core.isLeader) throw new RegistryError(ErrorCode.ERROR_CODE_NOT_LEADER, 'not the leader', { retryAfterMs: 200 })
        let leader = core.isLeader ? undefined : await this.#currentLeader(core)
        if (leader !== undefined && !leader.proclaimed && leader.instanceId !== this.#options.instanceId) {
          // The successor has yet to confirm its election, and refuses writes until it has.
          await this.#untilAnotherLeader(undefined)
          leader = core.isLeader ? undefined : await this.#currentLeader(core)
        }
        const here = core.isLeader || leader?.instanceId === this.#options.instanceId
        if (here) return await local()
        if (alreadyForwarded) throw new RegistryError(ErrorCode.ERROR_CODE_NOT_LEADER, 'not the leader', { retryAfterMs: 200 })
        if (leader === undefined) throw unavailable('no leader is elected; retry shortly', 1_000)
        // Work this instance does for the leader before forwarding (once, whatever the attempts).
        extra ??= annotate === undefined ? {} : await annotate().catch(() => ({}))
        this.#options.logger.debug({ method: method.path, attempt, leader: leader.instanceId, requestId: (request as { requestId?: unknown }).requestId }, 'write forwarded to the leader')
        return await this.#forward(leader, method, request, caller, incoming, extra)
      } catch (error) {
        if (error instanceof LeaderChanged && reroutes < MAX_REROUTES) {
          reroutes += 1
          continue
        }
        if (!(error instanceof RegistryError) || !retryOnLeader(error) || alreadyForwarded || attempt >= 1) throw error
        attempt += 1
        // Who refused it: the leader it was forwarded to, or this instance (named by etcd before
        // its own election was confirmed).
        const refusedBy = this.#leader === undefined ? this.#options.instanceId : this.#leader.info.proclaimed ? this.#leader.info.instanceId : undefined
        this.#leader = undefined
        // A new leader needs a moment to be known; the write is idempotent, so waiting is safe.
        await this.#untilAnotherLeader(refusedBy)
        this.#options.logger.debug({ method: method.path, attempt, code: ErrorCode[error.code] }, 'write not taken by the leader; re-reading the leader')
      }
    }
  }

  /**
   * Waits until etcd names a leader other than `refusedBy` that has confirmed its election
   * (proclaimed), or this instance leads (etcd names it and its election is confirmed), asking every {@link LEADER_POLL_MS} for at most
   * {@link RETRY_PAUSE_MS}; the leader found is cached. A leader that resigned (SIGTERM) has its
   * successor within a campaign round, so the retry need not wait the whole pause; when nothing
   * is found the pause has passed, as before.
   */
  async #untilAnotherLeader(refusedBy: string | undefined): Promise<void> {
    const until = Date.now() + RETRY_PAUSE_MS
    for (;;) {
      await delay(Math.max(0, Math.min(LEADER_POLL_MS, until - Date.now())))
      if (Date.now() >= until) return
      try {
        const core = this.#options.core()
        const info = await core.currentLeader()
        const usable = info !== undefined && (info.instanceId === this.#options.instanceId ? core.isLeader : info.proclaimed && info.instanceId !== refusedBy)
        if (usable) {
          this.#leader = { info, until: Date.now() + this.#cacheMs }
          return
        }
      } catch {
        // etcd did not answer, or the instance is stopping: keep waiting until the pause is over.
      }
    }
  }

  /**
   * The leader: from the cache when it was read within {@link LEADER_CACHE_MS}; a stale entry is
   * returned as well, while it is read again in the background (one read at a time; its answer
   * replaces the entry unless a refusal dropped it meanwhile). Only without any entry (the first
   * forward, or after a refusal) does the caller wait for the read.
   */
  async #currentLeader(core: Pick<ServedCore, 'currentLeader'>): Promise<LeaderInfo | undefined> {
    const cached = this.#leader
    if (cached !== undefined) {
      if (Date.now() >= cached.until) this.#refresh(core, cached)
      return cached.info
    }
    const info = await core.currentLeader()
    // A successor not yet proclaimed is asked about again, not kept.
    this.#leader = info === undefined || !info.proclaimed ? undefined : { info, until: Date.now() + this.#cacheMs }
    return info
  }

  get #cacheMs(): number {
    return this.#options.leaderCacheMs ?? LEADER_CACHE_MS
  }

  #refresh(core: Pick<ServedCore, 'currentLeader'>, stale: { info: LeaderInfo; until: number }): void {
    if (this.#refreshing !== undefined) return
    this.#refreshing = core
      .currentLeader()
      .then(
        (info) => {
          // A refusal dropped the entry, or a check replaced it, meanwhile: theirs is newer.
          if (this.#leader !== stale) return
          this.#leader = info === undefined || !info.proclaimed ? undefined : { info, until: Date.now() + this.#cacheMs }
        },
        () => undefined, // etcd did not answer: the entry stays stale; the next forward asks again.
      )
      .finally(() => (this.#refreshing = undefined))
  }

  /**
   * Forwards the call to `leader`; rejects with {@link LeaderChanged} (the call cancelled there)
   * when another instance is found to lead before it answers.
   */
  #forward<Req, Res>(
    leader: LeaderInfo,
    method: MethodDefinition<Req, Res>,
    request: Req,
    caller: Caller,
    incoming: IncomingCall,
    extra: Record<string, string>,
  ): Promise<Res> {
    if (this.#stopped) return Promise.reject(unavailable('shutting down', 1_000))
    const client = this.#client(leader.address)
    const metadata = new Metadata()
    if (this.#options.clusterToken !== undefined) metadata.set('authorization', `Bearer ${this.#options.clusterToken}`)
    metadata.set(ON_BEHALF_OF_KEY, formatOnBehalfOf(caller))
    metadata.set(FORWARDED_KEY, '1')
    // A portal session is resolved again by the leader, from the session itself (auth.ts).
    const [session] = caller.session === undefined ? [] : incoming.metadata.get(SESSION_KEY)
    if (typeof session === 'string') metadata.set(SESSION_KEY, session)
    for (const [key, value] of Object.entries(extra)) metadata.set(key, value)
    // The write's trace goes on at the leader (its registry.<Rpc> span is a child of this one's).
    propagation.inject(otelContext.active(), metadata, { set: (carrier: Metadata, key: string, value: string) => carrier.set(key, value) })
    // The caller's deadline, unshortened: a Login waits at the leader for its pending seat up to
    // it (seat.proto), however long the confirmation lease. A paused or replaced leader does not
    // hold the call to it: it is re-routed (#watch). Without one: timeoutMs.
    const theirs = incoming.deadline === undefined ? Infinity : new Date(incoming.deadline).getTime()
    const deadline = Number.isFinite(theirs) ? theirs : Date.now() + (this.#options.timeoutMs ?? 10_000)
    return new Promise<Res>((resolve, reject) => {
      let next: LeaderInfo | undefined
      const watch = {
        instanceId: leader.instanceId,
        changed: (now: LeaderInfo): void => {
          next = now
          call.cancel()
        },
      }
      const call = client.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        metadata,
        { deadline },
        (error: ServiceError | null, response?: Res) => {
          this.#unwatch(watch)
          if (error && next !== undefined) {
            this.#options.logger.info(
              { method: method.path, from: leader.instanceId, to: next.instanceId, requestId: (request as { requestId?: unknown }).requestId },
              'leader changed while a forwarded write waited; re-routing it to the new leader',
            )
            reject(new LeaderChanged(`${leader.instanceId} no longer leads`))
          } else if (error) reject(registryErrorFromServiceError(error))
          else resolve(response as Res)
        },
      )
      this.#watch(watch)
    })
  }

  #watch(entry: { instanceId: string; changed: (leader: LeaderInfo) => void }): void {
    this.#inFlight.add(entry)
    if (this.#checkTimer === undefined) {
      this.#checkTimer = setInterval(() => void this.#checkLeader(), LEADER_CHECK_MS)
      this.#checkTimer.unref()
    }
  }

  #unwatch(entry: { instanceId: string; changed: (leader: LeaderInfo) => void }): void {
    this.#inFlight.delete(entry)
    if (this.#inFlight.size === 0 && this.#checkTimer !== undefined) {
      clearInterval(this.#checkTimer)
      this.#checkTimer = undefined
    }
  }

  /** Reads who leads; every write in flight at another instance moves (see the class comment). */
  async #checkLeader(): Promise<void> {
    if (this.#checking || this.#stopped) return
    this.#checking = true
    try {
      // An election under way (no key, or a successor not yet proclaimed) or an unreachable
      // etcd says nothing: keep waiting.
      const leader = await this.#options.core().currentLeader()
      if (leader === undefined || !leader.proclaimed) return
      this.#leader = { info: leader, until: Date.now() + this.#cacheMs }
      for (const entry of [...this.#inFlight]) if (entry.instanceId !== leader.instanceId) entry.changed(leader)
    } catch {
      // UNAVAILABLE while starting or stopping, or etcd did not answer: the next tick asks again.
    } finally {
      this.#checking = false
    }
  }

  #client(address: string): Client {
    let client = this.#clients.get(address)
    if (client === undefined) {
      const options = this.#options.tlsServerName === undefined ? {} : { 'grpc.ssl_target_name_override': this.#options.tlsServerName }
      client = new Client(address, this.#options.credentials, options)
      this.#clients.set(address, client)
    }
    return client
  }

  /** Closes every channel to other instances. Idempotent. */
  stop(): void {
    this.#stopped = true
    clearInterval(this.#checkTimer)
    this.#checkTimer = undefined
    for (const client of this.#clients.values()) client.close()
    this.#clients.clear()
  }
}

/** NOT_LEADER, no leader, or a leader that cannot be reached (it may have just died): the leader may change. */
function retryOnLeader(error: RegistryError): boolean {
  return error.code === ErrorCode.ERROR_CODE_NOT_LEADER || error.code === ErrorCode.ERROR_CODE_UNAVAILABLE
}
