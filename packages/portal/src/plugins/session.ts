/**
 * The person signed in: the session cookie holds the registry session token (HttpOnly, SameSite
 * Strict, Secure and `__Host-` under TLS), which the portal presents with every call it makes for
 * them. Which pages a person may use (worker or administrator) comes from the registry's answer
 * to GetSession, kept for a few seconds; the registry checks the session again on every call, so
 * a session ended meanwhile fails there.
 */
import { type Session, SessionProof } from '@flexseat/proto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { explain } from '../messages'
import type { PortalRegistry } from '../registry'
import { sessionView } from '../views'

/** The session of a request, once {@link SessionGuard} let it through. */
export interface PortalSession {
  token: string
  scope: 'worker' | 'admin'
  /** The worker (worker sessions); empty for administrators. */
  userId: string
  name: string
  expiresAt: string
  /** The session was opened with a PIN (a PIN change opens a new one). */
  byPin: boolean
}

declare module 'fastify' {
  interface FastifyRequest {
    portalSession?: PortalSession
  }
}

/** The session cookie's name: `__Host-` (Secure, Path=/, no Domain) under TLS. */
export function sessionCookieName(tls: boolean): string {
  return tls ? '__Host-flexseat-session' : 'flexseat-session'
}

/** How long GetSession's answer is reused, in ms. */
const CACHE_MS = 5_000
const CACHE_MAX = 10_000

/** Sets and clears the session cookie and checks requests against the session they present. */
export class SessionGuard {
  readonly #registry: PortalRegistry
  readonly #tls: boolean
  readonly #cache = new Map<string, { session: PortalSession; until: number }>()

  constructor(registry: PortalRegistry, tls: boolean) {
    this.#registry = registry
    this.#tls = tls
  }

  /** Stores a new session in the browser (and forgets nothing else: the old token ends by itself or by sign-out). */
  start(reply: FastifyReply, token: string, session: Session): PortalSession {
    const view = sessionView(session)
    const expires = session.expiresAt ?? new Date(Date.now() + 3_600_000)
    void reply.setCookie(sessionCookieName(this.#tls), token, { path: '/', httpOnly: true, sameSite: 'strict', secure: this.#tls, expires })
    const portalSession: PortalSession = { token, scope: view.scope, userId: view.userId, name: view.name, expiresAt: view.expiresAt, byPin: session.proof === SessionProof.SESSION_PROOF_PIN }
    this.#remember(portalSession)
    return portalSession
  }

  /** Clears the browser's session cookie and forgets the token here. */
  clear(request: FastifyRequest, reply: FastifyReply): void {
    const token = this.tokenOf(request)
    if (token !== undefined) this.#cache.delete(token)
    void reply.clearCookie(sessionCookieName(this.#tls), { path: '/', httpOnly: true, sameSite: 'strict', secure: this.#tls })
  }

  /** The session token the request's cookie carries. */
  tokenOf(request: FastifyRequest): string | undefined {
    const token = request.cookies[sessionCookieName(this.#tls)]
    return token !== undefined && /^[A-Za-z0-9_-]{32,256}$/.test(token) ? token : undefined
  }

  /**
   * A preHandler letting through requests whose session has `scope` (any scope when undefined):
   * 401 without a valid session (the cookie cleared), 403 for the other scope.
   */
  require(scope?: 'worker' | 'admin') {
    return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const token = this.tokenOf(request)
      if (token === undefined) {
        await reply.code(401).send({ code: 'SESSION_INVALID', message: 'Sign in first' })
        return
      }
      let session = this.#cached(token)
      if (session === undefined) {
        try {
          const { sessions } = this.#registry.client
          const response = await this.#registry.as(token).call(() => sessions.getSession.bind(sessions), {})
          session = this.#remember({ ...sessionOf(response.session!), token })
        } catch (error) {
          const explained = explain(error)
          if (explained.code === 'SESSION_INVALID') this.clear(request, reply)
          if (explained.unavailable) request.log.warn({ code: explained.code }, 'registry unavailable')
          await reply.code(explained.status).send({ code: explained.code, message: explained.message })
          return
        }
      }
      if (scope !== undefined && session.scope !== scope) {
        await reply.code(403).send({ code: 'PERMISSION_DENIED', message: scope === 'admin' ? 'Administrators only: sign in as an administrator' : 'Workers only: sign in with your extension and PIN' })
        return
      }
      request.portalSession = session
    }
  }

  /** Forgets a token (signed out, or its session ended). */
  forget(token: string): void {
    this.#cache.delete(token)
  }

  #cached(token: string): PortalSession | undefined {
    const entry = this.#cache.get(token)
    if (entry === undefined || entry.until < Date.now() || Date.parse(entry.session.expiresAt) <= Date.now()) return undefined
    return entry.session
  }

  #remember(session: PortalSession): PortalSession {
    if (this.#cache.size >= CACHE_MAX) this.#cache.clear()
    this.#cache.set(session.token, { session, until: Date.now() + CACHE_MS })
    return session
  }
}

function sessionOf(session: Session): Omit<PortalSession, 'token'> {
  const view = sessionView(session)
  return { scope: view.scope, userId: view.userId, name: view.name, expiresAt: view.expiresAt, byPin: session.proof === SessionProof.SESSION_PROOF_PIN }
}
