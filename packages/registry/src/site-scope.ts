import { ErrorCode, type LogoutRequest } from '@flexseat/proto'
import type { Caller } from './caller'
import { RegistryError } from './errors'
import type { ServedCore } from './served-core'

/**
 * Which branch a SIP node's credential may act for: its role (auth.ts) says which RPCs it may
 * call, its token's `site` for which branch. A branch's node renews, releases and acknowledges
 * only its own branch's confirmation lease, reports only its own phones, reads only its own
 * phones' digest credentials (HA1), and signs workers out only at its own phones; so one
 * compromised branch cannot void another's bounded revocation, plant its phones or learn their
 * passwords. Login and ChangePin are not confined: the worker's PIN is what authorizes them.
 *
 * Checked in the handlers, on the instance that runs the call (the leader, for writes: a follower
 * forwards the original caller with its site, see auth.ts). Other roles pass.
 */
export function mustActFor(caller: Caller, siteId: string): void {
  if (caller.role !== 'sip-node' || (caller.site !== undefined && caller.site === siteId)) return
  throw new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, `this SIP node's token acts for site "${caller.site ?? ''}", not for "${siteId}"`)
}

/**
 * A SIP node signs out only at its own site's phones (the `*51` of a seated phone names the
 * phone): PERMISSION_DENIED for a target by user or extension, or a phone of another site.
 */
export async function mayLogout(caller: Caller, request: LogoutRequest, core: Pick<ServedCore, 'getDevice'>): Promise<void> {
  if (caller.role !== 'sip-node') return
  const target = request.target
  if (target?.$case !== 'deviceId') {
    throw new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'a SIP node signs workers out only at its own phones: give target device_id')
  }
  const { device } = await core.getDevice({ deviceId: target.value }, caller)
  mustActFor(caller, device?.siteId ?? '')
}
