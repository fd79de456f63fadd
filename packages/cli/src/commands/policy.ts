import {
  type EffectiveSeatPolicy,
  GetEffectiveSeatPolicyResponse,
  GetSeatPolicyResponse,
  PolicyLevel,
  type PolicyScope,
  PolicySetting,
  type SeatPolicy,
  SetSeatPolicyResponse,
} from '@flexseat/proto'
import { UsageError } from '../errors'
import { formatFields } from '../format-table'
import type { CommandInput } from '../args'
import { type CommandContext, type CommandSpec, newRequestId } from './command'

/** The scope named by exactly one of --site, --department, --user. */
function scopeOf(input: CommandInput): PolicyScope {
  const [which, id] = input.oneOf(['site', 'department', 'user'] as const)
  const level = which === 'site' ? PolicyLevel.POLICY_LEVEL_SITE : which === 'department' ? PolicyLevel.POLICY_LEVEL_DEPARTMENT : PolicyLevel.POLICY_LEVEL_USER
  return { level, id }
}

/** A number option that may also be "none" (switched off at this level); undefined when not given. */
function numberOrNone(input: CommandInput, name: 'max-hours' | 'idle-minutes' | 'warn-minutes'): number | 'none' | undefined {
  const value = input.string(name)
  if (value === undefined) return undefined
  if (value === 'none') return 'none'
  if (!/^[0-9]+$/.test(value)) throw new UsageError(`${input.command}: --${name} must be a whole number or "none"`, input.command)
  // The registry checks the range and names the field when it is out of it.
  return Number(value)
}

const SETTING_WORDS: Readonly<Record<PolicySetting, string>> = {
  [PolicySetting.POLICY_SETTING_UNSPECIFIED]: '-',
  [PolicySetting.POLICY_SETTING_MAX_HOURS]: 'max hours',
  [PolicySetting.POLICY_SETTING_DAILY_SIGN_OUT]: 'daily sign-out',
  [PolicySetting.POLICY_SETTING_IDLE_MINUTES]: 'idle minutes',
  [PolicySetting.POLICY_SETTING_DEFER_WHILE_IN_CALL]: 'defer while in call',
  [PolicySetting.POLICY_SETTING_DEFER_MAX_MINUTES]: 'defer at most (minutes)',
  [PolicySetting.POLICY_SETTING_WARN_MINUTES]: 'warn minutes',
  [PolicySetting.UNRECOGNIZED]: '?',
}

function scopeWord(scope: PolicyScope | undefined): string {
  switch (scope?.level) {
    case PolicyLevel.POLICY_LEVEL_SITE:
      return `site ${scope.id}`
    case PolicyLevel.POLICY_LEVEL_DEPARTMENT:
      return `department ${scope.id}`
    case PolicyLevel.POLICY_LEVEL_USER:
      return `user ${scope.id}`
    case PolicyLevel.POLICY_LEVEL_USER_MAX_SEAT_HOURS:
      return `user ${scope.id} (max_seat_hours)`
    default:
      return 'default'
  }
}

/** One line per setting: its value and where it came from. */
export function formatEffectivePolicy(userId: string, siteId: string, policy: EffectiveSeatPolicy): string {
  const value = (setting: PolicySetting): string => {
    switch (setting) {
      case PolicySetting.POLICY_SETTING_MAX_HOURS:
        return policy.maxHours === 0 ? 'none' : `${policy.maxHours} h`
      case PolicySetting.POLICY_SETTING_DAILY_SIGN_OUT:
        return policy.dailySignOut === '' ? 'none' : `${policy.dailySignOut} ${policy.timeZone}`
      case PolicySetting.POLICY_SETTING_IDLE_MINUTES:
        return policy.idleMinutes === 0 ? 'none' : `${policy.idleMinutes} min`
      case PolicySetting.POLICY_SETTING_DEFER_WHILE_IN_CALL:
        return policy.deferWhileInCall ? 'yes' : 'no'
      case PolicySetting.POLICY_SETTING_DEFER_MAX_MINUTES:
        return `${policy.deferMaxMinutes} min`
      case PolicySetting.POLICY_SETTING_WARN_MINUTES:
        return policy.warnMinutes === 0 ? 'none' : `${policy.warnMinutes} min`
      default:
        return '-'
    }
  }
  return formatFields([
    ['user', userId],
    ['at site', siteId === '' ? '(home site)' : siteId],
    ...policy.sources.map((source): [string, string] => [
      SETTING_WORDS[source.setting],
      `${value(source.setting)}  (from ${scopeWord(source.scope)}${source.template === '' ? '' : `, directory sync template ${source.template}`})`,
    ]),
  ])
}

