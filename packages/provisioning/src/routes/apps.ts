/**
 * The XML-browser applications (apps/): `/t/<device>/<token>/apps/<name>[/<step>]` (the links in
 * the files) and `/apps/<name>[/<step>]` with digest (username = the device id), GET and POST
 * (form-encoded). Parameters: the query, then the form body; at most 32 characters each.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { parseDigestHeader } from '@flexseat/sip-node'
import { Type } from '@sinclair/typebox'
import type { Logger } from 'pino'
import { renderPage } from '../apps/pages'
import type { AppRegistry, XmlApp } from '../apps/xml-app'
import { vendorOf } from '../desk-source'
import { deviceToken, TOKEN_PATTERN } from '../device-token'
import { authenticate, type RouteOptions, refuse, siteDevice } from './phone-request'

const ID_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$'
const NAME_PATTERN = '^[a-z][a-z0-9-]{0,31}$'
const Params = Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,15}$' }), Type.String({ maxLength: 32 }))

/** Options of the application routes. */
export interface AppRouteOptions extends RouteOptions {
  apps: readonly XmlApp[]
  appRegistry: AppRegistry
}

function tokenOf(params: Record<string, string>): { deviceId: string; token: string } {
  return { deviceId: params['deviceId'] ?? '', token: params['token'] ?? '' }
}

export const appRoutes: FastifyPluginAsync<AppRouteOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const apps = new Map(options.apps.map((a) => [a.name, a] as const))

  const handle = async (request: FastifyRequest, reply: FastifyReply, name: string, step: string | undefined, token?: { deviceId: string; token: string }): Promise<FastifyReply> => {
    const xmlApp = apps.get(name)
    if (xmlApp === undefined) return refuse(request, reply, 404, 'unknown app')
    const deviceId = token?.deviceId ?? parseDigestHeader(request.headers.authorization)?.['username']
    const device = deviceId === undefined ? undefined : await siteDevice(options, { deviceId })
    if (device === undefined) {
      // Without a token the digest username names the phone: no answer yet, so ask for one.
      if (token === undefined && request.headers.authorization === undefined) return refuse(request, reply, 401, 'missing', options.auth.challenge())
      return refuse(request, reply, 404, 'unknown device')
    }
    const phone = await authenticate(options, request, reply, device, token?.token)
    if (phone === undefined) return reply
    const vendor = vendorOf(device)
    const base = `${options.baseUrl()}/t/${device.id}/${deviceToken(device.id, phone.ha1)}/apps`
    const params = { ...(request.query as Record<string, string>), ...((request.body ?? {}) as Record<string, string>) }
    const page = await xmlApp.handle({
      device,
      vendor,
      step,
      params,
      url: (target, targetStep, query) => `${base}/${target}${targetStep === undefined ? '' : `/${targetStep}`}${query === undefined ? '' : `?${new URLSearchParams(query as Record<string, string>).toString()}`}`,
      featureCodes: options.site.featureCodes,
      timezone: options.site.timezone,
      registry: options.appRegistry,
      logger: request.log as Logger,
    })
    const rendered = renderPage(vendor, page, options.site.language ?? 'en')
    request.log.info({ route: request.routeOptions.url, device: device.id, app: name, step }, 'app page served')
    return reply.header('cache-control', 'no-store').type(rendered.contentType).send(rendered.body)
  }

  const tokenParams = { deviceId: Type.String({ pattern: ID_PATTERN }), token: Type.String({ pattern: TOKEN_PATTERN }), name: Type.String({ pattern: NAME_PATTERN }) }
  // A form's fields come in the body of a POST; GET has none.
  const schema = (method: 'GET' | 'POST', params: Record<string, ReturnType<typeof Type.String>>) => ({ params: Type.Object(params), querystring: Params, ...(method === 'POST' ? { body: Params } : {}) })
  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/t/:deviceId/:token/apps/:name', schema: schema(method, tokenParams), handler: (request, reply) => handle(request, reply, request.params.name, undefined, tokenOf(request.params)) })
    app.route({
      method,
      url: '/t/:deviceId/:token/apps/:name/:step',
      schema: schema(method, { ...tokenParams, step: Type.String({ pattern: NAME_PATTERN }) }),
      handler: (request, reply) => handle(request, reply, request.params.name, request.params.step, tokenOf(request.params)),
    })
    app.route({ method, url: '/apps/:name', schema: schema(method, { name: Type.String({ pattern: NAME_PATTERN }) }), handler: (request, reply) => handle(request, reply, request.params.name, undefined) })
    app.route({
      method,
      url: '/apps/:name/:step',
      schema: schema(method, { name: Type.String({ pattern: NAME_PATTERN }), step: Type.String({ pattern: NAME_PATTERN }) }),
      handler: (request, reply) => handle(request, reply, request.params.name, request.params.step),
    })
  }
}
