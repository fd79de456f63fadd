/**
 * The provisioning service of one branch: a fastify server with the phones' files
 * (routes/files.ts) and the XML-browser applications (routes/apps.ts), a client of the registry's
 * gRPC API. State: listening from {@link ProvisioningService.create} until {@link stop}.
 */
import type { AddressInfo } from 'node:net'
import formbody from '@fastify/formbody'
import type { SiteConfig } from '@flexseat/config'
import { DigestVerifier, RegistryCallError } from '@flexseat/sip-node'
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import { DESK_APPS } from './apps/index'
import type { AppRegistry, XmlApp } from './apps/xml-app'
import type { ProvisioningRegistry } from './desk-source'
import { DeviceAuth } from './device-auth'
import { appRoutes } from './routes/apps'
import { fileRoutes } from './routes/files'

/** Options of {@link ProvisioningService.create}. */
export interface ProvisioningServiceOptions {
  site: SiteConfig
  listen: { host: string; port: number }
  /** The base URL phones use (default: http(s)://<bound address>). */
  publicUrl?: string | undefined
  tls?: { cert: Buffer; key: Buffer } | undefined
  registry: ProvisioningRegistry & AppRegistry
  logger: Logger
  /** The XML-browser applications (default: the softkey sign-in and sign-out, the call list). */
  apps?: readonly XmlApp[]
  now?: () => Date
}

/** Seconds a phone should wait before fetching again when the registry cannot be reached. */
export const RETRY_AFTER_SECONDS = 5

export class ProvisioningService {
  readonly #app: FastifyInstance
  readonly #options: ProvisioningServiceOptions
  #stopped: Promise<void> | undefined

  private constructor(app: FastifyInstance, options: ProvisioningServiceOptions) {
    this.#app = app
    this.#options = options
  }

  /** Builds the server and listens; resolves once it does (logs `provisioning listening` {url}). */
  static async create(options: ProvisioningServiceOptions): Promise<ProvisioningService> {
    const logger = options.logger
    // Request logging is ours: fastify's would log URLs, and a URL may carry a token or a PIN.
    const app = Fastify({ loggerInstance: logger, logController: new LogController({ disableRequestLogging: true }), bodyLimit: 4_096, ...(options.tls === undefined ? {} : { https: options.tls }) }) as unknown as FastifyInstance
    const service = new ProvisioningService(app, options)
    await app.register(formbody)
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (error.validation !== undefined) {
        request.log.info({ route: request.routeOptions.url, status: 400 }, 'bad request')
        return reply.code(400).type('text/plain; charset=utf-8').send('bad request\n')
      }
      if ((error as unknown) instanceof RegistryCallError && (error as unknown as RegistryCallError).transport) {
        request.log.warn({ route: request.routeOptions.url, grpcCode: (error as unknown as RegistryCallError).grpcCode }, 'registry unreachable')
        return reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS)).type('text/plain; charset=utf-8').send('registry unavailable, try again\n')
      }
      const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
      if (status === 500) request.log.error({ route: request.routeOptions.url, err: { message: error.message, code: error.code } }, 'request failed')
      return reply.code(status).type('text/plain; charset=utf-8').send(status === 500 ? 'internal error\n' : 'bad request\n')
    })
    app.setNotFoundHandler((_request, reply) => reply.code(404).type('text/plain; charset=utf-8').send('not found\n'))
    const verifier = new DigestVerifier()
    const auth = new DeviceAuth({ verifier, realm: options.site.sip.domain, credentials: (deviceId) => options.registry.getDeviceCredentials(deviceId) })
    const routeOptions = { site: options.site, registry: options.registry, auth, baseUrl: () => service.url, now: options.now ?? (() => new Date()) }
    await app.register(fileRoutes, routeOptions)
    await app.register(appRoutes, { ...routeOptions, apps: options.apps ?? DESK_APPS, appRegistry: options.registry })
    await app.listen({ host: options.listen.host, port: options.listen.port })
    logger.info({ url: service.url, tls: options.tls !== undefined }, 'provisioning listening')
    return service
  }

  /** The bound address. */
  get address(): { host: string; port: number } {
    const info = this.#app.server.address() as AddressInfo
    return { host: info.address, port: info.port }
  }

  /** The base URL phones use: the configured public URL, else this server's. */
  get url(): string {
    if (this.#options.publicUrl !== undefined) return this.#options.publicUrl
    const { host, port } = this.address
    const shown = host.includes(':') ? `[${host}]` : host
    return `${this.#options.tls === undefined ? 'http' : 'https'}://${shown}:${port}`
  }

  /** Stops listening and ends open connections after `timeoutMs` (default 5 s). Idempotent. */
  stop(timeoutMs = 5_000): Promise<void> {
    this.#stopped ??= (async () => {
      const timer = setTimeout(() => this.#app.server.closeAllConnections?.(), timeoutMs)
      timer.unref()
      try {
        await this.#app.close()
      } finally {
        clearTimeout(timer)
      }
    })()
    return this.#stopped
  }
}
