import { BranchServiceService, type BranchServiceServer } from '@flexseat/proto'
import { readHandler, type ServiceContext, writeHandler } from './service-handlers'
import { mustActFor } from './site-scope'

/**
 * BranchService on the registry core (bounded revocation, invariant 4, and the phones' bindings):
 * every call but ListBindings is a leader write, forwarded like the others. They carry no request
 * id: each is naturally idempotent. ListBindings is a read answered here. A SIP node may make the
 * writes and ListBindings only for the site its token names (site-scope.ts), checked where they run.
 */
export function branchService(context: ServiceContext): BranchServiceServer {
  const def = BranchServiceService
  return {
    renewLease: writeHandler(context, 'RenewLease', def.renewLease, (request, caller) => {
      mustActFor(caller, request.siteId)
      return context.core().renewLease(request, caller)
    }),
    releaseLease: writeHandler(context, 'ReleaseLease', def.releaseLease, (request, caller) => {
      mustActFor(caller, request.siteId)
      return context.core().releaseLease(request, caller)
    }),
    ackRevocations: writeHandler(context, 'AckRevocations', def.ackRevocations, (request, caller) => {
      mustActFor(caller, request.siteId)
      return context.core().ackRevocations(request, caller)
    }),
    reportBindings: writeHandler(context, 'ReportBindings', def.reportBindings, (request, caller) => {
      mustActFor(caller, request.siteId)
      return context.core().reportBindings(request, caller)
    }),
    listBindings: readHandler(context, 'ListBindings', (request, caller) => {
      // A branch's node lists its own branch's phones only (not every site's: site_id empty).
      mustActFor(caller, request.siteId)
      return context.core().listBindings(request, caller)
    }),
  }
}
