import type { PinCheck } from './pin-check'

/** What a caller may do: administrators, SIP nodes (phone-side sign-in), provisioning services
 * (phones' files and the softkey sign-in), read-only viewers, other registry instances
 * forwarding writes to the leader, web portals (which alone may only open sessions), and the
 * workers a portal session proves (sessions.ts; never a role of the tokens file). */
export type Role = 'admin' | 'sip-node' | 'provisioning' | 'viewer' | 'registry' | 'portal' | 'worker'

/** Who a portal session proves (sessions.ts): the caller of every call that presents it. */
export interface SessionPrincipal {
  /** SHA-256 (hex) of the session token: the session's key. */
  readonly id: string
  readonly scope: 'worker' | 'admin'
  /** The worker (worker sessions). */
  readonly userId?: string
  /** What proved the owner when the session was opened. */
  readonly proof: 'pin' | 'directory' | 'token'
  /** The name of the portal credential the session belongs to. */
  readonly portal: string
  /** Who: the worker's user id, the administrator token's name or the directory username. */
  readonly name: string
  /** ISO times the session was opened and ends. */
  readonly createdAt: string
  readonly expiresAt: string
}

/** The authenticated party behind a call. The server layer passes the ORIGINAL caller when it
 * forwards a write to the leader, so the core sees who really asked. */
export interface Caller {
  readonly name: string
  readonly role: Role
  /**
   * The branch a SIP node or provisioning service acts for (from its token): set for the
   * `sip-node` and `provisioning` roles, never for the others. BranchService calls, phone
   * credentials, sign-outs and a provisioning service's phone reads are confined to it
   * (site-scope.ts).
   */
  readonly site?: string
  /**
   * The PIN verdict of the instance that forwarded this login (see pin-check.ts); set by the
   * authenticator only for calls whose direct caller has the registry role.
   */
  readonly pinCheck?: PinCheck
  /**
   * The session token a portal presented (metadata `x-flexseat-session`), before it is resolved:
   * set only on `portal` callers, whose calls the service layer resolves to the session's
   * principal before anything runs (service-handlers.ts).
   */
  readonly sessionToken?: string
  /** For a caller resolved from a portal session: the session (role `worker` or `admin`). */
  readonly session?: SessionPrincipal
}
