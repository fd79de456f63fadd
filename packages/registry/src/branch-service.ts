import { BranchServiceService, type BranchServiceServer } from '@flexseat/proto'
import { readHandler, type ServiceContext, writeHandler } from './service-handlers'

/**
 * BranchService on the registry core (bounded revocation, invariant 4, and the phones' bindings):
 * every call but ListBindings is a leader write, forwarded like the others. They carry no request
 * id: each is naturally idempotent. ListBindings is a read answered here.
 */
export function branchService(context: ServiceContext): BranchServiceServer {
  const def = BranchServiceService
  return {
    renewLease: writeHandler(context, 'RenewLease', def.renewLease, (request, caller) => context.core().renewLease(request, caller)),
    releaseLease: writeHandler(context, 'ReleaseLease', def.releaseLease, (request, caller) => context.core().releaseLease(request, caller)),
    ackRevocations: writeHandler(context, 'AckRevocations', def.ackRevocations, (request, caller) => context.core().ackRevocations(request, caller)),
    reportBindings: writeHandler(context, 'ReportBindings', def.reportBindings, (request, caller) => context.core().reportBindings(request, caller)),
    listBindings: readHandler(context, 'ListBindings', (request, caller) => context.core().listBindings(request, caller)),
  }
}
