import type { Etcd3, ICompare, IKeyValue, IRangeRequest, IRangeResponse } from 'etcd3'
import { ClientRuntimeError, EtcdError, EtcdLeaseInvalidError, GRPCGenericError } from 'etcd3'
import { ErrorCode } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryError, unavailable } from './errors'
import {
  type RequestLease,
  type RequestRecord,
  type WriteMethod,
  type WriteResponses,
  decodeOutcome,
  encodeOutcome,
  stampRevision,
} from './idempotency'
import { GroupCommit, type MemberResult } from './group-commit'
import type { Keys } from './keys'
import type { Leadership } from './leadership'
import { type Op, REQUEST_LEASE, createEquals, isTransient, modEquals, parseJson, prefixEnd, prefixUnchangedSince, requestOp } from './kv'
import { timedTxn } from './registry-metrics'
import { DEFAULT_TXN_LIMITS, ENTRY_OVERHEAD_BYTES, type TxnLimits, type TxnSize, addSizes, assertWithinLimits, readGroups, writeInParts } from './txn-limits'

/**
 * Reads for one write attempt. Every key read becomes a compare on its mod revision (0 when
 * absent) in the transaction, so the transaction commits only if nothing it read has changed:
 * optimistic concurrency without locks.
 *
 * Round trips are what a write costs (bench/etcd-floor.ts: a linearizable range takes 0.7-1.4 ms
 * on loopback, a read-only txn of 7 ranges no more), so a plan that knows its next keys asks for
 * them together with {@link prefetch}: one read-only etcd txn for all of them. A prefetched key
 * becomes a compare only once the plan actually reads it, so a key fetched but not consulted
 * cannot fail the write. Keys read in different round trips may come from different revisions;
 * the compares make the transaction commit only if every value read is still current, so the
 * write still sees one consistent state.
 */
export class TxnReader {
  readonly #etcd: Etcd3
  readonly compares: ICompare[] = []
  readonly #seen = new Map<string, IKeyValue | undefined>()
  readonly #fetched = new Map<string, IKeyValue | undefined>()
  readonly #ranges = new Map<string, IRangeResponse>()
  readonly #serializable: boolean
  readonly #limits: TxnLimits

  /**
   * @param fetched keys already read (they become compares when the plan reads them).
   * @param serializable read from whichever etcd member answers, without a quorum round (default
   *   false). Safe because every value read is compared at commit: a stale value only fails the
   *   transaction, and the writer retries with linearizable reads.
   * @param limits etcd's transaction limits (default etcd's defaults): a prefetch of more keys
   *   than one read-only transaction may hold takes several.
   * @param ranges answers of {@link range} reads made beforehand, by {@link rangeId}.
   */
  constructor(
    etcd: Etcd3,
    fetched?: ReadonlyMap<string, IKeyValue | undefined>,
    serializable = false,
    limits: TxnLimits = DEFAULT_TXN_LIMITS,
    ranges?: ReadonlyMap<string, IRangeResponse>,
  ) {
    this.#etcd = etcd
    this.#serializable = serializable
    this.#limits = limits
    if (fetched) for (const [key, kv] of fetched) this.#fetched.set(key, kv)
    if (ranges) for (const [id, res] of ranges) this.#ranges.set(id, res)
  }

