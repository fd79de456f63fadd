import { createHash } from 'node:crypto'
import type { Etcd3 } from 'etcd3'
import { type CreateSessionRequest, type CreateSessionResponse, ErrorCode, type Session, SessionProof, SessionScope } from '@flexseat/proto'
import type { PasswordCheck } from '@flexseat/directory-sync'
import type { Caller, SessionPrincipal } from './caller'
import { RegistryError, invalidArgument } from './errors'
import type { TxnReader, WritePlan } from './fenced-writer'
import type { Keys } from './keys'
import { type Op, parseJson, prefixEnd } from './kv'
import { type LockoutRecord, lockFor, recordFailure, recordSuccess } from './lockout'
import { withPinEvent } from './pin-events'
import type { UserRecord } from './records'
import { type SeatContext, lockedOut, signInRefusal, userByExtension, wrongPin } from './seats'
import * as v from './validate'

/**
 * The portal is no desk: its wrong PINs and directory passwords count as the desk-less path's
 * (lockout.ts, as `*52`'s), so guessing there locks the portal path after the per-desk count and
 * adds to the worker's cluster-wide count like any desk. Refused as LOCKED_OUT: the portal's own lock.
 */
const NO_DESK = ''

/**
 * The web portal's sessions (proto/flexseat/v1/session.proto): what a person proved, recorded by
 * the leader, presented by the portal with every call it makes for them.
 *
 * Stored at `sessions/<SHA-256 of the token>` (the portal chose the token; the registry never sees
 * it before the first call that presents it, and keeps only its hash), on a retention lease of
 * the longest session lifetime (etcd deletes what has ended), and checked at every call:
 *
 * - the session exists, has not expired (`expiresAt`, by this instance's clock), and is presented
 *   by the portal credential it was opened through;
 * - a worker's: the user still exists as the same record (its create revision: a user removed and
 *   created again under the same id is someone else), is not disabled, and for a PIN session still
 *   has the PIN it was opened with (a mark of the PIN hash: *52, ResetPin or the portal's own PIN
 *   change end it);
 * - an administrator's opened with a token: the token is still in the tokens file.
 *
 * Opening a worker's session counts wrong PINs and wrong directory passwords in the worker's
 * lockout record, in the same fenced transaction that writes the session, as a phone's *51 does.
 */

/** How long sessions last. */
export interface SessionPolicy {
  /** A worker's session, in seconds (FLEXSEAT_PORTAL_SESSION_SECONDS, default 8 h). */
  workerSeconds: number
  /** An administrator's, in seconds (FLEXSEAT_PORTAL_ADMIN_SESSION_SECONDS, default 1 h). */
  adminSeconds: number
}

export const DEFAULT_SESSIONS: Readonly<SessionPolicy> = Object.freeze({ workerSeconds: 8 * 3_600, adminSeconds: 3_600 })

/** The marker of the sessions' retention lease in `Op.lease` (the fenced writer resolves it). */
export const SESSION_LEASE = 'session'

/** Stored at `sessions/<id>`. */
export interface SessionRecord {
  scope: 'worker' | 'admin'
  /** Worker sessions: the worker. */
  userId?: string
  name: string
  proof: 'pin' | 'directory' | 'token'
  portal: string
  /** ISO times. */
  createdAt: string
  expiresAt: string
  /** Worker sessions: the create revision of `users/<id>` when the session was opened. */
  userCreated?: string
  /** PIN sessions: {@link pinMark} of the PIN hash the session was opened with. */
  pinMark?: string
}

/** What the company directory answers (LdapDirectory; tests may give a stand-in). */
export interface PasswordChecker {
  verifyPassword(username: string, password: string): Promise<PasswordCheck>
  isMember(dn: string, groupDn: string): Promise<boolean>
}

/** The session id of a token: SHA-256 in hex. */
export function sessionId(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** A short mark of a PIN hash: a session remembers which PIN it was opened with, never the hash. */
export function pinMark(pinHash: string): string {
  return createHash('sha256').update(pinHash).digest('hex').slice(0, 16)
}

const SHA256_HEX = /^[0-9a-f]{64}$/
const MAX_USERNAME = 256
const MAX_PASSWORD = 512

function invalidSession(message: string): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_SESSION_INVALID, message)
}

