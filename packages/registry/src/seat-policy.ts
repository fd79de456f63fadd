/**
 * Sign-out policies (SeatPolicyService, issue 19): what is stored per scope, how a request is
 * validated, how the levels resolve into one effective policy, and the deadlines a new seat gets
 * from it.
 *
 * Stored at `policies/site/<site>`, `policies/department/<department>` (the name lower-cased,
 * trimmed and URI-encoded: departments are matched as the directory sync matches its templates)
 * and `policies/user/<user>`. For each setting the most specific level that sets it (or switches
 * it off with `none`) wins: user, then the user's `max_seat_hours` (max_hours only; the field the
 * directory sync's templates set before policies existed), then department, then site, then
 * {@link DEFAULT_POLICY}.
 */
import {
  type DeleteSeatPolicyResponse,
  type EffectiveSeatPolicy,
  ErrorCode,
  PolicyLevel,
  type PolicyScope,
  PolicySetting,
  type PolicySource,
  type SeatPolicy,
  type SetSeatPolicyResponse,
} from '@flexseat/proto'
import { DAILY_TIME, nextDailySignOut } from './daily-sign-out'
import { RegistryError, invalidArgument } from './errors'
import type { TxnReader, WritePlan } from './fenced-writer'
import type { Keys } from './keys'
import * as v from './validate'

/** The settings that may be switched off with `none`, by their stored name. */
type Switchable = 'maxHours' | 'dailySignOut' | 'idleMinutes' | 'warnMinutes'

/** Stored at `policies/<level>/<id>`: only the settings the scope sets. */
export interface SeatPolicyRecord {
  maxHours?: number
  dailySignOut?: string
  idleMinutes?: number
  deferWhileInCall?: boolean
  deferMaxMinutes?: number
  warnMinutes?: number
  /** Settings switched off at this level. */
  none?: Switchable[]
  /**
   * A department's policy written by the directory sync: the template's key in its configuration
   * (`templates.departments.Sales`). The sync owns it: SetSeatPolicy / DeleteSeatPolicy refuse it.
   */
  template?: string
}

/** Every setting resolved. 0 / '' is "none". */
export interface ResolvedPolicy {
  maxHours: number
  dailySignOut: string
  idleMinutes: number
  deferWhileInCall: boolean
  deferMaxMinutes: number
  warnMinutes: number
}

/** Without any policy: no limits, deferral on with a bound of 4 h, no warning. */
export const DEFAULT_POLICY: Readonly<ResolvedPolicy> = { maxHours: 0, dailySignOut: '', idleMinutes: 0, deferWhileInCall: true, deferMaxMinutes: 240, warnMinutes: 0 }

/**
 * How long a policy's hour and minute last, in ms. Real time in production; tests may count both
 * as seconds (FLEXSEAT_TEST_POLICY_SECONDS=1, refused with NODE_ENV=production: config.ts).
 */
export interface PolicyUnits {
  hourMs: number
  minuteMs: number
}
export const REAL_UNITS: Readonly<PolicyUnits> = { hourMs: 3_600_000, minuteMs: 60_000 }
export const SECOND_UNITS: Readonly<PolicyUnits> = { hourMs: 1_000, minuteMs: 1_000 }

const SETTINGS: readonly { setting: PolicySetting; name: keyof ResolvedPolicy; field: string; switchable: boolean }[] = [
  { setting: PolicySetting.POLICY_SETTING_MAX_HOURS, name: 'maxHours', field: 'max_hours', switchable: true },
  { setting: PolicySetting.POLICY_SETTING_DAILY_SIGN_OUT, name: 'dailySignOut', field: 'daily_sign_out', switchable: true },
  { setting: PolicySetting.POLICY_SETTING_IDLE_MINUTES, name: 'idleMinutes', field: 'idle_minutes', switchable: true },
  { setting: PolicySetting.POLICY_SETTING_DEFER_WHILE_IN_CALL, name: 'deferWhileInCall', field: 'defer_while_in_call', switchable: false },
  { setting: PolicySetting.POLICY_SETTING_DEFER_MAX_MINUTES, name: 'deferMaxMinutes', field: 'defer_max_minutes', switchable: false },
  { setting: PolicySetting.POLICY_SETTING_WARN_MINUTES, name: 'warnMinutes', field: 'warn_minutes', switchable: true },
]

