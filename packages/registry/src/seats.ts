import type { IRangeRequest } from 'etcd3'
import { type EffectiveSeatPolicy, ErrorCode, type LoginRequest, PolicyLevel, type LoginResponse, type LogoutResponse, ReleaseReason, type Seat } from '@flexseat/proto'
import { traceHeaders } from '@flexseat/telemetry'
import type { Caller } from './caller'
import { RegistryError } from './errors'
import type { TxnReader, WritePlan } from './fenced-writer'
import type { Keys } from './keys'
import { type Op, REQUEST_LEASE } from './kv'
import { DEFAULT_DESK_THROTTLE, type DeskThrottlePolicy, type DeskThrottleRecord, deskPausedUntil, deskThrottled, recordDeskFailure } from './desk-throttle'
import { type Lock, type LockoutPolicy, type LockoutRecord, lockFor, recordFailure, recordSuccess } from './lockout'
import { withPinEvent } from './pin-events'
import { verifyPin } from './pin-hash'
import type { ActivityRecord, DeviceRecord, PendingRecord, ReleaseRecord, RevocationIndexRecord, RevokingRecord, SeatRecord, SiteRecord, UserRecord } from './records'
import { seatEnd } from './seat-end'
import { type PolicyUnits, type SeatPolicyRecord, departmentKey, policyKey, resolvePolicy, seatDeadlines } from './seat-policy'
import { toSeat } from './records'
import type { PrefetchHints } from './prefetch-hints'
import { leaveRevocations, mergePending } from './revocations'
import { type HistoryPage, historyEnd, historyKey, historyPageOf, historyPageRead, historyStart, historyTrim } from './seat-history'

/** What seat planning needs besides the request. */
export interface SeatContext {
  keys: Keys
  lockout: LockoutPolicy
  /** Wrong PINs at one desk, for any workers (desk-throttle.ts; default DEFAULT_DESK_THROTTLE). */
  deskThrottle?: DeskThrottlePolicy
  now: () => number
  /** Where the leader last saw users sit, to fetch a login's keys in one round trip (optional). */
  hints?: PrefetchHints
  /**
   * The seat history's bound (seat-history.ts): a login deletes the oldest records beyond `size`
   * (it reads the worker's {@link HistoryPage}). Without it no login trims (records are still written).
   */
  history?: { size: number }
  /** How long a policy's hour and minute last (seat-policy.ts; default real time). */
  policyUnits?: PolicyUnits
}

/** Whose seat a logout or a lookup means. */
export type SeatTarget = { $case: 'userId'; value: string } | { $case: 'extension'; value: string } | { $case: 'deviceId'; value: string }

/** WRONG_PIN with the attempts left. */
/**
 * How a caller's Login signs a worker in, as the seat records it (`via`) and the sign-in metric
 * counts it: an administrator, a SIP node (a feature code at the phone), a provisioning service
 * (the softkey sign-in at the phone), or a worker's portal session.
 */
export function signInVia(caller: Caller): SeatRecord['via'] {
  return caller.role === 'admin' ? 'admin' : caller.role === 'provisioning' ? 'softkey' : caller.role === 'worker' ? 'portal' : 'phone'
}

export function wrongPin(attemptsLeft: number): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_WRONG_PIN, `wrong PIN; ${attemptsLeft} attempt(s) left`, { attemptsLeft })
}

/** LOCKED_OUT with the end of the lock. */
export function lockedOut(until: Date): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_LOCKED_OUT, `too many wrong PINs; locked until ${until.toISOString()}`, { lockedUntil: until })
}

/** LOCKED_AT_DESK with the end of the lock: the worker is locked at this desk only. */
export function lockedAtDesk(until: Date): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_LOCKED_AT_DESK, `too many wrong PINs for this worker at this desk; locked here until ${until.toISOString()} (other desks still accept the worker)`, {
    lockedUntil: until,
  })
}

