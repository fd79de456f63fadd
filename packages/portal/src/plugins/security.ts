/**
 * The portal's defences, all from fastify's established plugins: security headers and a strict
 * Content-Security-Policy (@fastify/helmet: scripts, styles and connections to this origin only),
 * cookies (@fastify/cookie), request rate limits per client address (@fastify/rate-limit), and
 * CSRF protection (@fastify/csrf-protection: a token from GET /api/csrf, sent back in the
 * `x-csrf-token` header, checked against a signed, HttpOnly secret cookie) plus an Origin check on
 * every request that changes anything. Browsers do not separate cookies by port, so a page on
 * another port of the same host sends the portal's cookies along: only the token and the Origin
 * tell a forged request from the portal's own.
 */
import cookie from '@fastify/cookie'
import csrf from '@fastify/csrf-protection'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** Options of {@link registerSecurity}. */
export interface SecurityOptions {
  /** Serving HTTPS: cookies are Secure (and the session cookie `__Host-`), HSTS is sent. */
  tls: boolean
  /** The only origin changes are accepted from (default: this request's own scheme and Host). */
  origin: string | undefined
  /** Signs the CSRF secret cookie. */
  cookieSecret: string
  /** Requests per minute and client address. */
  rateLimit: number
}

/** Methods that change nothing: no CSRF token, no Origin needed. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The `x-csrf-token` header: where the page puts the token. */
export const CSRF_HEADER = 'x-csrf-token'

export async function registerSecurity(app: FastifyInstance, options: SecurityOptions): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(options.tls ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    hsts: options.tls ? { maxAge: 15_552_000, includeSubDomains: false } : false,
    referrerPolicy: { policy: 'no-referrer' },
  })
  await app.register(cookie, { secret: options.cookieSecret })
  await app.register(csrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: options.tls ? '__Host-flexseat-csrf' : 'flexseat-csrf',
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, secure: options.tls, signed: true },
    getToken: (request) => {
      const value = request.headers[CSRF_HEADER]
      return typeof value === 'string' ? value : undefined
    },
  })
  await app.register(rateLimit, {
    max: options.rateLimit,
    timeWindow: '1 minute',
    errorResponseBuilder: (_request, context) => ({ statusCode: 429, code: 'RATE_LIMITED', message: `Too many requests: try again in ${Math.max(1, Math.ceil(context.ttl / 1_000))} s` }),
  })
  // Every change: first the Origin (and Fetch Metadata, where the browser sends it), then the token.
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    if (SAFE.has(request.method)) return done()
    const expected = options.origin ?? `${request.protocol}://${request.headers.host ?? ''}`
    const site = request.headers['sec-fetch-site']
    if (request.headers.origin !== expected || (site !== undefined && site !== 'same-origin')) {
      request.log.info({ route: request.routeOptions.url, method: request.method, origin: request.headers.origin ?? null, site: site ?? null }, 'foreign origin refused')
      void reply.code(403).send({ code: 'FOREIGN_ORIGIN', message: 'Refused: this request did not come from the portal\'s own page' })
      return
    }
    app.csrfProtection(request, reply, done)
  })
}
