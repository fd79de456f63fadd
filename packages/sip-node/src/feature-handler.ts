/**
 * Carries out a feature code dialled at a phone against the registry: `*51*ext*pin` (Login; at the
 * desk where that worker already sits, RenewSeat: the seat starts again, see the registry's
 * seat-renewal.ts),
 * `*51` (Logout of whoever sits at the phone), `*52*old*new` (ChangePin of the seated worker).
 * The reply comes from feature-replies.ts; the PIN goes to the registry and nowhere else.
 */
import { createHash } from 'node:crypto'
import type { SiteConfig } from '@flexseat/config'
import { type Device, ErrorCode, ReleaseReason, type Seat } from '@flexseat/proto'
import type { Logger } from 'pino'
import { RegistryCallError } from './errors'
import type { FeatureCode } from './feature-codes'
import { featureReply, type FeatureOutcome, type FeatureReply } from './feature-replies'
import type { RegistryClient } from './registry-client'
import { localTime, scheduledEnd } from './seat-warnings'

/** How long a sign-in at the phone may wait for the registry (a takeover may wait for another branch's ack). */
export const LOGIN_DEADLINE_MS = 10_000

/** The INVITE fields a feature code's request id is derived from. */
export interface InviteIdentity {
  callId: string
  /** The CSeq sequence number. */
  cseq: string
  fromTag: string
}

/**
 * The registry request id of a feature code: a hash of the INVITE's Call-ID, CSeq and From tag
 * (which identify the INVITE transaction end to end), the device and the operation. A
 * retransmitted or retried INVITE therefore repeats the same request, and the registry answers it
 * with the first outcome instead of acting twice (invariant 5). Hashed so that no dialled digits
 * or caller data end up in the registry's idempotency records.
 */
export function featureRequestId(operation: 'login' | 'logout' | 'change-pin' | 'renew', deviceId: string, invite: InviteIdentity): string {
  const digest = createHash('sha256').update([operation, deviceId, invite.callId, invite.cseq, invite.fromTag].join('\u0000')).digest('hex')
  return `sip-${operation}-${digest.slice(0, 40)}`
}

/** Options of {@link FeatureHandler}. */
export interface FeatureHandlerOptions {
  site: SiteConfig
  client: Pick<RegistryClient, 'login' | 'logout' | 'changePin' | 'renewSeat'>
  /** The node's seat view (seat-view.ts): its revision and the seats as of it. */
  seats: { byDevice(deviceId: string): Seat | undefined; byUser(userId: string): Seat | undefined; readonly revision: string }
  /** Every site, by id (their names in a takeover's confirmation; default: the ids). */
  sites?: ReadonlyMap<string, SiteConfig>
  /** The desks' labels for a takeover's confirmation (default: the device ids). */
  directory?: { device(id: string): Promise<Device | undefined> }
  logger: Logger
  loginDeadlineMs?: number
  now?: () => number
}

/** Runs feature codes (see the file comment). */
export class FeatureHandler {
  readonly #o: FeatureHandlerOptions

  constructor(options: FeatureHandlerOptions) {
    this.#o = options
  }

