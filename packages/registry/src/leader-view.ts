import type { Etcd3, IKeyValue, Watcher } from 'etcd3'
import type { Logger } from 'pino'
import { prefixEnd } from './kv'

/** A candidate's election key as the view holds it. */
interface Candidate {
  createRevision: bigint
  modRevision: bigint
  value: Buffer
}

/** What the view knows: the election keys, or nothing while its watch is not attached. */
export type LeaderViewAnswer = { known: true; leaderKey: IKeyValue | undefined } | { known: false }

/** How long to wait before opening a watch again after etcd cancelled one, or reading the keys again. */
const REOPEN_MS = 500

/**
 * The election keys as a watch on their prefix shows them, so that "who leads?" is answered from
 * memory. A follower asks before each forward, every 250 ms while writes are in flight at the
 * leader and every 20 ms after a refusal (leader-forwarder.ts); each question used to be a
 * linearizable range of the election prefix, a quorum read that crosses the WAN for a branch far
 * from etcd's leader. With ten branches at 30 ms RTT those reads were 1,798 of the 2,849 requests
 * etcd logged as slow in a chaos run (issue 13), while leadership changed hands every few
 * seconds.
 *
 * The leader is the candidate with the oldest key (lowest create revision), as etcd3's election
 * and {@link Leadership.currentLeader} define it. The view is trusted only while its watch is
 * attached and caught up: after the watch (re)connects it reads the prefix once and applies the
 * events that came after that read; while it is detached or catching up it knows nothing, and
 * the caller reads etcd as before. A view can lag a linearizable read by the watch's delivery
 * time; that is the same as the forwarder's cached leader, and costs at most one refused hop.
 *
 * State: idle → open (watching) → closed by {@link stop}.
 */
export class LeaderView {
  readonly #etcd: Etcd3
  readonly #prefix: string
  readonly #logger: Logger
  readonly #candidates = new Map<string, Candidate>()
  #watcher: Watcher | undefined
  /** Caught up with etcd: the prefix read and every event after it applied. */
  #synced = false
  /** Events that arrived while the prefix was being read: applied after it, if newer. */
  #buffered: { kv: IKeyValue; deleted: boolean }[] | undefined
  #stopped = false
  #reopenTimer: NodeJS.Timeout | undefined

  constructor(etcd: Etcd3, electionPrefix: string, logger: Logger) {
    this.#etcd = etcd
    this.#prefix = electionPrefix
    this.#logger = logger
  }

  /** Opens the watch (idempotent). */
  start(): void {
    if (this.#stopped || this.#watcher !== undefined) return
    const watcher = this.#etcd.watch().prefix(this.#prefix).watcher()
    this.#watcher = watcher
    watcher.on('connected', () => {
      if (this.#watcher === watcher) void this.#catchUp(watcher)
    })
    watcher.on('disconnected', () => {
      if (this.#watcher === watcher) this.#synced = false
    })
    watcher.on('put', (kv) => this.#event(watcher, kv, false))
    watcher.on('delete', (kv) => this.#event(watcher, kv, true))
    watcher.on('error', (error) => {
      // etcd cancelled the watch: know nothing until another one has caught up.
      if (this.#watcher !== watcher) return
      this.#logger.debug({ err: error }, 'leader view: watch cancelled; opening another')
      this.#close()
      this.#reopenTimer = setTimeout(() => this.start(), REOPEN_MS)
      this.#reopenTimer.unref()
    })
  }

  /** The oldest election key, when the view is caught up; `known: false` otherwise. */
  leader(): LeaderViewAnswer {
    if (!this.#synced) return { known: false }
    let oldest: [string, Candidate] | undefined
    for (const entry of this.#candidates) if (oldest === undefined || entry[1].createRevision < oldest[1].createRevision) oldest = entry
    if (oldest === undefined) return { known: true, leaderKey: undefined }
    const { createRevision, modRevision, value } = oldest[1]
    return { known: true, leaderKey: { key: Buffer.from(oldest[0]), value, create_revision: createRevision.toString(), mod_revision: modRevision.toString() } as IKeyValue }
  }

  /** Closes the watch; the view knows nothing after. Idempotent. */
  stop(): void {
    this.#stopped = true
    if (this.#reopenTimer) clearTimeout(this.#reopenTimer)
    this.#close()
  }

  async #catchUp(watcher: Watcher): Promise<void> {
    this.#synced = false
    this.#buffered = []
    try {
      const res = await this.#etcd.kv.range({ key: Buffer.from(this.#prefix), range_end: prefixEnd(this.#prefix) })
      if (this.#watcher !== watcher) return
      const revision = BigInt(res.header.revision)
      this.#candidates.clear()
      for (const kv of res.kvs) this.#candidates.set(kv.key.toString('utf8'), candidate(kv))
      const later = this.#buffered.filter((e) => BigInt(e.kv.mod_revision) > revision)
      this.#buffered = undefined
      for (const e of later) this.#apply(e.kv, e.deleted)
      this.#synced = true
    } catch (error) {
      // etcd did not answer: stay unknown, and read again shortly while the watch is this one.
      this.#buffered = undefined
      this.#logger.debug({ err: error }, 'leader view: could not read the election keys')
      if (this.#stopped || this.#watcher !== watcher) return
      this.#reopenTimer = setTimeout(() => {
        if (this.#watcher === watcher && !this.#synced) void this.#catchUp(watcher)
      }, REOPEN_MS)
      this.#reopenTimer.unref()
    }
  }

  #event(watcher: Watcher, kv: IKeyValue, deleted: boolean): void {
    if (this.#watcher !== watcher) return
    if (this.#buffered !== undefined) this.#buffered.push({ kv, deleted })
    else this.#apply(kv, deleted)
  }

  #apply(kv: IKeyValue, deleted: boolean): void {
    const key = kv.key.toString('utf8')
    if (deleted) this.#candidates.delete(key)
    else this.#candidates.set(key, candidate(kv))
  }

  #close(): void {
    const watcher = this.#watcher
    this.#watcher = undefined
    this.#synced = false
    this.#buffered = undefined
    watcher?.cancel().catch(() => undefined)
  }
}

function candidate(kv: IKeyValue): Candidate {
  return { createRevision: BigInt(kv.create_revision), modRevision: BigInt(kv.mod_revision), value: kv.value }
}