  /**
   * Fetches every key not read yet in ONE etcd round trip (one per `maxTxnOps` keys); reading
   * them later costs nothing.
   */
  async prefetch(keys: readonly string[]): Promise<void> {
    const wanted = [...new Set(keys)].filter((key) => !this.#seen.has(key) && !this.#fetched.has(key))
    if (wanted.length === 0) return
    const found = await readKeys(this.#etcd, wanted, this.#serializable, this.#limits)
    for (const [key, kv] of found) this.#fetched.set(key, kv)
  }

  /** The key's current value, guarded by a compare. */
  async get(key: string): Promise<IKeyValue | undefined> {
    if (this.#seen.has(key)) return this.#seen.get(key)
    let kv: IKeyValue | undefined
    if (this.#fetched.has(key)) {
      kv = this.#fetched.get(key)
    } else {
      kv = (await readKeys(this.#etcd, [key], this.#serializable)).get(key)
    }
    this.#seen.set(key, kv)
    this.compares.push(modEquals(key, kv?.mod_revision ?? '0'))
    return kv
  }

  /** The key's JSON value and its mod revision, guarded by a compare. */
  async json<T>(key: string): Promise<{ value: T; revision: string } | undefined> {
    const kv = await this.get(key)
    return kv ? { value: parseJson<T>(kv), revision: kv.mod_revision } : undefined
  }

  /**
   * A range read WITHOUT a compare, for what a plan reads but need not guard because a key it
   * does compare changes with it (e.g. a worker's history keys: seat-history.ts). The answer
   * read beforehand with the writer's first read when there is one (see
   * {@link FencedWriter.write}'s `ranges`), else read now as `request` says (linearizable unless
   * it asks otherwise).
   */
  async range(request: IRangeRequest): Promise<IRangeResponse> {
    return this.#ranges.get(rangeId(request)) ?? (await this.#etcd.kv.range(request))
  }

  /** Every key under `prefix`; the transaction fails if any of them changes or a new one appears. */
  async scan(prefix: string): Promise<IKeyValue[]> {
    const res = await this.#etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) })
    this.compares.push(prefixUnchangedSince(prefix, res.header.revision))
    return res.kvs
  }
}

/**
 * Reads several keys in one round trip: a read-only etcd txn of range ops (etcd serves it
 * without a raft write; linearizable unless `serializable`, default false). One key is a plain range.
 *
 * etcd counts each range of such a txn as an operation (`limits.maxTxnOps`, default 128): more
 * keys take one txn per group, one after another. A linearizable read reads every later group at
 * the revision of the first, so the whole answer is one snapshot; a serializable read cannot (the
 * member answering may not have reached that revision yet), and its groups may come from
 * different revisions.
 */
export async function readKeys(etcd: Etcd3, keys: readonly string[], serializable = false, limits: TxnLimits = DEFAULT_TXN_LIMITS): Promise<Map<string, IKeyValue | undefined>> {
  return (await readKeysAndRanges(etcd, keys, [], serializable, limits)).found
}

/**
 * {@link readKeys}, with `ranges` (read as they say, but serializable when the read is) in the
 * same round trip: in its first transaction, before the keys. Their answers come by
 * {@link rangeId}.
 */
export async function readKeysAndRanges(
  etcd: Etcd3,
  keys: readonly string[],
  ranges: readonly IRangeRequest[],
  serializable = false,
  limits: TxnLimits = DEFAULT_TXN_LIMITS,
): Promise<{ found: Map<string, IKeyValue | undefined>; ranges: Map<string, IRangeResponse> }> {
  const found = new Map<string, IKeyValue | undefined>()
  const answers = new Map<string, IRangeResponse>()
  if (keys.length === 1 && ranges.length === 0) {
    found.set(keys[0]!, (await etcd.kv.range({ key: Buffer.from(keys[0]!), serializable })).kvs[0])
    return { found, ranges: answers }
  }
  const items: ({ key: string } | { range: IRangeRequest })[] = [...ranges.map((range) => ({ range })), ...keys.map((key) => ({ key }))]
  let revision: string | undefined
  for (const group of readGroups(items, limits)) {
    const at = revision === undefined ? {} : { revision }
    const success = group.map((item) => ({ request_range: 'key' in item ? { key: Buffer.from(item.key), serializable, ...at } : { ...item.range, ...(serializable ? { serializable } : {}), ...at } }))
    const res = await etcd.kv.txn({ compare: [], success, failure: [] })
    group.forEach((item, i) => {
      const answer = res.responses[i]?.response_range
      if ('key' in item) found.set(item.key, answer?.kvs[0])
      else if (answer !== undefined) answers.set(rangeId(item.range), answer)
    })
    if (!serializable) revision ??= res.header.revision
  }
  return { found, ranges: answers }
}

/** What names a range read (its key, end, limit and whether keys only) among those read beforehand. */
export function rangeId(request: IRangeRequest): string {
  return [request.key?.toString('hex') ?? '', request.range_end?.toString('hex') ?? '', String(request.limit ?? 0), request.keys_only === true ? 'k' : ''].join(':')
}

/** What a write does: its effects and its outcome. A domain error outcome is recorded too. */
export interface WritePlan<R> {
  ops: Op[]
  outcome: R | RegistryError
}

/** Options of {@link FencedWriter}. */
export interface FencedWriterOptions {
  etcd: Etcd3
  keys: Keys
  leadership: Leadership
  requestLease: RequestLease
  logger: Logger
  /** Attempts when the data read changed under the write (default 8), then CONFLICT. */
  maxAttempts?: number
  /** Give up with UNAVAILABLE after this long without etcd answering (default 10 s). */
  deadlineMs?: number
  /** etcd's transaction limits, as the cluster's flags set them (default etcd's defaults). */
  limits?: TxnLimits
  /**
   * Leases of records kept for a retention, by the marker a put names in `Op.lease` (seat
   * history, portal sessions: retention-lease.ts): the writer puts such a record on the lease's
   * current id. Default none.
   */
  leases?: Readonly<Record<string, MarkedLease>>
  /**
   * Writes whose transactions go through group commit (group-commit.ts): concurrent ones share one
   * fenced etcd transaction, each with its own compares, outcome and request record. Default none
   * (every write its own transaction); the registry core names `login` unless
   * FLEXSEAT_GROUP_COMMIT=false.
   */
  groupCommit?: readonly WriteMethod[]
}

/** A lease a put names by a marker instead of an id (see {@link FencedWriterOptions.leases}). */
export interface MarkedLease {
  id(): Promise<string>
  invalidate(): void
}

/** What each part of {@link FencedWriter.applyInParts} adds to its transaction. */
export interface PartCost<T> {
  /**
   * At most, per item: the compares of the keys its plan reads, its operations, and its bytes
   * when known beforehand (else a part found too large before sending is split again).
   */
  perItem: Partial<TxnSize> | ((item: T) => Partial<TxnSize>)
  /** Per part, whatever its items: compares of keys every part reads (e.g. a lease key). */
  perPart?: Partial<TxnSize>
}

const RETRY_AFTER_MS = 500

/**
 * Runs every leader write as ONE etcd transaction that
 *
 * 1. compares the leader's own election key create revision (the fence): a deposed or paused
 *    leader cannot write; a failed fence is NOT_LEADER and the instance steps down;
 * 2. compares `create_revision(requests/<id>) == 0`: the request has not been served;
 * 3. compares the mod revision of every key the plan read (optimistic concurrency);
 * 4. applies the plan's effects and records the outcome at `requests/<id>` (on the request
 *    lease, so records expire after about a day).
 *
 * A retry of a served request returns the first outcome (its revision restored from the
 * record's own mod revision); the same id with another request is REQUEST_ID_REUSED. When the
 * outcome of a transaction is unknown (etcd did not answer), the writer re-reads: the request
 * record tells whether it committed, so nothing is applied twice.
 */
export class FencedWriter {
  readonly #o: Required<FencedWriterOptions>
  readonly #groups = new Map<WriteMethod, GroupCommit>()

  constructor(options: FencedWriterOptions) {
    this.#o = { maxAttempts: 8, deadlineMs: 10_000, limits: DEFAULT_TXN_LIMITS, leases: {}, groupCommit: [], ...options }
    for (const method of new Set(this.#o.groupCommit)) this.#groups.set(method, new GroupCommit({ etcd: this.#o.etcd, limits: this.#o.limits, what: method }))
  }

  /** `ops` with every lease marker of {@link FencedWriterOptions.leases} replaced by its lease's id. */
  async #withLeases(ops: Op[]): Promise<Op[]> {
    const markers = new Set(ops.flatMap((op) => (op.type === 'put' && op.lease !== undefined && this.#o.leases[op.lease] !== undefined ? [op.lease] : [])))
    if (markers.size === 0) return ops
    const ids = new Map<string, string>()
    for (const marker of markers) ids.set(marker, await this.#o.leases[marker]!.id())
    return ops.map((op) => (op.type === 'put' && op.lease !== undefined && ids.has(op.lease) ? { ...op, lease: ids.get(op.lease)! } : op))
  }

  /** After etcd said a lease is gone: every lease is granted again for the next attempt. */
  #leasesLost(): void {
    this.#o.requestLease.invalidate()
    for (const lease of Object.values(this.#o.leases)) lease.invalidate()
  }

  /** etcd's transaction limits this writer keeps to. */
  get limits(): TxnLimits {
    return this.#o.limits
  }

  /**
   * Runs `plan` as a fenced, idempotent write; returns (or throws) the outcome. `prefetch`
   * (default none) names keys the plan reads first: they come in the same round trip as the
   * request record (see {@link TxnReader.prefetch}); `ranges` (default none), ranges the plan
   * reads without a compare, come in that round trip too (see {@link TxnReader.range}).
   */
  async write<M extends WriteMethod>(
    method: M,
    requestId: string,
    fp: string,
    plan: (read: TxnReader) => Promise<WritePlan<WriteResponses[M]>>,
    prefetch: readonly string[] = [],
    ranges: readonly IRangeRequest[] = [],
  ): Promise<WriteResponses[M]> {
    const { etcd, keys, leadership, logger } = this.#o
    const requestKey = keys.request(requestId)
    const deadline = Date.now() + this.#o.deadlineMs
    let conflicts = 0
    let faults = 0
    // Group commit for this method: until a conflict; after one, every attempt is its own
    // transaction (re-read and committed alone, as without group commit).
    let group = this.#groups.get(method)
    for (;;) {
      const fence = leadership.fence()
      if (!fence) throw notLeader('this instance does not lead')
      try {
        // One round trip: the request record and the keys the plan will read first.
        // The first attempt reads serializably (no quorum round on each read: bench/etcd-floor.ts
        // measured 0.3-0.4 ms against 0.7-1.4 ms per range); every value read is compared in the
        // transaction, so a stale read can only fail it, and every later attempt reads
        // linearizably. A record missed by a stale read is caught by the request-record compare.
        const serializable = conflicts === 0 && faults === 0
        const read = await readKeysAndRanges(etcd, [requestKey, ...prefetch.filter((key) => key !== requestKey)], ranges, serializable, this.#o.limits)
        const first = read.found
        const existing = first.get(requestKey)
        if (existing) return replay(method, fp, existing)
        first.delete(requestKey)
        const reader = new TxnReader(etcd, first, serializable, this.#o.limits, read.ranges)
        const planned = await plan(reader)
        const { outcome } = planned
        if (outcome instanceof RegistryError && !recordable(outcome)) throw outcome
        const ops = await this.#withLeases(planned.ops)
        const lease = await this.#o.requestLease.id()
        const record = encodeOutcome(method, fp, outcome)
        // The write's own transaction; the fence is added when it is sent.
        const own = {
          compare: [createEquals(requestKey, '0'), ...reader.compares],
          success: [...ops, { type: 'put', key: requestKey, value: record, lease } as Op].map((op) =>
            requestOp(op.type === 'put' && op.lease === REQUEST_LEASE ? { ...op, lease } : op),
          ),
          failure: [{ request_range: { key: Buffer.from(requestKey) } }],
        }
        const fenceCompare = createEquals(fence.key, fence.createRevision)
        const fenceRange = { request_range: { key: Buffer.from(fence.key) } }
        // etcd would refuse it (INVALID_ARGUMENT): say what and why, and send nothing.
        assertWithinLimits(method, { compare: [fenceCompare, ...own.compare], success: own.success, failure: [fenceRange, ...own.failure] }, this.#o.limits)
        let result: MemberResult
        if (group !== undefined) {
          result = await group.commit(fence, own)
        } else {
          const res = await timedTxn(method, () => etcd.kv.txn({ compare: [fenceCompare, ...own.compare], success: own.success, failure: [fenceRange, ...own.failure] }))
          const fenceKv = res.succeeded ? undefined : res.responses[0]?.response_range.kvs[0]
          result = res.succeeded
            ? { kind: 'committed', revision: res.header.revision, batchSize: 1 }
            : fenceKv?.create_revision === fence.createRevision
              ? { kind: 'conflict', failure: res.responses.slice(1), batchSize: 1 }
              : { kind: 'fence-lost', fenceKv, batchSize: 1 }
        }
        if (result.kind === 'committed') {
          if (outcome instanceof RegistryError) throw outcome
          return stampRevision(method, outcome, result.revision)
        }
        if (result.kind === 'fence-lost') {
          leadership.depose('a write found the election key gone or replaced')
          throw notLeader('this instance lost leadership; nothing was written')
        }
        const served = result.failure[0]?.response_range.kvs[0]
        if (served) return replay(method, fp, served)
        group = undefined
        if (++conflicts >= this.#o.maxAttempts) {
          throw new RegistryError(ErrorCode.ERROR_CODE_CONFLICT, 'the records changed while writing; retry', { retryAfterMs: 50 })
        }
        await pause(Math.random() * 10 * conflicts)
      } catch (error) {
        if (error instanceof RegistryError) throw error
        if (error instanceof EtcdLeaseInvalidError) this.#leasesLost()
        const transient = error instanceof EtcdLeaseInvalidError || isTransient(error)
        faults++
        if (!transient || Date.now() >= deadline || faults > 20) {
          logger.warn({ err: error, method }, 'write failed')
          if (!transient && !fromEtcd(error)) {
            throw new RegistryError(ErrorCode.ERROR_CODE_INTERNAL, 'an unexpected fault; nothing was written', {}, { cause: error })
          }
          throw unavailable('the cluster could not complete the write; retry', RETRY_AFTER_MS, error)
        }
        // The outcome is unknown: the next attempt reads the request record first.
        await pause(Math.min(1_000, 50 * faults))
      }
    }
  }
  /**
   * Runs `plan` as a fenced transaction WITHOUT a request record, for writes that are naturally
   * idempotent (the plan reads what it changes and does nothing twice: confirmation leases and
   * revocations). Like {@link write}: the election key and every key read are compared; a
   * conflict or a fault of unknown outcome runs the plan again on fresh reads. Returns the
   * outcome and the transaction's revision (undefined when the plan had nothing to write).
   * `fetched`: keys read beforehand, which the first attempt takes as read (they are compared
   * like any read; a stale one only fails that attempt, and the next reads afresh).
   * `linearizable`: the first attempt reads linearizably too. A serializable read may come from a
   * member that has not applied a recent commit yet; a plan that then finds nothing to write
   * commits nothing, so no compare catches the stale read (an acknowledgement of a takeover the
   * node saw on another member's watch would complete nothing).
   */
  async apply<R>(
    what: string,
    plan: (read: TxnReader) => Promise<{ ops: Op[]; outcome: R }>,
    fetched?: ReadonlyMap<string, IKeyValue | undefined>,
    linearizable = false,
  ): Promise<{ outcome: R; revision: string | undefined }> {
    const { etcd, leadership, logger } = this.#o
    const deadline = Date.now() + this.#o.deadlineMs
    let conflicts = 0
    let faults = 0
    for (;;) {
      const fence = leadership.fence()
      if (!fence) throw notLeader('this instance does not lead')
      try {
        // As in write(): the first attempt reads serializably (every value read is compared).
        const first = conflicts === 0 && faults === 0
        const reader = new TxnReader(etcd, first ? fetched : undefined, first && !linearizable, this.#o.limits)
        const planned = await plan(reader)
        const { outcome } = planned
        if (planned.ops.length === 0) return { outcome, revision: undefined }
        const ops = await this.#withLeases(planned.ops)
        const txn = {
          compare: [createEquals(fence.key, fence.createRevision), ...reader.compares],
          success: ops.map((op) => requestOp(op)),
          failure: [{ request_range: { key: Buffer.from(fence.key) } }],
        }
        assertWithinLimits(what, txn, this.#o.limits)
        const res = await timedTxn(what, () => etcd.kv.txn(txn))
        if (res.succeeded) return { outcome, revision: res.header.revision }
        const fenceKv = res.responses[0]?.response_range.kvs[0]
        if (!fenceKv || fenceKv.create_revision !== fence.createRevision) {
          leadership.depose('a write found the election key gone or replaced')
          throw notLeader('this instance lost leadership; nothing was written')
        }
        if (++conflicts >= this.#o.maxAttempts) {
          throw new RegistryError(ErrorCode.ERROR_CODE_CONFLICT, 'the records changed while writing; retry', { retryAfterMs: 50 })
        }
        await pause(Math.random() * 10 * conflicts)
      } catch (error) {
        if (error instanceof RegistryError) throw error
        faults++
        const leaseLost = error instanceof EtcdLeaseInvalidError
        if (leaseLost) this.#leasesLost()
        if (!(leaseLost || isTransient(error)) || Date.now() >= deadline || faults > 20) {
          logger.warn({ err: error, what }, 'write failed')
          if (!isTransient(error) && !fromEtcd(error)) {
            throw new RegistryError(ErrorCode.ERROR_CODE_INTERNAL, 'an unexpected fault; nothing was written', {}, { cause: error })
          }
          throw unavailable('the cluster could not complete the write; retry', RETRY_AFTER_MS, error)
        }
        await pause(Math.min(1_000, 50 * faults))
      }
    }
  }

  /**
   * {@link apply} over a batch whose size depends on input: `items` are cut into parts whose
   * transactions fit etcd's limits (see txn-limits.ts, {@link writeInParts}), `plan` plans one
   * part, and each part is its own fenced transaction (the election key and everything its plan
   * read are compared), written up to eight at once (PARTS_AT_ONCE). An item is never divided, so a plan that
   * writes each item whole keeps it whole. Resolves to the parts' outcomes, in item order.
   * `options.fetched`: keys read beforehand (see {@link apply}); `options.concurrency`: parts at
   * once (default PARTS_AT_ONCE); `options.linearizable`: see {@link apply}.
   */
  async applyInParts<T, R>(
    what: string,
    items: readonly T[],
    cost: PartCost<T>,
    plan: (read: TxnReader, part: readonly T[]) => Promise<{ ops: Op[]; outcome: R }>,
    options: { fetched?: ReadonlyMap<string, IKeyValue | undefined>; concurrency?: number; linearizable?: boolean } = {},
  ): Promise<R[]> {
    // The fence: a compare and a failure range on the election key (its name: the election
    // prefix and a lease id of at most 16 hex digits).
    const fence = { compares: 1, failure: 1, bytes: 2 * (ENTRY_OVERHEAD_BYTES + this.#o.keys.election.length + 16) }
    const parts = await writeInParts(items, (part) => this.apply(what, (read) => plan(read, part), options.fetched, options.linearizable), {
      limits: this.#o.limits,
      perItem: cost.perItem,
      reserved: addSizes(fence, cost.perPart ?? {}),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    })
    return parts.map((part) => part.outcome)
  }
}

function replay<M extends WriteMethod>(method: M, fp: string, kv: IKeyValue): WriteResponses[M] {
  const record = parseJson<RequestRecord>(kv)
  if (record.method !== method || record.fingerprint !== fp) {
    throw new RegistryError(ErrorCode.ERROR_CODE_REQUEST_ID_REUSED, 'this request id was used for a different request')
  }
  const outcome = decodeOutcome(method, record, kv.mod_revision)
  if (outcome instanceof RegistryError) throw outcome
  return outcome
}

/** Domain outcomes are recorded; faults of the moment (retry may help) are not. */
function recordable(error: RegistryError): boolean {
  return !error.retryable && error.code !== ErrorCode.ERROR_CODE_INVALID_ARGUMENT && error.code !== ErrorCode.ERROR_CODE_INTERNAL
}

/** Errors etcd or its client raised (as opposed to a fault of ours). */
function fromEtcd(error: unknown): boolean {
  return error instanceof GRPCGenericError || error instanceof EtcdError || error instanceof ClientRuntimeError
}

function notLeader(message: string): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_NOT_LEADER, message, { retryAfterMs: RETRY_AFTER_MS })
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}