/** The refusal of `lock` (lockout.ts): LOCKED_OUT everywhere, LOCKED_AT_DESK at one desk. */
export function lockRefusal(lock: Lock): RegistryError {
  return lock.scope === 'worker' ? lockedOut(lock.until) : lockedAtDesk(lock.until)
}

/**
 * Why `user` may not sign in (`withPin`: at a phone, proving it with a PIN; also the PIN change),
 * or undefined when they may: a disabled account (the company directory disabled it), or no PIN
 * set yet (the directory sync creates users without one). Checked before the PIN, so neither
 * counts towards the lockout.
 */
export function signInRefusal(user: UserRecord, withPin = true): RegistryError | undefined {
  if (user.disabled === true) return new RegistryError(ErrorCode.ERROR_CODE_USER_DISABLED, 'the worker\'s account is disabled in the company directory')
  if (withPin && user.pinHash === '') {
    return new RegistryError(ErrorCode.ERROR_CODE_NO_PIN, 'no PIN is set for this worker yet; an administrator sets one (flexseat user reset-pin)')
  }
  return undefined
}

function unknownExtension(): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, 'no user has this extension')
}

/**
 * The user who owns `extension`, read through the transaction. `alsoFetch` names keys of that
 * user to read in the same round trip as the user record (the owner's id is in the extension
 * record, so they need not wait for it).
 */
export async function userByExtension(
  read: TxnReader,
  keys: Keys,
  extension: string,
  alsoFetch: (userId: string) => string[] = () => [],
): Promise<{ value: UserRecord; revision: string } | undefined> {
  const owner = await read.get(keys.extension(extension))
  const text = owner?.value.toString('utf8')
  if (!text?.startsWith('user:')) return undefined
  const userId = text.slice('user:'.length)
  await read.prefetch([keys.user(userId), ...alsoFetch(userId)])
  return read.json<UserRecord>(keys.user(userId))
}

/**
 * The keys a login reads first, which the fenced writer fetches in the same round trip as the
 * request record: the extension, the device, the desk's host and, guessed from `hints` (what
 * the leader saw last), the user, their seat, lockout and released seat's outstanding
 * revocations (`revoking/<user>`), their old desk's host, the seat (and `revoking/`) of whoever
 * sits at the desk, the confirmation lease keys (`nodes/<site>`) of the sites of both desks
 * (a move away from a branch, or a bump, reads them), and what the seat's policy reads
 * ({@link effectivePolicy}: the desk's site record and the site's, the user's and the user's
 * department's policies). With right guesses a login is one read round trip and the
 * transaction; a wrong guess costs one more read (the plan reads what it needs), never more.
 */
export function loginPrefetch(keys: Keys, req: Pick<LoginRequest, 'extension' | 'deviceId' | 'pin'>, hints?: PrefetchHints): string[] {
  const wanted = [keys.extension(req.extension), keys.device(req.deviceId), keys.host(req.deviceId), ...(req.pin === '' ? [] : [keys.deskThrottle(req.deviceId)])]
  const userId = hints?.ownerOf(req.extension)
  const sites = new Set<string | undefined>()
  if (userId !== undefined) {
    wanted.push(keys.user(userId), keys.seat(userId), keys.revoking(userId))
    if (req.pin !== '') wanted.push(keys.lockout(userId))
    const desk = hints?.deskOf(userId)
    if (desk !== undefined && desk !== req.deviceId) {
      wanted.push(keys.host(desk))
      sites.add(hints?.siteOf(desk))
    }
  }
  const occupant = hints?.occupantOf(req.deviceId)
  if (occupant !== undefined && occupant !== userId) {
    wanted.push(keys.seat(occupant), keys.revoking(occupant))
    sites.add(hints?.siteOf(req.deviceId))
  }
  for (const site of sites) if (site !== undefined) wanted.push(keys.node(site))
  const deskSite = hints?.siteOf(req.deviceId)
  if (deskSite !== undefined && userId !== undefined) {
    const department = hints?.departmentOf(userId)
    if (department !== undefined) wanted.push(...policyKeys(keys, userId, department, deskSite))
  }
  return wanted
}

