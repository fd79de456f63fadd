import type { TxnReader } from './fenced-writer'
import type { Keys } from './keys'
import { type Op, parseJson } from './kv'
import type { NodeLeaseRecord, PendingRecord, RevocationIndexRecord, RevokingRecord, SeatRecord } from './records'

/** One pending revocation as the index and the record holding it show it. */
export interface PendingAt {
  userId: string
  entry: PendingRecord
  /**
   * Where the entry is: in the user's seat's `pending` (the seat waits for it), or in
   * `revoking/<user>` (a released seat left it outstanding; the user's next seat will wait).
   */
  heldBy: 'seat' | 'revoking'
  /** The mod revision of that record (for a seat: its epoch). */
  recordRevision: string
  /**
   * The revision of the revocation: when the seat left the branch, by a move or a release (the
   * index key's mod revision).
   */
  revokedAt: string
}

/** Which pending entries of a site to complete. */
export type CompleteWhen = (pending: PendingAt) => boolean

/**
 * A completed revocation: the user's seat is now at a new epoch (active once nothing else is
 * pending), or the entry left `revoking/<user>`.
 */
export interface CompletedRevocation {
  userId: string
  /** The epoch of the seat before the completion; absent for an entry of `revoking/<user>`. */
  epoch?: string
}

/**
 * The union of pending lists, one entry per site: of two entries for one site the later seat's
 * (the higher epoch) stays, because a node that dropped the later seat of a user at its branch
 * has dropped the earlier ones too (it applies seat changes in revision order).
 */
export function mergePending(...lists: readonly (readonly PendingRecord[])[]): PendingRecord[] {
  const bySite = new Map<string, PendingRecord>()
  for (const entry of lists.flat()) {
    const other = bySite.get(entry.siteId)
    if (!other || BigInt(entry.epoch) > BigInt(other.epoch)) bySite.set(entry.siteId, entry)
  }
  return [...bySite.values()]
}

/**
 * The effects, on the revocation records, of releasing `seat` (at epoch `epoch`: a logout, an
 * expiry, a bump, a directory delete), so that the worker's next seat still waits for every
 * branch that may act as the worker (invariant 4). Outstanding are: the seat's own `pending`
 * (a released seat does not acknowledge anything), and, when the seat was active and its
 * branch's node holds a confirmation lease (`nodes/<site>`, read through the transaction so
 * that a grant racing the release fails one of them), that branch, from the release's revision
 * on. They are kept in `revoking/<user>` (merged with what is there, which is normally nothing:
 * the record exists only while the user has no seat) with their index keys: the index key of a
 * carried entry is left as it is (its revision is still that of the move), the release's own
 * entry gets a new one. Nothing outstanding deletes `revoking/<user>`.
 *
 * Reads `revoking/<user>` and (for an active seat) `nodes/<site>`: prefetch them.
 */
export async function leaveRevocations(read: TxnReader, keys: Keys, seat: SeatRecord, epoch: string, now: number): Promise<Op[]> {
  const userId = seat.userId
  const ops: Op[] = []
  const left = await read.json<RevokingRecord>(keys.revoking(userId))
  const own = seat.pending ?? []
  let outstanding = mergePending(left?.value ?? [], own)
  if (own.length === 0 && (await read.get(keys.node(seat.siteId))) !== undefined) {
    const entry: PendingRecord = { siteId: seat.siteId, deviceId: seat.deviceId, epoch, since: new Date(now).toISOString() }
    outstanding = mergePending(outstanding, [entry])
    const index: RevocationIndexRecord = { epoch }
    ops.push({ type: 'put', key: keys.revocation(entry.siteId, userId), value: index })
  }
  if (outstanding.length > 0) {
    const record: RevokingRecord = outstanding
    ops.push({ type: 'put', key: keys.revoking(userId), value: record })
  } else if (left) {
    ops.push({ type: 'delete', key: keys.revoking(userId) })
  }
  return ops
}

