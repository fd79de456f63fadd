/**
 * When wrong PINs lock a worker. Wrong PINs count per worker and desk: a desk that reaches
 * `maxFailures` for a worker is locked for that worker only (they still sign in at every other
 * desk), so one desk's credentials cannot lock a worker out of the company. The worker is locked
 * everywhere only when `clusterMaxFailures` wrong PINs came, within the window, from at least two
 * desks: guessing stays bounded at `clusterMaxFailures` per worker per window cluster-wide. A
 * desk that tries many workers is paused for all of them by the desk throttle (desk-throttle.ts).
 * ChangePin has no desk: its wrong old PINs count as the desk '' (the API).
 */
export interface LockoutPolicy {
  /** Wrong PINs for a worker at one desk within `windowMs` that lock the worker at that desk (default 5). */
  maxFailures: number
  /**
   * Wrong PINs for a worker within `windowMs`, from two desks or more, that lock the worker at
   * every desk (default three times `maxFailures`: 15).
   */
  clusterMaxFailures?: number
  /** The window failures are counted in, in ms (default 15 min). */
  windowMs: number
  /** How long a lock lasts, at a desk or everywhere, in ms (default 15 min). */
  lockMs: number
}

/** 5 failures at one desk in 15 minutes lock the worker there, 15 from several desks everywhere; for 15 minutes. */
export const DEFAULT_LOCKOUT: Readonly<LockoutPolicy> = { maxFailures: 5, clusterMaxFailures: 15, windowMs: 15 * 60_000, lockMs: 15 * 60_000 }

/** The cluster-wide count of `policy` (three times the per-desk count unless set). */
export function clusterMax(policy: LockoutPolicy): number {
  return policy.clusterMaxFailures ?? 3 * policy.maxFailures
}

/**
 * Stored at `lockout/<user>`: recent failure times (ms since epoch), the desk of each, the
 * worker's cluster-wide lock and their locks at single desks. Records written before per-desk
 * counting have no `desks`: their failures count as from one unnamed desk.
 */
export interface LockoutRecord {
  failures: number[]
  /** The desk (device id; '' for ChangePin) of each of `failures`, in the same order. */
  desks?: string[]
  /** The cluster-wide lock. */
  lockedUntil?: number
  /**
   * Locks of single desks for this worker: device id to the lock's end (ms). Kept a window past
   * the end: a desk's count starts again after its lock.
   */
  deskLocks?: Record<string, number>
}

/** Which lock refuses a worker at a desk: `worker` everywhere, `desk` at this desk only. */
export interface Lock {
  scope: 'worker' | 'desk'
  until: Date
}

/** The lock that refuses the worker at `deskId` at `now`, if any (cluster-wide first). */
export function lockFor(record: LockoutRecord | undefined, deskId: string, now: number): Lock | undefined {
  const all = lockedUntil(record, now)
  if (all) return { scope: 'worker', until: all }
  const desk = record?.deskLocks?.[deskId]
  return desk !== undefined && desk > now ? { scope: 'desk', until: new Date(desk) } : undefined
}

/** Until when the user is locked cluster-wide at `now`, if they are. */
export function lockedUntil(record: LockoutRecord | undefined, now: number): Date | undefined {
  return record?.lockedUntil !== undefined && record.lockedUntil > now ? new Date(record.lockedUntil) : undefined
}

/**
 * The lock User.locked_until shows: the lock everywhere, or the lock of the desk-less sign-ins (the
 * web portal, `*52`: desk ''), whichever ends later, so that administrators see a worker the
 * portal refuses. Locks at single desks are not shown.
 */
export function shownLock(record: LockoutRecord | undefined, now: number): Date | undefined {
  const everywhere = lockedUntil(record, now)
  const deskless = lockFor(record, '', now)?.until
  return everywhere === undefined || (deskless !== undefined && deskless > everywhere) ? deskless : everywhere
}

/** What one more wrong PIN did: the record to store, what to tell the caller and the lock it began, if any. */
export interface Failure {
  record: LockoutRecord
  /** Wrong PINs left at this desk before it locks for the worker (0 once a lock began). */
  attemptsLeft: number
  /** Set when this wrong PIN locked the worker everywhere. */
  lockedUntil?: Date
  /** Set when this wrong PIN locked the worker at this desk only. */
  deskLockedUntil?: Date
}

/** The record after one more wrong PIN for the worker at `deskId` at `now`. */
export function recordFailure(record: LockoutRecord | undefined, now: number, policy: LockoutPolicy, deskId = ''): Failure {
  const since = now - policy.windowMs
  const failures: number[] = []
  const desks: string[] = []
  ;(record?.failures ?? []).forEach((at, i) => {
    if (at > since) {
      failures.push(at)
      desks.push(record?.desks?.[i] ?? '')
    }
  })
  failures.push(now)
  desks.push(deskId)
  // Locks that ended more than a window ago no longer bound any count: dropped.
  const deskLocks: Record<string, number> = {}
  for (const [desk, until] of Object.entries(record?.deskLocks ?? {})) if (until > since) deskLocks[desk] = until
  if (failures.length >= clusterMax(policy) && new Set(desks).size >= 2) {
    const until = now + policy.lockMs
    // The lock starts a fresh count: after it ends the worker has every attempt again.
    return { record: { failures: [], lockedUntil: until }, attemptsLeft: 0, lockedUntil: new Date(until) }
  }
  // This desk's count: its wrong PINs in the window since its last lock ended.
  const from = Math.max(since, deskLocks[deskId] ?? -Infinity)
  const atDesk = failures.filter((at, i) => desks[i] === deskId && at > from).length
  if (atDesk >= policy.maxFailures) {
    const until = now + policy.lockMs
    deskLocks[deskId] = until
    return { record: { failures, desks, deskLocks }, attemptsLeft: 0, deskLockedUntil: new Date(until) }
  }
  return { record: withLocks({ failures, desks }, deskLocks), attemptsLeft: policy.maxFailures - atDesk }
}

/**
 * The record after a right PIN at `deskId` (undefined: nothing left to keep, delete it): that
 * desk's wrong PINs and lock are forgotten, other desks' stand (else the worker's own sign-in
 * would hand an attacker at another desk a fresh count).
 */
export function recordSuccess(record: LockoutRecord, now: number, policy: LockoutPolicy, deskId = ''): LockoutRecord | undefined {
  return clearDesk(record, now, policy, deskId)
}

/** The record without the wrong PINs and lock of `deskId` (an administrator's unlock of one desk); undefined when nothing is left. */
export function clearDesk(record: LockoutRecord, now: number, policy: LockoutPolicy, deskId: string): LockoutRecord | undefined {
  const since = now - policy.windowMs
  const failures: number[] = []
  const desks: string[] = []
  record.failures.forEach((at, i) => {
    const desk = record.desks?.[i] ?? ''
    if (at > since && desk !== deskId) {
      failures.push(at)
      desks.push(desk)
    }
  })
  const deskLocks: Record<string, number> = {}
  for (const [desk, until] of Object.entries(record.deskLocks ?? {})) if (until > since && desk !== deskId) deskLocks[desk] = until
  const kept = withLocks({ failures, desks, ...(record.lockedUntil !== undefined && record.lockedUntil > now ? { lockedUntil: record.lockedUntil } : {}) }, deskLocks)
  return kept.failures.length === 0 && kept.lockedUntil === undefined && kept.deskLocks === undefined ? undefined : kept
}

function withLocks(record: LockoutRecord, deskLocks: Record<string, number>): LockoutRecord {
  return Object.keys(deskLocks).length === 0 ? record : { ...record, deskLocks }
}
