import type { ChangeOutcome, TemplatePolicy } from '@flexseat/directory-sync'
import { type DirectoryChange, DirectoryChangeKind, ErrorCode, PolicyLevel, ReleaseReason } from '@flexseat/proto'
import type { Etcd3, IKeyValue } from 'etcd3'
import { USER_DIRECTORY_FIELDS, applyUser, fromDirectoryEntry, newDirectoryUserRecord, planCreateUser, planDeleteUser, planUpdateUser, validateUserFields } from './directory'
import { RegistryError, invalidArgument } from './errors'
import { type FencedWriter, TxnReader } from './fenced-writer'
import type { Keys } from './keys'
import { type Op, parseJson, prefixEnd } from './kv'
import type { UserRecord } from './records'
import { type SeatPolicyRecord, policyKey } from './seat-policy'
import type { SeatContext } from './seats'
import type { TxnLimits, TxnSize } from './txn-limits'
import * as v from './validate'

const DIRECTORY_FIELDS: ReadonlySet<string> = new Set(USER_DIRECTORY_FIELDS)

/**
 * Plans one change of the directory sync against the records read through `read`, with the
 * registry's own planners: the state the change wants, whatever happened before (a retry after a
 * fault of unknown outcome, a leader that died half-way, an administrator's edit):
 *
 * - CREATE / UPDATE / DISABLE: no user yet, the user is created (planCreateUser: the id, the
 *   extension and the home site are checked; no PIN), unless the entry is disabled; the user of
 *   this entry, its directory fields are set (planUpdateUser: a new extension moves the extension
 *   record and the seat follows it; disabling releases the seat, reason DIRECTORY); the same
 *   values, nothing is written (`unchanged`).
 * - DELETE: the user of this entry is removed (planDeleteUser, reason DIRECTORY); already gone,
 *   `unchanged`.
 * - A user the directory did not create (or created from another entry) is never touched: the
 *   change is a `conflict`, as is any domain error (a bad field, an extension taken by a device
 *   or another user, a home site that does not exist). A conflict writes nothing.
 */
export async function planDirectoryChange(ctx: SeatContext, change: DirectoryChange, read: TxnReader): Promise<{ ops: Op[]; outcome: ChangeOutcome }> {
  const { keys } = ctx
  const conflict = (reason: string, field?: string): { ops: Op[]; outcome: ChangeOutcome } => ({ ops: [], outcome: { result: 'conflict', reason, ...(field === undefined ? {} : { field }) } })
  try {
    v.id(change.userId, 'user_id')
    if (change.directoryKey === '' || change.directoryKey.length > 256) throw invalidArgument('directory_key', 'must be 1 to 256 characters')
  } catch (error) {
    if (error instanceof RegistryError) return conflict(error.message, error.facts.field)
    throw error
  }
  const current = await read.json<UserRecord>(keys.user(change.userId))
  const mine = current !== undefined && fromDirectoryEntry(current.value, change.directoryKey)
  if (current !== undefined && !mine) {
    return conflict(
      current.value.source === 'directory'
        ? `user id ${change.userId} belongs to another directory entry`
        : `user id ${change.userId} belongs to a user created by hand; the directory sync leaves it alone`,
    )
  }
  const released = (ops: Op[]): boolean => ops.some((op) => op.type === 'delete' && op.key === keys.seat(change.userId))

  if (change.kind === DirectoryChangeKind.DIRECTORY_CHANGE_KIND_DELETE) {
    if (current === undefined) return { ops: [], outcome: { result: 'unchanged' } }
    const plan = await planDeleteUser(ctx, change.userId, read, ReleaseReason.RELEASE_REASON_DIRECTORY, current)
    if (plan.outcome instanceof RegistryError) return conflict(plan.outcome.message)
    return { ops: plan.ops, outcome: { result: 'applied', seatReleased: released(plan.ops) } }
  }

  const user = change.user
  if (user === undefined) return conflict('the change carries no user')
  try {
    if (user.id !== change.userId) throw invalidArgument('user.id', 'must be the change\'s user_id')
    if (user.directoryKey !== change.directoryKey) throw invalidArgument('user.directory_key', 'must be the change\'s directory_key')
    validateUserFields(user, DIRECTORY_FIELDS)
  } catch (error) {
    if (error instanceof RegistryError) return conflict(error.message, error.facts.field)
    throw error
  }
  if (current === undefined) {
    if (user.disabled) return { ops: [], outcome: { result: 'unchanged' } }
    const plan = await planCreateUser(ctx, newDirectoryUserRecord(change.userId, user), read)
    if (plan.outcome instanceof RegistryError) return conflict(plan.outcome.message, plan.outcome.code === ErrorCode.ERROR_CODE_EXTENSION_TAKEN ? 'user.extension' : undefined)
    return { ops: plan.ops, outcome: { result: 'applied' } }
  }
  if (JSON.stringify(applyUser(current.value, user, DIRECTORY_FIELDS)) === JSON.stringify(current.value)) return { ops: [], outcome: { result: 'unchanged' } }
  const plan = await planUpdateUser(ctx, user, DIRECTORY_FIELDS, read, ReleaseReason.RELEASE_REASON_DIRECTORY, current)
  if (plan.outcome instanceof RegistryError) return conflict(plan.outcome.message, plan.outcome.code === ErrorCode.ERROR_CODE_EXTENSION_TAKEN ? 'user.extension' : undefined)
  return { ops: plan.ops, outcome: { result: 'applied', seatReleased: released(plan.ops) } }
}

