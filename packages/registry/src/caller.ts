import type { PinCheck } from './pin-check'

/** What a caller may do: administrators, SIP nodes (phone-side sign-in), read-only viewers, and
 * other registry instances forwarding writes to the leader. */
export type Role = 'admin' | 'sip-node' | 'viewer' | 'registry'

/** The authenticated party behind a call. The server layer passes the ORIGINAL caller when it
 * forwards a write to the leader, so the core sees who really asked. */
export interface Caller {
  readonly name: string
  readonly role: Role
  /**
   * The branch a SIP node acts for (from its token): set for the `sip-node` role, never for the
   * others. BranchService calls, phone credentials and sign-outs are confined to it (site-scope.ts).
   */
  readonly site?: string
  /**
   * The PIN verdict of the instance that forwarded this login (see pin-check.ts); set by the
   * authenticator only for calls whose direct caller has the registry role.
   */
  readonly pinCheck?: PinCheck
}
