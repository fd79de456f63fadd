import { createHash } from 'node:crypto'
import { type Etcd3, EtcdLeaseInvalidError, type IKeyValue } from 'etcd3'
import {
  CallDirection,
  type CallRecord,
  ErrorCode,
  type ListCallsRequest,
  type ListCallsResponse,
  type ReportCallsRequest,
  type ReportCallsResponse,
} from '@flexseat/proto'
import type { Logger } from 'pino'
import type { Caller } from './caller'
import { mustActFor } from './site-scope'
import { RegistryError, invalidArgument } from './errors'
import type { FencedWriter, TxnReader } from './fenced-writer'
import type { Keys } from './keys'
import { type Op, parseJson, prefixEnd, prefixUnchangedSince } from './kv'
import type { DeviceRecord, SeatRecord, UserRecord } from './records'
import { ENTRY_OVERHEAD_BYTES, readGroups, type TxnLimits, type TxnSize } from './txn-limits'
import { RetentionLease } from './retention-lease'
import * as v from './validate'

/**
 * The central call list (Auerswald COMtrexx's call lists that follow the user): each worker's
 * calls, as the branches' SIP nodes report them, bounded per worker and kept no longer than a
 * retention (proto/flexseat/v1/call_list.proto).
 *
 * Layout: one key per call, `calls/<user>/<13-digit ms of started_at>-<16 hex of sha256(record
 * id)>`, so a worker's keys sort by time and a record reported again lands on the key it already
 * has (idempotence without a request record: the batch of a report is cut into several
 * transactions, and each record decides on its own). Every key is put on a retention lease: etcd
 * itself deletes a call at most `retention + retention/24` (≤ 1 h more) after it was written,
 * and no read returns one older than the retention.
 *
 * Writing (leader only): the records of a report are grouped per worker; each worker's share
 * reads the worker's record and the keys of their list in the same round trip as the others of
 * its part, and writes the new calls that are among the newest `size` and deletes those pushed
 * out, all in one fenced transaction per part that compares the user record and the list's key
 * range (a concurrent report for the same worker retries on fresh reads). Parts are cut by etcd's
 * limits through the shared splitter ({@link FencedWriter.applyInParts}, txn-limits.ts).
 */

/** The bound and the retention of every worker's list. */
export interface CallListPolicy {
  /** Calls kept per worker (FLEXSEAT_CALL_LIST_SIZE, default 50). */
  size: number
  /** How long a call is kept, in seconds (FLEXSEAT_CALL_LIST_RETENTION_SECONDS, default 90 days). */
  retentionSeconds: number
}

/** COMtrexx's central call list holds 50 entries; 90 days is a common retention for call records. */
export const DEFAULT_CALL_LIST: CallListPolicy = Object.freeze({ size: 50, retentionSeconds: 90 * 86_400 })
/** Records per ReportCalls call at most. */
export const MAX_CALLS_PER_REPORT = 1_000
/** How far ahead of the registry's clock a call may start (clocks of nodes differ a little). */
const MAX_AHEAD_MS = 3_600_000
/** A call lasts at most a week, as far as the list is concerned. */
const MAX_DURATION_SECONDS = 7 * 86_400
/** Extra deletions a worker's share may make beyond those its new calls cause (a lowered bound, expired calls). */
const EXTRA_TRIM = 16
/** An upper bound of a stored call's JSON (its text fields are limited by validation). */
const RECORD_BYTES = 1_200
/** An upper bound of a call key's length (prefix excluded). */
const KEY_BYTES = 400

/** Stored at `calls/<user>/<time>-<hash>`. */
interface CallEntryRecord {
  recordId: string
  direction: 'in' | 'out'
  /** ISO time. */
  startedAt: string
  otherParty: string
  otherPartyName: string
  answered: boolean
  durationSeconds: number
  siteId: string
  deviceId: string
  /** The site of the node that reported it (for operators reading etcd). */
  reportedBy: string
}

/** A validated record, with its key suffix. */
interface ValidCall {
  userId: string
  /** `<13-digit ms>-<16 hex>`: the key under the worker's list. */
  suffix: string
  at: number
  record: CallEntryRecord
}

/** Options of {@link CallList}. */
export interface CallListOptions {
  etcd: Etcd3
  keys: Keys
  writer: FencedWriter
  /** The registry's wall clock (retention, the ahead check). */
  clock: () => number
  policy: CallListPolicy
  limits: TxnLimits
  logger: Logger
}

/**
 * The call list of every worker (see the file comment). {@link report} runs on the leader only
 * (the caller checks leadership); {@link list} on any instance.
 */