/** The keys a change's plan reads first: fetched for a whole part in as few round trips as etcd allows. */
export function changeReads(keys: Keys, change: DirectoryChange): string[] {
  const wanted = [keys.user(change.userId), keys.seat(change.userId), keys.lockout(change.userId)]
  if (change.previousExtension !== '') wanted.push(keys.extension(change.previousExtension))
  if (change.user !== undefined) {
    if (change.user.extension !== '') wanted.push(keys.extension(change.user.extension))
    if (change.user.homeSiteId !== '') wanted.push(keys.site(change.user.homeSiteId))
  }
  return wanted
}

/**
 * What one change adds to its transaction at most (txn-limits.ts counts): the compares of the keys
 * its plan reads and its operations, by kind, and a bound of its bytes. A creation reads the
 * user, the home site and the extension and writes two records; an update also reads the seat and
 * the lockout and may move the extension and the seat; a disable or a removal may release a seat
 * (releaseOps: the desk's host, `revoking/`, the branch's lease key; the release record, the
 * revocation records, the seat's history record).
 */
export function changeCost(change: DirectoryChange): Partial<TxnSize> {
  const record = 64 * 16 + 4 * JSON.stringify(change.user ?? {}).length
  switch (change.kind) {
    case DirectoryChangeKind.DIRECTORY_CHANGE_KIND_CREATE:
      return { compares: 3, success: 2, bytes: 3 * 200 + record }
    case DirectoryChangeKind.DIRECTORY_CHANGE_KIND_UPDATE:
      return { compares: 5, success: 4, bytes: 9 * 200 + 2 * record }
    default:
      // The release also ends the seat's history record and puts its occupancy key (seat-history.ts).
      return { compares: 8, success: 10, bytes: 18 * 200 + 4 * record }
  }
}

/** What applying runs on. */
export interface DirectoryWritesOptions {
  ctx: SeatContext
  writer: FencedWriter
  /** For a dry run's reads. */
  etcd: Etcd3
  limits: TxnLimits
}

/**
 * Applies the changes in their order (see SyncTarget.apply). They are cut into runs in which no
 * two changes touch the same user or the same extension (the only records two users' changes
 * share; a change that frees an extension and one that takes it are in different runs, the first
 * committed before the second is planned); each run is written by the fenced writer's
 * applyInParts: parts that fit etcd's limits (txn-limits.ts), each its own fenced transaction, a
 * change never divided between two. A conflict writes nothing of its change and the rest goes on.
 * With `dryRun` every change is planned in order on one reader that sees the effects of the
 * changes before it, and nothing is written.
 */
export async function applyDirectoryChanges(o: DirectoryWritesOptions, changes: readonly DirectoryChange[], options: { dryRun: boolean; signal: AbortSignal }): Promise<ChangeOutcome[]> {
  const { keys } = o.ctx
  if (options.dryRun) return dryRun(o, changes, options.signal)
  const outcomes: ChangeOutcome[] = []
  for (const run of independentRuns(changes)) {
    if (options.signal.aborted) throw options.signal.reason
    const parts = await o.writer.applyInParts('directory sync', run, { perItem: changeCost }, async (read, part) => {
      if (options.signal.aborted) throw options.signal.reason
      await read.prefetch(part.flatMap((change) => changeReads(keys, change)))
      const ops: Op[] = []
      const planned: ChangeOutcome[] = []
      for (const change of part) {
        const plan = await planDirectoryChange(o.ctx, change, read)
        ops.push(...plan.ops)
        planned.push(plan.outcome)
      }
      return { ops, outcome: planned }
    })
    outcomes.push(...parts.flat())
  }
  return outcomes
}

/** Consecutive runs of changes in which no user id and no extension (old or new) comes twice. */
export function independentRuns(changes: readonly DirectoryChange[]): DirectoryChange[][] {
  const runs: DirectoryChange[][] = []
  let run: DirectoryChange[] = []
  let touched = new Set<string>()
  for (const change of changes) {
    const mine = [`user:${change.userId}`, ...[change.previousExtension, change.user?.extension ?? ''].filter((e) => e !== '').map((e) => `ext:${e}`)]
    if (mine.some((key) => touched.has(key))) {
      runs.push(run)
      run = []
      touched = new Set()
    }
    run.push(change)
    for (const key of mine) touched.add(key)
  }
  if (run.length > 0) runs.push(run)
  return runs
}

