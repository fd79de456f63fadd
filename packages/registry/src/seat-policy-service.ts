import { SeatPolicyServiceService, type SeatPolicyServiceServer } from '@flexseat/proto'
import { readHandler, type ServiceContext, writeHandler } from './service-handlers'

/** SeatPolicyService on the registry core (seat-policy.ts): reads here, writes on the leader. */
export function seatPolicyService(context: ServiceContext): SeatPolicyServiceServer {
  const def = SeatPolicyServiceService
  return {
    setSeatPolicy: writeHandler(context, 'SetSeatPolicy', def.setSeatPolicy, (request, caller) => context.core().setSeatPolicy(request, caller)),
    deleteSeatPolicy: writeHandler(context, 'DeleteSeatPolicy', def.deleteSeatPolicy, (request, caller) => context.core().deleteSeatPolicy(request, caller)),
    getSeatPolicy: readHandler(context, 'GetSeatPolicy', (request) => context.core().getSeatPolicy(request)),
    getEffectiveSeatPolicy: readHandler(context, 'GetEffectiveSeatPolicy', (request) => context.core().getEffectiveSeatPolicy(request)),
  }
}