function wrongPassword(attemptsLeft?: number): RegistryError {
  return new RegistryError(
    ErrorCode.ERROR_CODE_WRONG_PASSWORD,
    attemptsLeft === undefined ? 'wrong username or password' : `wrong username or password; ${attemptsLeft} attempt(s) left`,
    attemptsLeft === undefined ? {} : { attemptsLeft },
  )
}

function disabledAccount(): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_USER_DISABLED, 'the account is disabled in the company directory')
}

function denied(message: string): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, message)
}

/** What was checked before the write (outside the transaction: an LDAP bind, a token). */
export type Proof =
  | { kind: 'pin'; extension: string; pin: string }
  | { kind: 'token'; name: string }
  | { kind: 'directory-admin'; username: string }
  /** `userId`: the worker the username names; `check`: the directory's answer (absent: not asked, the worker is locked). */
  | { kind: 'directory-worker'; userId: string; username: string; check: PasswordCheck | undefined }
  | { kind: 'refused'; error: RegistryError }

/** Options of {@link PortalSessions}. */
export interface PortalSessionsOptions {
  etcd: Etcd3
  keys: Keys
  ctx: SeatContext
  policy: SessionPolicy
  /** The company directory, where the directory sync is configured; `adminGroup` from its `portal.admin_group`. */
  directory?: { checker: PasswordChecker; adminGroup: string | undefined } | undefined
}

/** The sessions (see the file comment): validation, the checks before the write, the plans, resolution. */
export class PortalSessions {
  readonly #o: PortalSessionsOptions
  /** Refused administrators' directory sign-ins, per username, on this leader (not stored: a new leader starts counting afresh). */
  readonly #adminFailures = new RecentFailures(10_000)

  constructor(options: PortalSessionsOptions) {
    for (const [name, seconds] of Object.entries(options.policy)) {
      if (!Number.isInteger(seconds) || seconds < 60) throw new RangeError(`session ${name} must be a whole number of seconds >= 60: ${seconds}`)
    }
    this.#o = options
  }

