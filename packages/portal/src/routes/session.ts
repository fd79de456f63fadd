/**
 * Signing in and out: POST /api/session with a credential (extension and PIN, the directory
 * username and password, or an administrator token) opens a registry session and sets the
 * session cookie; GET /api/session says who is signed in; POST /api/session/end ends it;
 * GET /api/csrf hands out the CSRF token every change must carry. The credential goes only to the
 * registry; nothing of it is logged.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import { explain } from '../messages'
import type { Credential } from '../registry'
import { ErrorView, SessionView } from '../views'
import { fail, type RouteOptions } from './route-options'

const SignIn = Type.Union([
  Type.Object({ method: Type.Literal('pin'), extension: Type.String({ pattern: '^[0-9]{2,15}$' }), pin: Type.String({ pattern: '^[0-9]{4,12}$' }) }, { additionalProperties: false }),
  Type.Object(
    { method: Type.Literal('directory'), username: Type.String({ minLength: 1, maxLength: 256 }), password: Type.String({ minLength: 1, maxLength: 512 }), scope: Type.Union([Type.Literal('worker'), Type.Literal('admin')]) },
    { additionalProperties: false },
  ),
  Type.Object({ method: Type.Literal('admin-token'), token: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false }),
])

export const sessionRoutes: FastifyPluginAsync<RouteOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { registry, guard } = options

  app.get('/api/csrf', { schema: { response: { 200: Type.Object({ csrfToken: Type.String() }) } } }, async (_request, reply) => {
    void reply.header('cache-control', 'no-store')
    return { csrfToken: reply.generateCsrf() }
  })

  app.get('/api/session', { preHandler: guard.require(), schema: { response: { 200: SessionView, '4xx': ErrorView, '5xx': ErrorView } } }, async (request, reply) => {
    const session = request.portalSession!
    void reply.header('cache-control', 'no-store')
    return { scope: session.scope, userId: session.userId, name: session.name, expiresAt: session.expiresAt }
  })

  app.post(
    '/api/session',
    {
      config: { rateLimit: { max: options.signInLimit, timeWindow: '1 minute' } },
      schema: { body: SignIn, response: { 200: SessionView, '4xx': ErrorView, '5xx': ErrorView } },
    },
    async (request, reply) => {
      const body = request.body
      const credential: Credential =
        body.method === 'pin'
          ? { kind: 'pin', extension: body.extension, pin: body.pin }
          : body.method === 'directory'
            ? { kind: 'directory', username: body.username, password: body.password, scope: body.scope }
            : { kind: 'admin-token', token: body.token }
      try {
        const opened = await registry.openSession(credential)
        const session = guard.start(reply, opened.token, opened.session)
        request.log.info({ method: body.method, scope: session.scope, who: session.name }, 'signed in')
        // A fresh token with the answer: the page goes on without asking for one.
        return { scope: session.scope, userId: session.userId, name: session.name, expiresAt: session.expiresAt, csrfToken: reply.generateCsrf() }
      } catch (error) {
        request.log.info({ method: body.method, code: explain(error).code }, 'sign-in refused')
        return fail(request, reply, guard, error)
      }
    },
  )

  app.post('/api/session/end', { schema: { response: { 204: Type.Null() } } }, async (request, reply) => {
    const token = guard.tokenOf(request)
    if (token !== undefined) {
      const { sessions } = registry.client
      // Ending a session that ended already is no error; a registry out of reach leaves it to expire.
      await registry.as(token).call(() => sessions.endSession.bind(sessions), {}).catch((error: unknown) => request.log.info({ code: explain(error).code }, 'session end not confirmed'))
      guard.forget(token)
      request.log.info('signed out')
    }
    guard.clear(request, reply)
    return reply.code(204).send(null)
  })
}
