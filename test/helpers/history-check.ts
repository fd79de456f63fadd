/**
 * Synthetic run records for the history checkers' unit tests: operations, and an etcd seat
 * history written the way the registry's transactions write it (packages/registry, seats.ts:
 * a login deletes the worker's old host key, bumps whoever sits at the desk, puts the host key and
 * the seat; a logout deletes both and writes the release reason).
 */
import type { KeyChange, Operation, RevisionChanges, SeatHistory } from '@flexseat/history-check'

let counter = 0

/** An operation; `at` = [invoke, complete] (complete null: never returned). */
export function op(kind: Operation['kind'], userId: string, at: [number, number | null], extra: Partial<Operation> = {}): Operation {
  return {
    id: extra.id ?? `op-${++counter}`,
    process: extra.process ?? `p-${counter}`,
    kind,
    userId,
    deviceId: extra.deviceId ?? '',
    via: extra.via ?? 'grpc',
    invokeMs: at[0],
    completeMs: at[1],
    outcome: extra.outcome ?? (at[1] === null ? 'info' : 'ok'),
    ...(extra.result !== undefined ? { result: extra.result } : {}),
    ...(extra.error !== undefined ? { error: extra.error } : {}),
    ...(extra.requestIds !== undefined ? { requestIds: extra.requestIds } : {}),
  }
}

export const login = (userId: string, deviceId: string, at: [number, number | null], extra: Partial<Operation> = {}) => op('login', userId, at, { ...extra, deviceId })
export const logout = (userId: string, at: [number, number | null], extra: Partial<Operation> = {}) => op('logout', userId, at, extra)
export const read = (userId: string, deviceId: string | null, at: [number, number | null], extra: Partial<Operation> = {}) => op('read', userId, at, { ...extra, result: { deviceId } })

export const siteOf = (deviceId: string): string => deviceId.split('-')[0]!

/** A seat history built transaction by transaction, as the registry writes the seat keys. */
export class SeatHistoryBuilder {
  readonly initial = new Map<string, string>()
  readonly revisions: RevisionChanges[] = []
  readonly #seats = new Map<string, string>() // user → desk
  readonly #hosts = new Map<string, string>() // desk → user
  revision: number

  constructor(readonly fromRevision = 100) {
    this.revision = fromRevision - 1
  }

  /** One transaction of raw changes; returns its revision. */
  txn(...changes: KeyChange[]): number {
    this.revision++
    this.revisions.push({ revision: this.revision, changes })
    return this.revision
  }

  /** Other keys' revisions (etcd counts every write). */
  skip(n = 1): void {
    for (let i = 0; i < n; i++) this.txn()
    // A revision that changed none of the seat keys does not show in the replay.
    this.revisions.splice(this.revisions.length - n, n)
  }

  /**
   * A login as planLogin writes it; `requestId`: the request record in the same transaction;
   * `pending`: the new seat waits for those branches (their index keys written with it).
   */
  login(userId: string, deviceId: string, requestId?: string, pending?: { siteId: string; deviceId: string; epoch: string }[]): number {
    const changes: KeyChange[] = []
    const old = this.#seats.get(userId)
    if (old !== undefined && old !== deviceId && this.#hosts.get(old) === userId) {
      changes.push({ key: `hosts/${old}`, value: null })
      this.#hosts.delete(old)
    }
    const occupant = this.#hosts.get(deviceId)
    if (occupant !== undefined && occupant !== userId) {
      changes.push({ key: `seats/${occupant}`, value: null }, { key: `seats-released/${occupant}`, value: JSON.stringify({ reason: 3, epoch: '1' }) })
      this.#seats.delete(occupant)
    }
    changes.push({ key: `hosts/${deviceId}`, value: userId }, { key: `seats/${userId}`, value: seatValue(userId, deviceId, pending) })
    for (const p of pending ?? []) changes.push({ key: `revocations/${p.siteId}/${userId}`, value: JSON.stringify({ epoch: p.epoch }) })
    if (requestId !== undefined) changes.push({ key: `requests/${requestId}`, value: 'x' })
    this.#seats.set(userId, deviceId)
    this.#hosts.set(deviceId, userId)
    return this.txn(...changes)
  }

  /** A release as releaseOps writes it (reason: proto ReleaseReason, 1 = LOGOUT). */
  release(userId: string, reason = 1): number {
    const desk = this.#seats.get(userId)
    if (desk === undefined) return this.txn()
    this.#seats.delete(userId)
    const changes: KeyChange[] = [{ key: `seats/${userId}`, value: null }, { key: `seats-released/${userId}`, value: JSON.stringify({ reason, epoch: '1' }) }]
    if (this.#hosts.get(desk) === userId) {
      changes.push({ key: `hosts/${desk}`, value: null })
      this.#hosts.delete(desk)
    }
    return this.txn(...changes)
  }

  build(): SeatHistory {
    return { fromRevision: this.fromRevision, toRevision: this.revision, initial: new Map(this.initial), revisions: this.revisions.map((r) => ({ revision: r.revision, changes: [...r.changes] })) }
  }
}

export function seatValue(userId: string, deviceId: string, pending?: { siteId: string; deviceId: string; epoch: string }[]): string {
  return JSON.stringify({ userId, deviceId, siteId: siteOf(deviceId), since: '2026-12-07T00:00:00.000Z', via: 'admin', ...(pending && pending.length > 0 ? { pending } : {}) })
}
