/**
 * A worker's own pages (a worker's session: the registry confines every call to that worker):
 * where they sit, the free flex desks by branch and label, taking one for 1–999 hours or until
 * released (a Login like any other: the seat says via PORTAL, the desk's phone is told, the
 * previous seat revoked with the same bound), releasing it, changing the PIN, their seat history
 * and their call list.
 */
import { randomUUID } from 'node:crypto'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ErrorCode, errorDetailOf, ReleaseReason } from '@flexseat/proto'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import { CallView, callView, DeviceView, deviceView, ErrorView, FreeDeskView, freeDeskView, HistoryView, historyView, SeatView, seatView, SiteView, siteView, UserView, userView } from '../views'
import { fail, type RouteOptions, sessionOf } from './route-options'

/** BroadWorks' web portal limits a guest's association to 1–999 hours. */
export const MAX_HOURS = 999
/** The newest calls the page shows (the registry keeps at most its configured bound per worker). */
export const CALL_LIST_LIMIT = 50
/** A Login may wait for the old branch's acknowledgement (bounded revocation): up to the lease + 2 s. */
const LOGIN_TIMEOUT_MS = 9_000
const Errors = { '4xx': ErrorView, '5xx': ErrorView }

export const workerRoutes: FastifyPluginAsync<RouteOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { registry, guard } = options
  const preHandler = guard.require('worker')
  const { seats, directory, calls: callList } = registry.client

  app.get('/api/me', { preHandler, schema: { response: { 200: Type.Object({ user: UserView, seat: Type.Union([SeatView, Type.Null()]), desk: Type.Union([DeviceView, Type.Null()]), sites: Type.Array(SiteView) }), ...Errors } } }, async (request, reply) => {
    const session = sessionOf(request)
    const calls = registry.as(session.token)
    try {
      const [user, seat, sites] = await Promise.all([
        calls.call(() => directory.getUser.bind(directory), { key: { $case: 'userId', value: session.userId } }),
        calls.call(() => seats.getSeat.bind(seats), { target: { $case: 'userId', value: session.userId } }),
        calls.call(() => directory.listSites.bind(directory), { pageSize: 1_000, pageToken: '' }),
      ])
      const desk = seat.seat === undefined ? undefined : (await calls.call(() => directory.getDevice.bind(directory), { deviceId: seat.seat!.deviceId }).catch(() => undefined))?.device
      void reply.header('cache-control', 'no-store')
      return { user: userView(user.user!), seat: seat.seat === undefined ? null : seatView(seat.seat), desk: desk === undefined ? null : deviceView(desk), sites: sites.sites.map(siteView) }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })

  app.get(
    '/api/desks',
    { preHandler, schema: { querystring: Type.Object({ site: Type.Optional(Type.String({ maxLength: 64 })), q: Type.Optional(Type.String({ maxLength: 64 })) }), response: { 200: Type.Object({ desks: Type.Array(FreeDeskView), truncated: Type.Boolean() }), ...Errors } } },
    async (request, reply) => {
      try {
        const res = await registry.as(sessionOf(request).token).call(() => seats.listFreeDesks.bind(seats), { siteId: request.query.site ?? '', labelContains: request.query.q ?? '', limit: 200 })
        return { desks: res.desks.map(freeDeskView), truncated: res.truncated }
      } catch (error) {
        return fail(request, reply, guard, error)
      }
    },
  )

  app.post(
    '/api/seat',
    {
      preHandler,
      schema: {
        body: Type.Object({ deviceId: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }), hours: Type.Union([Type.Integer({ minimum: 1, maximum: MAX_HOURS }), Type.Null()]) }, { additionalProperties: false }),
        response: { 200: Type.Object({ seat: SeatView, pending: Type.Boolean() }), ...Errors },
      },
    },
    async (request, reply) => {
      const session = sessionOf(request)
      const calls = registry.as(session.token)
      try {
        const { user } = await calls.call(() => directory.getUser.bind(directory), { key: { $case: 'userId', value: session.userId } })
        // The same Login as *51: the session stands for the PIN, the registry says via PORTAL.
        const login = { requestId: `portal-${randomUUID()}`, deviceId: request.body.deviceId, extension: user!.extension, pin: '', durationHours: request.body.hours ?? 0 }
        const res = await calls.call(() => seats.login.bind(seats), login, LOGIN_TIMEOUT_MS)
        request.log.info({ user: session.userId, device: request.body.deviceId, hours: request.body.hours, epoch: res.seat?.epoch, pending: (res.seat?.pending.length ?? 0) > 0 }, 'desk taken')
        return { seat: seatView(res.seat!), pending: (res.seat?.pending.length ?? 0) > 0 }
      } catch (error) {
        return fail(request, reply, guard, error)
      }
    },
  )

  app.post('/api/seat/release', { preHandler, schema: { response: { 200: Type.Object({ released: Type.Union([SeatView, Type.Null()]) }), ...Errors } } }, async (request, reply) => {
    const session = sessionOf(request)
    try {
      const res = await registry.as(session.token).call(() => seats.logout.bind(seats), { requestId: `portal-${randomUUID()}`, target: { $case: 'userId', value: session.userId }, reason: ReleaseReason.RELEASE_REASON_LOGOUT })
      request.log.info({ user: session.userId, device: res.released?.deviceId }, 'desk released')
      return { released: res.released === undefined ? null : seatView(res.released) }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })

  app.post(
    '/api/pin',
    {
      preHandler,
      schema: {
        body: Type.Object({ oldPin: Type.Union([Type.String({ pattern: '^[0-9]{4,12}$' }), Type.Literal('')]), newPin: Type.String({ pattern: '^[0-9]{4,12}$' }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ changed: Type.Boolean() }), ...Errors },
      },
    },
    async (request, reply) => {
      const session = sessionOf(request)
      const calls = registry.as(session.token)
      try {
        const { user } = await calls.call(() => directory.getUser.bind(directory), { key: { $case: 'userId', value: session.userId } })
        await calls.call(() => directory.changePin.bind(directory), { requestId: `portal-${randomUUID()}`, extension: user!.extension, oldPin: request.body.oldPin, newPin: request.body.newPin })
        request.log.info({ user: session.userId }, 'PIN changed')
        // A session opened with the PIN ends with it (the registry's rule): open the next one with
        // the new PIN, so the worker stays signed in.
        if (session.byPin) {
          guard.forget(session.token)
          const opened = await registry.openSession({ kind: 'pin', extension: user!.extension, pin: request.body.newPin })
          guard.start(reply, opened.token, opened.session)
        }
        return { changed: true }
      } catch (error) {
        if (errorDetailOf(error)?.code === ErrorCode.ERROR_CODE_INVALID_ARGUMENT && errorDetailOf(error)?.field === 'old_pin') {
          return reply.code(400).send({ code: 'INVALID_ARGUMENT', field: 'oldPin', message: 'Enter your current PIN' })
        }
        return fail(request, reply, guard, error)
      }
    },
  )

  app.get('/api/history', { preHandler, schema: { response: { 200: Type.Object({ records: Type.Array(HistoryView) }), ...Errors } } }, async (request, reply) => {
    const session = sessionOf(request)
    try {
      const res = await registry.as(session.token).call(() => seats.listSeatHistory.bind(seats), { userId: session.userId, limit: 20 })
      return { records: res.records.map(historyView) }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })

  // The worker's own call list, whatever desk they sit at (the registry's ListCalls: a worker's
  // session reads its own worker's list only, so the user id is the session's, never the page's).
  app.get('/api/calls', { preHandler, schema: { response: { 200: Type.Object({ calls: Type.Array(CallView) }), ...Errors } } }, async (request, reply) => {
    const session = sessionOf(request)
    try {
      const res = await registry.as(session.token).call(() => callList.listCalls.bind(callList), { userId: session.userId, deviceId: '', limit: CALL_LIST_LIMIT })
      void reply.header('cache-control', 'no-store')
      return { calls: res.calls.map(callView) }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })
}