/** The keys {@link effectivePolicy} reads for a user (of `department`, '' for none) at a desk of `siteId`. */
function policyKeys(keys: Keys, userId: string, department: string, siteId: string): string[] {
  return [
    keys.site(siteId),
    policyKey(keys, { level: PolicyLevel.POLICY_LEVEL_SITE, id: siteId }),
    policyKey(keys, { level: PolicyLevel.POLICY_LEVEL_USER, id: userId }),
    ...(department.trim() === '' ? [] : [policyKey(keys, { level: PolicyLevel.POLICY_LEVEL_DEPARTMENT, id: departmentKey(department) })]),
  ]
}

/**
 * The range a login reads beside its first keys (the writer's first round trip, see
 * FencedWriter.write's `ranges`): the {@link HistoryPage} of the user the hints guess owns
 * the extension, so that the read the trim needs is neither one more round trip nor one more etcd
 * call. None without a guess (the plan then reads the page of the owner it found, beside its
 * other reads) or without a history bound.
 */
export function loginRanges(ctx: SeatContext, extension: string): IRangeRequest[] {
  const userId = ctx.hints?.ownerOf(extension)
  return userId === undefined || ctx.history === undefined ? [] : [historyPageRead(ctx.keys, userId)]
}

/** Deletes the revocation index keys of pending entries (a new seat drops them). */
export function pendingIndexDeletes(keys: Keys, userId: string, pending: readonly PendingRecord[] | undefined): Op[] {
  return (pending ?? []).map((p) => ({ type: 'delete', key: keys.revocation(p.siteId, userId) }))
}

/**
 * The effects of ending `seat` (held by `seat.userId` at epoch `epoch`) for `reason`: the seat,
 * the host key of its desk (unless `freeHost` is false: a bump puts it again), the release
 * record, the end of the seat's history record, and the revocations the seat leaves outstanding
 * for the worker's next seat ({@link leaveRevocations}: its pending branches, and its own branch
 * when that branch's node holds a confirmation lease). Every release goes through here: logout, expiry, bump, and the
 * directory's deletes of users and devices.
 */
export async function releaseOps(
  read: TxnReader,
  keys: Keys,
  seat: SeatRecord,
  epoch: string,
  reason: ReleaseReason,
  now: number,
  freeHost = true,
): Promise<Op[]> {
  const active = (seat.pending ?? []).length === 0
  await read.prefetch([...(freeHost ? [keys.host(seat.deviceId)] : []), keys.revoking(seat.userId), ...(active ? [keys.node(seat.siteId)] : [])])
  const ops: Op[] = [{ type: 'delete', key: keys.seat(seat.userId) }, ...(await leaveRevocations(read, keys, seat, epoch, now))]
  if (freeHost) {
    const host = await read.get(keys.host(seat.deviceId))
    if (host?.value.toString('utf8') === seat.userId) ops.push({ type: 'delete', key: keys.host(seat.deviceId) })
  }
  const record: ReleaseRecord = { reason, seat, epoch, at: new Date(now).toISOString() }
  // The reason only has to outlive the watchers catching up: it expires with the request records.
  ops.push({ type: 'put', key: keys.seatReleased(seat.userId), value: record, lease: REQUEST_LEASE })
  // The seat's history record gets its end in the same transaction (seat-history.ts).
  ops.push(...historyEnd(keys, seat, reason, now))
  return ops
}

/**
 * Checks `pin` of `user` at a desk as a sign-in at the phone does (a login, a renewal): first the
 * desk's own throttle (desk-throttle.ts: a paused desk checks no PIN at all), then the worker's
 * lockout, then the PIN against the stored hash. A wrong PIN returns the lockout's and the desk's
 * records to write with the refusal (`ops`); a right one the lockout's update (this desk's wrong
 * PINs forgotten, other desks' stand), to write with the rest.
 */