export class CallList {
  readonly #o: CallListOptions
  readonly #lease: RetentionLease

  constructor(options: CallListOptions) {
    if (!Number.isInteger(options.policy.size) || options.policy.size < 1) throw new RangeError(`call list size must be a whole number >= 1: ${options.policy.size}`)
    this.#o = options
    this.#lease = new RetentionLease(options.etcd, options.policy.retentionSeconds)
  }

  /** Releases the retention lease handle (the lease itself lives on in etcd). */
  stop(): void {
    this.#lease.close()
  }

  /** The bound and retention in force. */
  get policy(): CallListPolicy {
    return this.#o.policy
  }

  /**
   * Validates a ReportCalls request (INVALID_ARGUMENT naming the field; nothing read or
   * written) and whether `caller` may report for its site.
   */
  validate(req: ReportCallsRequest, caller: Caller): ValidCall[] {
    v.id(req.siteId, 'site_id')
    v.id(req.nodeId, 'node_id')
    // A node reports for its own site only (site-scope.ts: its token names the site).
    mustActFor(caller, req.siteId)
    if (req.calls.length > MAX_CALLS_PER_REPORT) throw invalidArgument('calls', `at most ${MAX_CALLS_PER_REPORT} per call`)
    const now = this.#o.clock()
    const seen = new Set<string>()
    return req.calls.map((call, i) => {
      const f = `calls[${i}]`
      v.requestId(call.recordId, `${f}.record_id`)
      v.id(call.userId, `${f}.user_id`)
      if (call.direction !== CallDirection.CALL_DIRECTION_INCOMING && call.direction !== CallDirection.CALL_DIRECTION_OUTGOING) {
        throw invalidArgument(`${f}.direction`, 'must be INCOMING or OUTGOING')
      }
      const startedAt = call.startedAt
      if (startedAt === undefined) throw invalidArgument(`${f}.started_at`, 'is required')
      const at = startedAt.getTime()
      if (!Number.isFinite(at) || at < 0) throw invalidArgument(`${f}.started_at`, 'is not a valid time')
      if (at > now + MAX_AHEAD_MS) throw invalidArgument(`${f}.started_at`, 'must be at most an hour ahead')
      if (call.otherParty.length > 64) throw invalidArgument(`${f}.other_party`, 'must be at most 64 characters')
      v.text(call.otherParty, `${f}.other_party`)
      v.text(call.otherPartyName, `${f}.other_party_name`)
      if (!Number.isInteger(call.durationSeconds) || call.durationSeconds > MAX_DURATION_SECONDS) throw invalidArgument(`${f}.duration_seconds`, `must be 0 to ${MAX_DURATION_SECONDS}`)
      if (!call.answered && call.durationSeconds !== 0) throw invalidArgument(`${f}.duration_seconds`, 'must be 0 for a call not answered')
      if (call.siteId !== '') v.id(call.siteId, `${f}.site_id`)
      if (call.deviceId !== '') v.id(call.deviceId, `${f}.device_id`)
      const suffix = `${String(at).padStart(13, '0')}-${createHash('sha256').update(call.recordId).digest('hex').slice(0, 16)}`
      const key = `${call.userId}/${suffix}`
      if (seen.has(key)) throw invalidArgument(`${f}.record_id`, `record "${call.recordId}" is listed twice`)
      seen.add(key)
      return {
        userId: call.userId,
        suffix,
        at,
        record: {
          recordId: call.recordId,
          direction: call.direction === CallDirection.CALL_DIRECTION_INCOMING ? 'in' : 'out',
          startedAt: new Date(at).toISOString(),
          otherParty: call.otherParty,
          otherPartyName: call.otherPartyName,
          answered: call.answered,
          durationSeconds: call.answered ? call.durationSeconds : 0,
          siteId: call.siteId,
          deviceId: call.deviceId,
          reportedBy: req.siteId,
        },
      }
    })
  }

