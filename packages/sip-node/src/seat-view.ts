import { EventEmitter } from 'node:events'
import { ReleaseReason, type Seat, SeatEventType, SnapshotReason, type WatchSeatsResponse } from '@flexseat/proto'

/**
 * One change of the view, as {@link SeatView.apply} reports it.
 * - `seated`: a new seat, or a user's seat that changed (moved to another phone, became active
 *   after its pending revocations cleared, ...). `previous` is that user's seat before the change
 *   (undefined for a new seat): when `previous.deviceId !== seat.deviceId` the old phone lost the worker.
 * - `released`: the seat that ended, as the view held it, and why. A snapshot that no longer
 *   holds a seat reports it with reason RELEASE_REASON_UNSPECIFIED.
 */
export type SeatChange =
  | { kind: 'seated'; seat: Seat; previous: Seat | undefined }
  | { kind: 'released'; seat: Seat; reason: ReleaseReason }

/**
 * Whether a seat may act (ring the phone for the worker, present the worker's identity): it has
 * no pending revocations left (invariant 4: until every branch that held the worker's previous
 * seat confirmed, the new seat is pending).
 */
export function isActive(seat: Seat): boolean {
  return seat.pending.length === 0
}

/** Events of {@link SeatView}. */
export interface SeatViewEvents {
  /** After every applied message that changed something: the changes in order, and the view's new revision. */
  changes: [changes: SeatChange[], revision: string]
}

/**
 * The node's view of every seat of the cluster (all sites), built from WatchSeats messages.
 *
 * Pure and synchronous: {@link apply} takes one message and returns what changed. Ordering rules
 * (DESIGN.md, "seat epoch"; seat.proto WatchSeats):
 * - a snapshot (INITIAL or COMPACTED) replaces the view and reports the difference; one with
 *   reason AHEAD (the view's revision comes from another history: etcd restored from a backup)
 *   replaces it even though its revision is lower;
 * - change messages apply in revision order: one at or below the current revision is ignored
 *   (a duplicate after a resume), as is any change message before the first snapshot;
 * - per user, an event whose epoch is not newer than what the view last saw for that user is
 *   ignored (the epoch is a fencing token: an older event must never undo a newer one).
 *
 * Revisions and epochs are int64 decimal strings and are compared as BigInt: etcd revisions may
 * exceed 2^53. Returned seats are the view's own objects: treat them as read-only.
 *
 * Emits `changes` (changes: SeatChange[], revision: string) after every applied message that
 * changed something.
 */
export class SeatView extends EventEmitter<SeatViewEvents> {
  #revision = 0n
  #ready = false
  readonly #byUser = new Map<string, Seat>()
  readonly #userByExtension = new Map<string, string>()
  readonly #userByDevice = new Map<string, string>()
  // The newest epoch seen per user, releases included (a released user has no seat left to carry
  // it). Entries at or below #floor are redundant: every event after a snapshot at R is newer than R.
  readonly #epochs = new Map<string, EpochMark>()
  #floor = 0n
  readonly #waiters = new Set<{ revision: bigint; done: (reached: boolean) => void }>()

  /** Revision of the last applied message; `'0'` before the first snapshot. */
  get revision(): string {
    return this.#revision.toString()
  }

  /** Whether a snapshot has been applied (the view is complete at {@link revision}). */
  get ready(): boolean {
    return this.#ready
  }

  /** Number of seats in the view. */
  get size(): number {
    return this.#byUser.size
  }

