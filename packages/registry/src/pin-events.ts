import { type Counter, type Meter, metrics } from '@opentelemetry/api'
import type { Logger } from 'pino'
import type { RegistryError } from './errors'

/**
 * What a PIN attempt led to, for the operator: a wrong PIN (and whether it locked the worker or
 * paused the desk), or an attempt refused without checking the PIN. Never the PIN itself.
 */
export type PinEvent =
  | {
      kind: 'wrong-pin'
      userId: string
      /** '' for ChangePin and the portal's sign-in (no desk). */
      deviceId: string
      /** The desk's site; '' for ChangePin and the portal's sign-in. */
      siteId: string
      attemptsLeft: number
      /** Set when this wrong PIN locked the worker at every desk. */
      workerLockedUntil?: Date
      /** Set when this wrong PIN locked the worker at this desk only (lockout.ts). */
      workerLockedAtDeskUntil?: Date
      /** Set when this wrong PIN paused the desk (desk-throttle.ts). */
      deskPausedUntil?: Date
    }
  | { kind: 'refused'; reason: 'worker-locked' | 'worker-locked-at-desk' | 'desk-paused'; userId: string; deviceId: string; siteId: string; until: Date }

/**
 * The event a write plan attached to its outcome. Only the outcome of a write that committed is
 * the plan's own object (a retried request gets a copy from its request record), so a wrong PIN
 * is reported once however often its request is retried, and never for a plan whose transaction
 * failed and ran again.
 */
const attached = new WeakMap<RegistryError, PinEvent>()

/** Attaches `event` to `error` (a login's or PIN change's outcome) and returns the error. */
export function withPinEvent(error: RegistryError, event: PinEvent): RegistryError {
  attached.set(error, event)
  return error
}

/** The event attached to a committed outcome, if any. */
export function pinEventOf(error: unknown): PinEvent | undefined {
  return typeof error === 'object' && error !== null ? attached.get(error as RegistryError) : undefined
}

/**
 * Logs and counts PIN events, so an administrator can alert on guessing and on victim lockouts
 * (docs/OPERATIONS.md, "PINs and lockout"). Instruments of the OpenTelemetry meter
 * `@flexseat/registry` (no-ops unless the service started the SDK with a metrics exporter):
 *
 * - `flexseat.pin.failures` (counter, `{attempt}`): wrong PINs, by `flexseat.site` (the desk's
 *   site; empty for ChangePin);
 * - `flexseat.pin.lockouts` (counter, `{lockout}`): lockouts that began, by `flexseat.site` and
 *   `flexseat.pin.scope` (`worker`: a worker locked at every desk; `worker-at-desk`: a worker
 *   locked at one desk; `desk`: a desk paused for every worker);
 * - `flexseat.pin.refused` (counter, `{attempt}`): PIN sign-ins refused unchecked, by
 *   `flexseat.site` and `flexseat.pin.reason` (`worker-locked`, `worker-locked-at-desk`,
 *   `desk-paused`).
 *
 * Log messages (pino, with user, device and site): `wrong PIN` (info), `worker locked out after
 * too many wrong PINs` (warn), `worker locked at a desk after too many wrong PINs` (warn), `desk paused after too many wrong PINs` (warn), `PIN sign-in
 * refused` (info).
 */
export class PinTelemetry {
  readonly #logger: Logger
  readonly #failures: Counter
  readonly #lockouts: Counter
  readonly #refused: Counter

  constructor(logger: Logger, meter: Meter = metrics.getMeter('@flexseat/registry')) {
    this.#logger = logger
    this.#failures = meter.createCounter('flexseat.pin.failures', { description: 'Wrong PINs entered, by the site of the desk', unit: '{attempt}' })
    this.#lockouts = meter.createCounter('flexseat.pin.lockouts', {
      description: 'Lockouts that began after too many wrong PINs: a worker locked at one desk (scope worker-at-desk) or everywhere (scope worker), or a desk paused for every worker (scope desk)',
      unit: '{lockout}',
    })
    this.#refused = meter.createCounter('flexseat.pin.refused', { description: 'PIN sign-ins refused without checking the PIN: the worker locked or the desk paused', unit: '{attempt}' })
  }

  /** Reports the event attached to `error`, if any (see {@link withPinEvent}). */
  reportOutcome(error: unknown): void {
    const event = pinEventOf(error)
    if (event !== undefined) this.report(event)
  }

  report(event: PinEvent): void {
    const where = { user: event.userId, device: event.deviceId, site: event.siteId }
    const site = { 'flexseat.site': event.siteId }
    if (event.kind === 'refused') {
      this.#refused.add(1, { ...site, 'flexseat.pin.reason': event.reason })
      this.#logger.info({ ...where, reason: event.reason, until: event.until.toISOString() }, 'PIN sign-in refused')
      return
    }
    this.#failures.add(1, site)
    this.#logger.info({ ...where, attemptsLeft: event.attemptsLeft }, 'wrong PIN')
    if (event.workerLockedUntil !== undefined) {
      this.#lockouts.add(1, { ...site, 'flexseat.pin.scope': 'worker' })
      this.#logger.warn({ ...where, until: event.workerLockedUntil.toISOString() }, 'worker locked out after too many wrong PINs')
    }
    if (event.workerLockedAtDeskUntil !== undefined) {
      this.#lockouts.add(1, { ...site, 'flexseat.pin.scope': 'worker-at-desk' })
      this.#logger.warn({ ...where, until: event.workerLockedAtDeskUntil.toISOString() }, 'worker locked at a desk after too many wrong PINs')
    }
    if (event.deskPausedUntil !== undefined) {
      this.#lockouts.add(1, { ...site, 'flexseat.pin.scope': 'desk' })
      this.#logger.warn({ device: event.deviceId, site: event.siteId, until: event.deskPausedUntil.toISOString() }, 'desk paused after too many wrong PINs')
    }
  }
}
