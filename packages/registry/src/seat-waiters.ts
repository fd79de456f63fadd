import type { Etcd3, IKeyValue, Watcher } from 'etcd3'
import type { Logger } from 'pino'
import { readKeys } from './fenced-writer'
import type { Keys } from './keys'
import { parseJson, prefixEnd } from './kv'
import type { SeatRecord } from './records'
import type { TxnLimits } from './txn-limits'

/** What a waiting login learns: its seat active (at its new epoch), or no longer the seat it wrote. */
export type SeatOutcome = { kind: 'active'; record: SeatRecord; revision: string } | { kind: 'changed' } | { kind: 'timeout' }

/** Options of {@link SeatWaiters}. */
export interface SeatWaitersOptions {
  etcd: Etcd3
  keys: Keys
  /** etcd's transaction limits (a re-read of many waiting seats takes several read-only txns). */
  limits: TxnLimits
  logger: Logger
}

interface Waiter {
  userId: string
  deviceId: string
  since: string
  resolve: (outcome: SeatOutcome) => void
  timer: NodeJS.Timeout
}

/**
 * Logins waiting for their pending seat to become active (invariant 4: a takeover waits for the
 * old branch's acknowledgement or lease expiry), woken by the etcd watch event that completes
 * the revocation rather than each reading its seat again and again.
 *
 * One etcd watch of `seats/` serves every waiter of this instance. It is opened when the first
 * login starts waiting, from the revision right after that login's write, so no change after the
 * write is missed, and stays open until {@link stop}, idle or not: a watch opened per takeover
 * would start at a revision etcd has passed whenever anything else was written between the
 * takeover's commit and the watch's creation, and etcd delivers such an "unsynced" watch's events
 * only from its sync loop, every 100 ms (a wait of up to 100 ms added to the sign-in), besides
 * a create and a cancel on the watch stream per login. A waiter that joins the open watch reads
 * its seat once if the watch may already have delivered a change after its write (it started
 * later than that write, or has delivered a revision past it). When etcd3 reconnects
 * the watch it resumes from the last header revision it saw, which can skip events (see
 * seat-watch.ts), and a watch that etcd cancels (compaction) is opened afresh: either way every
 * waiting seat is read once more. Those reads are the only ones.
 *
 * The seat a waiter waits for moves one way only: pending, then active, then perhaps replaced
 * or released; so the first of an event or a read that shows it active or changed decides.
 *
 * State: no watch until the first wait; then watching; {@link stop} ends every wait ("timeout")
 * and closes the watch for good.
 */
export class SeatWaiters {
  readonly #o: SeatWaitersOptions
  readonly #byUser = new Map<string, Set<Waiter>>()
  #watcher: Watcher | undefined
  /** The revision the current watch started from. */
  #watchStart = 0n
  /** The highest revision the current watch has delivered. */
  #delivered = 0n
  #stopped = false
  /** etcd watches opened so far (one, unless etcd cancelled one). */
  #opened = 0

  constructor(options: SeatWaitersOptions) {
    this.#o = options
  }