/** A department name as policies and the directory sync's templates match it. */
export function departmentKey(name: string): string {
  return name.trim().toLowerCase()
}

/** A validated scope: its level (SITE, DEPARTMENT or USER) and id (a department: as matched). */
export function validScope(scope: PolicyScope | undefined, field = 'scope'): { level: PolicyLevel; id: string } {
  if (scope === undefined) throw invalidArgument(field, 'is required')
  switch (scope.level) {
    case PolicyLevel.POLICY_LEVEL_SITE:
    case PolicyLevel.POLICY_LEVEL_USER:
      return { level: scope.level, id: v.id(scope.id, `${field}.id`) }
    case PolicyLevel.POLICY_LEVEL_DEPARTMENT: {
      const id = departmentKey(scope.id)
      if (id === '') throw invalidArgument(`${field}.id`, 'is required (the department name)')
      v.text(id, `${field}.id`)
      return { level: scope.level, id }
    }
    default:
      throw invalidArgument(`${field}.level`, 'must be SITE, DEPARTMENT or USER')
  }
}

/** The etcd key of a scope's policy. */
export function policyKey(keys: Keys, scope: { level: PolicyLevel; id: string }): string {
  const level = scope.level === PolicyLevel.POLICY_LEVEL_SITE ? 'site' : scope.level === PolicyLevel.POLICY_LEVEL_DEPARTMENT ? 'department' : 'user'
  return keys.policy(level, encodeURIComponent(scope.id))
}

function whole(value: number, field: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw invalidArgument(field, `must be a whole number from ${min} to ${max}`)
  return value
}

/**
 * The stored form of a requested policy; throws INVALID_ARGUMENT naming the first bad field
 * (`policy.max_hours`, ...). Nothing is written unless the whole policy is valid.
 */
export function validatePolicy(policy: SeatPolicy | undefined, field = 'policy'): SeatPolicyRecord {
  if (policy === undefined) throw invalidArgument(field, 'is required')
  const record: SeatPolicyRecord = {}
  if (policy.maxHours !== undefined) record.maxHours = whole(policy.maxHours, `${field}.max_hours`, 1, 999)
  if (policy.dailySignOut !== undefined) {
    if (!DAILY_TIME.test(policy.dailySignOut)) throw invalidArgument(`${field}.daily_sign_out`, 'must be a local time HH:MM from 00:00 to 23:59')
    record.dailySignOut = policy.dailySignOut
  }
  if (policy.idleMinutes !== undefined) record.idleMinutes = whole(policy.idleMinutes, `${field}.idle_minutes`, 1, 10_080)
  if (policy.deferWhileInCall !== undefined) record.deferWhileInCall = policy.deferWhileInCall
  if (policy.deferMaxMinutes !== undefined) record.deferMaxMinutes = whole(policy.deferMaxMinutes, `${field}.defer_max_minutes`, 1, 1_440)
  if (policy.warnMinutes !== undefined) record.warnMinutes = whole(policy.warnMinutes, `${field}.warn_minutes`, 1, 240)
  const none = new Set<Switchable>()
  policy.none.forEach((setting, i) => {
    const s = SETTINGS.find((entry) => entry.setting === setting)
    if (s === undefined || !s.switchable) throw invalidArgument(`${field}.none[${i}]`, 'must be MAX_HOURS, DAILY_SIGN_OUT, IDLE_MINUTES or WARN_MINUTES')
    if (record[s.name as Switchable] !== undefined) throw invalidArgument(`${field}.none[${i}]`, `${s.field} is both given and switched off`)
    none.add(s.name as Switchable)
  })
  if (none.size > 0) record.none = [...none]
  return record
}

