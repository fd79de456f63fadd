import { ErrorCode, type LoginResponse } from '@flexseat/proto'
import { type Counter, type Meter, metrics } from '@opentelemetry/api'
import type { Logger } from 'pino'
import type { Role } from './caller'
import { RegistryError } from './errors'

/**
 * How a worker signed in: at a phone with a feature code (`*51`, through its SIP node), with the
 * phone's softkey application (through the branch's provisioning service), or by an
 * administrator (no PIN needed).
 */
export type SignInVia = 'phone' | 'softkey' | 'admin'

/** The method of a sign-in by a caller of `role`: who signs in says how (also the seat's `via`). */
export function signInVia(role: Role): SignInVia {
  return role === 'admin' ? 'admin' : role === 'provisioning' ? 'softkey' : 'phone'
}

/**
 * `ok` (active at once), `pending` (returned still waiting for the old branch), or the refusal's
 * error code in lower case without its prefix (`wrong_pin`, `locked_out`, `desk_throttled`, ...;
 * `internal` for anything that is not a domain error).
 */
export function signInOutcomeOf(result: { response: LoginResponse } | { error: unknown }): string {
  if ('response' in result) return result.response.seat !== undefined && result.response.seat.pending.length > 0 ? 'pending' : 'ok'
  const code = result.error instanceof RegistryError ? result.error.code : ErrorCode.ERROR_CODE_INTERNAL
  return (ErrorCode[code] ?? 'ERROR_CODE_INTERNAL').replace(/^ERROR_CODE_/, '').toLowerCase()
}

/**
 * Logs and counts the sign-ins (Login) this instance served as the leader, for the operator's
 * view. Instrument of the OpenTelemetry meter `@flexseat/registry`:
 * `flexseat.sign_ins` (counter, `{sign-in}`), by `flexseat.outcome` ({@link signInOutcomeOf}),
 * `flexseat.via` ({@link signInVia}: phone, softkey, admin) and `flexseat.site` (the desk's site; '' when refused before the
 * desk was known). Log message: `signed in` (info: user, device, at, via, pendingOn) for a
 * sign-in that succeeded. Never the PIN.
 */
export class SignInTelemetry {
  readonly #logger: Logger
  readonly #signIns: Counter

  constructor(logger: Logger, meter: Meter = metrics.getMeter('@flexseat/registry')) {
    this.#logger = logger
    this.#signIns = meter.createCounter('flexseat.sign_ins', { description: 'Sign-ins (Login) served by the leader, by outcome, method and the site of the desk', unit: '{sign-in}' })
  }

  report(via: SignInVia, result: { response: LoginResponse } | { error: unknown }): void {
    const outcome = signInOutcomeOf(result)
    const seat = 'response' in result ? result.response.seat : undefined
    this.#signIns.add(1, { 'flexseat.outcome': outcome, 'flexseat.via': via, 'flexseat.site': seat?.siteId ?? '' })
    if (seat !== undefined) {
      const pendingOn = [...new Set(seat.pending.map((p) => p.siteId))].join(',')
      this.#logger.info({ user: seat.userId, device: seat.deviceId, at: seat.siteId, via, epoch: seat.epoch, ...(pendingOn === '' ? {} : { pendingOn }) }, 'signed in')
    }
  }
}
