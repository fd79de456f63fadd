import { type Context, context, metrics, type Meter } from '@opentelemetry/api'
import type { Etcd3, ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3'
import { createEquals } from './kv'
import { timedTxn } from './registry-metrics'
import { type TxnLimits, txnSize } from './txn-limits'

/** The leader's fence, as {@link Leadership.fence} gives it: its election key and create revision. */
export interface Fence {
  readonly key: string
  readonly createRevision: string
}

/**
 * One write's own transaction, WITHOUT the fence: its compares (its request record absent, every
 * key its plan read unchanged), its effects and its request record, and the failure operations
 * that tell what happened when a compare fails (its request record, for a replay).
 */
export interface MemberTxn {
  compare: ICompare[]
  success: IRequestOp[]
  failure: IRequestOp[]
}

/**
 * What became of one member:
 * - `committed`: its writes landed at `revision` (shared by every member of its batch);
 * - `fence-lost`: the election key was gone or replaced; nothing of the batch was written;
 * - `conflict`: one of its own compares failed, so none of its writes landed (the others of its
 *   batch are not affected); `failure` holds the responses of its failure operations.
 */
export type MemberResult =
  | { kind: 'committed'; revision: string; batchSize: number }
  | { kind: 'fence-lost'; fenceKv: IKeyValue | undefined; batchSize: number }
  | { kind: 'conflict'; failure: ITxnResponse['responses']; batchSize: number }

/** Options of {@link GroupCommit}. */
export interface GroupCommitOptions {
  etcd: Etcd3
  /** etcd's transaction limits: a batch never breaks them. */
  limits: TxnLimits
  /** The write's name in `flexseat.etcd.txn.duration` (e.g. `login`). */
  what: string
  /** Where `flexseat.registry.login.batch_size` is recorded (default the global meter `@flexseat/registry`). */
  meter?: Meter
}

interface Entry {
  fence: Fence
  txn: MemberTxn
  footprint: Footprint
  /** The member's own cost: the most of its compares, success and failure operations. */
  width: number
  bytes: number
  /** The caller's context: a batch's `etcd.txn` span is a child of its first member's. */
  ctx: Context
  resolve: (result: MemberResult) => void
  reject: (error: unknown) => void
}

/**
 * Group commit of the leader's fenced writes (issue 15): writes submitted while an earlier
 * transaction is in flight wait for it, and then go together as ONE etcd transaction, so that
 * concurrent logins share a raft round (and its fsync) instead of queueing one per login. No
 * timer: a write submitted while nothing is in flight is sent at once, alone, as exactly the
 * transaction the writer would send without group commit (at one client nothing changes).
 *
 * A batch of several is one transaction whose only compare is the fence (the leader's election
 * key, shared), and whose success operations are one nested transaction per member, each with its
 * own compares, effects, request record and failure operations. etcd evaluates every nested
 * transaction on its own within the same revision: a member whose compare fails writes nothing of
 * its own, and the others commit. Members of a batch never touch each other's keys (a member that
 * writes a key another writes or reads, or reads a key another writes, is not batched with it but
 * sent alone at once, beside the batch), so the order in which etcd applies them changes nothing.
 * A failed fence writes nothing of any member.
 *
 * Limits: etcd checks a nested transaction against `--max-txn-ops` less the outer transaction's
 * own count (etcd's `checkTxnRequest`), so a batch of n members holds n + (its widest member's
 * compares, success or failure operations) <= maxTxnOps, and its bytes stay under
 * `maxRequestBytes` less the headroom (txn-limits.ts).
 *
 * Records each dispatched transaction's member count in `flexseat.registry.login.batch_size`.
 */
export class GroupCommit {
  readonly #o: GroupCommitOptions
  readonly #queue: Entry[] = []
  readonly #batchSize
  #inFlight = false

  constructor(options: GroupCommitOptions) {
    this.#o = options
    this.#batchSize = (options.meter ?? metrics.getMeter('@flexseat/registry')).createHistogram('flexseat.registry.login.batch_size', {
      description: 'Members of each fenced login transaction the leader sent (group commit: logins that shared one etcd transaction)',
      unit: '{login}',
      advice: { explicitBucketBoundaries: [1, 2, 4, 8, 16, 32, 64, 128] },
    })
  }

  /**
   * Commits `txn` under `fence`, alone or in a batch. Rejects only when etcd did not answer (the
   * outcome is then unknown, as for any transaction: the writer reads the request record).
   */
  commit(fence: Fence, txn: MemberTxn): Promise<MemberResult> {
    const size = txnSize(txn)
    return new Promise<MemberResult>((resolve, reject) => {
      this.#queue.push({ fence, txn, footprint: footprintOf(txn), width: Math.max(size.compares, size.success, size.failure), bytes: size.bytes, ctx: context.active(), resolve, reject })
      if (!this.#inFlight) this.#flush()
    })
  }

  /** Sends the next batch from the queue (and, beside it, alone, each queued member that conflicts with it). */
  #flush(): void {
    if (this.#queue.length === 0) return
    const { limits } = this.#o
    const first = this.#queue[0]!
    const batch: Entry[] = []
    const alone: Entry[] = []
    const keep: Entry[] = []
    const taken = new Footprint()
    let width = 0
    // The outer transaction's own bytes: the fence compare and its failure range.
    let bytes = 2 * (48 + Buffer.byteLength(first.fence.key))
    for (const entry of this.#queue) {
      if (batch.length === 0) {
        batch.push(entry)
        taken.add(entry.footprint)
        width = entry.width
        bytes += entry.bytes + 48
        continue
      }
      if (entry.fence.key !== first.fence.key || entry.fence.createRevision !== first.fence.createRevision) {
        keep.push(entry)
      } else if (taken.overlaps(entry.footprint)) {
        alone.push(entry)
      } else if (batch.length + 1 + Math.max(width, entry.width) > limits.maxTxnOps || bytes + entry.bytes + 48 + 4_096 > limits.maxRequestBytes) {
        keep.push(entry)
      } else {
        batch.push(entry)
        taken.add(entry.footprint)
        width = Math.max(width, entry.width)
        bytes += entry.bytes + 48
      }
    }
    this.#queue.splice(0, this.#queue.length, ...keep)
    for (const entry of alone) void this.#send([entry])
    this.#inFlight = true
    void this.#send(batch).finally(() => {
      this.#inFlight = false
      this.#flush()
    })
  }

  /** One transaction for `batch` (the member's own flat transaction when it is alone). */
  async #send(batch: readonly Entry[]): Promise<void> {
    const { etcd, what } = this.#o
    const fence = batch[0]!.fence
    this.#batchSize.record(batch.length)
    const fenceCompare = createEquals(fence.key, fence.createRevision)
    const fenceRange: IRequestOp = { request_range: { key: Buffer.from(fence.key) } }
    const txn =
      batch.length === 1
        ? { compare: [fenceCompare, ...batch[0]!.txn.compare], success: batch[0]!.txn.success, failure: [fenceRange, ...batch[0]!.txn.failure] }
        : { compare: [fenceCompare], success: batch.map((e): IRequestOp => ({ request_txn: e.txn })), failure: [fenceRange] }
    let res: ITxnResponse
    try {
      res = await context.with(batch[0]!.ctx, () => timedTxn(what, () => etcd.kv.txn(txn)))
    } catch (error) {
      for (const entry of batch) entry.reject(error)
      return
    }
    try {
      this.#settle(batch, fence, res)
    } catch (error) {
      // A response not shaped as sent (no member is left waiting): as if etcd had not answered.
      for (const entry of batch) entry.reject(error)
    }
  }

  /** Each member's own result from the transaction's response. */
  #settle(batch: readonly Entry[], fence: Fence, res: ITxnResponse): void {
    const batchSize = batch.length
    const fenceKv = res.succeeded ? undefined : res.responses[0]?.response_range.kvs[0]
    const fenceHeld = res.succeeded || (fenceKv !== undefined && fenceKv.create_revision === fence.createRevision)
    if (batch.length === 1) {
      const entry = batch[0]!
      if (res.succeeded) entry.resolve({ kind: 'committed', revision: res.header.revision, batchSize })
      else if (!fenceHeld) entry.resolve({ kind: 'fence-lost', fenceKv, batchSize })
      else entry.resolve({ kind: 'conflict', failure: res.responses.slice(1), batchSize })
      return
    }
    if (!res.succeeded) {
      // Only the fence is compared outside the members: nothing of any member was written.
      for (const entry of batch) entry.resolve({ kind: 'fence-lost', fenceKv, batchSize })
      return
    }
    batch.forEach((entry, i) => {
      const own = res.responses[i]!.response_txn
      if (own.succeeded) entry.resolve({ kind: 'committed', revision: res.header.revision, batchSize })
      else entry.resolve({ kind: 'conflict', failure: own.responses, batchSize })
    })
  }
}

