import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { RegistryClient, resumingWatch } from '@flexseat/cli'
import type { CreateSessionRequest, Session, StreamMethod, UnaryMethod, WatchSeatsResponse } from '@flexseat/proto'
import { SessionScope } from '@flexseat/proto'

/** The metadata key a session token travels in (the registry's auth.ts). */
export const SESSION_HEADER = 'x-flexseat-session'

/** Options of {@link PortalRegistry}. */
export interface PortalRegistryOptions {
  /** `host:port` of registry instances (a comma list of IPv4 addresses fails over between them). */
  addresses: readonly string[]
  /** The portal's own token (role `portal`); never logged. */
  token: string
  ca?: Buffer | undefined
  /** Deadline of each call attempt, in ms (default 5 000). */
  timeoutMs?: number
}

/** What a person proves to open a session. */
export type Credential =
  | { kind: 'pin'; extension: string; pin: string }
  | { kind: 'directory'; username: string; password: string; scope: 'worker' | 'admin' }
  | { kind: 'admin-token'; token: string }

/** The calls made for one person: every one presents their session. */
export interface SessionCalls {
  /** `timeoutMs`: each attempt's deadline (default the client's). */
  call<Req, Res>(pick: (client: RegistryClient) => UnaryMethod<Req, Res>, request: Req, timeoutMs?: number): Promise<Res>
  /** The seat stream, resumed across breaks after the last revision seen (resuming-watch.ts). */
  watchSeats(signal: AbortSignal, onReconnect?: (error: unknown) => void): AsyncIterable<WatchSeatsResponse>
}

/**
 * The portal's client of the registry: the CLI's RegistryClient (its retries of UNAVAILABLE and
 * NOT_LEADER, its address failover), with the portal's own token on every call and, for every
 * call made for a person, their session token. The portal's token alone opens sessions and
 * nothing else (the registry's `portal` role).
 */
export class PortalRegistry {
  readonly client: RegistryClient

  constructor(options: PortalRegistryOptions) {
    this.client = RegistryClient.connect({
      address: options.addresses.join(','),
      token: options.token,
      ...(options.ca === undefined ? {} : { tls: { ca: options.ca } }),
      timeoutMs: options.timeoutMs ?? 5_000,
      // A person waits for the answer: ride out a leader election (about 3 s), no longer.
      retry: { attempts: 8, baseDelayMs: 150, maxDelayMs: 1_000 },
    })
  }

  /**
   * Opens a session: a fresh token of 32 random bytes, of which the registry learns only the
   * SHA-256 (the token itself goes to the browser in an HttpOnly cookie).
   * Rejects with the registry's refusal (WRONG_PIN, LOCKED_OUT, WRONG_PASSWORD, ...).
   */
  async openSession(credential: Credential): Promise<{ token: string; session: Session }> {
    const token = randomBytes(32).toString('base64url')
    const request: CreateSessionRequest = {
      requestId: `portal-${randomUUID()}`,
      scope: credential.kind === 'admin-token' || (credential.kind === 'directory' && credential.scope === 'admin') ? SessionScope.SESSION_SCOPE_ADMIN : SessionScope.SESSION_SCOPE_WORKER,
      tokenSha256: createHash('sha256').update(token).digest('hex'),
      credential:
        credential.kind === 'pin'
          ? { $case: 'pin', value: { extension: credential.extension, pin: credential.pin } }
          : credential.kind === 'directory'
            ? { $case: 'directory', value: { username: credential.username, password: credential.password } }
            : { $case: 'adminToken', value: credential.token },
    }
    const { sessions } = this.client
    const response = await this.client.call(sessions.createSession.bind(sessions), request)
    if (response.session === undefined) throw new Error('CreateSession answered without a session')
    return { token, session: response.session }
  }

  /** The calls made for the person whose session `token` is. */
  as(token: string): SessionCalls {
    const headers = { [SESSION_HEADER]: token }
    const client = this.client
    return {
      call: <Req, Res>(pick: (c: RegistryClient) => UnaryMethod<Req, Res>, request: Req, timeoutMs?: number): Promise<Res> => client.call(pick(client), request, undefined, timeoutMs, headers),
      watchSeats: (signal: AbortSignal, onReconnect?: (error: unknown) => void): AsyncIterable<WatchSeatsResponse> => {
        const seats = client.seats
        const method: StreamMethod<{ afterRevision: string; siteId: string }, WatchSeatsResponse> = seats.watchSeats.bind(seats)
        return resumingWatch((afterRevision, s) => client.stream(method, { afterRevision, siteId: '' }, s, headers), {
          signal,
          backoff: { baseDelayMs: 200, maxDelayMs: 2_000 },
          ...(onReconnect === undefined ? {} : { onReconnect: (error: unknown) => onReconnect(error) }),
        })
      },
    }
  }

  close(): void {
    this.client.close()
  }
}