  /** Logins waiting now. */
  get size(): number {
    let n = 0
    for (const set of this.#byUser.values()) n += set.size
    return n
  }

  /**
   * Waits until the seat of `userId` written at revision `writtenAt` (device `deviceId`, since
   * `since`) is active, or is replaced or released ("changed"), or until `until` (ms since the
   * epoch; "timeout").
   */
  wait(seat: { userId: string; deviceId: string; since: string }, writtenAt: bigint, until: number): Promise<SeatOutcome> {
    if (this.#stopped) return Promise.resolve({ kind: 'timeout' })
    return new Promise<SeatOutcome>((resolve) => {
      const waiter: Waiter = {
        ...seat,
        resolve: (outcome) => {
          clearTimeout(waiter.timer)
          if (!this.#remove(waiter)) return
          resolve(outcome)
        },
        timer: setTimeout(() => waiter.resolve({ kind: 'timeout' }), Math.max(0, until - Date.now())),
      }
      waiter.timer.unref()
      let set = this.#byUser.get(seat.userId)
      if (set === undefined) this.#byUser.set(seat.userId, (set = new Set()))
      set.add(waiter)
      if (this.#watcher === undefined) {
        this.#open(writtenAt + 1n)
      } else if (this.#watchStart > writtenAt + 1n || this.#delivered > writtenAt) {
        void this.#reread([waiter])
      }
    })
  }

  /** How many etcd watches this instance has opened (one serves every wait; etcd cancelling it opens another). */
  get watchesOpened(): number {
    return this.#opened
  }

  /** Ends every wait ("timeout") and closes the watch; later waits end at once. Idempotent. */
  stop(): void {
    this.#stopped = true
    for (const set of [...this.#byUser.values()]) for (const waiter of [...set]) waiter.resolve({ kind: 'timeout' })
    this.#close()
  }

  #open(from: bigint): void {
    const { etcd, keys, logger } = this.#o
    const watcher = etcd.watch().inRange({ start: keys.seats, end: prefixEnd(keys.seats) }).startRevision(from.toString()).watcher()
    this.#watcher = watcher
    this.#opened += 1
    this.#watchStart = from
    this.#delivered = from - 1n
    let connections = 0
    watcher.on('connected', () => {
      // etcd3 re-attached the watch after a break, from the last header revision it saw.
      if (++connections > 1 && this.#watcher === watcher) void this.#reread(this.#all())
    })
    watcher.on('put', (kv) => this.#event(watcher, kv, false))
    watcher.on('delete', (kv) => this.#event(watcher, kv, true))
    watcher.on('disconnected', (error) => logger.debug({ err: error }, 'seat waiters: watch broken; etcd3 reconnects it'))
    watcher.on('error', (error) => {
      // etcd cancelled the watch (its start revision compacted, say): open another, read again.
      if (this.#watcher !== watcher) return
      logger.warn({ err: error }, 'seat waiters: watch cancelled; opening another')
      this.#close()
      // Nobody waits: the next wait opens one from its own write.
      if (this.#byUser.size === 0) return
      void this.#currentRevision().then(
        (revision) => {
          if (this.#watcher === undefined && this.#byUser.size > 0) this.#open(revision + 1n)
          return this.#reread(this.#all())
        },
        (err: unknown) => logger.warn({ err }, 'seat waiters: etcd did not answer; the waits end at their deadline'),
      )
    })
  }

  #close(): void {
    const watcher = this.#watcher
    this.#watcher = undefined
    if (watcher) watcher.cancel().catch(() => undefined)
  }

  #event(watcher: Watcher, kv: IKeyValue, deleted: boolean): void {
    if (watcher !== this.#watcher) return
    const revision = BigInt(kv.mod_revision)
    if (revision > this.#delivered) this.#delivered = revision
    const userId = kv.key.toString('utf8').slice(this.#o.keys.seats.length)
    const set = this.#byUser.get(userId)
    if (set === undefined) return
    const record = deleted ? undefined : parseJson<SeatRecord>(kv)
    for (const waiter of [...set]) decide(waiter, record, kv.mod_revision)
  }

  /** Reads the waiters' seats once (one read-only txn per `maxTxnOps` seats). */
  async #reread(waiters: readonly Waiter[]): Promise<void> {
    if (waiters.length === 0) return
    const { etcd, keys, limits, logger } = this.#o
    try {
      const found = await readKeys(etcd, [...new Set(waiters.map((w) => keys.seat(w.userId)))], false, limits)
      for (const waiter of waiters) {
        const kv = found.get(keys.seat(waiter.userId))
        decide(waiter, kv ? parseJson<SeatRecord>(kv) : undefined, kv?.mod_revision ?? '0')
      }
    } catch (error) {
      // The watch still delivers what changes from now on; the deadline bounds the rest.
      logger.debug({ err: error }, 'seat waiters: reading the waiting seats failed')
    }
  }

  async #currentRevision(): Promise<bigint> {
    const res = await this.#o.etcd.kv.range({ key: Buffer.from(this.#o.keys.seats), count_only: true })
    return BigInt(res.header.revision)
  }

  #all(): Waiter[] {
    return [...this.#byUser.values()].flatMap((set) => [...set])
  }

  /** Forgets a waiter; false if it was gone already. The watch stays open for the next. */
  #remove(waiter: Waiter): boolean {
    const set = this.#byUser.get(waiter.userId)
    if (!set?.delete(waiter)) return false
    if (set.size === 0) this.#byUser.delete(waiter.userId)
    return true
  }
}

/** Resolves `waiter` when `record` (its seat now, undefined when released) shows it active or changed. */
function decide(waiter: Waiter, record: SeatRecord | undefined, revision: string): void {
  if (!record || record.deviceId !== waiter.deviceId || record.since !== waiter.since) {
    waiter.resolve({ kind: 'changed' })
  } else if ((record.pending ?? []).length === 0) {
    waiter.resolve({ kind: 'active', record, revision })
  }
}
