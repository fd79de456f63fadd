import { LoginRequest, SessionServiceService, type SessionServiceServer } from '@flexseat/proto'
import { PIN_CHECK_KEY, formatPinCheck } from './pin-check'
import { readHandler, type ServiceContext, writeHandler } from './service-handlers'

/**
 * SessionService on the registry core (sessions.ts): CreateSession and EndSession run on the
 * leader, GetSession here. A PIN credential is checked by the instance that received the call
 * (its verdict forwarded to the leader, as for a phone's Login: pin-check.ts).
 */
export function sessionService(context: ServiceContext): SessionServiceServer {
  const def = SessionServiceService
  return {
    createSession: writeHandler(
      context,
      'CreateSession',
      def.createSession,
      (request, caller) => context.core().createSession(request, caller, (token) => context.auth.adminName(token)),
      async (request): Promise<Record<string, string>> => {
        if (request.credential?.$case !== 'pin') return {}
        const check = await context.core().checkPin(LoginRequest.fromPartial({ extension: request.credential.value.extension, pin: request.credential.value.pin }))
        return check === undefined ? {} : { [PIN_CHECK_KEY]: formatPinCheck(check) }
      },
    ),
    getSession: readHandler(context, 'GetSession', async (_request, caller) => context.core().getSession(caller)),
    endSession: writeHandler(context, 'EndSession', def.endSession, async (_request, caller) => {
      await context.core().endSession(caller)
      return {}
    }),
  }
}
