import { ErrorCode } from '@flexseat/proto'
import type { Caller } from './caller'
import { RegistryError } from './errors'

/**
 * What a worker's portal session may touch: the worker's own seat, record, PIN and history. Its
 * role (`worker`, auth.ts) says which RPCs it may call, this file on whom; checked in the
 * handlers, on the instance that runs the call (the leader, for writes: the session is resolved
 * there again). Login and ChangePin are also checked inside their transactions, against the user
 * record they read (seats.ts, sessions.ts), so a renumbering racing the call cannot slip through.
 * Other callers pass.
 */
export function mustBeSelf(caller: Caller, target: { $case: string; value: string } | undefined, what: string): void {
  if (caller.role !== 'worker') return
  if (target?.$case === 'userId' && target.value === caller.session?.userId) return
  throw new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, `a worker's portal session ${what} of the worker only (give user_id ${caller.session?.userId ?? ''})`)
}

/** As {@link mustBeSelf}, for a request naming a user id. */
export function mustBeSelfId(caller: Caller, userId: string, what: string): void {
  mustBeSelf(caller, { $case: 'userId', value: userId }, what)
}
