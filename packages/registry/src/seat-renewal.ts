/**
 * A seat renewed at its desk (`*51*<ext>*<pin>` dialled where the worker sits; SeatService
 * RenewSeat): the seat stays — same desk, same start, same history record — and gets new deadlines
 * from the worker's effective policy at that instant (seat-policy.ts):
 * - the time limit runs again from the renewal (max_hours; none without one);
 * - the idle clock restarts (SeatRecord.renewedAt: seat-end.ts counts idle time from the latest of
 *   the start, the renewal and the last call);
 * - the daily sign-out is a fixed time: it exists to clear desks overnight. A renewal does not
 *   move it to the next day (that would undo it), nor later than it was; only when it is due
 *   within the policy's warn_minutes (the worker was warned and answered) is it postponed to the
 *   renewal + 2 x warn_minutes. The desk is then warned again after warn_minutes, and the worker
 *   who is still there renews again with the PIN; a desk left unattended ends at most
 *   2 x warn_minutes after the last renewal. Without warn_minutes there is no postponement.
 *
 * The PIN is required (and meets the lockout as at a login): being seated at the phone alone
 * does not prove the worker is still there — a passer-by at an unattended desk could otherwise
 * keep someone's seat, which the daily sign-out exists to prevent.
 */
import { ErrorCode, type EffectiveSeatPolicy, type RenewSeatRequest, type RenewSeatResponse } from '@flexseat/proto'
import { RegistryError } from './errors'
import type { TxnReader, WritePlan } from './fenced-writer'
import { type Op } from './kv'
import type { DeviceRecord, SeatRecord } from './records'
import { toSeat } from './records'
import { type PolicyUnits, type SeatDeadlines, seatDeadlines } from './seat-policy'
import { checkPinAt, effectivePolicy, type SeatContext, signInRefusal, userByExtension } from './seats'

/**
 * The deadlines of a seat renewed at `now` (ms) under `policy`, given the seat as stored (see the
 * file comment for the daily sign-out's rule).
 */
export function renewedDeadlines(policy: EffectiveSeatPolicy, now: number, stored: Pick<SeatRecord, 'dailyAt'>, units?: PolicyUnits): SeatDeadlines {
  const out = seatDeadlines(policy, now, 0, units)
  if (out.dailyAt === undefined) return out
  // The next daily sign-out, but never later than the seat's own (which may have been postponed).
  let daily = Date.parse(out.dailyAt)
  if (stored.dailyAt !== undefined) daily = Math.min(daily, Date.parse(stored.dailyAt))
  const warnMs = (out.warnSeconds ?? 0) * 1_000
  if (warnMs > 0 && daily - now <= warnMs) daily = now + 2 * warnMs
  return { ...out, dailyAt: new Date(daily).toISOString() }
}

/** The seat `seat` renewed at `now` with `deadlines`: every deadline replaced, the rest kept. */
export function renewedSeat(seat: SeatRecord, deadlines: SeatDeadlines, now: number): SeatRecord {
  const { expiresAt: _e, dailyAt: _d, dailySignOut: _s, idleSeconds: _i, deferSeconds: _f, warnSeconds: _w, renewedAt: _r, ...rest } = seat
  const anyEnd = deadlines.expiresAt !== undefined || deadlines.dailyAt !== undefined || deadlines.idleSeconds !== undefined
  return {
    ...rest,
    ...(deadlines.expiresAt === undefined ? {} : { expiresAt: deadlines.expiresAt }),
    ...(deadlines.dailyAt === undefined ? {} : { dailyAt: deadlines.dailyAt, dailySignOut: deadlines.dailySignOut }),
    ...(deadlines.idleSeconds === undefined ? {} : { idleSeconds: deadlines.idleSeconds }),
    ...(deadlines.deferSeconds === undefined || !anyEnd ? {} : { deferSeconds: deadlines.deferSeconds }),
    ...(deadlines.warnSeconds === undefined ? {} : { warnSeconds: deadlines.warnSeconds }),
    renewedAt: new Date(now).toISOString(),
  }
}

/**
 * Plans RenewSeat: the extension's worker must be seated at the device (else NOT_SEATED_HERE) and prove
 * it with the PIN (the lockout and the desk's throttle as at a login); then the seat record is
 * put again with new deadlines, in one transaction compared on everything read (the seat among
 * them: a seat that moved or ended meanwhile fails the commit and the plan runs again).
 */
export async function planRenewSeat(
  ctx: SeatContext,
  req: RenewSeatRequest,
  read: TxnReader,
  verify: (pin: string, hash: string, user: { id: string; revision: string }) => Promise<boolean>,
): Promise<WritePlan<RenewSeatResponse>> {
  const { keys } = ctx
  const user = await userByExtension(read, keys, req.extension, (id) => [keys.seat(id), keys.lockout(id), keys.deskThrottle(req.deviceId), keys.device(req.deviceId)])
  if (!user) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, 'no user has this extension') }
  const refused = signInRefusal(user.value)
  if (refused) return { ops: [], outcome: refused }
  const device = await read.json<DeviceRecord>(keys.device(req.deviceId))
  if (!device) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, `no device "${req.deviceId}"`) }
  const seat = await read.json<SeatRecord>(keys.seat(user.value.id))
  if (!seat || seat.value.deviceId !== req.deviceId) {
    return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_NOT_SEATED_HERE, 'the worker is not seated at this desk: sign in instead') }
  }
  const now = ctx.now()
  const checked = await checkPinAt(ctx, read, user, { deviceId: req.deviceId, siteId: device.value.siteId }, req.pin, now, verify)
  if (checked.refusal !== undefined) return { ops: checked.ops, outcome: checked.refusal }
  const policy = await effectivePolicy(read, keys, user.value, seat.value.siteId)
  const renewed = renewedSeat(seat.value, renewedDeadlines(policy, now, seat.value, ctx.policyUnits), now)
  const ops: Op[] = [...checked.ops, { type: 'put', key: keys.seat(user.value.id), value: renewed }]
  return { ops, outcome: { seat: toSeat(renewed, '0') } }
}
