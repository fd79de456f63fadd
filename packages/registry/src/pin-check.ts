/**
 * A PIN verdict reached by the instance that received a phone login, forwarded to the leader so
 * that the leader need not spend its own scrypt on it (see pin-hash.ts for the figures).
 *
 * The verdict names the user and the mod revision of the user record whose hash was checked.
 * The leader uses it only when the record it reads in its fenced transaction has that very
 * revision (which the transaction compares at commit), so a PIN changed meanwhile is checked
 * again by the leader; and only from a caller with the registry role, which may already act on
 * behalf of an administrator (who signs workers in without any PIN), so trusting its verdict
 * grants nothing new. The leader still checks the lockout and counts wrong PINs in its fenced
 * transaction. No PIN or hash is in the verdict.
 */
export interface PinCheck {
  readonly userId: string
  /** Mod revision of the user record whose hash was checked. */
  readonly revision: string
  /** Whether the PIN matched. */
  readonly ok: boolean
}

/** Metadata key of a forwarded verdict: `<revision>/<ok|wrong>/<user id>`. */
export const PIN_CHECK_KEY = 'x-flexseat-pin-check'

export function formatPinCheck(check: PinCheck): string {
  return `${check.revision}/${check.ok ? 'ok' : 'wrong'}/${check.userId}`
}

/** The verdict in `value`, or undefined when it is malformed. */
export function parsePinCheck(value: unknown): PinCheck | undefined {
  if (typeof value !== 'string') return undefined
  const match = /^([1-9][0-9]{0,19})\/(ok|wrong)\/([\x21-\x7e]{1,128})$/.exec(value)
  if (!match) return undefined
  return { revision: match[1]!, ok: match[2] === 'ok', userId: match[3]! }
}