export async function checkPinAt(
  ctx: SeatContext,
  read: TxnReader,
  user: { value: UserRecord; revision: string },
  desk: { deviceId: string; siteId: string },
  pin: string,
  now: number,
  verify: (pin: string, hash: string, user: { id: string; revision: string }) => Promise<boolean>,
): Promise<{ ops: Op[]; refusal?: RegistryError }> {
  const { keys } = ctx
  const userId = user.value.id
  const where = { userId, deviceId: desk.deviceId, siteId: desk.siteId }
  const throttle = await read.json<DeskThrottleRecord>(keys.deskThrottle(desk.deviceId))
  const paused = deskPausedUntil(throttle?.value, now)
  if (paused) return { ops: [], refusal: withPinEvent(deskThrottled(paused, now), { kind: 'refused', reason: 'desk-paused', ...where, until: paused }) }
  const lockout = await read.json<LockoutRecord>(keys.lockout(userId))
  const locked = lockFor(lockout?.value, desk.deviceId, now)
  if (locked) {
    return { ops: [], refusal: withPinEvent(lockRefusal(locked), { kind: 'refused', reason: locked.scope === 'worker' ? 'worker-locked' : 'worker-locked-at-desk', ...where, until: locked.until }) }
  }
  if (!(await verify(pin, user.value.pinHash, { id: userId, revision: user.revision }))) {
    const failure = recordFailure(lockout?.value, now, ctx.lockout, desk.deviceId)
    const deskFailure = recordDeskFailure(throttle?.value, now, ctx.deskThrottle ?? DEFAULT_DESK_THROTTLE)
    const outcome = failure.lockedUntil ? lockedOut(failure.lockedUntil) : failure.deskLockedUntil ? lockedAtDesk(failure.deskLockedUntil) : wrongPin(failure.attemptsLeft)
    return {
      ops: [
        { type: 'put', key: keys.lockout(userId), value: failure.record },
        // On the request records' lease: the record goes a day after the desk's last wrong PIN.
        { type: 'put', key: keys.deskThrottle(desk.deviceId), value: deskFailure.record, lease: REQUEST_LEASE },
      ],
      refusal: withPinEvent(outcome, {
        kind: 'wrong-pin',
        ...where,
        attemptsLeft: failure.attemptsLeft,
        ...(failure.lockedUntil === undefined ? {} : { workerLockedUntil: failure.lockedUntil }),
        ...(failure.deskLockedUntil === undefined ? {} : { workerLockedAtDeskUntil: failure.deskLockedUntil }),
        ...(deskFailure.pausedUntil === undefined ? {} : { deskPausedUntil: deskFailure.pausedUntil }),
      }),
    }
  }
  if (!lockout) return { ops: [] }
  const kept = recordSuccess(lockout.value, now, ctx.lockout, desk.deviceId)
  return { ops: [kept === undefined ? { type: 'delete', key: keys.lockout(userId) } : { type: 'put', key: keys.lockout(userId), value: kept }] }
}

/**
 * Plans a login: checks the extension, the device, flex hosting, roaming, the lockout and the
 * PIN; then, in one transaction, moves the worker's seat to the device (the previous seat is
 * revoked) and bumps whoever sat there (a release: see {@link releaseOps}). The new seat is
 * pending on every other branch that may still act as the worker (invariant 4): those its
 * current seat was pending on, the branch a move leaves if its node holds a confirmation lease,
 * and those a released seat left outstanding in `revoking/<user>` ({@link pendingOfNewSeat}).
 * Wrong PINs write the lockout record (and are recorded as the request's outcome, so a retried
 * wrong PIN counts once). `verify` checks the PIN against the stored hash of the user record at
 * `revision` (default {@link verifyPin}). The worker's {@link HistoryPage} comes with the first
 * read when the hints guessed the owner ({@link loginRanges}), else is read beside the others.
 */