  /**
   * Applies one WatchSeats message and returns the changes it made (empty when it was stale or
   * changed nothing). See the class comment for the ordering rules.
   *
   * With `options.replace`, a snapshot replaces the view whatever its revision: a resync after
   * the registry refused the lease (the view is suspect), where a snapshot at the view's own
   * revision must still correct it and report the difference.
   */
  apply(message: WatchSeatsResponse, options: { replace?: boolean } = {}): SeatChange[] {
    const body = message.message
    let changes: SeatChange[]
    if (body?.$case === 'snapshot') {
      const revision = BigInt(body.value.revision)
      // A snapshot replaces the view, but one older than (or as old as) what the view already
      // reflects would take it back in time.
      const ahead = body.value.reason === SnapshotReason.SNAPSHOT_REASON_AHEAD
      if (this.#ready && revision <= this.#revision && options.replace !== true && !ahead) return []
      changes = this.#replace(body.value.seats, revision)
    } else if (body?.$case === 'changes') {
      const revision = BigInt(body.value.revision)
      if (!this.#ready || revision <= this.#revision) return []
      changes = []
      const releasedHere = new Map<string, Seat>()
      for (const event of body.value.events) {
        const change = this.#applyEvent(event.type, event.seat, event.reason, event.revision, revision, releasedHere)
        if (change !== undefined) changes.push(change)
      }
      this.#revision = revision
    } else {
      // An empty message (an old server's removed field 2): nothing to apply.
      return []
    }
    if (changes.length > 0) this.emit('changes', changes, this.revision)
    this.#wake()
    return changes
  }

  /** The seat of a user, if seated. */
  byUser(userId: string): Seat | undefined {
    return this.#byUser.get(userId)
  }

  /** The seat of the worker with this extension, if seated. */
  byExtension(extension: string): Seat | undefined {
    const userId = this.#userByExtension.get(extension)
    return userId === undefined ? undefined : this.#byUser.get(userId)
  }

  /** The seat hosted by a device, if any. */
  byDevice(deviceId: string): Seat | undefined {
    const userId = this.#userByDevice.get(deviceId)
    return userId === undefined ? undefined : this.#byUser.get(userId)
  }

  /** Every seat at a site (pending ones included: check {@link isActive}). */
  atSite(siteId: string): Seat[] {
    return [...this.#byUser.values()].filter((seat) => seat.siteId === siteId)
  }

  /** Every seat in the view. */
  all(): Seat[] {
    return [...this.#byUser.values()]
  }

  /**
   * Resolves true as soon as the view's revision is at least `revision` (at once if it is
   * already), false after `timeoutMs`.
   */
  waitForRevision(revision: string, timeoutMs: number): Promise<boolean> {
    const target = BigInt(revision)
    if (this.#revision >= target) return Promise.resolve(true)
    return new Promise((resolve) => {
      const waiter = {
        revision: target,
        done: (reached: boolean): void => {
          clearTimeout(timer)
          this.#waiters.delete(waiter)
          resolve(reached)
        },
      }
      // Not unref'd: somebody awaits this answer (a call waiting for the view to catch up), like
      // a deadline; it is bounded by timeoutMs.
      const timer = setTimeout(() => waiter.done(false), Math.max(0, timeoutMs))
      this.#waiters.add(waiter)
    })
  }

  /**
   * Forgets everything (revision back to `'0'`, not ready), before resynchronising from a
   * snapshot. Emits nothing: the snapshot that follows reports every seat as seated.
   */
  reset(): void {
    this.#revision = 0n
    this.#ready = false
    this.#floor = 0n
    this.#byUser.clear()
    this.#userByExtension.clear()
    this.#userByDevice.clear()
    this.#epochs.clear()
  }

  #replace(seats: readonly Seat[], revision: bigint): SeatChange[] {
    const next = new Map(seats.map((seat) => [seat.userId, seat] as const))
    const changes: SeatChange[] = []
    // Releases first: a consumer then drops a phone's old worker before it seats the new one.
    for (const [userId, seat] of this.#byUser) {
      if (!next.has(userId)) changes.push({ kind: 'released', seat, reason: ReleaseReason.RELEASE_REASON_UNSPECIFIED })
    }
    for (const seat of seats) {
      const previous = this.#byUser.get(seat.userId)
      if (previous === undefined || !sameSeat(previous, seat)) changes.push({ kind: 'seated', seat, previous })
    }
    this.#byUser.clear()
    this.#userByExtension.clear()
    this.#userByDevice.clear()
    this.#epochs.clear()
    for (const seat of seats) this.#index(seat)
    this.#floor = revision
    this.#revision = revision
    this.#ready = true
    return changes
  }

  #applyEvent(
    type: SeatEventType,
    seat: Seat | undefined,
    reason: ReleaseReason,
    eventRevision: string,
    messageRevision: bigint,
    releasedHere: Map<string, Seat>,
  ): SeatChange | undefined {
    if (seat === undefined || seat.userId === '') return undefined
    // A seated event's epoch is the seat's own (the mod revision of its record); a release's is
    // the revision of the release (seat.proto SeatEvent.revision), the seat being the old one.
    const epoch =
      type === SeatEventType.SEAT_EVENT_TYPE_SEATED && seat.epoch !== '0' && seat.epoch !== ''
        ? BigInt(seat.epoch)
        : eventRevision !== '0' && eventRevision !== ''
          ? BigInt(eventRevision)
          : messageRevision
    if (epoch <= this.#floor) return undefined
    const known = this.#epochs.get(seat.userId)
    const previous = this.#byUser.get(seat.userId)
    if (type === SeatEventType.SEAT_EVENT_TYPE_SEATED) {
      // A move may come as the old seat's release and the new seat, both at the revision of the
      // move and in one message: the seat then follows its own release at the same epoch.
      const afterOwnRelease = known !== undefined && known.released && known.epoch === epoch && known.at === messageRevision
      if (known !== undefined && epoch <= known.epoch && !afterOwnRelease) return undefined
      this.#epochs.set(seat.userId, { epoch, released: false, at: messageRevision })
      if (previous !== undefined) this.#unindex(previous)
      this.#index(seat)
      return { kind: 'seated', seat, previous: previous ?? releasedHere.get(seat.userId) }
    }
    if (type === SeatEventType.SEAT_EVENT_TYPE_RELEASED) {
      if (known !== undefined && epoch <= known.epoch) return undefined
      // The epoch is recorded even when the view does not seat the user, so that an older seated
      // event cannot bring the seat back.
      this.#epochs.set(seat.userId, { epoch, released: true, at: messageRevision })
      if (previous === undefined) return undefined
      this.#unindex(previous)
      releasedHere.set(seat.userId, previous)
      return { kind: 'released', seat: previous, reason }
    }
    return undefined
  }

  #index(seat: Seat): void {
    this.#byUser.set(seat.userId, seat)
    if (seat.extension !== '') this.#userByExtension.set(seat.extension, seat.userId)
    if (seat.deviceId !== '') this.#userByDevice.set(seat.deviceId, seat.userId)
  }

  // Only drops index entries that still point at this user: within one revision the new
  // occupant of a phone may arrive before the old occupant's release.
  #unindex(seat: Seat): void {
    this.#byUser.delete(seat.userId)
    if (this.#userByExtension.get(seat.extension) === seat.userId) this.#userByExtension.delete(seat.extension)
    if (this.#userByDevice.get(seat.deviceId) === seat.userId) this.#userByDevice.delete(seat.deviceId)
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) if (this.#revision >= waiter.revision) waiter.done(true)
  }
}

/** The newest epoch the view saw for one user, whether it ended the seat, and in which message. */
interface EpochMark {
  epoch: bigint
  released: boolean
  at: bigint
}

function sameSeat(a: Seat, b: Seat): boolean {
  return (
    a.epoch === b.epoch &&
    a.deviceId === b.deviceId &&
    a.siteId === b.siteId &&
    a.extension === b.extension &&
    a.displayName === b.displayName &&
    a.pending.length === b.pending.length &&
    (a.expiresAt?.getTime() ?? 0) === (b.expiresAt?.getTime() ?? 0)
  )
}
