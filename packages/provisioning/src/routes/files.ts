/** The phones' files (files.ts names them): `GET /<file>` with digest, `GET /t/<device>/<token>/<file>` with the token. */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { TOKEN_PATTERN, deviceToken } from '../device-token'
import { deskOf, loadDeskFile, vendorOf } from '../desk-source'
import { FILE_PATTERN, parseFileName, rendererFor } from '../files'
import { authenticate, type RouteOptions, refuse, siteDevice } from './phone-request'

const ID_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$'

/** The URLs of a phone's applications its keys open (sign-in, sign-out, call list, the desk menu), under its token. */
export function appUrls(baseUrl: string, deviceId: string, ha1: string): { signIn: string; signOut: string; calls: string; menu: string } {
  const base = `${baseUrl}/t/${deviceId}/${deviceToken(deviceId, ha1)}/apps`
  return { signIn: `${base}/guest-in`, signOut: `${base}/guest-out`, calls: `${base}/call-list`, menu: `${base}/desk-menu` }
}

export const fileRoutes: FastifyPluginAsync<RouteOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  const serve = async (request: FastifyRequest, reply: FastifyReply, file: string, token?: { deviceId: string; token: string }): Promise<FastifyReply> => {
    const name = parseFileName(file)
    if (name === undefined) return refuse(request, reply, 404, 'file name')
    const device = await siteDevice(options, { mac: name.mac })
    // A token names its phone: a file of another MAC is not under it.
    if (device === undefined || (token !== undefined && token.deviceId !== device.id)) return refuse(request, reply, 404, 'unknown mac')
    const phone = await authenticate(options, request, reply, device, token?.token)
    if (phone === undefined) return reply
    const renderer = rendererFor(name.suffix, vendorOf(device))
    if (renderer === undefined) return refuse(request, reply, 404, `no ${name.suffix} for a ${vendorOf(device)} phone`)
    const desk = deskOf(device, options.site, appUrls(options.baseUrl(), device.id, phone.ha1), options.now().getUTCFullYear())
    const deskFile = await loadDeskFile(options.registry, options.site, desk, device)
    request.log.info({ route: request.routeOptions.url, device: device.id, state: deskFile.state, keys: deskFile.keySource, user: deskFile.worker?.userId }, 'file served')
    return reply.header('cache-control', 'no-store').type(renderer.contentType).send(renderer.render(deskFile))
  }

  app.get('/:file', { schema: { params: Type.Object({ file: Type.String({ pattern: FILE_PATTERN }) }) } }, (request, reply) => serve(request, reply, request.params.file))
  app.get(
    '/t/:deviceId/:token/:file',
    { schema: { params: Type.Object({ deviceId: Type.String({ pattern: ID_PATTERN }), token: Type.String({ pattern: TOKEN_PATTERN }), file: Type.String({ pattern: FILE_PATTERN }) }) } },
    (request, reply) => serve(request, reply, request.params.file, { deviceId: request.params.deviceId, token: request.params.token }),
  )
}