export async function planLogin(
  ctx: SeatContext,
  req: LoginRequest,
  caller: Caller,
  read: TxnReader,
  verify: (pin: string, hash: string, user: { id: string; revision: string }) => Promise<boolean> = verifyPin,
): Promise<WritePlan<LoginResponse>> {
  const { keys } = ctx
  // Round trips: 1. request record, extension, device, the desk's host, and what the hints
  // guess (loginPrefetch, by the writer); then only what the guess missed: 2. user, their seat,
  // their `revoking/` record, their lockout; 3. (a takeover or a bump) the old desk's host, the
  // occupant's seat and `revoking/` record, the lease keys of the sites left; then the
  // transaction. Each prefetch of keys already fetched costs nothing.
  // A worker's portal session is proven already (sessions.ts): no PIN, but the lockout applies.
  const session = caller.role === 'worker' ? caller.session : undefined
  const user = await userByExtension(read, keys, req.extension, (id) => [keys.seat(id), keys.revoking(id), ...(req.pin === '' && session === undefined ? [] : [keys.lockout(id)])])
  if (!user) return { ops: [], outcome: unknownExtension() }
  ctx.hints?.noteOwner(req.extension, user.value.id)
  ctx.hints?.noteDepartment(user.value.id, user.value.department)
  // Checked against the record read here (compared at commit): a session signs in its own worker only.
  if (session !== undefined && session.userId !== user.value.id) {
    return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'a worker\'s portal session signs in that worker only') }
  }
  // Read beside the rest: how many history records the worker has and the oldest keys (a new seat
  // may trim them). Read with the first read when the owner was guessed right, else now.
  const historyPage: Promise<HistoryPage> | undefined = ctx.history === undefined ? undefined : read.range(historyPageRead(keys, user.value.id)).then(historyPageOf)
  historyPage?.catch(() => undefined)
  const refused = signInRefusal(user.value, req.pin !== '')
  if (refused) return { ops: [], outcome: refused }
  const device = await read.json<DeviceRecord>(keys.device(req.deviceId))
  if (!device) return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, `no device "${req.deviceId}"`) }
  ctx.hints?.noteSite(req.deviceId, device.value.siteId)
  if (!device.value.flexHost) {
    return { ops: [], outcome: new RegistryError(ErrorCode.ERROR_CODE_NOT_FLEX_HOST, `device "${req.deviceId}" does not host flex workers`) }
  }
  const userId = user.value.id
  const now = ctx.now()
  const ops: Op[] = []
  // The lockout guards PIN guessing: an administrator signing a worker in without a PIN
  // neither meets it nor clears it; a worker's portal session meets it (a locked worker is locked
  // everywhere) without clearing it.
  if (req.pin !== '') {
    const checked = await checkPinAt(ctx, read, user, { deviceId: req.deviceId, siteId: device.value.siteId }, req.pin, now, verify)
    if (checked.refusal !== undefined) return { ops: checked.ops, outcome: checked.refusal }
    ops.push(...checked.ops)
  } else if (session !== undefined) {
    // A portal session takes the desk without a PIN, but not past a lock at that desk or everywhere.
    const locked = lockFor((await read.json<LockoutRecord>(keys.lockout(userId)))?.value, req.deviceId, now)
    if (locked) return { ops: [], outcome: lockRefusal(locked) }
  }
  // Checked after the PIN: the reply names the user's home site, which only the user (or an
  // administrator) may learn.
  if (!user.value.roamingAllowed && device.value.siteId !== user.value.homeSiteId) {
    return {
      ops,
      outcome: new RegistryError(ErrorCode.ERROR_CODE_ROAMING_NOT_ALLOWED, `the user may sit only at site "${user.value.homeSiteId}"`),
    }
  }

  let revoked: Seat | undefined
  const current = await read.json<SeatRecord>(keys.seat(userId))
  const revoking = await read.json<RevokingRecord>(keys.revoking(userId))
  const occupantNow = (await read.get(keys.host(req.deviceId)))?.value.toString('utf8')
  // Noted as planned: if the transaction fails, the next attempt reads (and notes) afresh.
  ctx.hints?.noteDesk(userId, req.deviceId)
  ctx.hints?.noteOccupant(req.deviceId, userId)
  if (current && current.value.deviceId !== req.deviceId) ctx.hints?.noteOccupant(current.value.deviceId, undefined)
  if (current) ctx.hints?.noteSite(current.value.deviceId, current.value.siteId)
  if (occupantNow !== undefined && occupantNow !== userId) ctx.hints?.noteDesk(occupantNow, undefined)
  const newSite = device.value.siteId
  // Invariant 4: leaving a branch whose SIP node holds a confirmation lease waits for it.
  const crossesSites = current !== undefined && current.value.deviceId !== req.deviceId && current.value.siteId !== newSite
  await read.prefetch([
    ...(current && current.value.deviceId !== req.deviceId ? [keys.host(current.value.deviceId)] : []),
    ...(occupantNow !== undefined && occupantNow !== userId ? [keys.seat(occupantNow), keys.revoking(occupantNow), keys.node(newSite)] : []),
    ...(crossesSites ? [keys.node(current.value.siteId)] : []),
  ])
  // The seat ends here: a move (or a new seat at the same desk) ends its history record.
  if (current) {
    const reason = current.value.deviceId === req.deviceId ? ReleaseReason.RELEASE_REASON_SIGNED_IN_AGAIN : ReleaseReason.RELEASE_REASON_MOVED
    ops.push(...historyEnd(keys, current.value, reason, now))
  }
  if (current && current.value.deviceId !== req.deviceId) {
    revoked = toSeat(current.value, current.revision)
    const oldHost = await read.get(keys.host(current.value.deviceId))
    if (oldHost?.value.toString('utf8') === userId) ops.push({ type: 'delete', key: keys.host(current.value.deviceId) })
  }
  let bumped: Seat | undefined
  const host = await read.get(keys.host(req.deviceId))
  const occupant = host?.value.toString('utf8')
  if (occupant !== undefined && occupant !== userId) {
    const theirs = await read.json<SeatRecord>(keys.seat(occupant))
    if (theirs) {
      bumped = toSeat(theirs.value, theirs.revision)
      // A released seat like any other (the desk's host key is put again below): until the
      // branch applies the bump, its node may still act as the bumped worker at this desk.
      ops.push(...(await releaseOps(read, keys, theirs.value, theirs.revision, ReleaseReason.RELEASE_REASON_BUMPED, now, false)))
    }
  }
  const pending = await pendingOfNewSeat(read, keys, userId, current, revoking, newSite, crossesSites, now, ops)
  // The seat's deadlines, from the effective policy of the worker at the desk's site (issue 19).
  const policy = await effectivePolicy(read, keys, user.value, newSite)
  const deadlines = seatDeadlines(policy, now, req.durationHours, ctx.policyUnits)
  const seat: SeatRecord = {
    userId,
    extension: user.value.extension,
    displayName: user.value.displayName,
    deviceId: req.deviceId,
    siteId: device.value.siteId,
    since: new Date(now).toISOString(),
    ...(deadlines.expiresAt === undefined ? {} : { expiresAt: deadlines.expiresAt }),
    via: signInVia(caller),
    ...(pending.length > 0 ? { pending } : {}),
    ...(deadlines.dailyAt === undefined ? {} : { dailyAt: deadlines.dailyAt, dailySignOut: deadlines.dailySignOut }),
    ...(deadlines.idleSeconds === undefined ? {} : { idleSeconds: deadlines.idleSeconds }),
    ...(deadlines.deferSeconds === undefined || (deadlines.expiresAt === undefined && deadlines.dailyAt === undefined && deadlines.idleSeconds === undefined) ? {} : { deferSeconds: deadlines.deferSeconds }),
    ...(deadlines.warnSeconds === undefined ? {} : { warnSeconds: deadlines.warnSeconds }),
  }
  ops.push({ type: 'put', key: keys.host(req.deviceId), value: userId })
  ops.push({ type: 'put', key: keys.seat(userId), value: seat })
  ops.push(historyStart(keys, seat))
  if (ctx.history !== undefined && historyPage !== undefined) {
    // The worker's records this plan puts: the new seat's start, and the end of the seat it replaces.
    const starting = historyKey(keys, seat)
    const ending = ops.flatMap((op) => (op.type === 'put' && op.key !== starting && op.key.startsWith(keys.seatHistory(userId)) ? [op.key] : []))
    ops.push(...historyTrim(await historyPage, ctx.history.size, ending, [starting]))
  }
  return { ops, outcome: { seat: toSeat(seat, '0'), revoked, bumped } }
}

