import { type Etcd3, GRPCInvalidArgumentError, type ICompare, type IRequestOp } from 'etcd3'
import { ErrorCode } from '@flexseat/proto'
import { RegistryError } from './errors'

/**
 * etcd's limits on one transaction, as the cluster's flags set them. They must match the
 * cluster: the registry splits batches by these numbers and refuses, before sending, a
 * transaction over them (FLEXSEAT_ETCD_MAX_TXN_OPS, FLEXSEAT_ETCD_MAX_REQUEST_BYTES; see
 * docs/CONFIGURATION.md).
 *
 * @see etcd's `checkTxnRequest` (compares, success and failure operations are each limited to
 *   `--max-txn-ops`) and `processInternalRaftRequestOnce` (`--max-request-bytes`).
 */
export interface TxnLimits {
  /**
   * etcd's `--max-txn-ops` (default 128): the most compares, the most success operations and the
   * most failure operations of one transaction, each counted on its own. Read-only transactions
   * (several ranges in one round trip) count too.
   */
  readonly maxTxnOps: number
  /** etcd's `--max-request-bytes` (default 1.5 MiB): the largest request it accepts. */
  readonly maxRequestBytes: number
}

/** etcd's defaults (`--max-txn-ops 128`, `--max-request-bytes 1572864`). */
export const DEFAULT_TXN_LIMITS: TxnLimits = Object.freeze({ maxTxnOps: 128, maxRequestBytes: 1_572_864 })

/**
 * What a transaction, or a share of one, costs in etcd's counts. `bytes` is an upper bound of its
 * encoded size (see {@link txnSize}).
 */
export interface TxnSize {
  compares: number
  success: number
  failure: number
  bytes: number
}

/** Nothing: the size of an empty share. */
export const NO_SIZE: Readonly<TxnSize> = Object.freeze({ compares: 0, success: 0, failure: 0, bytes: 0 })

/**
 * What each compare or operation may cost beyond its keys and value in the encoded request:
 * field tags, length prefixes, the nested message of an operation, an int64 revision or lease id
 * (10 bytes as a varint), enums. An upper bound, so that an estimate never falls short.
 */
export const ENTRY_OVERHEAD_BYTES = 48

/**
 * Bytes kept free under `maxRequestBytes`: etcd measures the raft request that wraps the
 * transaction (a header with the request id and the auth revision), not the transaction alone.
 */
export const REQUEST_HEADROOM_BYTES = 4_096

/** The size of an etcd transaction request, as etcd counts it (bytes: an upper bound). */
export function txnSize(txn: { compare?: readonly ICompare[]; success?: readonly IRequestOp[]; failure?: readonly IRequestOp[] }): TxnSize {
  const compare = txn.compare ?? []
  const success = txn.success ?? []
  const failure = txn.failure ?? []
  let bytes = 0
  for (const c of compare) bytes += ENTRY_OVERHEAD_BYTES + len(c.key) + len(c.range_end) + len(c.value)
  for (const op of [...success, ...failure]) bytes += opBytes(op)
  return { compares: compare.length, success: success.length, failure: failure.length, bytes }
}

function opBytes(op: IRequestOp): number {
  const nested = op.request_txn
  if (nested) return ENTRY_OVERHEAD_BYTES + txnSize(nested).bytes
  const inner = op.request_put ?? op.request_delete_range ?? op.request_range
  const put = op.request_put
  return ENTRY_OVERHEAD_BYTES + len(inner?.key) + len((inner as { range_end?: Buffer } | undefined)?.range_end) + len(put?.value)
}

function len(buffer: Buffer | undefined): number {
  return buffer?.length ?? 0
}

/** The sum of sizes. */
export function addSizes(...sizes: readonly Partial<TxnSize>[]): TxnSize {
  const total = { ...NO_SIZE }
  for (const s of sizes) {
    total.compares += s.compares ?? 0
    total.success += s.success ?? 0
    total.failure += s.failure ?? 0
    total.bytes += s.bytes ?? 0
  }
  return total
}

/** Which of etcd's limits `size` breaks, as a phrase for an error message; undefined when it fits. */
export function overLimits(size: TxnSize, limits: TxnLimits): string | undefined {
  const over: string[] = []
  if (size.compares > limits.maxTxnOps) over.push(`${size.compares} compares`)
  if (size.success > limits.maxTxnOps) over.push(`${size.success} success operations`)
  if (size.failure > limits.maxTxnOps) over.push(`${size.failure} failure operations`)
  if (over.length > 0) return `${over.join(', ')} (etcd allows ${limits.maxTxnOps} of each: FLEXSEAT_ETCD_MAX_TXN_OPS)`
  if (size.bytes + REQUEST_HEADROOM_BYTES > limits.maxRequestBytes) {
    return `about ${size.bytes} bytes (etcd accepts ${limits.maxRequestBytes} per request, ${REQUEST_HEADROOM_BYTES} of them kept for its framing: FLEXSEAT_ETCD_MAX_REQUEST_BYTES)`
  }
  return undefined
}

/**
 * A transaction over etcd's limits, refused before it was sent: nothing was written. A fault of
 * the registry (a batch that should have been split), reported as INTERNAL; {@link writeInParts}
 * catches it and splits the part further.
 */
export class TxnTooLargeError extends RegistryError {
  /** What the refused transaction would have cost. */
  readonly size: TxnSize

  constructor(what: string, size: TxnSize, over: string) {
    super(ErrorCode.ERROR_CODE_INTERNAL, `${what}: a transaction of ${over} is over etcd's limits; nothing was written`)
    this.size = size
  }
}

