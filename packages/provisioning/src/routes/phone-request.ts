/**
 * What the file and application routes share: finding the phone a request is for, checking its
 * credentials, and answering refusals the same way everywhere. A request names its phone by the
 * file's MAC (digest), by `/t/<device>/<token>/` (token), or by the digest username
 * (applications without a token).
 */
import type { SiteConfig } from '@flexseat/config'
import { type Device, ErrorCode } from '@flexseat/proto'
import { RegistryCallError } from '@flexseat/sip-node'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { DeviceAuth } from '../device-auth'
import type { ProvisioningRegistry } from '../desk-source'

/** The dependencies of the routes (read-only). */
export interface RouteOptions {
  site: SiteConfig
  registry: ProvisioningRegistry
  auth: DeviceAuth
  /** The base URL phones reach the service at (no trailing slash). */
  baseUrl: () => string
  /** The clock (the year of Poly's daylight-saving dates). */
  now: () => Date
}

/** The authenticated phone of a request, with its HA1 (the key of its token). */
export interface AuthenticatedPhone {
  device: Device
  ha1: string
}

/** Sends a refusal: 401 with a challenge, 403, or 404; the log line says why (never what was sent). */
export function refuse(request: FastifyRequest, reply: FastifyReply, status: 401 | 403 | 404, why: string, challenge?: string): FastifyReply {
  request.log.info({ route: request.routeOptions.url, status, why }, 'phone refused')
  if (challenge !== undefined) void reply.header('www-authenticate', challenge)
  return reply.code(status).type('text/plain; charset=utf-8').send(status === 404 ? 'no such phone here\n' : status === 401 ? 'authentication required\n' : 'forbidden\n')
}

/**
 * Checks the credentials of a request for `device` (a device of this site): the token when the
 * route has one, else the digest answer. Undefined after a refusal was sent.
 */
export async function authenticate(options: RouteOptions, request: FastifyRequest, reply: FastifyReply, device: Device, token: string | undefined): Promise<AuthenticatedPhone | undefined> {
  const verdict = token !== undefined ? await options.auth.token(device, token) : await options.auth.digest(device, request.headers.authorization, request.method, request.raw.url ?? '')
  if (verdict.ok) return { device, ha1: verdict.ha1 }
  if (verdict.challenge !== undefined) {
    refuse(request, reply, 401, verdict.why, verdict.challenge)
  } else {
    refuse(request, reply, 403, verdict.why)
  }
  return undefined
}

/**
 * The device `key` names if it is one of this site's; undefined otherwise (another site's phones
 * are not served here: the registry refuses this branch's token another branch's phone with
 * PERMISSION_DENIED, and the site is checked here too).
 */
export async function siteDevice(options: RouteOptions, key: { deviceId: string } | { mac: string }): Promise<Device | undefined> {
  let device: Device | undefined
  try {
    device = await options.registry.getDevice(key)
  } catch (error) {
    if (error instanceof RegistryCallError && error.code === ErrorCode.ERROR_CODE_PERMISSION_DENIED) return undefined
    throw error
  }
  return device !== undefined && device.siteId === options.site.id ? device : undefined
}