/**
 * The pending revocations of `userId`'s new seat at `newSite` (invariant 4: a login, or a seated
 * phone moved to another site), given the current seat and `revoking/<user>` (what a released
 * seat left outstanding; normally only one of the two exists); pushes the changes of the index
 * keys and of `revoking/<user>` to `ops`.
 *
 * Entries for the new site are dropped (that branch's node applies the old seat's end and the
 * new seat in revision order, so it never acts on both), with their index keys; the others are
 * carried into the new seat, their index keys kept. `revoking/<user>` is deleted: its entries now
 * live in the seat. When the current seat was active and the move leaves its branch
 * (`crossesSites`) while that branch's node holds a confirmation lease (`nodes/<site>`, read
 * through the transaction so that a grant racing the login fails one of them), the new seat
 * also waits for that branch. A pending current seat was never acted on, so leaving it adds
 * nothing.
 */
export async function pendingOfNewSeat(
  read: TxnReader,
  keys: Keys,
  userId: string,
  current: { value: SeatRecord; revision: string } | undefined,
  revoking: { value: RevokingRecord; revision: string } | undefined,
  newSite: string,
  crossesSites: boolean,
  now: number,
  ops: Op[],
): Promise<PendingRecord[]> {
  const before = current?.value.pending ?? []
  const outstanding = mergePending(before, revoking?.value ?? [])
  let pending = outstanding.filter((p) => p.siteId !== newSite)
  ops.push(...pendingIndexDeletes(keys, userId, outstanding.filter((p) => p.siteId === newSite)))
  if (revoking) ops.push({ type: 'delete', key: keys.revoking(userId) })
  if (current && crossesSites && before.length === 0 && (await read.get(keys.node(current.value.siteId))) !== undefined) {
    // The sign-in's trace, when one is active: the old branch's node links its apply span to it.
    const traceParent = traceHeaders()['traceparent']
    const entry: PendingRecord = { siteId: current.value.siteId, deviceId: current.value.deviceId, epoch: current.revision, since: new Date(now).toISOString(), ...(traceParent === undefined ? {} : { traceParent }) }
    pending = mergePending(pending, [entry])
    const index: RevocationIndexRecord = { epoch: current.revision }
    ops.push({ type: 'put', key: keys.revocation(entry.siteId, userId), value: index })
  }
  return pending
}

