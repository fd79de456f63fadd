import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { SITE_ID_PATTERN } from '@flexseat/config'
import { FilterParser } from 'ldapts'
import { parse as parseYaml } from 'yaml'
import { configError } from './errors'

/** Which flexseat field comes from which LDAP attribute; an empty name: not read. */
export interface AttributeMap {
  /** A stable identifier of the entry, kept across renames and moves (default `objectGUID`). Required. */
  readonly key: string
  /** The login name (default `sAMAccountName`); the user id of a new user is its lower-case form. Required. */
  readonly username: string
  readonly displayName: string
  readonly givenName: string
  readonly surname: string
  /** The extension (default `ipPhone`): must exist and be unique among enabled entries. Required. */
  readonly extension: string
  /** The DID (default `telephoneNumber`), E.164 once spaces and punctuation are removed. */
  readonly did: string
  readonly mobile: string
  readonly email: string
  /** Picks the template (default `department`). */
  readonly department: string
  /** Active Directory's account flags (default `userAccountControl`): bit 2 (ACCOUNTDISABLE) disables. */
  readonly accountControl: string
}

/** Active Directory's attribute names: the defaults of the map. */
export const DEFAULT_ATTRIBUTES: AttributeMap = Object.freeze({
  key: 'objectGUID',
  username: 'sAMAccountName',
  displayName: 'displayName',
  givenName: 'givenName',
  surname: 'sn',
  extension: 'ipPhone',
  did: 'telephoneNumber',
  mobile: 'mobile',
  email: 'mail',
  department: 'department',
  accountControl: 'userAccountControl',
})

/** A setting of {@link TemplatePolicy} that `none` switches off (the registry's stored names). */
export type SwitchableSetting = 'maxHours' | 'dailySignOut' | 'idleMinutes' | 'warnMinutes'

/**
 * A department template's sign-out policy settings (issue 19), in the registry's stored form
 * (seat-policy.ts SeatPolicyRecord): the sync writes them as the department's policy. A setting
 * not given inherits from the site; `none` switches it off at the department.
 */
export interface TemplatePolicy {
  readonly maxHours?: number
  readonly dailySignOut?: string
  readonly idleMinutes?: number
  readonly deferWhileInCall?: boolean
  readonly warnMinutes?: number
  readonly none?: readonly SwitchableSetting[]
}

/** The flex settings a department's workers get (the directory has no place for them). */
export interface Template {
  /** Its key in the configuration (`templates.departments.Sales`, `templates.default`). */
  readonly key: string
  readonly homeSiteId: string
  readonly roamingAllowed: boolean
  /** 0: no limit. */
  readonly maxSeatHours: number
  /** The desk's function-key profile (provisioning); empty: the site's default. */
  readonly functionKeyProfile: string
  /** The department's sign-out policy; undefined: the template sets none (a department template only). */
  readonly policy: TemplatePolicy | undefined
}

/** Templates by department. */
export interface Templates {
  /** By department name in lower case (matching ignores case and surrounding spaces). */
  readonly departments: ReadonlyMap<string, Template>
  /** For departments without a template of their own; without it such entries are conflicts. */
  readonly fallback: Template | undefined
}

/**
 * How a sync finds the entries changed since the last one: `usn` (Active Directory: the
 * rootDSE's highestCommittedUSN before the search, then `uSNChanged>=` it + 1), `timestamp`
 * (`modifyTimestamp>=` the last search's start, less `clock_skew`), or `none` (full syncs only).
 */
export type IncrementalMethod = 'usn' | 'timestamp' | 'none'