/**
 * The keys a member's transaction reads (compares) and writes (puts, deletes), as latin1 strings
 * (one character per byte, so string order is etcd's byte order); ranges as [start, end).
 */
class Footprint {
  readonly reads = new Set<string>()
  readonly writes = new Set<string>()
  readonly readRanges: [string, string | undefined][] = []
  readonly writeRanges: [string, string | undefined][] = []

  add(other: Footprint): void {
    for (const key of other.reads) this.reads.add(key)
    for (const key of other.writes) this.writes.add(key)
    this.readRanges.push(...other.readRanges)
    this.writeRanges.push(...other.writeRanges)
  }

  /** Whether `other` writes what this reads or writes, or reads what this writes (reads alone never conflict). */
  overlaps(other: Footprint): boolean {
    for (const key of other.writes) if (this.writes.has(key) || this.reads.has(key) || inRanges(key, this.writeRanges) || inRanges(key, this.readRanges)) return true
    for (const key of other.reads) if (this.writes.has(key) || inRanges(key, this.writeRanges)) return true
    for (const range of other.writeRanges) {
      if (anyIn(this.writes, range) || anyIn(this.reads, range) || this.writeRanges.some((r) => rangesMeet(r, range)) || this.readRanges.some((r) => rangesMeet(r, range))) return true
    }
    for (const range of other.readRanges) if (anyIn(this.writes, range) || this.writeRanges.some((r) => rangesMeet(r, range))) return true
    return false
  }
}

