/**
 * What a phone is told after a feature code: the final response (status and reason phrase) and
 * the text MESSAGE for its display. Feature codes never set up a call, so success is a 480 too:
 * a 2xx would open a dialog with no media behind it. This is the one table mapping outcomes and
 * registry error codes to SIP (packages/sip-node/README.md, "Feature codes").
 */
import { ErrorCode } from '@flexseat/proto'
import { RegistryCallError } from './errors'
import type { FeatureCodeSet } from './feature-codes'

/** How a feature code ended. */
export type FeatureOutcome =
  /** `endedAt`: where the worker's previous seat, which this sign-in ended, was ("Amsterdam, desk 1"). */
  | { kind: 'signed-in'; extension: string; displayName: string; endedAt?: string }
  | { kind: 'signed-out'; extension: string }
  /** Signed in, but a later change (a move elsewhere, a sign-out) already took the worker away again. */
  | { kind: 'overtaken'; extension: string }
  | { kind: 'pin-changed'; extension: string }
  /** `*51*ext*pin` at the desk the worker sits at: the seat renewed; `until`: its next scheduled end ("21:00", local), if any. */
  | { kind: 'renewed'; extension: string; until?: string }
  /** `*51` or `*52` at a phone nobody is signed in at. */
  | { kind: 'nobody-seated' }
  | { kind: 'malformed'; feature: 'login' | 'change-pin' }
  /** The registry refused or could not be reached; `extension` is the one dialled, if any. */
  | { kind: 'failed'; error: unknown; extension?: string }

/** The answer to the phone. */
export interface FeatureReply {
  status: number
  reason: string
  /** Extra headers of the final response (Retry-After for 503). */
  headers: Record<string, string>
  /** Text for the phone's display (MESSAGE, text/plain); undefined: none. */
  message: string | undefined
}

/** Seconds a phone should wait before retrying when the registry is unreachable. */
export const RETRY_AFTER_SECONDS = 5

function reply(status: number, reason: string, message: string | undefined, headers: Record<string, string> = {}): FeatureReply {
  return { status, reason, headers, message }
}

/** A reply whose MESSAGE repeats the reason phrase (the README's "same"). */
const same = (status: number, text: string): FeatureReply => reply(status, text, text)

const unavailable = (): FeatureReply => reply(503, 'Sign-in unavailable', undefined, { 'Retry-After': String(RETRY_AFTER_SECONDS) })

/** `Signed in as 1001 (Ada Lovelace)`, or without the name when the directory has none. */
export function signedInText(extension: string, displayName: string): string {
  return displayName === '' ? `Signed in as ${extension}` : `Signed in as ${extension} (${displayName})`
}

/**
 * The reply for `outcome`. `now` (ms) turns a lockout's end into whole minutes, rounded up so
 * the phone never promises a time at which the lock still holds.
 */
export function featureReply(outcome: FeatureOutcome, codes: FeatureCodeSet, now = Date.now()): FeatureReply {
  switch (outcome.kind) {
    case 'signed-in':
      return reply(480, `Signed in as ${outcome.extension}`, signedInText(outcome.extension, outcome.displayName) + (outcome.endedAt === undefined ? '' : ` — signed out of ${outcome.endedAt}`))
    case 'signed-out':
      return reply(480, `Signed out ${outcome.extension}`, `${outcome.extension} signed out`)
    case 'overtaken':
      // No MESSAGE: the desk was already told why the worker left (seat-notifier.ts).
      return reply(480, `${outcome.extension} signed in elsewhere`, undefined)
    case 'renewed':
      return reply(480, 'Seat renewed', outcome.until === undefined ? `Seat renewed for ${outcome.extension}` : `Seat renewed until ${outcome.until}`)
    case 'pin-changed':
      return reply(480, 'PIN changed', `PIN changed for ${outcome.extension}`)
    case 'nobody-seated':
      return same(403, 'Nobody signed in here')
    case 'malformed':
      return outcome.feature === 'login' ? reply(484, `Dial ${codes.login}*extension*PIN`, undefined) : reply(484, `Dial ${codes.changePin}*old PIN*new PIN`, undefined)
    case 'failed':
      return errorReply(outcome.error, outcome.extension, now)
  }
}

/** The registry error table. Anything unexpected is a 503 too: the phone can only retry later. */
function errorReply(error: unknown, extension: string | undefined, now: number): FeatureReply {
  if (!(error instanceof RegistryCallError)) return unavailable()
  switch (error.code) {
    case ErrorCode.ERROR_CODE_WRONG_PIN: {
      const left = error.detail?.attemptsLeft ?? 0
      return same(403, `Wrong PIN - ${left} ${left === 1 ? 'try' : 'tries'} left`)
    }
    case ErrorCode.ERROR_CODE_LOCKED_OUT: {
      const until = error.detail?.lockedUntil?.getTime()
      const minutes = until === undefined ? 1 : Math.max(1, Math.ceil((until - now) / 60_000))
      return same(403, `Locked at every desk for ${minutes} min`)
    }
    // Too many wrong PINs for this worker at this phone: locked here only, the other desks
    // still take their PIN (an attacker at one desk cannot lock them out everywhere).
    case ErrorCode.ERROR_CODE_LOCKED_AT_DESK: {
      const until = error.detail?.lockedUntil?.getTime()
      const minutes = until === undefined ? 1 : Math.max(1, Math.ceil((until - now) / 60_000))
      return same(403, `Locked at this desk for ${minutes} min`)
    }
    // Too many wrong PINs at this phone, whatever workers they were for: the phone waits, the
    // workers do not (they can sign in elsewhere).
    case ErrorCode.ERROR_CODE_DESK_THROTTLED: {
      const until = error.detail?.lockedUntil?.getTime()
      const minutes = until === undefined ? 1 : Math.max(1, Math.ceil((until - now) / 60_000))
      return same(403, `Too many wrong PINs here - wait ${minutes} min`)
    }
    case ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION:
    case ErrorCode.ERROR_CODE_USER_NOT_FOUND:
      return same(404, extension === undefined ? 'Unknown extension' : `Unknown extension ${extension}`)
    case ErrorCode.ERROR_CODE_NOT_FLEX_HOST:
    case ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND:
      return same(403, 'Not a flex desk')
    case ErrorCode.ERROR_CODE_ROAMING_NOT_ALLOWED:
      return same(403, 'Not allowed at this branch')
    case ErrorCode.ERROR_CODE_NO_PIN:
      return same(403, 'No PIN set - ask an administrator')
    case ErrorCode.ERROR_CODE_USER_DISABLED:
      return same(403, 'Account disabled')
    // A renewal raced with a move or an end of the seat: the worker no longer sits here.
    case ErrorCode.ERROR_CODE_NOT_SEATED_HERE:
      return same(403, extension === undefined ? 'Not signed in here' : `${extension} not signed in here`)
    default:
      return unavailable()
  }
}