/** The API view of a stored policy. */
export function toSeatPolicy(record: SeatPolicyRecord | undefined): SeatPolicy {
  const r = record ?? {}
  return {
    maxHours: r.maxHours,
    dailySignOut: r.dailySignOut,
    idleMinutes: r.idleMinutes,
    deferWhileInCall: r.deferWhileInCall,
    deferMaxMinutes: r.deferMaxMinutes,
    warnMinutes: r.warnMinutes,
    none: (r.none ?? []).map((name) => SETTINGS.find((s) => s.name === name)!.setting),
  }
}

/** What resolution needs: each level's stored policy (absent: none) and the user's max_seat_hours. */
export interface PolicyLevels {
  site: { id: string; timezone: string; policy?: SeatPolicyRecord | undefined }
  department?: { name: string; policy?: SeatPolicyRecord | undefined } | undefined
  user: { id: string; maxSeatHours: number; policy?: SeatPolicyRecord | undefined }
}

/** The effective policy and where each value came from (most specific level first). */
export function resolvePolicy(levels: PolicyLevels): EffectiveSeatPolicy {
  const resolved: ResolvedPolicy = { ...DEFAULT_POLICY }
  const sources: PolicySource[] = []
  const legacy: SeatPolicyRecord = levels.user.maxSeatHours > 0 ? { maxHours: levels.user.maxSeatHours } : {}
  const chain: { scope: PolicyScope; policy: SeatPolicyRecord | undefined }[] = [
    { scope: { level: PolicyLevel.POLICY_LEVEL_USER, id: levels.user.id }, policy: levels.user.policy },
    { scope: { level: PolicyLevel.POLICY_LEVEL_USER_MAX_SEAT_HOURS, id: levels.user.id }, policy: legacy },
    ...(levels.department === undefined ? [] : [{ scope: { level: PolicyLevel.POLICY_LEVEL_DEPARTMENT, id: departmentKey(levels.department.name) }, policy: levels.department.policy }]),
    { scope: { level: PolicyLevel.POLICY_LEVEL_SITE, id: levels.site.id }, policy: levels.site.policy },
  ]
  for (const s of SETTINGS) {
    let source: PolicyScope = { level: PolicyLevel.POLICY_LEVEL_DEFAULT, id: '' }
    let template = ''
    for (const { scope, policy } of chain) {
      if (policy === undefined) continue
      const value = policy[s.name as keyof SeatPolicyRecord]
      if (value !== undefined) {
        ;(resolved as unknown as Record<string, unknown>)[s.name] = value
        source = scope
        template = policy.template ?? ''
        break
      }
      if (s.switchable && policy.none?.includes(s.name as Switchable)) {
        ;(resolved as unknown as Record<string, unknown>)[s.name] = DEFAULT_POLICY[s.name] === '' ? '' : 0
        source = scope
        template = policy.template ?? ''
        break
      }
    }
    sources.push({ setting: s.setting, scope: source, template })
  }
  return { ...resolved, timeZone: levels.site.timezone, sources }
}

/** The deadlines a seat stores (records.ts SeatRecord), from the effective policy. */
export interface SeatDeadlines {
  /** ISO: the time limit (TIME_LIMIT). */
  expiresAt?: string
  /** ISO: the daily sign-out (DAILY). */
  dailyAt?: string
  /** The policy's local time, for the desk's messages. */
  dailySignOut?: string
  /** Idle limit (IDLE), in seconds. */
  idleSeconds?: number
  /** How long an end due during a call may wait for the call's end, in seconds; absent: it does not wait. */
  deferSeconds?: number
  /** How long before a scheduled end the desk is warned, in seconds. */
  warnSeconds?: number
}

