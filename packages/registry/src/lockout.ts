/** When wrong PINs lock a user. */
export interface LockoutPolicy {
  /** Wrong PINs within `windowMs` that lock the user (default 5). */
  maxFailures: number
  /** The window failures are counted in, in ms (default 15 min). */
  windowMs: number
  /** How long the lock lasts, in ms (default 15 min). */
  lockMs: number
}

/** 5 failures in 15 minutes lock for 15 minutes. */
export const DEFAULT_LOCKOUT: Readonly<LockoutPolicy> = { maxFailures: 5, windowMs: 15 * 60_000, lockMs: 15 * 60_000 }

/** Stored at `lockout/<user>`: recent failure times (ms since epoch) and the lock, if any. */
export interface LockoutRecord {
  failures: number[]
  lockedUntil?: number
}

/** Until when the user is locked at `now`, if they are. */
export function lockedUntil(record: LockoutRecord | undefined, now: number): Date | undefined {
  return record?.lockedUntil !== undefined && record.lockedUntil > now ? new Date(record.lockedUntil) : undefined
}

/** The record after one more wrong PIN at `now`, and what to tell the caller. */
export function recordFailure(
  record: LockoutRecord | undefined,
  now: number,
  policy: LockoutPolicy,
): { record: LockoutRecord; attemptsLeft: number; lockedUntil?: Date } {
  const failures = (record?.failures ?? []).filter((at) => at > now - policy.windowMs)
  failures.push(now)
  if (failures.length >= policy.maxFailures) {
    const until = now + policy.lockMs
    // The lock starts a fresh count: after it ends the user has every attempt again.
    return { record: { failures: [], lockedUntil: until }, attemptsLeft: 0, lockedUntil: new Date(until) }
  }
  return { record: { failures }, attemptsLeft: policy.maxFailures - failures.length }
}