/** Resolves a seat target to a user id, or a domain error when the user/device is unknown. */
export async function resolveTarget(read: TxnReader, keys: Keys, target: SeatTarget): Promise<string | undefined | RegistryError> {
  switch (target.$case) {
    case 'userId': {
      const user = await read.get(keys.user(target.value))
      return user ? target.value : new RegistryError(ErrorCode.ERROR_CODE_USER_NOT_FOUND, `no user "${target.value}"`)
    }
    case 'extension': {
      const user = await userByExtension(read, keys, target.value)
      return user ? user.value.id : unknownExtension()
    }
    case 'deviceId': {
      const device = await read.get(keys.device(target.value))
      if (!device) return new RegistryError(ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, `no device "${target.value}"`)
      return (await read.get(keys.host(target.value)))?.value.toString('utf8')
    }
  }
}

/** Plans a logout: releases the seat if there is one (idempotent: no seat, nothing released). */
export async function planLogout(ctx: SeatContext, target: SeatTarget, reason: ReleaseReason, read: TxnReader): Promise<WritePlan<LogoutResponse>> {
  const userId = await resolveTarget(read, ctx.keys, target)
  if (userId instanceof RegistryError) return { ops: [], outcome: userId }
  if (userId === undefined) return { ops: [], outcome: { released: undefined } }
  const seat = await read.json<SeatRecord>(ctx.keys.seat(userId))
  if (!seat) return { ops: [], outcome: { released: undefined } }
  const ops = await releaseOps(read, ctx.keys, seat.value, seat.revision, reason, ctx.now())
  return { ops, outcome: { released: toSeat(seat.value, seat.revision) } }
}

