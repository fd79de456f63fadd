import { SeatServiceService, type SeatServiceServer } from '@flexseat/proto'
import { PIN_CHECK_KEY, formatPinCheck } from './pin-check'
import { readHandler, type ServiceContext, streamHandler, writeHandler } from './service-handlers'
import { mustBeSelf, mustBeSelfId } from './session-scope'
import { mayGetSeat, mayLogout, mayRenewSeat } from './site-scope'

/** A grpc-js deadline as ms since epoch; undefined when the call has none (Infinity). */
function deadlineMs(deadline: Date | number | undefined): number | undefined {
  if (deadline === undefined) return undefined
  const ms = deadline instanceof Date ? deadline.getTime() : deadline
  return Number.isFinite(ms) ? ms : undefined
}

/** SeatService on the registry core: reads here, writes on the leader, the seat stream here. */
export function seatService(context: ServiceContext): SeatServiceServer {
  const def = SeatServiceService
  return {
    // A phone login forwarded to the leader carries this instance's PIN verdict (pin-check.ts).
    login: writeHandler(context, 'Login', def.login, (request, caller, incoming) => context.core().login(request, caller, { deadline: deadlineMs(incoming.deadline) }), async (request): Promise<Record<string, string>> => {
      const check = await context.core().checkPin(request)
      return check === undefined ? {} : { [PIN_CHECK_KEY]: formatPinCheck(check) }
    }),
    // A worker's portal session signs out, and reads the seat of, its own worker only
    // (session-scope.ts); a SIP node or provisioning service signs out only at its own site's
    // phones, and a provisioning service reads only the seats at them (site-scope.ts).
    logout: writeHandler(context, 'Logout', def.logout, async (request, caller) => {
      mustBeSelf(caller, request.target, 'signs out')
      await mayLogout(caller, request, context.core())
      return context.core().logout(request, caller)
    }),
    // A SIP node renews seats only at its own site's phones (site-scope.ts).
    renewSeat: writeHandler(context, 'RenewSeat', def.renewSeat, async (request, caller) => {
      await mayRenewSeat(caller, request, context.core())
      return context.core().renewSeat(request, caller)
    }),
    getSeat: readHandler(context, 'GetSeat', async (request, caller) => {
      mustBeSelf(caller, request.target, 'reads the seat')
      await mayGetSeat(caller, request, context.core())
      return context.core().getSeat(request, caller)
    }),
    listSeats: readHandler(context, 'ListSeats', (request, caller) => context.core().listSeats(request, caller)),
    listFreeDesks: readHandler(context, 'ListFreeDesks', (request, caller) => context.core().listFreeDesks(request, caller)),
    listSeatHistory: readHandler(context, 'ListSeatHistory', (request, caller) => {
      mustBeSelfId(caller, request.userId, 'reads the seat history')
      return context.core().listSeatHistory(request, caller)
    }),
    watchSeats: streamHandler(context, 'WatchSeats', (request, _caller, signal) => context.core().watchSeats(request, signal)),
  }
}