/** Throws {@link TxnTooLargeError} when `txn` breaks `limits`. */
export function assertWithinLimits(what: string, txn: Parameters<typeof txnSize>[0], limits: TxnLimits): void {
  const size = txnSize(txn)
  const over = overLimits(size, limits)
  if (over !== undefined) throw new TxnTooLargeError(what, size, over)
}

/**
 * Cuts `items` into consecutive parts whose transactions fit `limits`: every part costs
 * `reserved` (what its transaction carries whatever the items: the fence compare, a request
 * record, a compare on a shared key) plus `sizeOf` of each of its items (an upper bound of what
 * the item adds). Items are never divided. Throws {@link TxnTooLargeError} when one item does not
 * fit even alone. No items, no parts.
 */
export function splitByLimits<T>(items: readonly T[], sizeOf: (item: T) => Partial<TxnSize>, limits: TxnLimits, reserved: Partial<TxnSize> = NO_SIZE): T[][] {
  const parts: T[][] = []
  let part: T[] = []
  let size = addSizes(reserved)
  for (const item of items) {
    const own = sizeOf(item)
    const next = addSizes(size, own)
    if (overLimits(next, limits) === undefined) {
      part.push(item)
      size = next
      continue
    }
    const alone = addSizes(reserved, own)
    const over = overLimits(alone, limits)
    if (over !== undefined) throw new TxnTooLargeError('one item of a batch', alone, over)
    if (part.length > 0) parts.push(part)
    part = [item]
    size = alone
  }
  if (part.length > 0) parts.push(part)
  return parts
}

/**
 * Parts {@link writeInParts} writes at once by default: etcd batches concurrent proposals into one
 * raft round, so a thousand revocations (24 parts) complete in a few rounds, not 24.
 */
export const PARTS_AT_ONCE = 8

/** Options of {@link writeInParts}. */
export interface InPartsOptions<T> {
  limits: TxnLimits
  /**
   * What one item adds to its part's transaction at most: the compares of the keys its plan reads,
   * its operations, and its bytes when known beforehand (else leave them out: a part whose records
   * turn out larger is refused before sending and split again).
   */
  perItem: Partial<TxnSize> | ((item: T) => Partial<TxnSize>)
  /** What every part's transaction carries whatever its items (e.g. the fence compare). */
  reserved?: Partial<TxnSize>
  /** Parts written at once, at most (default {@link PARTS_AT_ONCE}): parts are independent transactions. */
  concurrency?: number
}

/**
 * Writes `items` in parts that fit etcd's limits: cut by {@link splitByLimits}, each part written
 * by `write` (one fenced transaction, planned on fresh reads), up to `concurrency` parts at once.
 * A part refused as too large after all ({@link TxnTooLargeError}: its values were bigger than
 * estimated) is halved and both halves written; a single item too large fails the whole call.
 * Resolves to the parts' outcomes in the order of their items; rejects with the first failure,
 * after the parts under way have ended (parts already written stay written: every part must be a
 * whole write on its own).
 */
export async function writeInParts<T, R>(items: readonly T[], write: (part: readonly T[]) => Promise<R>, options: InPartsOptions<T>): Promise<R[]> {
  const sizeOf = typeof options.perItem === 'function' ? options.perItem : () => options.perItem as Partial<TxnSize>
  const parts = splitByLimits(items, sizeOf, options.limits, options.reserved)
  const outcomes: R[][] = parts.map(() => [])
  const run = async (part: readonly T[]): Promise<R[]> => {
    try {
      return [await write(part)]
    } catch (error) {
      if (!(error instanceof TxnTooLargeError) || part.length < 2) throw error
      const half = Math.ceil(part.length / 2)
      return [...(await run(part.slice(0, half))), ...(await run(part.slice(half)))]
    }
  }
  let next = 0
  let failure: { error: unknown } | undefined
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < parts.length) {
      const index = next++
      try {
        outcomes[index] = await run(parts[index]!)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? PARTS_AT_ONCE, parts.length)) }, lane))
  if (failure !== undefined) throw failure.error
  return outcomes.flat()
}

/**
 * Cuts `keys` into groups of at most `limits.maxTxnOps`, for reading many keys in read-only
 * transactions (each range is one success operation).
 */
export function readGroups<T>(keys: readonly T[], limits: TxnLimits): T[][] {
  const groups: T[][] = []
  for (let i = 0; i < keys.length; i += limits.maxTxnOps) groups.push(keys.slice(i, i + limits.maxTxnOps))
  return groups
}

/**
 * Whether the etcd cluster accepts transactions of `maxTxnOps` compares, success and failure
 * operations (one read-only probe: ranges of one key, no raft write). False when etcd refuses it
 * as INVALID_ARGUMENT, i.e. the cluster's `--max-txn-ops` is lower: the registry's setting does
 * not match the cluster. Other etcd errors reject as they are. `--max-request-bytes` cannot be
 * probed without a write of that size; it is taken on trust.
 */
export async function acceptsTxnOps(etcd: Etcd3, probeKey: string, maxTxnOps: number): Promise<boolean> {
  const key = Buffer.from(probeKey)
  const range = { request_range: { key, serializable: true } }
  try {
    await etcd.kv.txn({
      compare: Array.from({ length: maxTxnOps }, () => ({ key, target: 'Mod' as const, result: 'Greater' as const, mod_revision: '-1' })),
      success: Array.from({ length: maxTxnOps }, () => range),
      failure: Array.from({ length: maxTxnOps }, () => range),
    })
    return true
  } catch (error) {
    if (error instanceof GRPCInvalidArgumentError) return false
    throw error
  }
}
