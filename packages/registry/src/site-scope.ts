import { ErrorCode, type GetSeatRequest, type LogoutRequest, type RenewSeatRequest } from '@flexseat/proto'
import type { Caller, Role } from './caller'
import { RegistryError } from './errors'
import type { ServedCore } from './served-core'

/**
 * The roles whose tokens are one branch's credential and name that branch (`site` in the tokens
 * file, required for them and refused for the others): a branch's SIP node and its provisioning
 * service. Both run at the branch, so a compromised branch must not reach past its own phones.
 */
export const SITE_BOUND_ROLES: readonly Role[] = ['sip-node', 'provisioning']

/** Whether `role`'s tokens name the one branch they act for ({@link SITE_BOUND_ROLES}). */
export function isSiteBound(role: Role): boolean {
  return SITE_BOUND_ROLES.includes(role)
}

/**
 * Which branch a site-bound credential may act for: its role (auth.ts) says which RPCs it may
 * call, its token's `site` for which branch. A branch's node renews, releases and acknowledges
 * only its own branch's confirmation lease, reports and lists only its own phones' bindings, reads
 * only its own phones' digest credentials (HA1), and signs workers out and renews their seats only at its own phones; a branch's
 * provisioning service likewise reads only its own phones (device, seat at it, HA1), its own site
 * and signs out only at its own phones. So one compromised branch cannot void another's bounded
 * revocation, plant its phones, learn their passwords or read their files. Login and ChangePin
 * are not confined: the worker's PIN is what authorizes them.
 *
 * Checked in the handlers, on the instance that runs the call (the leader, for writes: a follower
 * forwards the original caller with its site, see auth.ts). Other roles pass.
 */
export function mustActFor(caller: Caller, siteId: string): void {
  if (!isSiteBound(caller.role) || (caller.site !== undefined && caller.site === siteId)) return
  throw new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, `this ${caller.role} token acts for site "${caller.site ?? ''}", not for "${siteId}"`)
}

/**
 * A site-bound caller targets a seat only by one of its own site's phones: PERMISSION_DENIED for
 * a target by user or extension, or a phone of another site. `what` names the call in the message.
 */
async function mustTargetOwnPhone(caller: Caller, target: LogoutRequest['target'] | GetSeatRequest['target'], core: Pick<ServedCore, 'getDevice'>, what: string): Promise<void> {
  if (target?.$case !== 'deviceId') {
    throw new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, `a ${caller.role} token ${what} only at its own site's phones: give target device_id`)
  }
  const { device } = await core.getDevice({ deviceId: target.value }, caller)
  mustActFor(caller, device?.siteId ?? '')
}

/**
 * A SIP node (the `*51` of a seated phone names the phone) and a provisioning service (GuestOut
 * at the phone) sign out only at their own site's phones.
 */
export async function mayLogout(caller: Caller, request: LogoutRequest, core: Pick<ServedCore, 'getDevice'>): Promise<void> {
  if (!isSiteBound(caller.role)) return
  await mustTargetOwnPhone(caller, request.target, core, 'signs workers out')
}

/**
 * A site-bound caller (a SIP node: `*51*<ext>*<pin>` at the desk the worker sits at) renews seats
 * only at its own site's phones: another branch's node credential cannot keep this branch's seats.
 */
export async function mayRenewSeat(caller: Caller, request: RenewSeatRequest, core: Pick<ServedCore, 'getDevice'>): Promise<void> {
  if (!isSiteBound(caller.role)) return
  await mustTargetOwnPhone(caller, { $case: 'deviceId', value: request.deviceId }, core, 'renews seats')
}

/**
 * The reads only a provisioning service makes for a phone's file: the device (by id or MAC), the
 * seat at it and its site are its own branch's only. A SIP node's reads stay unconfined: it routes
 * calls to workers seated at any branch.
 */
export function mayReadAt(caller: Caller, siteId: string): void {
  if (caller.role === 'provisioning') mustActFor(caller, siteId)
}

/** A provisioning service reads the seat at one of its own site's phones only (see {@link mayReadAt}). */
export async function mayGetSeat(caller: Caller, request: GetSeatRequest, core: Pick<ServedCore, 'getDevice'>): Promise<void> {
  if (caller.role !== 'provisioning') return
  await mustTargetOwnPhone(caller, request.target, core, 'reads seats')
}
