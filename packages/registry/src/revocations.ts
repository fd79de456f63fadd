import type { TxnReader } from './fenced-writer'
import type { Keys } from './keys'
import type { Op } from './kv'
import type { PendingRecord, SeatRecord } from './records'

/** One pending revocation as the index and the seat show it. */
export interface PendingAt {
  userId: string
  entry: PendingRecord
  /** The mod revision of the seat record (its epoch). */
  seatRevision: string
  /** The revision of the revocation: when the seat left the branch (the index key's mod revision). */
  revokedAt: string
}

/** Which pending entries of a site to complete. */
export type CompleteWhen = (pending: PendingAt) => boolean

/** A completed revocation: the seat is now at `userId`'s new epoch (active once nothing else is pending). */
export interface CompletedRevocation {
  userId: string
  epoch: string
}

/**
 * Plans completing `siteId`'s pending revocations of `userIds` for which `when` holds: each seat
 * is put again without that entry (a new mod revision: a new epoch; active once `pending` is
 * empty) and the index key `revocations/<site>/<user>` goes. Index keys whose seat no longer
 * has an entry for the site are deleted too. Every seat and index key read is compared in the
 * transaction (TxnReader), so a seat that changed meanwhile fails the write, which re-plans.
 *
 * `requireNoNode`: also read `nodes/<site>` and complete nothing while it exists (completions
 * because the branch's lease is gone must not race a new grant).
 */
export async function planCompleteRevocations(
  read: TxnReader,
  keys: Keys,
  siteId: string,
  userIds: readonly string[],
  when: CompleteWhen,
  requireNoNode = false,
): Promise<{ ops: Op[]; outcome: CompletedRevocation[] }> {
  const ops: Op[] = []
  const outcome: CompletedRevocation[] = []
  const users = [...new Set(userIds)]
  const nodeKey = keys.node(siteId)
  await read.prefetch([...(requireNoNode ? [nodeKey] : []), ...users.flatMap((u) => [keys.seat(u), keys.revocation(siteId, u)])])
  if (requireNoNode && (await read.get(nodeKey)) !== undefined) return { ops, outcome }
  for (const userId of users) {
    const indexKey = keys.revocation(siteId, userId)
    const seat = await read.json<SeatRecord>(keys.seat(userId))
    const index = await read.get(indexKey)
    const entry = seat?.value.pending?.find((p) => p.siteId === siteId)
    if (!seat || !entry) {
      if (index) ops.push({ type: 'delete', key: indexKey })
      continue
    }
    if (!when({ userId, entry, seatRevision: seat.revision, revokedAt: index?.mod_revision ?? seat.revision })) continue
    const rest = (seat.value.pending ?? []).filter((p) => p.siteId !== siteId)
    const { pending: _dropped, ...record } = seat.value
    ops.push({ type: 'put', key: keys.seat(userId), value: rest.length > 0 ? { ...record, pending: rest } : record })
    if (index) ops.push({ type: 'delete', key: indexKey })
    outcome.push({ userId, epoch: seat.revision })
  }
  return { ops, outcome }
}

/** The users with a revocation index key under `revocations/<site>/`, from the keys' names. */
export function usersOfIndexKeys(keys: Keys, siteId: string, names: readonly string[]): string[] {
  const prefix = keys.siteRevocations(siteId)
  return names.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length))
}