  /**
   * Stores validated calls (leader only): per worker, the newest `size` of their list and the new
   * calls are kept, the rest deleted; calls of users that do not exist, calls past the retention
   * and calls stored before are skipped. Resolves to the number stored.
   */
  async report(calls: readonly ValidCall[]): Promise<ReportCallsResponse> {
    const { policy, limits, writer } = this.#o
    const cutoff = this.#o.clock() - policy.retentionSeconds * 1_000
    const live = calls.filter((call) => call.at > cutoff)
    if (live.length === 0) return { stored: 0 }
    // Per worker, only the newest `size` can stay; shares of at most `chunk` calls, so that a
    // share's operations (a put and at most one deletion per call, plus EXTRA_TRIM) fit etcd's
    // limit even alone. Several shares of one worker in one part are planned together.
    const chunk = Math.max(1, Math.floor((limits.maxTxnOps - EXTRA_TRIM) / 2))
    const byUser = new Map<string, ValidCall[]>()
    for (const call of live) byUser.set(call.userId, [...(byUser.get(call.userId) ?? []), call])
    const shares: ValidCall[][] = []
    for (const list of byUser.values()) {
      const newest = list.sort((a, b) => (a.suffix < b.suffix ? 1 : -1)).slice(0, policy.size)
      for (let i = 0; i < newest.length; i += chunk) shares.push(newest.slice(i, i + chunk))
    }
    // The user record and the list's key range are compared; a put per call, a deletion per call
    // it pushes out, and a few more for a lowered bound or expired calls.
    const perItem = (share: ValidCall[]): Partial<TxnSize> => ({
      compares: 2,
      success: 2 * share.length + EXTRA_TRIM,
      bytes: 2 * ENTRY_OVERHEAD_BYTES + share.length * (RECORD_BYTES + 2 * (KEY_BYTES + ENTRY_OVERHEAD_BYTES)) + EXTRA_TRIM * (KEY_BYTES + ENTRY_OVERHEAD_BYTES),
    })
    const write = async (): Promise<number[]> => {
      const lease = await this.#lease.id()
      return writer.applyInParts('report calls', shares, { perItem }, (read, part) => this.#plan(read, part, lease, cutoff))
    }
    let stored: number[]
    try {
      stored = await write()
    } catch (error) {
      // The lease is gone (etcd lost it, or it was revoked): a new one, and once more.
      if (!(error instanceof RegistryError) || !((error.cause ?? undefined) instanceof EtcdLeaseInvalidError)) throw error
      this.#lease.close()
      stored = await write()
    }
    const total = stored.reduce((sum, n) => sum + n, 0)
    this.#o.logger.debug({ calls: calls.length, stored: total, users: byUser.size, parts: stored.length }, 'calls reported')
    return { stored: total }
  }

  async #plan(read: TxnReader, part: readonly ValidCall[][], lease: string, cutoff: number): Promise<{ ops: Op[]; outcome: number }> {
    const { keys, policy } = this.#o
    const byUser = new Map<string, ValidCall[]>()
    for (const share of part) for (const call of share) byUser.set(call.userId, [...(byUser.get(call.userId) ?? []), call])
    const users = [...byUser.keys()]
    await read.prefetch(users.map((id) => keys.user(id)))
    const lists = await this.#listKeys(users)
    const ops: Op[] = []
    let stored = 0
    for (const [userId, calls] of byUser) {
      // The user is read (a compare): calls of a user deleted meanwhile are not stored under
      // their id for a later user of the same id to see.
      if (!(await read.get(keys.user(userId)))) continue
      const prefix = keys.calls(userId)
      const existing = lists.get(userId)!
      read.compares.push(prefixUnchangedSince(prefix, existing.revision))
      const have = new Set(existing.suffixes)
      const fresh = calls.filter((call) => !have.has(call.suffix))
      // Newest first; the expired are never kept.
      const all = [...existing.suffixes, ...fresh.map((call) => call.suffix)].filter((suffix) => timeOf(suffix) > cutoff).sort().reverse()
      const kept = new Set(all.slice(0, policy.size))
      for (const call of fresh) {
        if (!kept.has(call.suffix)) continue
        ops.push({ type: 'put', key: `${prefix}${call.suffix}`, value: call.record, lease })
        stored += 1
      }
      const gone = existing.suffixes.filter((suffix) => !kept.has(suffix))
      // Oldest first, at most what the share was sized for.
      for (const suffix of gone.slice(0, fresh.length + EXTRA_TRIM)) ops.push({ type: 'delete', key: `${prefix}${suffix}` })
    }
    return { ops, outcome: stored }
  }