  /** "Amsterdam, desk 1": the site's name and the desk's label (or their ids when unknown). */
  async #where(seat: Seat): Promise<string> {
    const site = this.#o.sites?.get(seat.siteId)?.name ?? seat.siteId
    let label = seat.deviceId
    try {
      const desk = await this.#o.directory?.device(seat.deviceId)
      if (desk !== undefined && desk.label !== '') label = desk.label
    } catch {
      // The directory is unreachable: the id still says where.
    }
    return `${site}, ${label}`
  }

  /** Runs `code` for `device` and returns what to answer; never throws. */
  async run(code: FeatureCode, device: Device, invite: InviteIdentity): Promise<FeatureReply> {
    const outcome = await this.#outcome(code, device, invite)
    return featureReply(outcome, this.#o.site.featureCodes, (this.#o.now ?? Date.now)())
  }

  /** Whether the view has seen `seat` (its epoch) and, since, the worker leave `deviceId`. */
  #overtaken(seat: Seat, deviceId: string): boolean {
    const view = this.#o.seats
    if (BigInt(view.revision) < BigInt(seat.epoch)) return false
    return view.byUser(seat.userId)?.deviceId !== deviceId
  }

  async #outcome(code: FeatureCode, device: Device, invite: InviteIdentity): Promise<FeatureOutcome> {
    const client = this.#o.client
    switch (code.kind) {
      case 'malformed':
        return { kind: 'malformed', feature: code.feature }
      case 'login': {
        // The worker already sits here (as this node's view has it): the sign-in renews the seat,
        // with the PIN all the same. The registry checks that the worker sits at this desk.
        const here = this.#o.seats.byDevice(device.id)
        if (here !== undefined && here.siteId === this.#o.site.id && here.extension === code.extension) {
          try {
            const { seat } = await client.renewSeat({ requestId: featureRequestId('renew', device.id, invite), deviceId: device.id, extension: code.extension, pin: code.pin })
            const end = seat === undefined ? undefined : scheduledEnd(seat)
            return { kind: 'renewed', extension: code.extension, ...(end === undefined ? {} : { until: localTime(end.at, this.#o.site.timezone) }) }
          } catch (error) {
            // The view was behind: the worker left this desk meanwhile (a sign-in elsewhere the
            // node has not seen yet), so the registry refused the renewal. A sign-in it is.
            if (!(error instanceof RegistryCallError && error.code === ErrorCode.ERROR_CODE_NOT_SEATED_HERE)) return { kind: 'failed', error, extension: code.extension }
            this.#o.logger.info({ device: device.id }, 'renewal refused as not seated here: signing in instead')
          }
        }
        try {
          const { seat, revoked } = await client.login(
            { requestId: featureRequestId('login', device.id, invite), deviceId: device.id, extension: code.extension, pin: code.pin, durationHours: 0 },
            this.#o.loginDeadlineMs ?? LOGIN_DEADLINE_MS,
          )
          // Overtaken: the node's view already holds a later change that took the worker away from
          // this desk (a move elsewhere, a sign-out), and the desk has been told so. A late
          // "Signed in" would show the worker where the registry no longer has them.
          if (seat !== undefined && this.#overtaken(seat, device.id)) {
            this.#o.logger.info({ user: seat.userId, device: device.id, epoch: seat.epoch, revision: this.#o.seats.revision }, 'sign-in overtaken by a later change; not confirmed at the desk')
            return { kind: 'overtaken', extension: seat.extension || code.extension }
          }
          // A takeover: the confirmation names the seat it ended (another desk of the worker's).
          const endedAt = revoked === undefined || revoked.deviceId === device.id ? undefined : await this.#where(revoked)
          return { kind: 'signed-in', extension: seat?.extension || code.extension, displayName: seat?.displayName ?? '', ...(endedAt === undefined ? {} : { endedAt }) }
        } catch (error) {
          return { kind: 'failed', error, extension: code.extension }
        }
      }
      case 'logout':
        try {
          const { released } = await client.logout({
            requestId: featureRequestId('logout', device.id, invite),
            target: { $case: 'deviceId', value: device.id },
            reason: ReleaseReason.RELEASE_REASON_LOGOUT,
          })
          return released === undefined ? { kind: 'nobody-seated' } : { kind: 'signed-out', extension: released.extension }
        } catch (error) {
          return { kind: 'failed', error }
        }
      case 'change-pin': {
        // The PIN changed is the seated worker's: the phone proves where it is, the old PIN who.
        const seat = this.#o.seats.byDevice(device.id)
        if (seat === undefined || seat.siteId !== this.#o.site.id) return { kind: 'nobody-seated' }
        try {
          await client.changePin({ requestId: featureRequestId('change-pin', device.id, invite), extension: seat.extension, oldPin: code.oldPin, newPin: code.newPin })
          return { kind: 'pin-changed', extension: seat.extension }
        } catch (error) {
          return { kind: 'failed', error, extension: seat.extension }
        }
      }
    }
  }
}