const EMPTY = Buffer.alloc(0)

function footprintOf(txn: MemberTxn): Footprint {
  const f = new Footprint()
  for (const c of txn.compare) {
    const key = (c.key ?? EMPTY).toString('latin1')
    if (c.range_end !== undefined && c.range_end.length > 0) f.readRanges.push([key, rangeEnd(c.range_end)])
    else f.reads.add(key)
  }
  for (const op of txn.success) {
    const target = op.request_put ?? op.request_delete_range
    if (target === undefined) continue
    const key = (target.key ?? EMPTY).toString('latin1')
    const end = op.request_delete_range?.range_end
    if (end !== undefined && end.length > 0) f.writeRanges.push([key, rangeEnd(end)])
    else f.writes.add(key)
  }
  return f
}

/** etcd's range end: "\0" means every key from the start on (undefined: no end). */
function rangeEnd(end: Buffer): string | undefined {
  return end.length === 1 && end[0] === 0 ? undefined : end.toString('latin1')
}

function inRange(key: string, [start, end]: [string, string | undefined]): boolean {
  return key >= start && (end === undefined || key < end)
}

function inRanges(key: string, ranges: readonly [string, string | undefined][]): boolean {
  return ranges.some((range) => inRange(key, range))
}

function anyIn(keys: ReadonlySet<string>, range: [string, string | undefined]): boolean {
  for (const key of keys) if (inRange(key, range)) return true
  return false
}

function rangesMeet(a: [string, string | undefined], b: [string, string | undefined]): boolean {
  return (a[1] === undefined || b[0] < a[1]) && (b[1] === undefined || a[0] < b[1])
}