  /** The key suffixes (oldest first) of each worker's list, and the revision they were read at, in one round trip per group. */
  async #listKeys(users: readonly string[]): Promise<Map<string, { suffixes: string[]; revision: string }>> {
    const { etcd, keys, limits } = this.#o
    const found = new Map<string, { suffixes: string[]; revision: string }>()
    for (const group of readGroups(users, limits)) {
      const res = await etcd.kv.txn({
        compare: [],
        success: group.map((userId) => ({ request_range: { key: Buffer.from(keys.calls(userId)), range_end: prefixEnd(keys.calls(userId)), keys_only: true } })),
        failure: [],
      })
      group.forEach((userId, i) => {
        const prefix = keys.calls(userId)
        const kvs: IKeyValue[] = res.responses[i]?.response_range.kvs ?? []
        found.set(userId, { suffixes: kvs.map((kv) => kv.key.toString('utf8').slice(prefix.length)), revision: res.header.revision })
      })
    }
    return found
  }

  /**
   * A worker's calls, newest first (at most `limit`, else the whole list), none older than the
   * retention. Who may read whose list: see {@link mayList}.
   */
  async list(req: ListCallsRequest, caller: Caller): Promise<ListCallsResponse> {
    v.id(req.userId, 'user_id')
    if (req.deviceId !== '') v.id(req.deviceId, 'device_id')
    const { etcd, keys, policy } = this.#o
    await this.#mayList(req, caller)
    const limit = req.limit === 0 ? policy.size : Math.min(req.limit, policy.size)
    const prefix = keys.calls(req.userId)
    const res = await etcd.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(prefix), sort_order: 'Descend', sort_target: 'Key', limit: String(limit + EXTRA_TRIM) })
    const cutoff = this.#o.clock() - policy.retentionSeconds * 1_000
    const calls: CallRecord[] = []
    for (const kv of res.kvs) {
      if (timeOf(kv.key.toString('utf8').slice(prefix.length)) <= cutoff) continue
      calls.push(toCallRecord(req.userId, parseJson<CallEntryRecord>(kv)))
      if (calls.length >= limit) break
    }
    return { calls }
  }

  /**
   * Administrators read any list. A SIP node reads the list of a worker who sits at one of its
   * site's desks (active, not pending), or whose home device that desk is, naming the desk
   * (`device_id`); a provisioning service (the desk's call-list page) only the list of the worker
   * seated at one of its site's desks. The desk's site is checked by the one site rule of the
   * branch credentials ({@link mustActFor}). A worker's portal session reads its own worker's
   * list, whatever desk they sit at or none (`device_id` is not needed). Everything else is
   * PERMISSION_DENIED (a missing worker or desk too: it tells nothing).
   */
  async #mayList(req: ListCallsRequest, caller: Caller): Promise<void> {
    if (caller.role === 'admin' || caller.role === 'registry') return
    // Checked here too, not only in the handler (session-scope.ts): whatever serves the core.
    if (caller.role === 'worker') {
      if (caller.session?.userId === req.userId) return
      throw denied("a worker's portal session reads its own worker's call list only")
    }
    if (caller.role !== 'sip-node' && caller.role !== 'provisioning') throw denied('call lists are for administrators, the desk the worker sits at and the worker')
    if (req.deviceId === '') throw invalidArgument('device_id', 'is required: the desk the worker sits at')
    const { etcd, keys } = this.#o
    const [device, user, seat] = await Promise.all(
      [keys.device(req.deviceId), keys.user(req.userId), keys.seat(req.userId)].map(async (key) => (await etcd.kv.range({ key: Buffer.from(key) })).kvs[0]),
    )
    const deviceRecord = device === undefined ? undefined : parseJson<DeviceRecord>(device)
    if (deviceRecord === undefined) throw denied(`device "${req.deviceId}" is not a desk of this ${caller.role}'s site`)
    mustActFor(caller, deviceRecord.siteId)
    const seated = seat !== undefined && ((record) => record.deviceId === req.deviceId && (record.pending ?? []).length === 0)(parseJson<SeatRecord>(seat))
    // The provisioning service shows a desk the list of whoever sits there, nobody else's.
    const home = caller.role === 'sip-node' && user !== undefined && parseJson<UserRecord>(user).homeDeviceId === req.deviceId
    if (!seated && !home) throw denied(`user "${req.userId}" neither sits at "${req.deviceId}"${caller.role === 'sip-node' ? ' nor has it as home device' : ''}`)
  }
}

/** The API view of a stored call. */
function toCallRecord(userId: string, record: CallEntryRecord): CallRecord {
  return {
    recordId: record.recordId,
    userId,
    direction: record.direction === 'in' ? CallDirection.CALL_DIRECTION_INCOMING : CallDirection.CALL_DIRECTION_OUTGOING,
    startedAt: new Date(record.startedAt),
    otherParty: record.otherParty,
    otherPartyName: record.otherPartyName,
    answered: record.answered,
    durationSeconds: record.durationSeconds,
    siteId: record.siteId,
    deviceId: record.deviceId,
  }
}

/** The ms time a key suffix starts with. */
function timeOf(suffix: string): number {
  return Number.parseInt(suffix.slice(0, 13), 10)
}

function denied(message: string): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, message)
}

export type { ValidCall }