  /** The longest a session lasts, in seconds (the retention of the session records). */
  get longestSeconds(): number {
    return Math.max(this.#o.policy.workerSeconds, this.#o.policy.adminSeconds)
  }

  /** Validates a CreateSession request: INVALID_ARGUMENT naming the field, nothing read. */
  validate(req: CreateSessionRequest): void {
    v.requestId(req.requestId)
    if (req.scope !== SessionScope.SESSION_SCOPE_WORKER && req.scope !== SessionScope.SESSION_SCOPE_ADMIN) throw invalidArgument('scope', 'must be WORKER or ADMIN')
    if (!SHA256_HEX.test(req.tokenSha256)) throw invalidArgument('token_sha256', 'must be 64 lower-case hex digits')
    const credential = req.credential
    switch (credential?.$case) {
      case 'pin':
        if (req.scope !== SessionScope.SESSION_SCOPE_WORKER) throw invalidArgument('pin', 'a PIN opens a worker\'s session only')
        v.extension(credential.value.extension, 'pin.extension')
        v.pin(credential.value.pin, 'pin.pin')
        return
      case 'directory': {
        const { username, password } = credential.value
        if (username.trim() === '' || username.length > MAX_USERNAME || /[\x00-\x1f\x7f]/.test(username)) throw invalidArgument('directory.username', `must be 1 to ${MAX_USERNAME} characters without control characters`)
        if (password === '' || password.length > MAX_PASSWORD) throw invalidArgument('directory.password', `must be 1 to ${MAX_PASSWORD} characters`)
        return
      }
      case 'adminToken':
        if (req.scope !== SessionScope.SESSION_SCOPE_ADMIN) throw invalidArgument('admin_token', 'an administrator token opens an administrator\'s session only')
        if (!/^[\x21-\x7e]{1,512}$/.test(credential.value)) throw invalidArgument('admin_token', 'must be 1 to 512 printable characters')
        return
      default:
        throw invalidArgument('credential', 'is required: pin, directory or admin_token')
    }
  }

  /**
   * What can be checked before the write, on the leader: an administrator token against the
   * tokens file (`adminName`); a directory password by an LDAP bind (the worker it must name
   * found first, and not asked at all while that worker is locked); an administrator's group
   * membership. Never throws for a wrong credential: that is a {@link Proof} of kind `refused`
   * (or, for a worker, counted by the plan).
   */
  async prove(req: CreateSessionRequest, adminName: (token: string) => string | undefined): Promise<Proof> {
    const credential = req.credential!
    if (credential.$case === 'pin') return { kind: 'pin', extension: credential.value.extension, pin: credential.value.pin }
    if (credential.$case === 'adminToken') {
      const name = adminName(credential.value)
      return name === undefined ? { kind: 'refused', error: denied('not an administrator token') } : { kind: 'token', name }
    }
    const directory = this.#o.directory
    if (directory === undefined) return { kind: 'refused', error: new RegistryError(ErrorCode.ERROR_CODE_NOT_CONFIGURED, 'no directory is configured: sign in with the extension and PIN') }
    const username = credential.value.username.trim()
    const password = credential.value.password
    if (req.scope === SessionScope.SESSION_SCOPE_ADMIN) {
      if (directory.adminGroup === undefined) return { kind: 'refused', error: denied('no administrators\' group is configured (portal.admin_group)') }
      // Bounded like a worker's sign-in: past the lockout's count of refusals in its window the
      // directory is not asked. A right password outside the group is refused as a wrong one, and
      // counted as one, so neither the answer nor the lock tells whether a password was right.
      const now = this.#o.ctx.now()
      const policy = this.#o.ctx.lockout
      const key = username.toLowerCase() // directory names compare without case: no fresh count per spelling
      const failures = this.#adminFailures.recent(key, now, policy.windowMs)
      if (failures.length >= policy.maxFailures) return { kind: 'refused', error: lockedOut(new Date(failures[0]! + policy.windowMs)) }
      const check = await this.#directoryCall(() => directory.checker.verifyPassword(username, password))
      if (!check.verified && check.reason === 'disabled') return { kind: 'refused', error: disabledAccount() }
      if (!check.verified || !(await this.#directoryCall(() => directory.checker.isMember(check.entry.dn, directory.adminGroup!)))) {
        this.#adminFailures.add(key, now)
        return { kind: 'refused', error: wrongPassword() }
      }
      return { kind: 'directory-admin', username }
    }
    const user = await this.#userByUsername(username)
    if (user === undefined) return { kind: 'refused', error: wrongPassword() }
    const lock = (await this.#o.etcd.kv.range({ key: Buffer.from(this.#o.keys.lockout(user.id)) })).kvs[0]
    // A locked worker's password is not tried: the plan answers LOCKED_OUT.
    if (lockFor(lock === undefined ? undefined : parseJson<LockoutRecord>(lock), NO_DESK, this.#o.ctx.now())) return { kind: 'directory-worker', userId: user.id, username, check: undefined }
    const check = await this.#directoryCall(() => directory.checker.verifyPassword(username, password))
    return { kind: 'directory-worker', userId: user.id, username, check }
  }

  /** A directory that cannot be asked is UNAVAILABLE (the directory sync's own errors say why, never the password). */
  async #directoryCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (error) {
      throw new RegistryError(ErrorCode.ERROR_CODE_UNAVAILABLE, `the directory cannot be asked now: ${(error as Error).message}`, { retryAfterMs: 2_000 }, { cause: error })
    }
  }

  /**
   * The worker whose directory username is `username` (ignoring case): the user whose id is it
   * in lower case (what the directory sync names new users) when its username matches, else
   * the first of a scan of the users.
   */
  async #userByUsername(username: string): Promise<UserRecord | undefined> {
    const { etcd, keys } = this.#o
    const wanted = username.toLowerCase()
    const matches = (record: UserRecord): boolean => (record.username ?? '').toLowerCase() === wanted
    if (v.ID_PATTERN.test(wanted)) {
      const kv = (await etcd.kv.range({ key: Buffer.from(keys.user(wanted)) })).kvs[0]
      const record = kv === undefined ? undefined : parseJson<UserRecord>(kv)
      if (record !== undefined && matches(record)) return record
    }
    let from = Buffer.from(keys.users)
    const end = prefixEnd(keys.users)
    for (;;) {
      const res = await etcd.kv.range({ key: from, range_end: end, limit: '500' })
      for (const kv of res.kvs) {
        const record = parseJson<UserRecord>(kv)
        if (matches(record)) return record
      }
      if (!res.more || res.kvs.length === 0) return undefined
      from = Buffer.concat([res.kvs.at(-1)!.key, Buffer.from([0])])
    }
  }

  /**
   * Plans the session's write: for a worker, the same checks as a phone's sign-in (the extension,
   * a disabled account, no PIN set, the lockout, the PIN or the directory's answer); a wrong one
   * counts towards the lockout (and is the request's recorded outcome, so a retry counts once),
   * a right one clears the failures counted. `verify` checks a PIN against the hash of the user
   * record at `revision` (the login's, with a forwarded verdict).
   */
  async plan(
    req: CreateSessionRequest,
    proof: Proof,
    caller: Caller,
    read: TxnReader,
    verify: (pin: string, hash: string, user: { id: string; revision: string }) => Promise<boolean>,
  ): Promise<WritePlan<CreateSessionResponse>> {
    if (proof.kind === 'refused') return { ops: [], outcome: proof.error }
    const { keys, ctx } = this.#o
    const key = keys.session(req.tokenSha256)
    if (await read.get(key)) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_ALREADY_EXISTS, 'a session has this token already') }
    const now = ctx.now()
    const ops: Op[] = []
    let record: SessionRecord
    const times = (seconds: number): Pick<SessionRecord, 'createdAt' | 'expiresAt'> => ({ createdAt: new Date(now).toISOString(), expiresAt: new Date(now + seconds * 1_000).toISOString() })
    if (proof.kind === 'token' || proof.kind === 'directory-admin') {
      record = { scope: 'admin', name: proof.kind === 'token' ? proof.name : proof.username, proof: proof.kind === 'token' ? 'token' : 'directory', portal: caller.name, ...times(this.#o.policy.adminSeconds) }
    } else {
      const user = proof.kind === 'pin' ? await userByExtension(read, keys, proof.extension, (id) => [keys.lockout(id)]) : await read.json<UserRecord>(keys.user(proof.userId))
      if (!user) return { ops: [], outcome: proof.kind === 'pin' ? new RegistryError(ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, 'no user has this extension') : wrongPassword() }
      const userId = user.value.id
      if (proof.kind === 'directory-worker' && (user.value.username ?? '').toLowerCase() !== proof.username.toLowerCase()) return { ops: [], outcome: wrongPassword() }
      const refused = signInRefusal(user.value, proof.kind === 'pin')
      if (refused) return { ops: [], outcome: refused }
      const lockout = await read.json<LockoutRecord>(keys.lockout(userId))
      const locked = lockFor(lockout?.value, NO_DESK, now)
      if (locked) {
        // Counted like a locked worker's *51 (PinTelemetry): only for a PIN, a password is not one.
        const refusal = lockedOut(locked.until)
        return { ops: [], outcome: proof.kind === 'pin' ? withPinEvent(refusal, { kind: 'refused', reason: locked.scope === 'worker' ? 'worker-locked' : 'worker-locked-at-desk', userId, deviceId: '', siteId: '', until: locked.until }) : refusal }
      }
      let right: boolean
      if (proof.kind === 'pin') {
        right = await verify(proof.pin, user.value.pinHash, { id: userId, revision: user.revision })
      } else {
        const check = proof.check
        // Not asked (the worker was locked when the plan began, and no longer is): ask again.
        if (check === undefined) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_CONFLICT, 'the lockout changed meanwhile; retry', { retryAfterMs: 50 }) }
        if (!check.verified && check.reason === 'disabled') return { ops: [], outcome: disabledAccount() }
        // Only a refused bind is a wrong password; an entry the directory does not have (or has
        // twice) is a refusal that counts nothing: no password was tried.
        if (!check.verified && check.reason !== 'wrong') return { ops: [], outcome: wrongPassword() }
        // The entry must be this worker's: a directory user by its key, another by its username.
        right = check.verified && (user.value.source !== 'directory' || check.entry.key === user.value.directoryKey)
        if (check.verified && !right) return { ops: [], outcome: wrongPassword() }
      }
      if (!right) {
        const failure = recordFailure(lockout?.value, now, ctx.lockout, NO_DESK)
        const until = failure.lockedUntil ?? failure.deskLockedUntil
        const outcome = until ? lockedOut(until) : proof.kind === 'pin' ? wrongPin(failure.attemptsLeft) : wrongPassword(failure.attemptsLeft)
        return {
          ops: [{ type: 'put', key: keys.lockout(userId), value: failure.record }],
          // A wrong PIN at the portal is counted and logged as at a desk (flexseat_pin_*), with no
          // desk or site, as ChangePin's (the portal serves every branch).
          outcome:
            proof.kind !== 'pin'
              ? outcome
              : withPinEvent(outcome, {
                  kind: 'wrong-pin',
                  userId,
                  deviceId: '',
                  siteId: '',
                  attemptsLeft: failure.attemptsLeft,
                  ...(failure.lockedUntil === undefined ? {} : { workerLockedUntil: failure.lockedUntil }),
                  ...(failure.deskLockedUntil === undefined ? {} : { workerLockedAtDeskUntil: failure.deskLockedUntil }),
                }),
        }
      }
      if (lockout) {
        const kept = recordSuccess(lockout.value, now, ctx.lockout, NO_DESK)
        ops.push(kept === undefined ? { type: 'delete', key: keys.lockout(userId) } : { type: 'put', key: keys.lockout(userId), value: kept })
      }
      const created = await read.get(keys.user(userId))
      record = {
        scope: 'worker',
        userId,
        name: userId,
        proof: proof.kind === 'pin' ? 'pin' : 'directory',
        portal: caller.name,
        ...times(this.#o.policy.workerSeconds),
        userCreated: created?.create_revision ?? '0',
        ...(proof.kind === 'pin' ? { pinMark: pinMark(user.value.pinHash) } : {}),
      }
    }
    ops.push({ type: 'put', key, value: record, lease: SESSION_LEASE })
    return { ops, outcome: { session: toSession(record) } }
  }

  /**
   * The caller a portal's call acts as: the principal of the session `token` presents (see the
   * file comment for what is checked). `portal` names the portal credential presenting it;
   * `hasAdmin` says whether the tokens file still has an admin token of a name.
   * Throws SESSION_INVALID.
   */
  async resolve(token: string, portal: string, hasAdmin: (name: string) => boolean): Promise<Caller> {
    const { etcd, keys, ctx } = this.#o
    const id = sessionId(token)
    const kv = (await etcd.kv.range({ key: Buffer.from(keys.session(id)) })).kvs[0]
    if (kv === undefined) throw invalidSession('no such session (it ended or never began)')
    const record = parseJson<SessionRecord>(kv)
    if (record.portal !== portal) throw invalidSession('the session belongs to another portal')
    if (Date.parse(record.expiresAt) <= ctx.now()) throw invalidSession('the session has expired')
    const session: SessionPrincipal = {
      id,
      scope: record.scope,
      ...(record.userId === undefined ? {} : { userId: record.userId }),
      proof: record.proof,
      portal: record.portal,
      name: record.name,
      createdAt: record.createdAt,
      expiresAt: record.expiresAt,
    }
    if (record.scope === 'admin') {
      if (record.proof === 'token' && !hasAdmin(record.name)) throw invalidSession('the administrator token is no longer valid')
      return { name: record.name, role: 'admin', session }
    }
    const userKv = (await etcd.kv.range({ key: Buffer.from(keys.user(record.userId ?? '')) })).kvs[0]
    if (userKv === undefined || userKv.create_revision !== record.userCreated) throw invalidSession('the worker no longer exists')
    const user = parseJson<UserRecord>(userKv)
    if (user.disabled === true) throw invalidSession('the worker\'s account is disabled')
    if (record.proof === 'pin' && pinMark(user.pinHash) !== record.pinMark) throw invalidSession('the PIN changed: sign in again')
    return { name: user.id, role: 'worker', session }
  }

  /** Plans EndSession: the caller's session is deleted (nothing when it is gone already). */
  async planEnd(caller: Caller, read: TxnReader): Promise<{ ops: Op[]; outcome: undefined }> {
    if (caller.session === undefined) throw invalidSession('the call presents no session')
    const key = this.#o.keys.session(caller.session.id)
    return { ops: (await read.get(key)) === undefined ? [] : [{ type: 'delete', key }], outcome: undefined }
  }
}

/** The API view of a session. */
export function toSession(record: Pick<SessionRecord, 'scope' | 'userId' | 'name' | 'proof' | 'portal' | 'createdAt' | 'expiresAt'>): Session {
  return {
    scope: record.scope === 'admin' ? SessionScope.SESSION_SCOPE_ADMIN : SessionScope.SESSION_SCOPE_WORKER,
    userId: record.userId ?? '',
    name: record.name,
    proof: record.proof === 'pin' ? SessionProof.SESSION_PROOF_PIN : record.proof === 'directory' ? SessionProof.SESSION_PROOF_DIRECTORY : SessionProof.SESSION_PROOF_TOKEN,
    createdAt: new Date(record.createdAt),
    expiresAt: new Date(record.expiresAt),
    portal: record.portal,
  }
}

/**
 * Plans a worker's PIN set through a portal session opened with the directory password (ChangePin
 * without the old PIN): `extension` must be the session's worker's, who must not be disabled; the
 * new hash is stored and the lockout cleared, as ResetPin does. The company password, a stronger
 * credential than the PIN, proved the worker.
 */
export async function planOwnPin(keys: Keys, userId: string, extension: string, newHash: string, read: TxnReader): Promise<WritePlan<Record<string, never>>> {
  const user = await read.json<UserRecord>(keys.user(userId))
  if (!user) return { ops: [], outcome: invalidSession('the worker no longer exists') }
  if (user.value.extension !== extension) return { ops: [], outcome: denied('a worker\'s portal session changes that worker\'s PIN only') }
  const refused = signInRefusal(user.value, false)
  if (refused) return { ops: [], outcome: refused }
  return {
    ops: [
      { type: 'put', key: keys.user(userId), value: { ...user.value, pinHash: newHash } },
      { type: 'delete', key: keys.lockout(userId) },
    ],
    outcome: {},
  }
}

/**
 * Times of recent failures per key, bounded in keys (the oldest key forgotten first) and in times
 * per key (the newest kept), for a count over a sliding window.
 */
class RecentFailures {
  readonly #times = new Map<string, number[]>()
  constructor(private readonly maxKeys: number, private readonly maxPerKey = 64) {}

  /** The failures of `key` within `windowMs` of `now`, oldest first. */
  recent(key: string, now: number, windowMs: number): number[] {
    const kept = (this.#times.get(key) ?? []).filter((t) => t > now - windowMs)
    if (kept.length === 0) this.#times.delete(key)
    else this.#times.set(key, kept)
    return kept
  }

  add(key: string, now: number): void {
    const times = this.#times.get(key) ?? []
    this.#times.delete(key)
    this.#times.set(key, [...times, now].slice(-this.maxPerKey))
    while (this.#times.size > this.maxKeys) this.#times.delete(this.#times.keys().next().value!)
  }
}