/** The directory sync's configuration, loaded and validated once at start. */
export interface DirectorySyncConfig {
  /** The file it came from (for messages). */
  readonly source: string
  readonly ldap: {
    /** `ldap://host[:port]` or `ldaps://host[:port]`. */
    readonly url: string
    /** Upgrade an `ldap://` connection with StartTLS before binding. */
    readonly startTls: boolean
    /** CA certificates (PEM) trusted for LDAPS / StartTLS; undefined: the system's. */
    readonly ca: Buffer | undefined
    readonly bindDn: string
    /** The service account's password, from `bind_password_file` (a function, so that no log of the config shows it). */
    readonly bindPassword: () => string
    readonly baseDn: string
    readonly filter: string
    readonly scope: 'sub' | 'one'
    /** Entries per page of the paged results control (RFC 2696). */
    readonly pageSize: number
    /** Each LDAP operation's time limit, in ms. */
    readonly timeoutMs: number
    readonly incremental: IncrementalMethod
    /** How far the timestamp method reaches back before the last search's start, in ms. */
    readonly clockSkewMs: number
  }
  readonly attributes: AttributeMap
  readonly schedule: {
    /** A full sync this often (and when the instance becomes leader), in ms. */
    readonly fullEveryMs: number
    /** An incremental sync this often between full ones, in ms; 0: none. */
    readonly incrementalEveryMs: number
    /** A full sync that would remove more users than this removes none (and reports it); 0: no limit. */
    readonly maxDeletions: number
  }
  readonly templates: Templates
  /** The web portal's use of the directory (section `portal`, optional). */
  readonly portal: {
    /**
     * The DN of the group whose members may sign in to the web portal as administrators with
     * their directory password (`portal.admin_group`); undefined: nobody may.
     */
    readonly adminGroup: string | undefined
  }
}

/** Options of {@link parseDirectorySyncConfig}. */
export interface ParseOptions {
  /** Names the file in messages; relative file names in it are resolved against its folder. */
  source: string
  /** The sites a template's home_site may name (default: any id). */
  siteIds?: readonly string[]
  /** Reads the password and CA files (default fs.readFile). */
  readFile?: (path: string) => Promise<Buffer>
}

const DURATION = /^(?:\d+(?:ms|s|m|h|d))+$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const ATTRIBUTE = /^(?:[A-Za-z][A-Za-z0-9-]{0,63}|[0-9]+(?:\.[0-9]+)+)$/

type Doc = Record<string, unknown>

/**
 * Parses and validates a directory sync configuration (YAML, see docs/CONFIGURATION.md) and
 * reads the files it names. Unknown keys are refused. Throws DirectorySyncError CONFIG naming the
 * file and the key; never with the password in it.
 */