/**
 * A new seat's deadlines at `since` (ms): the time limit is the policy's max_hours, or the
 * login's duration_hours when that is shorter (a login may ask for less, never more).
 */
export function seatDeadlines(policy: EffectiveSeatPolicy, since: number, durationHours: number, units: PolicyUnits = REAL_UNITS): SeatDeadlines {
  const max = policy.maxHours
  const hours = durationHours > 0 ? (max > 0 ? Math.min(durationHours, max) : durationHours) : max
  const out: SeatDeadlines = {}
  if (hours > 0) out.expiresAt = new Date(since + hours * units.hourMs).toISOString()
  if (policy.dailySignOut !== '') {
    out.dailyAt = new Date(nextDailySignOut(since, policy.dailySignOut, policy.timeZone)).toISOString()
    out.dailySignOut = policy.dailySignOut
  }
  if (policy.idleMinutes > 0) out.idleSeconds = Math.round((policy.idleMinutes * units.minuteMs) / 1_000)
  if (policy.deferWhileInCall) out.deferSeconds = Math.round((policy.deferMaxMinutes * units.minuteMs) / 1_000)
  if (policy.warnMinutes > 0) out.warnSeconds = Math.round((policy.warnMinutes * units.minuteMs) / 1_000)
  return out
}

/**
 * Plans SetSeatPolicy: the scope must exist (a site, a user; any department name), then its
 * policy is replaced whole.
 */
export async function planSetPolicy(keys: Keys, scope: { level: PolicyLevel; id: string }, record: SeatPolicyRecord, read: TxnReader): Promise<WritePlan<SetSeatPolicyResponse>> {
  const missing = (await missingScope(keys, scope, read)) ?? (await ownedBySync(keys, scope, read))
  if (missing) return { ops: [], outcome: missing }
  return { ops: [{ type: 'put', key: policyKey(keys, scope), value: record }], outcome: { policy: toSeatPolicy(record) } }
}

/** Plans DeleteSeatPolicy (idempotent: no policy, nothing to delete). */
export async function planDeletePolicy(keys: Keys, scope: { level: PolicyLevel; id: string }, read: TxnReader): Promise<WritePlan<DeleteSeatPolicyResponse>> {
  const owned = await ownedBySync(keys, scope, read)
  if (owned) return { ops: [], outcome: owned }
  const key = policyKey(keys, scope)
  return { ops: (await read.get(key)) === undefined ? [] : [{ type: 'delete', key }], outcome: {} }
}

/** A department policy the directory sync wrote from a template is the sync's: refused to the API. */
async function ownedBySync(keys: Keys, scope: { level: PolicyLevel; id: string }, read: TxnReader): Promise<RegistryError | undefined> {
  if (scope.level !== PolicyLevel.POLICY_LEVEL_DEPARTMENT) return undefined
  const template = (await read.json<SeatPolicyRecord>(policyKey(keys, scope)))?.value.template
  if (template === undefined) return undefined
  return invalidArgument('scope.id', `department "${scope.id}" gets its policy from the directory sync's template ${template}: change it in the directory sync's configuration (or remove the template's policy settings, then set it here)`)
}

async function missingScope(keys: Keys, scope: { level: PolicyLevel; id: string }, read: TxnReader): Promise<RegistryError | undefined> {
  if (scope.level === PolicyLevel.POLICY_LEVEL_SITE && (await read.get(keys.site(scope.id))) === undefined) {
    return new RegistryError(ErrorCode.ERROR_CODE_SITE_NOT_FOUND, `no site "${scope.id}"`)
  }
  if (scope.level === PolicyLevel.POLICY_LEVEL_USER && (await read.get(keys.user(scope.id))) === undefined) {
    return new RegistryError(ErrorCode.ERROR_CODE_USER_NOT_FOUND, `no user "${scope.id}"`)
  }
  return undefined
}
