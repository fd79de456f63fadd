import type { FastifyReply, FastifyRequest } from 'fastify'
import { explain } from '../messages'
import type { SessionGuard } from '../plugins/session'
import type { PortalRegistry } from '../registry'

/** What every route plugin gets. */
export interface RouteOptions {
  registry: PortalRegistry
  guard: SessionGuard
  /** Sign-in attempts per minute and client address. */
  signInLimit: number
}

/**
 * Answers a refused registry call: the words for the page (messages.ts), the session cookie
 * cleared when the session ended, a warning logged when the registry could not be reached. Never
 * logs the request body.
 */
export async function fail(request: FastifyRequest, reply: FastifyReply, guard: SessionGuard, error: unknown): Promise<FastifyReply> {
  const explained = explain(error)
  if (explained.code === 'SESSION_INVALID') guard.clear(request, reply)
  if (explained.unavailable) request.log.warn({ route: request.routeOptions.url, code: explained.code }, 'registry unavailable')
  else if (explained.status >= 500) request.log.error({ route: request.routeOptions.url, err: { message: (error as Error)?.message } }, 'request failed')
  return reply.code(explained.status).send({ code: explained.code, message: explained.message, ...(explained.field === undefined ? {} : { field: explained.field }) })
}

/** The request's session (routes behind a SessionGuard preHandler always have one). */
export function sessionOf(request: FastifyRequest): NonNullable<FastifyRequest['portalSession']> {
  const session = request.portalSession
  if (session === undefined) throw new Error('no session: the route lacks its guard')
  return session
}
