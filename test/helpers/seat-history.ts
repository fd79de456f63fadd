/**
 * Ended seats written straight into etcd in the registry's own layout, for tests and benchmarks
 * whose history must lie in the past (the registry's clock is the real one): the very operations
 * a release's transaction puts (seat-history.ts, historyEnd: the worker's history record and the
 * site's occupancy key), without the retention lease.
 */
import type { Etcd3 } from 'etcd3'
import type { ReleaseReason } from '@flexseat/proto'
import { historyEnd, type Keys } from '@flexseat/registry'

/** One ended seat, times in ms since epoch. */
export interface EndedSeat {
  userId: string
  deviceId: string
  siteId: string
  start: number
  end: number
  /** ReleaseReason (a number the enum may not know yet, too). */
  reason: number
}

/** The operations of `seat`'s end, as etcd puts (to batch in a transaction). */
export function endedSeatPuts(etcd: Etcd3, keys: Keys, seat: EndedSeat) {
  const record = { userId: seat.userId, extension: seat.userId.replace(/\D/g, '') || '1', displayName: seat.userId, deviceId: seat.deviceId, siteId: seat.siteId, since: new Date(seat.start).toISOString(), via: 'phone' as const }
  return historyEnd(keys, record, seat.reason as ReleaseReason, seat.end).map((op) => {
    if (op.type !== 'put') throw new Error('historyEnd only puts')
    return etcd.put(op.key).value(typeof op.value === 'string' ? op.value : JSON.stringify(op.value))
  })
}

/** Writes ended seats. */
export async function writeEndedSeats(etcd: Etcd3, keys: Keys, seats: readonly EndedSeat[]): Promise<void> {
  for (const seat of seats) await Promise.all(endedSeatPuts(etcd, keys, seat))
}