export async function parseDirectorySyncConfig(text: string, options: ParseOptions): Promise<DirectorySyncConfig> {
  const { source } = options
  const read = options.readFile ?? ((path: string) => readFile(path))
  let doc: unknown
  try {
    doc = parseYaml(text)
  } catch (error) {
    throw configError(source, '(file)', 'not valid YAML', error)
  }
  const root = mapping(source, '(file)', doc)
  known(source, '', root, ['ldap', 'attributes', 'schedule', 'templates', 'portal'])

  const l = mapping(source, 'ldap', root['ldap'])
  known(source, 'ldap.', l, ['url', 'start_tls', 'ca_file', 'bind_dn', 'bind_password_file', 'base_dn', 'filter', 'scope', 'page_size', 'timeout', 'incremental', 'clock_skew'])
  const url = string(source, 'ldap.url', l['url'], true)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw configError(source, 'ldap.url', `"${url}" is not ldap://host[:port] or ldaps://host[:port]`)
  }
  if ((parsed.protocol !== 'ldap:' && parsed.protocol !== 'ldaps:') || parsed.hostname === '' || (parsed.pathname !== '' && parsed.pathname !== '/') || parsed.search !== '' || parsed.username !== '') {
    throw configError(source, 'ldap.url', `"${url}" is not ldap://host[:port] or ldaps://host[:port]`)
  }
  const startTls = boolean(source, 'ldap.start_tls', l['start_tls'], false)
  if (startTls && parsed.protocol === 'ldaps:') throw configError(source, 'ldap.start_tls', 'is for ldap:// URLs; ldaps:// is TLS from the start')
  const dir = dirname(resolve(source))
  const caFile = string(source, 'ldap.ca_file', l['ca_file'], false)
  const ca = caFile === '' ? undefined : await file(source, 'ldap.ca_file', resolve(dir, caFile), read)
  if (ca !== undefined && !ca.toString('utf8').includes('-----BEGIN CERTIFICATE-----')) throw configError(source, 'ldap.ca_file', `${caFile} holds no PEM certificate`)
  const bindDn = string(source, 'ldap.bind_dn', l['bind_dn'], true)
  const passwordFile = string(source, 'ldap.bind_password_file', l['bind_password_file'], true)
  const password = (await file(source, 'ldap.bind_password_file', resolve(dir, passwordFile), read)).toString('utf8').replace(/\r?\n$/, '')
  if (password === '') throw configError(source, 'ldap.bind_password_file', `${passwordFile} is empty (an empty password is an anonymous bind)`)
  const baseDn = string(source, 'ldap.base_dn', l['base_dn'], true)
  const filter = string(source, 'ldap.filter', l['filter'], false) || '(objectClass=user)'
  try {
    FilterParser.parseString(filter)
  } catch (error) {
    throw configError(source, 'ldap.filter', `"${filter}" is not an LDAP filter (RFC 4515): ${(error as Error).message}`, error)
  }
  const scope = oneOf(source, 'ldap.scope', l['scope'], ['sub', 'one'] as const, 'sub')
  const pageSize = integer(source, 'ldap.page_size', l['page_size'], 500, 1, 10_000)
  const timeoutMs = duration(source, 'ldap.timeout', l['timeout'], '30s', 1_000, 3_600_000)
  const incremental = oneOf(source, 'ldap.incremental', l['incremental'], ['usn', 'timestamp', 'none'] as const, 'usn')
  const clockSkewMs = duration(source, 'ldap.clock_skew', l['clock_skew'], '5m', 0, 86_400_000)

  const a = root['attributes'] === undefined ? {} : mapping(source, 'attributes', root['attributes'])
  const names: Record<keyof AttributeMap, string> = {
    key: 'key',
    username: 'username',
    displayName: 'display_name',
    givenName: 'given_name',
    surname: 'surname',
    extension: 'extension',
    did: 'did',
    mobile: 'mobile',
    email: 'email',
    department: 'department',
    accountControl: 'account_control',
  }
  known(source, 'attributes.', a, Object.values(names))
  const attributes = Object.fromEntries(
    (Object.entries(names) as [keyof AttributeMap, string][]).map(([field, key]) => {
      const raw = a[key]
      const value = raw === undefined ? DEFAULT_ATTRIBUTES[field] : string(source, `attributes.${key}`, raw, false)
      const required = field === 'key' || field === 'username' || field === 'extension'
      if (value === '' && required) throw configError(source, `attributes.${key}`, 'is required (an LDAP attribute name)')
      if (value !== '' && !ATTRIBUTE.test(value)) throw configError(source, `attributes.${key}`, `"${value}" is not an LDAP attribute name`)
      return [field, value]
    }),
  ) as unknown as AttributeMap

  const s = root['schedule'] === undefined ? {} : mapping(source, 'schedule', root['schedule'])
  known(source, 'schedule.', s, ['full_every', 'incremental_every', 'max_deletions'])
  const fullEveryMs = duration(source, 'schedule.full_every', s['full_every'], '1h', 1_000, 30 * 86_400_000)
  const incrementalEveryMs = incremental === 'none' ? 0 : duration(source, 'schedule.incremental_every', s['incremental_every'], '1m', 0, 86_400_000)
  const maxDeletions = integer(source, 'schedule.max_deletions', s['max_deletions'], 100, 0, 10_000_000)

  const t = root['templates'] === undefined ? {} : mapping(source, 'templates', root['templates'])
  known(source, 'templates.', t, ['default', 'departments'])
  const fallback = t['default'] === undefined ? undefined : template(source, 'templates.default', t['default'], options.siteIds, false)
  const departments = new Map<string, Template>()
  if (t['departments'] !== undefined) {
    const d = mapping(source, 'templates.departments', t['departments'])
    for (const [name, raw] of Object.entries(d)) {
      const normal = name.trim().toLowerCase()
      if (normal === '') throw configError(source, 'templates.departments', 'a department name is empty')
      if (departments.has(normal)) throw configError(source, `templates.departments.${name}`, 'names a department twice (names are matched ignoring case)')
      departments.set(normal, template(source, `templates.departments.${name}`, raw, options.siteIds, true))
    }
  }
  if (departments.size === 0 && fallback === undefined) {
    throw configError(source, 'templates', 'give templates.default or at least one of templates.departments (every user needs a home site)')
  }

  const p = root['portal'] === undefined ? {} : mapping(source, 'portal', root['portal'])
  known(source, 'portal.', p, ['admin_group'])
  const adminGroup = string(source, 'portal.admin_group', p['admin_group'], false)

  return {
    source,
    portal: { adminGroup: adminGroup === '' ? undefined : adminGroup },
    ldap: { url, startTls, ca, bindDn, bindPassword: () => password, baseDn, filter, scope, pageSize, timeoutMs, incremental, clockSkewMs },
    attributes,
    schedule: { fullEveryMs, incrementalEveryMs, maxDeletions },
    templates: { departments, fallback },
  }
}