/**
 * The effective sign-out policy of `user` at a desk of `siteId` (seat-policy.ts), read through the
 * transaction: the site's record (its time zone) and the site's, department's and user's policies
 * (one round trip).
 */
export async function effectivePolicy(read: TxnReader, keys: Keys, user: UserRecord, siteId: string): Promise<EffectiveSeatPolicy> {
  const department = user.department.trim() === '' ? undefined : user.department
  const sitePolicy = policyKey(keys, { level: PolicyLevel.POLICY_LEVEL_SITE, id: siteId })
  const userPolicy = policyKey(keys, { level: PolicyLevel.POLICY_LEVEL_USER, id: user.id })
  const departmentPolicy = department === undefined ? undefined : policyKey(keys, { level: PolicyLevel.POLICY_LEVEL_DEPARTMENT, id: departmentKey(department) })
  await read.prefetch(policyKeys(keys, user.id, user.department, siteId))
  const site = await read.json<SiteRecord>(keys.site(siteId))
  return resolvePolicy({
    site: { id: siteId, timezone: site?.value.timezone || 'UTC', policy: (await read.json<SeatPolicyRecord>(sitePolicy))?.value },
    department: department === undefined || departmentPolicy === undefined ? undefined : { name: department, policy: (await read.json<SeatPolicyRecord>(departmentPolicy))?.value },
    user: { id: user.id, maxSeatHours: user.maxSeatHours, policy: (await read.json<SeatPolicyRecord>(userPolicy))?.value },
  })
}

/**
 * Plans the end of a seat by its policy (seat-end.ts): only the seat at `epoch`, and only once
 * its end has come (a later login of the same user is a new seat with its own deadlines; a call
 * in progress may have deferred it). The seat and `activity/<user>` are read through the
 * transaction, so a seat that changed, or a call that started, in between fails the commit and
 * the plan runs again; a seat already ended is a no-op: an end happens once, whichever leader
 * applies it.
 */
export async function planSeatEnd(ctx: SeatContext, userId: string, epoch: string, read: TxnReader): Promise<WritePlan<LogoutResponse>> {
  await read.prefetch([ctx.keys.seat(userId), ctx.keys.activity(userId)])
  const seat = await read.json<SeatRecord>(ctx.keys.seat(userId))
  const now = ctx.now()
  if (!seat || seat.revision !== epoch) return { ops: [], outcome: { released: undefined } }
  const end = seatEnd(seat.value, (await read.json<ActivityRecord>(ctx.keys.activity(userId)))?.value)
  if (end === undefined || end.at > now) return { ops: [], outcome: { released: undefined } }
  const ops = await releaseOps(read, ctx.keys, seat.value, seat.revision, end.reason, now)
  return { ops, outcome: { released: toSeat(seat.value, seat.revision) } }
}