/** Changes planned per round trip of reads in a dry run. */
const DRY_RUN_CHUNK = 500

async function dryRun(o: DirectoryWritesOptions, changes: readonly DirectoryChange[], signal: AbortSignal): Promise<ChangeOutcome[]> {
  const reader = new DryRunReader(o.etcd, undefined, false, o.limits)
  const outcomes: ChangeOutcome[] = []
  for (let i = 0; i < changes.length; i += DRY_RUN_CHUNK) {
    if (signal.aborted) throw signal.reason
    const chunk = changes.slice(i, i + DRY_RUN_CHUNK)
    await reader.prefetch(chunk.flatMap((change) => changeReads(o.ctx.keys, change)))
    for (const change of chunk) {
      const plan = await planDirectoryChange(o.ctx, change, reader)
      reader.pretend(plan.ops)
      outcomes.push(plan.outcome)
    }
  }
  return outcomes
}

/** A reader that sees the records as the ops it was told of would have left them; for planning only. */
class DryRunReader extends TxnReader {
  readonly #overlay = new Map<string, IKeyValue | undefined>()

  override async get(key: string): Promise<IKeyValue | undefined> {
    return this.#overlay.has(key) ? this.#overlay.get(key) : super.get(key)
  }

  /** From now on, reads see `ops` applied. */
  pretend(ops: readonly Op[]): void {
    for (const op of ops) this.#overlay.set(op.key, op.type === 'delete' ? undefined : virtualKv(op.key, op.value))
  }
}

function virtualKv(key: string, value: unknown): IKeyValue {
  return {
    key: Buffer.from(key),
    value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
    create_revision: '0',
    mod_revision: '0',
    version: '1',
    lease: '0',
  }
}

/** One department policy the sync writes (`value`) or removes (no `value`). */
interface PolicyWrite {
  key: string
  value?: SeatPolicyRecord
}

/**
 * The department templates' sign-out policies (see SyncTarget.syncDepartmentPolicies): the sync
 * owns the department policies it wrote (their record names the template: `template`). Each
 * template that sets a policy is written as its department's policy, replacing one an
 * administrator set; a policy the sync wrote whose template no longer sets one (or is gone) is
 * removed; an administrator's policy of a department without such a template is left alone. Only
 * what differs is written, in fenced parts that fit etcd's limits (a compare and an op a
 * department), each key's revision compared, so a concurrent SetSeatPolicy fails one of them.
 */
export async function syncDepartmentPolicies(
  o: DirectoryWritesOptions,
  policies: ReadonlyMap<string, { template: string; policy: TemplatePolicy }>,
  options: { dryRun: boolean; signal: AbortSignal },
): Promise<{ written: number; removed: number }> {
  const { keys } = o.ctx
  const prefix = keys.policy('department', '')
  const stored = new Map<string, SeatPolicyRecord>()
  for (const kv of (await o.etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix) })).kvs) stored.set(kv.key.toString(), parseJson<SeatPolicyRecord>(kv))
  const writes: PolicyWrite[] = []
  for (const [department, { template, policy }] of policies) {
    const key = policyKey(keys, { level: PolicyLevel.POLICY_LEVEL_DEPARTMENT, id: department })
    const { none, ...settings } = policy
    const value: SeatPolicyRecord = { ...settings, ...(none === undefined ? {} : { none: [...none] }), template }
    if (JSON.stringify(stored.get(key)) !== JSON.stringify(value)) writes.push({ key, value })
  }
  const wanted = new Set(writes.map((w) => w.key).concat([...policies.keys()].map((d) => policyKey(keys, { level: PolicyLevel.POLICY_LEVEL_DEPARTMENT, id: d }))))
  for (const [key, record] of stored) if (record.template !== undefined && !wanted.has(key)) writes.push({ key })
  const count = { written: writes.filter((w) => w.value !== undefined).length, removed: writes.filter((w) => w.value === undefined).length }
  if (options.dryRun || writes.length === 0) return count
  await o.writer.applyInParts('directory sync: department policies', writes, { perItem: (w) => ({ compares: 1, success: 1, bytes: 2 * 200 + 2 * JSON.stringify(w.value ?? {}).length }) }, async (read, part) => {
    if (options.signal.aborted) throw options.signal.reason
    await read.prefetch(part.map((w) => w.key))
    const ops: Op[] = []
    for (const w of part) {
      // Read through the transaction: its revision is compared (a SetSeatPolicy in between fails this part, which is planned again).
      const current = await read.json<SeatPolicyRecord>(w.key)
      if (w.value !== undefined) ops.push({ type: 'put', key: w.key, value: w.value })
      else if (current?.value.template !== undefined) ops.push({ type: 'delete', key: w.key })
    }
    return { ops, outcome: undefined }
  })
  return count
}
