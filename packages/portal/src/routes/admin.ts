/**
 * Administrators' pages (an administrator's session): the live map's first picture (sites,
 * desks) and its feed of server-sent events (live-map.ts), force sign-out, unlocking a locked
 * worker, setting a worker's PIN, creating and editing workers and desks, a worker's seat history.
 * Every change is a registry call made with the administrator's session.
 */
import { randomUUID } from 'node:crypto'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Device, ReleaseReason, User } from '@flexseat/proto'
import { type Static, Type } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import type { Logger } from 'pino'
import { runLiveMap } from '../live-map'
import { DeviceView, deviceView, ErrorView, HistoryView, historyView, SiteView, siteView, UserView, userView } from '../views'
import { fail, type RouteOptions, sessionOf } from './route-options'

const Errors = { '4xx': ErrorView, '5xx': ErrorView }
const Id = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' })
const Extension = Type.String({ pattern: '^[0-9]{2,15}$' })
const Text = Type.String({ maxLength: 256 })
/** Whether busy lamps watching the worker name the caller (User.show_caller_on_lamps; `branch`: unset). */
const LampCaller = Type.Union([Type.Literal('show'), Type.Literal('hide'), Type.Literal('branch')])
const UserFields = Type.Object(
  { extension: Extension, displayName: Type.String({ minLength: 1, maxLength: 256 }), homeSiteId: Id, roamingAllowed: Type.Boolean(), maxSeatHours: Type.Integer({ minimum: 0, maximum: 8_760 }), department: Type.Optional(Text), email: Type.Optional(Text), lampCaller: Type.Optional(LampCaller) },
  { additionalProperties: false },
)
const DeviceFields = Type.Object(
  { siteId: Id, extension: Type.Union([Extension, Type.Literal('')]), label: Type.String({ maxLength: 256 }), flexHost: Type.Boolean(), model: Type.Optional(Text), sipPassword: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{8,64}$' })) },
  { additionalProperties: false },
)
// New records' bodies spread these properties into one object: fastify's ajv removes properties
// an `additionalProperties: false` part does not name, so an intersection would lose the id.
const USER_MASK = ['extension', 'display_name', 'home_site_id', 'roaming_allowed', 'max_seat_hours', 'department', 'email']
const DEVICE_MASK = ['site_id', 'extension', 'label', 'flex_host', 'model']

function userOf(id: string, fields: Static<typeof UserFields>): User {
  const showCallerOnLamps = fields.lampCaller === 'show' ? true : fields.lampCaller === 'hide' ? false : undefined
  return User.fromPartial({ id, extension: fields.extension, displayName: fields.displayName, homeSiteId: fields.homeSiteId, roamingAllowed: fields.roamingAllowed, maxSeatHours: fields.maxSeatHours, department: fields.department ?? '', email: fields.email ?? '', ...(showCallerOnLamps === undefined ? {} : { showCallerOnLamps }) })
}

/** The fields an edit changes: `lampCaller` only when the form sent it (`branch` clears the worker's choice). */
function userMask(fields: Static<typeof UserFields>): string[] {
  return fields.lampCaller === undefined ? USER_MASK : [...USER_MASK, 'show_caller_on_lamps']
}

function deviceOf(id: string, fields: Static<typeof DeviceFields>): Device {
  return Device.fromPartial({ id, siteId: fields.siteId, extension: fields.extension, label: fields.label, flexHost: fields.flexHost, model: fields.model ?? '', ...(fields.sipPassword === undefined ? {} : { sipPassword: fields.sipPassword }) })
}

export const adminRoutes: FastifyPluginAsync<RouteOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { registry, guard } = options
  const preHandler = guard.require('admin')
  const { seats, directory } = registry.client
  const newId = (): string => `portal-${randomUUID()}`

  const allDevices = async (token: string): Promise<Device[]> => {
    const devices: Device[] = []
    let pageToken = ''
    do {
      const page = await registry.as(token).call(() => directory.listDevices.bind(directory), { siteId: '', pageSize: 1_000, pageToken })
      devices.push(...page.devices)
      pageToken = page.nextPageToken
    } while (pageToken !== '')
    return devices
  }

  app.get('/api/admin/map', { preHandler, schema: { response: { 200: Type.Object({ sites: Type.Array(SiteView), devices: Type.Array(DeviceView) }), ...Errors } } }, async (request, reply) => {
    const { token } = sessionOf(request)
    try {
      const [sites, devices] = await Promise.all([registry.as(token).call(() => directory.listSites.bind(directory), { pageSize: 1_000, pageToken: '' }), allDevices(token)])
      void reply.header('cache-control', 'no-store')
      return { sites: sites.sites.map(siteView), devices: devices.map(deviceView) }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })

  // The live map's feed: server-sent events until the page goes or the session ends.
  app.get('/api/admin/events', { preHandler }, async (request, reply) => {
    const session = sessionOf(request)
    const abort = new AbortController()
    reply.hijack()
    const raw = reply.raw
    raw.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    raw.write('retry: 2000\n\n')
    const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15_000)
    keepAlive.unref()
    request.raw.once('close', () => abort.abort())
    request.log.info({ who: session.name }, 'live map opened')
    await runLiveMap({
      registry,
      calls: registry.as(session.token),
      signal: abort.signal,
      logger: request.log as Logger,
      send: (event, data) => {
        if (!raw.writableEnded) raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
      },
    })
    clearInterval(keepAlive)
    if (!raw.writableEnded) raw.end()
    request.log.info({ who: session.name }, 'live map closed')
  })

  app.post('/api/admin/seats/:userId/release', { preHandler, schema: { params: Type.Object({ userId: Id }), response: { 200: Type.Object({ released: Type.Boolean() }), ...Errors } } }, async (request, reply) => {
    const session = sessionOf(request)
    try {
      const res = await registry.as(session.token).call(() => seats.logout.bind(seats), { requestId: newId(), target: { $case: 'userId', value: request.params.userId }, reason: ReleaseReason.RELEASE_REASON_ADMIN })
      request.log.info({ who: session.name, user: request.params.userId, device: res.released?.deviceId }, 'forced sign-out')
      return { released: res.released !== undefined }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })

  app.get('/api/admin/users', { preHandler, schema: { response: { 200: Type.Object({ users: Type.Array(UserView) }), ...Errors } } }, async (request, reply) => {
    const { token } = sessionOf(request)
    try {
      const users: User[] = []
      let pageToken = ''
      do {
        const page = await registry.as(token).call(() => directory.listUsers.bind(directory), { homeSiteId: '', pageSize: 1_000, pageToken })
        users.push(...page.users)
        pageToken = page.nextPageToken
      } while (pageToken !== '')
      void reply.header('cache-control', 'no-store')
      return { users: users.map(userView) }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })

  app.post(
    '/api/admin/users',
    { preHandler, schema: { body: Type.Object({ id: Id, pin: Type.String({ pattern: '^[0-9]{4,12}$' }), ...UserFields.properties }, { additionalProperties: false }), response: { 200: Type.Object({ user: UserView }), ...Errors } } },
    async (request, reply) => {
      const session = sessionOf(request)
      const { id, pin, ...fields } = request.body
      try {
        const res = await registry.as(session.token).call(() => directory.createUser.bind(directory), { requestId: newId(), user: userOf(id, fields), pin })
        request.log.info({ who: session.name, user: id }, 'worker created')
        return { user: userView(res.user!) }
      } catch (error) {
        return fail(request, reply, guard, error)
      }
    },
  )

  app.post('/api/admin/users/:id', { preHandler, schema: { params: Type.Object({ id: Id }), body: UserFields, response: { 200: Type.Object({ user: UserView }), ...Errors } } }, async (request, reply) => {
    const session = sessionOf(request)
    try {
      const res = await registry.as(session.token).call(() => directory.updateUser.bind(directory), { requestId: newId(), user: userOf(request.params.id, request.body), updateMask: userMask(request.body) })
      request.log.info({ who: session.name, user: request.params.id }, 'worker changed')
      return { user: userView(res.user!) }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })

  app.post('/api/admin/users/:id/unlock', { preHandler, schema: { params: Type.Object({ id: Id }), response: { 200: Type.Object({ unlocked: Type.Boolean() }), ...Errors } } }, async (request, reply) => {
    const session = sessionOf(request)
    try {
      await registry.as(session.token).call(() => directory.unlockUser.bind(directory), { requestId: newId(), userId: request.params.id })
      request.log.info({ who: session.name, user: request.params.id }, 'worker unlocked')
      return { unlocked: true }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })

  app.post(
    '/api/admin/users/:id/pin',
    { preHandler, schema: { params: Type.Object({ id: Id }), body: Type.Object({ pin: Type.String({ pattern: '^[0-9]{4,12}$' }) }, { additionalProperties: false }), response: { 200: Type.Object({ set: Type.Boolean() }), ...Errors } } },
    async (request, reply) => {
      const session = sessionOf(request)
      try {
        await registry.as(session.token).call(() => directory.resetPin.bind(directory), { requestId: newId(), userId: request.params.id, newPin: request.body.pin })
        request.log.info({ who: session.name, user: request.params.id }, 'PIN set by an administrator')
        return { set: true }
      } catch (error) {
        return fail(request, reply, guard, error)
      }
    },
  )

  app.get('/api/admin/users/:id/history', { preHandler, schema: { params: Type.Object({ id: Id }), response: { 200: Type.Object({ records: Type.Array(HistoryView) }), ...Errors } } }, async (request, reply) => {
    try {
      const res = await registry.as(sessionOf(request).token).call(() => seats.listSeatHistory.bind(seats), { userId: request.params.id, limit: 200 })
      return { records: res.records.map(historyView) }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })

  app.post(
    '/api/admin/devices',
    { preHandler, schema: { body: Type.Object({ id: Id, ...DeviceFields.properties }, { additionalProperties: false }), response: { 200: Type.Object({ device: DeviceView }), ...Errors } } },
    async (request, reply) => {
      const session = sessionOf(request)
      const { id, ...fields } = request.body
      try {
        const res = await registry.as(session.token).call(() => directory.createDevice.bind(directory), { requestId: newId(), device: deviceOf(id, fields) })
        request.log.info({ who: session.name, device: id }, 'desk created')
        return { device: deviceView(res.device!) }
      } catch (error) {
        return fail(request, reply, guard, error)
      }
    },
  )

  app.post('/api/admin/devices/:id', { preHandler, schema: { params: Type.Object({ id: Id }), body: DeviceFields, response: { 200: Type.Object({ device: DeviceView }), ...Errors } } }, async (request, reply) => {
    const session = sessionOf(request)
    try {
      const mask = [...DEVICE_MASK, ...(request.body.sipPassword === undefined ? [] : ['sip_password'])]
      const res = await registry.as(session.token).call(() => directory.updateDevice.bind(directory), { requestId: newId(), device: deviceOf(request.params.id, request.body), updateMask: mask })
      request.log.info({ who: session.name, device: request.params.id }, 'desk changed')
      return { device: deviceView(res.device!) }
    } catch (error) {
      return fail(request, reply, guard, error)
    }
  })
}