function formatPolicy(scope: PolicyScope, policy: SeatPolicy | undefined): string {
  const p = policy ?? { none: [] }
  const none = new Set(p.none)
  const show = (setting: PolicySetting, given: string | undefined): [string, string | undefined] => [SETTING_WORDS[setting], none.has(setting) ? 'none' : given]
  return formatFields([
    ['scope', scopeWord(scope)],
    show(PolicySetting.POLICY_SETTING_MAX_HOURS, p.maxHours === undefined ? undefined : `${p.maxHours} h`),
    show(PolicySetting.POLICY_SETTING_DAILY_SIGN_OUT, p.dailySignOut),
    show(PolicySetting.POLICY_SETTING_IDLE_MINUTES, p.idleMinutes === undefined ? undefined : `${p.idleMinutes} min`),
    show(PolicySetting.POLICY_SETTING_DEFER_WHILE_IN_CALL, p.deferWhileInCall === undefined ? undefined : p.deferWhileInCall ? 'yes' : 'no'),
    show(PolicySetting.POLICY_SETTING_DEFER_MAX_MINUTES, p.deferMaxMinutes === undefined ? undefined : `${p.deferMaxMinutes} min`),
    show(PolicySetting.POLICY_SETTING_WARN_MINUTES, p.warnMinutes === undefined ? undefined : `${p.warnMinutes} min`),
  ])
}

const SCOPE_SYNOPSIS = '(--site ID | --department NAME | --user ID)'

const set: CommandSpec = {
  path: ['policy', 'set'],
  synopsis: `${SCOPE_SYNOPSIS} [--max-hours N|none] [--daily HH:MM|none] [--idle-minutes N|none] [--defer | --no-defer] [--defer-max-minutes N] [--warn-minutes N|none]`,
  summary: 'set the sign-out policy of a site, a department or a user (replaces it whole)',
  details:
    'Settings not given inherit from the less specific levels (user, department, site); "none"\n' +
    'switches a setting off at this level. Applies to seats taken from now on.\n' +
    'Example: flexseat policy set --site berlin --max-hours 10 --daily 19:00 --warn-minutes 10',
  options: ['site', 'department', 'user', 'max-hours', 'daily', 'idle-minutes', 'defer', 'no-defer', 'defer-max-minutes', 'warn-minutes'],
  async run(context) {
    const { input } = context
    const scope = scopeOf(input)
    const policy: SeatPolicy = { none: [] }
    const switchable = [
      ['max-hours', PolicySetting.POLICY_SETTING_MAX_HOURS, (n: number) => (policy.maxHours = n)],
      ['idle-minutes', PolicySetting.POLICY_SETTING_IDLE_MINUTES, (n: number) => (policy.idleMinutes = n)],
      ['warn-minutes', PolicySetting.POLICY_SETTING_WARN_MINUTES, (n: number) => (policy.warnMinutes = n)],
    ] as const
    for (const [name, setting, assign] of switchable) {
      const value = numberOrNone(input, name)
      if (value === 'none') policy.none.push(setting)
      else if (value !== undefined) assign(value)
    }
    const daily = input.string('daily')
    if (daily === 'none') policy.none.push(PolicySetting.POLICY_SETTING_DAILY_SIGN_OUT)
    else if (daily !== undefined) policy.dailySignOut = daily
    const defer = input.toggle('defer', 'no-defer')
    if (defer !== undefined) policy.deferWhileInCall = defer
    const deferMax = input.integer('defer-max-minutes')
    if (deferMax !== undefined) policy.deferMaxMinutes = deferMax
    const client = context.client()
    const api = client.policies
    const response = await client.call(api.setSeatPolicy.bind(api), { requestId: newRequestId(), scope, policy }, context.signal)
    if (context.json) context.printJson(SetSeatPolicyResponse.toJSON(response))
    else context.print(formatPolicy(scope, response.policy))
  },
}

const get: CommandSpec = {
  path: ['policy', 'get'],
  synopsis: SCOPE_SYNOPSIS,
  summary: 'show the sign-out policy set at one site, department or user',
  options: ['site', 'department', 'user'],
  async run(context) {
    const scope = scopeOf(context.input)
    const client = context.client()
    const api = client.policies
    const response = await client.call(api.getSeatPolicy.bind(api), { scope }, context.signal)
    if (context.json) context.printJson(GetSeatPolicyResponse.toJSON(response))
    else context.print(formatPolicy(scope, response.policy))
  },
}

const clear: CommandSpec = {
  path: ['policy', 'clear'],
  synopsis: SCOPE_SYNOPSIS,
  summary: 'remove the sign-out policy of one site, department or user (idempotent)',
  options: ['site', 'department', 'user'],
  async run(context) {
    const scope = scopeOf(context.input)
    const client = context.client()
    const api = client.policies
    await client.call(api.deleteSeatPolicy.bind(api), { requestId: newRequestId(), scope }, context.signal)
    if (context.json) context.printJson({})
    else context.print(`cleared the policy of ${scopeWord(scope)}\n`)
  },
}

const show: CommandSpec = {
  path: ['policy', 'show'],
  synopsis: '<user> [--site SITE]',
  summary: 'the effective sign-out policy of a worker (at a site\'s desks; default their home site), and where each value came from',
  options: ['site'],
  positionals: { min: 1, max: 1, names: '<user>' },
  async run(context: CommandContext) {
    const userId = context.input.positionals[0] ?? ''
    const siteId = context.input.string('site') ?? ''
    const client = context.client()
    const api = client.policies
    const response = await client.call(api.getEffectiveSeatPolicy.bind(api), { userId, siteId }, context.signal)
    if (context.json) context.printJson(GetEffectiveSeatPolicyResponse.toJSON(response))
    else if (response.policy !== undefined) context.print(formatEffectivePolicy(userId, siteId, response.policy))
  },
}

export const POLICY_COMMANDS: readonly CommandSpec[] = [show, set, get, clear]