/** Reads and parses the configuration file at `path` (see {@link parseDirectorySyncConfig}). */
export async function loadDirectorySyncConfig(path: string, options: Omit<ParseOptions, 'source'> = {}): Promise<DirectorySyncConfig> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw configError(path, '(file)', `cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error)
  }
  return parseDirectorySyncConfig(text, { ...options, source: path })
}

/** The department templates that set a sign-out policy, by department name (lower case): what the sync writes as department policies. */
export function departmentPolicies(templates: Templates): Map<string, { template: string; policy: TemplatePolicy }> {
  const out = new Map<string, { template: string; policy: TemplatePolicy }>()
  for (const [name, template] of templates.departments) if (template.policy !== undefined) out.set(name, { template: template.key, policy: template.policy })
  return out
}

/** The template of `department`: its own, else the default; undefined when neither exists. */
export function templateFor(templates: Templates, department: string): Template | undefined {
  return templates.departments.get(department.trim().toLowerCase()) ?? templates.fallback
}

/** A template's sign-out policy keys (written as the department's policy by the sync). */
export const POLICY_KEYS = ['max_hours', 'daily_sign_out', 'idle_minutes', 'defer_while_in_call', 'warn_minutes'] as const

const DAILY_TIME = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/

function template(source: string, key: string, raw: unknown, siteIds: readonly string[] | undefined, department: boolean): Template {
  const m = mapping(source, key, raw)
  known(source, `${key}.`, m, ['home_site', 'roaming', 'max_seat_hours', 'function_key_profile', ...POLICY_KEYS])
  if (!department) {
    const given = POLICY_KEYS.find((k) => m[k] !== undefined)
    if (given !== undefined) {
      throw configError(source, `${key}.${given}`, 'sign-out policy settings belong to a department\'s template (templates.departments.<name>); the default template\'s workers get their site\'s policy (flexseat policy set --site)')
    }
  }
  const homeSiteId = string(source, `${key}.home_site`, m['home_site'], true)
  if (!SITE_ID_PATTERN.test(homeSiteId)) throw configError(source, `${key}.home_site`, `"${homeSiteId}" is not a site id`)
  if (siteIds !== undefined && !siteIds.includes(homeSiteId)) throw configError(source, `${key}.home_site`, `no site "${homeSiteId}" (sites: ${siteIds.join(', ')})`)
  const functionKeyProfile = string(source, `${key}.function_key_profile`, m['function_key_profile'], false)
  if (functionKeyProfile !== '' && !SITE_ID_PATTERN.test(functionKeyProfile)) {
    throw configError(source, `${key}.function_key_profile`, `"${functionKeyProfile}" is not a profile name (lower-case letters, digits, '.', '_', '-'; 1 to 64)`)
  }
  return {
    homeSiteId,
    roamingAllowed: boolean(source, `${key}.roaming`, m['roaming'], false),
    maxSeatHours: integer(source, `${key}.max_seat_hours`, m['max_seat_hours'], 0, 0, 8_760),
    functionKeyProfile,
    key,
    policy: department ? templatePolicy(source, key, m) : undefined,
  }
}

/** The template's policy settings; undefined when it gives none. `none` switches a setting off. */
function templatePolicy(source: string, key: string, m: Doc): TemplatePolicy | undefined {
  if (POLICY_KEYS.every((k) => m[k] === undefined || m[k] === null)) return undefined
  const none: SwitchableSetting[] = []
  const off = (value: unknown, setting: SwitchableSetting): boolean => {
    if (value !== 'none') return false
    none.push(setting)
    return true
  }
  const policy: { -readonly [K in keyof TemplatePolicy]: TemplatePolicy[K] } = {}
  const number = (name: string, setting: 'maxHours' | 'idleMinutes' | 'warnMinutes', min: number, max: number): void => {
    const value = m[name]
    if (value === undefined || value === null || off(value, setting)) return
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw configError(source, `${key}.${name}`, `must be a whole number from ${min} to ${max}, or none`)
    policy[setting] = value
  }
  number('max_hours', 'maxHours', 1, 999)
  const daily = m['daily_sign_out']
  if (daily !== undefined && daily !== null && !off(daily, 'dailySignOut')) {
    if (typeof daily !== 'string' || !DAILY_TIME.test(daily.trim())) throw configError(source, `${key}.daily_sign_out`, 'must be a local time HH:MM from 00:00 to 23:59 (quoted: "19:00"), or none')
    policy.dailySignOut = daily.trim()
  }
  number('idle_minutes', 'idleMinutes', 1, 10_080)
  if (m['defer_while_in_call'] !== undefined && m['defer_while_in_call'] !== null) policy.deferWhileInCall = boolean(source, `${key}.defer_while_in_call`, m['defer_while_in_call'], true)
  number('warn_minutes', 'warnMinutes', 1, 240)
  if (none.length > 0) policy.none = none
  return policy
}

function mapping(source: string, key: string, value: unknown): Doc {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw configError(source, key, 'must be a mapping')
  return value as Doc
}

function known(source: string, prefix: string, doc: Doc, keys: readonly string[]): void {
  for (const key of Object.keys(doc)) {
    if (!keys.includes(key)) throw configError(source, `${prefix}${key}`, `unknown key (known: ${keys.join(', ')})`)
  }
}

function string(source: string, key: string, value: unknown, required: boolean): string {
  if (value === undefined || value === null) {
    if (required) throw configError(source, key, 'is required')
    return ''
  }
  if (typeof value !== 'string') throw configError(source, key, 'must be a string')
  const text = value.trim()
  if (required && text === '') throw configError(source, key, 'is required')
  if (text.length > 4_096) throw configError(source, key, 'is longer than 4096 characters')
  return text
}

function boolean(source: string, key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'boolean') throw configError(source, key, 'must be true or false')
  return value
}

function integer(source: string, key: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw configError(source, key, `must be a whole number from ${min} to ${max}`)
  return value
}

function oneOf<const T extends string>(source: string, key: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'string' || !allowed.includes(value as T)) throw configError(source, key, `must be one of ${allowed.join(', ')}`)
  return value as T
}

/** A duration such as `90s`, `15m`, `1h30m` (units ms, s, m, h, d), in ms, from `min` to `max`. */
function duration(source: string, key: string, value: unknown, fallback: string, min: number, max: number): number {
  const text = value === undefined || value === null ? fallback : typeof value === 'number' && value === 0 ? '0s' : value
  if (typeof text !== 'string' || !DURATION.test(text.trim())) throw configError(source, key, 'must be a duration such as 30s, 15m, 1h or 1h30m')
  let ms = 0
  for (const [, amount, unit] of text.trim().matchAll(/(\d+)(ms|s|m|h|d)/g)) ms += Number(amount) * UNIT_MS[unit!]!
  if (ms < min || ms > max) throw configError(source, key, `must be from ${min / 1_000} s to ${max / 1_000} s`)
  return ms
}

async function file(source: string, key: string, path: string, read: (path: string) => Promise<Buffer>): Promise<Buffer> {
  try {
    return await read(path)
  } catch (error) {
    throw configError(source, key, `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error)
  }
}