/** Which node of the site may hold its confirmation lease for a completion (see {@link planCompleteRevocations}). */
export type NodeCondition = 'any' | 'none' | { holder: string }

/**
 * Plans completing `siteId`'s pending revocations of `userIds` for which `when` holds, wherever
 * the entry is: a seat is put again without it (a new mod revision: a new epoch; active once
 * `pending` is empty); `revoking/<user>` is put again without it, or deleted when nothing is left.
 * The index key `revocations/<site>/<user>` goes once no entry for the site is left, and index
 * keys for which neither the seat nor `revoking/<user>` has an entry for the site are deleted too.
 * Every record and index key read is compared in the transaction (TxnReader), so a record that
 * changed meanwhile fails the write, which re-plans.
 *
 * `node` (default `'any'`): `'none'` also reads `nodes/<site>` and completes nothing while it
 * exists (completions because the branch's lease is gone must not race a new grant); `{ holder }`
 * reads it and completes nothing unless that node holds the lease (an acknowledgement speaks
 * only for the holder). Either way the lease key is compared at commit like every record read.
 */
export async function planCompleteRevocations(
  read: TxnReader,
  keys: Keys,
  siteId: string,
  userIds: readonly string[],
  when: CompleteWhen,
  node: NodeCondition = 'any',
): Promise<{ ops: Op[]; outcome: CompletedRevocation[] }> {
  const ops: Op[] = []
  const outcome: CompletedRevocation[] = []
  const users = [...new Set(userIds)]
  const nodeKey = keys.node(siteId)
  await read.prefetch([...(node === 'any' ? [] : [nodeKey]), ...users.flatMap((u) => [keys.seat(u), keys.revocation(siteId, u), keys.revoking(u)])])
  if (node !== 'any') {
    const holder = await read.get(nodeKey)
    if (node === 'none' ? holder !== undefined : holder === undefined || parseJson<NodeLeaseRecord>(holder).nodeId !== node.holder) return { ops, outcome }
  }
  for (const userId of users) {
    const indexKey = keys.revocation(siteId, userId)
    const index = await read.get(indexKey)
    const seat = await read.json<SeatRecord>(keys.seat(userId))
    const left = await read.json<RevokingRecord>(keys.revoking(userId))
    const inSeat = seat?.value.pending?.find((p) => p.siteId === siteId)
    const inLeft = left?.value.find((p) => p.siteId === siteId)
    let remaining = false
    if (seat && inSeat) {
      if (when({ userId, entry: inSeat, heldBy: 'seat', recordRevision: seat.revision, revokedAt: index?.mod_revision ?? seat.revision })) {
        const rest = (seat.value.pending ?? []).filter((p) => p.siteId !== siteId)
        const { pending: _dropped, ...record } = seat.value
        ops.push({ type: 'put', key: keys.seat(userId), value: rest.length > 0 ? { ...record, pending: rest } : record })
        outcome.push({ userId, epoch: seat.revision })
      } else {
        remaining = true
      }
    }
    if (left && inLeft) {
      if (when({ userId, entry: inLeft, heldBy: 'revoking', recordRevision: left.revision, revokedAt: index?.mod_revision ?? left.revision })) {
        const rest: RevokingRecord = left.value.filter((p) => p.siteId !== siteId)
        ops.push(rest.length > 0 ? { type: 'put', key: keys.revoking(userId), value: rest } : { type: 'delete', key: keys.revoking(userId) })
        outcome.push({ userId })
      } else {
        remaining = true
      }
    }
    if (!remaining && index) ops.push({ type: 'delete', key: indexKey })
  }
  return { ops, outcome }
}

/** The users with a revocation index key under `revocations/<site>/`, from the keys' names. */
export function usersOfIndexKeys(keys: Keys, siteId: string, names: readonly string[]): string[] {
  const prefix = keys.siteRevocations(siteId)
  return names.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length))
}
