import { ErrorCode, errorDetailOf } from '@flexseat/proto'

/** What the page is told about a refused request: an HTTP status and words for a person. */
export interface Explained {
  status: number
  /** One sentence for the page (never a secret, never a stack). */
  message: string
  /** The form field at fault, when the registry named one (e.g. `extension`). */
  field?: string
  /** The registry's error code (for the page's own decisions: sign in again on SESSION_INVALID). */
  code: string
  /** The failure was the registry's availability (log it; the person may retry). */
  unavailable: boolean
}

const MINUTE = 60_000

/**
 * The one table from registry refusals to what a person reads in the page. The words of the
 * sign-in match the phones' (the SIP node's MESSAGE texts: `Wrong PIN - 3 tries left`,
 * `Locked for 14 min`), so a worker reads the same thing at a desk and in the browser.
 */
export function explain(error: unknown, now = Date.now()): Explained {
  const detail = errorDetailOf(error)
  const grpcCode = (error as { code?: unknown } | null)?.code
  const code = detail === undefined ? 'UNAVAILABLE' : ErrorCode[detail.code]?.replace(/^ERROR_CODE_/, '') ?? 'INTERNAL'
  const out = (status: number, message: string, extra: Partial<Explained> = {}): Explained => ({ status, message, code, unavailable: false, ...extra })
  if (detail === undefined) {
    // No detail: the registry was not reached (or refused the portal's own credential: that is
    // the operator's to fix, not the person's).
    if (grpcCode === 16 || grpcCode === 7) return { status: 503, message: 'The portal is not allowed to reach the registry: tell an administrator', code: 'PORTAL_CREDENTIAL', unavailable: true }
    return { status: 503, message: 'The registry cannot be reached right now; try again in a moment', code, unavailable: true }
  }
  switch (detail.code) {
    case ErrorCode.ERROR_CODE_SESSION_INVALID:
      return out(401, 'Your session has ended: sign in again')
    case ErrorCode.ERROR_CODE_WRONG_PIN: {
      const left = detail.attemptsLeft
      return out(403, `Wrong PIN - ${left} ${left === 1 ? 'try' : 'tries'} left`, { field: 'pin' })
    }
    case ErrorCode.ERROR_CODE_WRONG_PASSWORD:
      return out(403, detail.attemptsLeft > 0 ? `Wrong username or password - ${detail.attemptsLeft} ${detail.attemptsLeft === 1 ? 'try' : 'tries'} left` : 'Wrong username or password', { field: 'password' })
    case ErrorCode.ERROR_CODE_LOCKED_OUT: {
      const until = detail.lockedUntil?.getTime()
      const minutes = until === undefined ? 1 : Math.max(1, Math.ceil((until - now) / MINUTE))
      return out(403, `Locked for ${minutes} min: too many wrong attempts (an administrator can unlock you)`)
    }
    case ErrorCode.ERROR_CODE_LOCKED_AT_DESK: {
      const until = detail.lockedUntil?.getTime()
      const minutes = until === undefined ? 1 : Math.max(1, Math.ceil((until - now) / MINUTE))
      return out(403, `Locked at this desk for ${minutes} min: too many wrong PINs were tried here (other desks still take you)`)
    }
    case ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION:
      return out(404, 'Unknown extension', { field: 'extension' })
    case ErrorCode.ERROR_CODE_NO_PIN:
      return out(403, 'No PIN set - sign in with your company password, or ask an administrator')
    case ErrorCode.ERROR_CODE_USER_DISABLED:
      return out(403, 'Account disabled')
    case ErrorCode.ERROR_CODE_NOT_FLEX_HOST:
      return out(409, 'Not a flex desk')
    case ErrorCode.ERROR_CODE_ROAMING_NOT_ALLOWED:
      return out(403, 'Not allowed at this branch: you may sit only at your home branch')
    case ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND:
      return out(404, 'No such desk')
    case ErrorCode.ERROR_CODE_USER_NOT_FOUND:
      return out(404, 'No such worker')
    case ErrorCode.ERROR_CODE_SITE_NOT_FOUND:
      return out(404, 'No such branch', { field: detail.field || 'site' })
    case ErrorCode.ERROR_CODE_INVALID_ARGUMENT:
      return out(400, messageOf(error) || 'Check the form', detail.field === '' ? {} : { field: detail.field })
    case ErrorCode.ERROR_CODE_EXTENSION_TAKEN:
      return out(409, 'That extension belongs to someone else already', { field: 'extension' })
    case ErrorCode.ERROR_CODE_MAC_TAKEN:
      return out(409, 'Another desk has that MAC address', { field: 'mac' })
    case ErrorCode.ERROR_CODE_ALREADY_EXISTS:
      return out(409, 'That id is taken already', { field: 'id' })
    case ErrorCode.ERROR_CODE_PERMISSION_DENIED:
      return out(403, 'Not allowed')
    case ErrorCode.ERROR_CODE_NOT_CONFIGURED:
      return out(400, 'No company directory is configured here: sign in with your extension and PIN')
    case ErrorCode.ERROR_CODE_UNAVAILABLE:
    case ErrorCode.ERROR_CODE_NOT_LEADER:
    case ErrorCode.ERROR_CODE_CONFLICT:
      return { status: 503, message: 'The registry is busy; try again in a moment', code, unavailable: true }
    default:
      return out(500, 'Something went wrong; try again')
  }
}

/** The registry's message (INVALID_ARGUMENT names the field and why: `extension: must be 2 to 15 digits`). */
function messageOf(error: unknown): string {
  const details = (error as { details?: unknown } | null)?.details
  return typeof details === 'string' ? details : ''
}
