import { CallListServiceService, type CallListServiceServer } from '@flexseat/proto'
import { readHandler, type ServiceContext, streamHandler, writeHandler } from './service-handlers'
import { mustBeSelfId } from './session-scope'

/**
 * CallListService on the registry core (the workers' central call lists, call-list.ts):
 * ReportCalls is a leader write, forwarded like the others (it carries no request id: each
 * record carries its own, and is stored once); ListCalls is a read answered here (a worker's portal
 * session: its own worker's list only).
 */
export function callListService(context: ServiceContext): CallListServiceServer {
  const def = CallListServiceService
  return {
    reportCalls: writeHandler(context, 'ReportCalls', def.reportCalls, (request, caller) => context.core().reportCalls(request, caller)),
    reportCallActivity: writeHandler(context, 'ReportCallActivity', def.reportCallActivity, (request, caller) => context.core().reportCallActivity(request, caller)),
    // A worker's portal session reads its own worker's list only (session-scope.ts).
    listCalls: readHandler(context, 'ListCalls', (request, caller) => {
      mustBeSelfId(caller, request.userId, 'reads the call list')
      return context.core().listCalls(request, caller)
    }),
    // The busy lamps' state, streamed from this instance's own etcd watch (dialog-watch.ts).
    watchDialogs: streamHandler(context, 'WatchDialogs', (_request, _caller, signal) => context.core().watchDialogs(signal)),
  }
}
