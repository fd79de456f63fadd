/**
 * A branch's web portal: a fastify server (plugins/security.ts, plugins/session.ts; routes/ for
 * sign-in, the workers' and the administrators' pages, the front end), a client of the registry's
 * gRPC API only. State: listening from {@link PortalService.create} until {@link stop}.
 */
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify'
import type { Logger } from 'pino'
import { registerSecurity } from './plugins/security'
import { SessionGuard } from './plugins/session'
import type { PortalRegistry } from './registry'
import { adminRoutes } from './routes/admin'
import { reportRoutes } from './routes/reports'
import { pageRoutes } from './routes/pages'
import { sessionRoutes } from './routes/session'
import { workerRoutes } from './routes/worker'

/** Options of {@link PortalService.create}. */
export interface PortalServiceOptions {
  listen: { host: string; port: number }
  /** The portal's public base URL (its origin is the only one changes come from); default http(s)://<bound address>. */
  publicUrl?: string | undefined
  tls?: { cert: Buffer; key: Buffer } | undefined
  registry: PortalRegistry
  cookieSecret: string
  /** Requests per minute and client address (default 300). */
  rateLimit?: number
  /** Sign-in attempts per minute and client address (default 10). */
  signInLimit?: number
  logger: Logger
  /** The built front end (default dist/public). */
  publicDir?: string
}

/** Field names of the forms, as the page labels them, for the messages of refused input. */
const FIELD_WORDS: Record<string, string> = {
  extension: 'The extension is 2 to 15 digits',
  pin: 'The PIN is 4 to 12 digits',
  newPin: 'The new PIN is 4 to 12 digits',
  oldPin: 'The current PIN is 4 to 12 digits',
  hours: 'Hours: a whole number from 1 to 999, or until released',
  deviceId: 'Choose a desk',
  username: 'Enter your username',
  password: 'Enter your password',
  token: 'Enter the administrator token',
  id: 'The id: lower-case letters, digits, ".", "_" or "-" (at most 64)',
  displayName: 'Enter a name',
  homeSiteId: 'Choose a home branch',
  siteId: 'Choose a branch',
  maxSeatHours: 'Maximum hours: 0 (no limit) to 8760',
  sipPassword: 'The SIP password: 8 to 64 printable characters without spaces',
  label: 'The label: at most 256 characters',
}

export class PortalService {
  readonly #app: FastifyInstance
  readonly #options: PortalServiceOptions
  #stopped: Promise<void> | undefined

  private constructor(app: FastifyInstance, options: PortalServiceOptions) {
    this.#app = app
    this.#options = options
  }

  /** Builds the server and listens; resolves once it does (logs `portal listening` {url}). */
  static async create(options: PortalServiceOptions): Promise<PortalService> {
    const { logger } = options
    // Request logging is ours: one line per request without its body (a body may hold a PIN).
    const app = Fastify({
      loggerInstance: logger,
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: 16_384,
      // No type coercion: a 0 must not turn into null ("until released"), nor "12" into 12.
      ajv: { customOptions: { coerceTypes: false } },
      ...(options.tls === undefined ? {} : { https: options.tls }),
    }) as unknown as FastifyInstance
    const service = new PortalService(app, options)
    const tls = options.tls !== undefined
    const origin = options.publicUrl === undefined ? undefined : new URL(options.publicUrl).origin
    await registerSecurity(app, { tls, origin, cookieSecret: options.cookieSecret, rateLimit: options.rateLimit ?? 300 })
    app.addHook('onResponse', async (request, reply) => {
      request.log.debug({ method: request.method, route: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
    })
    app.setErrorHandler((error: FastifyError, request, reply) => {
      if (error.validation !== undefined) {
        const first = error.validation[0]
        const field = (first?.instancePath ?? '').split('/').filter((p) => p !== '').at(-1) ?? String((first?.params as { missingProperty?: string } | undefined)?.missingProperty ?? '')
        request.log.info({ route: request.routeOptions.url, field }, 'bad request')
        return reply.code(400).send({ code: 'INVALID_ARGUMENT', message: FIELD_WORDS[field] ?? 'Check the form: something is missing or malformed', ...(field === '' ? {} : { field }) })
      }
      if (error.statusCode === 429) return reply.code(429).send({ code: 'RATE_LIMITED', message: error.message })
      if (error.code === 'FST_CSRF_INVALID_TOKEN' || error.code === 'FST_CSRF_MISSING_SECRET') {
        request.log.info({ route: request.routeOptions.url, method: request.method }, 'CSRF token refused')
        return reply.code(403).send({ code: 'CSRF', message: 'Refused: the page\'s security token is missing or stale; reload the page' })
      }
      const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
      if (status === 500) request.log.error({ route: request.routeOptions.url, err: { message: error.message, code: error.code } }, 'request failed')
      return reply.code(status).send({ code: status === 500 ? 'INTERNAL' : 'BAD_REQUEST', message: status === 500 ? 'Something went wrong; try again' : 'Bad request' })
    })
    app.setNotFoundHandler((_request, reply) => reply.code(404).send({ code: 'NOT_FOUND', message: 'Not found' }))
    const guard = new SessionGuard(options.registry, tls)
    const routeOptions = { registry: options.registry, guard, signInLimit: options.signInLimit ?? 10 }
    await app.register(sessionRoutes, routeOptions)
    await app.register(workerRoutes, routeOptions)
    await app.register(adminRoutes, routeOptions)
    await app.register(reportRoutes, routeOptions)
    await app.register(pageRoutes, options.publicDir === undefined ? {} : { root: options.publicDir })
    await app.listen({ host: options.listen.host, port: options.listen.port })
    logger.info({ url: service.url, tls }, 'portal listening')
    return service
  }

  /** The bound address. */
  get address(): { host: string; port: number } {
    const info = this.#app.server.address() as AddressInfo
    return { host: info.address, port: info.port }
  }

  /** The base URL browsers use: the configured public URL, else this server's. */
  get url(): string {
    if (this.#options.publicUrl !== undefined) return this.#options.publicUrl
    const { host, port } = this.address
    const shown = host.includes(':') ? `[${host}]` : host
    return `${this.#options.tls === undefined ? 'http' : 'https'}://${shown}:${port}`
  }

  /**
   * Stops listening; open connections (live maps' event streams included) end after `timeoutMs`
   * (default 5 s). Idempotent.
   */
  stop(timeoutMs = 5_000): Promise<void> {
    this.#stopped ??= (async () => {
      // Event streams never end by themselves: close them now, the others may finish.
      this.#app.server.closeIdleConnections?.()
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
