import { ConfigError } from './errors'
import { parseHostPort } from './host-port'
import { validateEmergency } from './emergency'
import { validateSipSecurity } from './sip-security'
import { validateTollClasses } from './toll-classes'
import { checkSipUri, DOMAIN_PATTERN } from './sip-uri'
import type { SiteConfig } from './site-config'

/** Site ids: lower case, as they appear in file names, etcd keys and container names. */
export const SITE_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/
/** etcd member names (`--name`); also used as container host names in docker-compose. */
const ETCD_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** A feature code is a star and one to four digits, as on @COM (`*51`) and most PBXs. */
const FEATURE_CODE_PATTERN = /^\*[0-9]{1,4}$/
/** Emergency numbers are dialled digits (`112`, `911`, `933`). */
const DIAL_STRING_PATTERN = /^[0-9]{1,15}$/
/** BCP 47 language tags as far as phones care: a language and up to two subtags. */
const LANGUAGE_PATTERN = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,2}$/

/**
 * Reads one mapping of the YAML document, remembering which keys were read so that a
 * misspelt key (`client_ulr`) is reported instead of silently ignored.
 */
export class Section {
  readonly #file: string
  readonly #path: string
  readonly #value: Record<string, unknown>
  readonly #read = new Set<string>()

  constructor(file: string, path: string, value: unknown) {
    this.#file = file
    this.#path = path
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.#error(undefined, value === undefined || value === null ? 'is missing' : 'must be a mapping')
    }
    this.#value = value as Record<string, unknown>
  }

  field(key: string): string {
    return this.#path === '' ? key : `${this.#path}.${key}`
  }

  fail(key: string | undefined, problem: string): ConfigError {
    return this.#error(key, problem)
  }

  /** A nested mapping, or undefined when the key is absent (or null). */
  optionalSection(key: string): Section | undefined {
    if (this.#value[key] === undefined || this.#value[key] === null) {
      this.#read.add(key)
      return undefined
    }
    return this.section(key)
  }

  /** Whether the key is present (and not null). */
  has(key: string): boolean {
    const value = this.#value[key]
    if (value === undefined || value === null) this.#read.add(key)
    return value !== undefined && value !== null
  }

  section(key: string): Section {
    this.#read.add(key)
    return new Section(this.#file, this.field(key), this.#value[key])
  }

  /** Like {@link string}, but absent (or null) gives undefined. */
  optionalString(key: string, check?: (value: string) => string | undefined): string | undefined {
    const value = this.#value[key]
    if (value === undefined || value === null) {
      this.#read.add(key)
      return undefined
    }
    return this.string(key, check)
  }

  string(key: string, check?: (value: string) => string | undefined): string {
    this.#read.add(key)
    const value = this.#value[key]
    if (value === undefined || value === null) throw this.#error(key, 'is missing')
    if (typeof value !== 'string') throw this.#error(key, `must be a string (quote it), not ${describe(value)}`)
    if (value.trim() === '') throw this.#error(key, 'must not be empty')
    const problem = check?.(value)
    if (problem !== undefined) throw this.#error(key, problem)
    return value
  }

  /** An integer in [min, max], or `fallback` when the key is absent (or null). */
  optionalInteger(key: string, fallback: number, min: number, max: number): number {
    this.#read.add(key)
    const value = this.#value[key]
    if (value === undefined || value === null) return fallback
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.#error(key, `must be a whole number, not ${describe(value)}`)
    if (value < min || value > max) throw this.#error(key, `must be between ${min} and ${max}, not ${value}`)
    return value
  }

  /** true or false, or `fallback` when the key is absent (or null). */
  optionalBoolean(key: string, fallback: boolean): boolean {
    this.#read.add(key)
    const value = this.#value[key]
    if (value === undefined || value === null) return fallback
    if (typeof value !== 'boolean') throw this.#error(key, `must be true or false, not ${describe(value)}`)
    return value
  }

  strings(key: string, check: (value: string) => string | undefined): string[] {
    this.#read.add(key)
    const value = this.#value[key]
    if (value === undefined || value === null) throw this.#error(key, 'is missing')
    if (!Array.isArray(value)) throw this.#error(key, `must be a list, not ${describe(value)}`)
    if (value.length === 0) throw this.#error(key, 'must list at least one entry')
    return value.map((item: unknown, index) => {
      const field = `${key}[${index}]`
      if (typeof item !== 'string') throw this.#error(field, `must be a string (quote it), not ${describe(item)}`)
      const problem = check(item)
      if (problem !== undefined) throw this.#error(field, problem)
      return item
    })
  }

  /** Throws on the first key that was never read. */
  done(): void {
    const unknown = Object.keys(this.#value).find((key) => !this.#read.has(key))
    if (unknown !== undefined) throw this.#error(unknown, 'is not a known field (misspelt?)')
  }

  #error(key: string | undefined, problem: string): ConfigError {
    const field = key === undefined ? (this.#path === '' ? undefined : this.#path) : this.field(key)
    return new ConfigError('CONFIG_INVALID', this.#file, field, problem)
  }
}

/**
 * Validates one parsed site document and returns it in camelCase.
 * @param file used only in error messages
 * @throws ConfigError (`CONFIG_INVALID`) naming the file and the first field at fault
 */
export function validateSite(document: unknown, file: string): SiteConfig {
  const root = new Section(file, '', document)
  const id = root.string('id', (v) => (SITE_ID_PATTERN.test(v) ? undefined : `"${v}" must match ${SITE_ID_PATTERN.source} (lower case letters, digits, '.', '_', '-')`))
  const name = root.string('name')
  const timezone = root.string('timezone', checkTimezone)
  const emergencyNumbers = root.strings('emergency_numbers', (v) => (DIAL_STRING_PATTERN.test(v) ? undefined : `"${v}" must be 1 to 15 digits`))
  const dispatchableLocation = root.string('dispatchable_location')

  const etcdSection = root.section('etcd')
  const etcd = {
    name: etcdSection.string('name', (v) => (ETCD_NAME_PATTERN.test(v) ? undefined : `"${v}" must match ${ETCD_NAME_PATTERN.source}`)),
    clientUrl: etcdSection.string('client_url', checkEtcdUrl),
    peerUrl: etcdSection.string('peer_url', checkEtcdUrl),
  }
  etcdSection.done()

  const registrySection = root.section('registry')
  const registry = { listen: registrySection.string('listen', checkHostPort) }
  registrySection.done()

  const sipSection = root.section('sip')
  const sip = {
    contact: sipSection.string('contact', checkSipUri),
    control: sipSection.string('control', checkHostPort),
    domain: sipSection.string('domain', (v) => (DOMAIN_PATTERN.test(v) ? undefined : `"${v}" is not a valid domain name`)),
    trunkUri: sipSection.string('trunk_uri', checkSipUri),
    carrierUri: sipSection.optionalString('carrier_uri', checkSipUri),
  }
  sipSection.done()

  const codesSection = root.section('feature_codes')
  const checkCode = (v: string): string | undefined => (FEATURE_CODE_PATTERN.test(v) ? undefined : `"${v}" must be '*' followed by 1 to 4 digits, e.g. "*51"`)
  const featureCodes = { login: codesSection.string('login', checkCode), changePin: codesSection.string('change_pin', checkCode) }
  if (featureCodes.login === featureCodes.changePin) throw codesSection.fail('change_pin', `"${featureCodes.changePin}" is already the login code`)
  codesSection.done()

  const planSection = root.section('dial_plan')
  const extension = planSection.string('extension', checkRegExp)
  const external = planSection.string('external', checkRegExp)
  const classes = validateTollClasses(planSection, checkRegExp)
  const dialPlan = { extension, external, ...(classes === undefined ? {} : { classes }) }
  planSection.done()

  const emergency = validateEmergency(root.optionalSection('emergency'))
  const sipSecurity = validateSipSecurity(root.optionalSection('sip_security'))
  const language = root.optionalString('language', (v) => (LANGUAGE_PATTERN.test(v) ? undefined : `"${v}" must be a language tag such as "de" or "en-US"`)) ?? 'en'

  let provisioning: SiteConfig['provisioning']
  if (root.has('provisioning')) {
    const section = root.section('provisioning')
    provisioning = {
      listen: section.string('listen', checkHostPort),
      url: section.optionalString('url', checkHttpUrl),
      defaultProfile: section.optionalString('default_profile', (v) => (SITE_ID_PATTERN.test(v) ? undefined : `"${v}" must be a profile name (${SITE_ID_PATTERN.source})`)),
      blfList: section.optionalBoolean('blf_list', false),
    }
    section.done()
  }

  let portal: SiteConfig['portal']
  if (root.has('portal')) {
    const section = root.section('portal')
    portal = { listen: section.string('listen', checkHostPort), url: section.optionalString('url', checkHttpUrl) }
    section.done()
  }

  root.done()
  return {
    id,
    name,
    timezone,
    emergencyNumbers,
    dispatchableLocation,
    etcd,
    registry,
    sip,
    featureCodes,
    dialPlan,
    language,
    sipSecurity,
    ...(provisioning === undefined ? {} : { provisioning }),
    ...(portal === undefined ? {} : { portal }),
    ...(emergency === undefined ? {} : { emergency }),
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list'
  if (value === null) return 'null'
  return typeof value === 'object' ? 'a mapping' : `${typeof value} ${String(value)}`
}

function checkTimezone(value: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value })
    return undefined
  } catch {
    return `"${value}" is not an IANA time zone (e.g. "Europe/Berlin")`
  }
}

function checkHostPort(value: string): string | undefined {
  return parseHostPort(value) === undefined ? `"${value}" must be host:port with a port from 0 to 65535 (IPv6 in brackets)` : undefined
}

function checkHttpUrl(value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return `"${value}" is not a URL (e.g. "https://prov.berlin.example.com:8443")`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${value}" must be an http:// or https:// URL`
  if (url.search !== '' || url.hash !== '' || url.username !== '') return `"${value}" must be scheme://host[:port][/path] only`
  return undefined
}

function checkEtcdUrl(value: string): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return `"${value}" is not a URL (e.g. "http://127.0.0.1:2379")`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${value}" must be an http:// or https:// URL`
  if (url.port === '') return `"${value}" must name a port`
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '') return `"${value}" must be scheme://host:port only`
  return undefined
}

function checkRegExp(value: string): string | undefined {
  try {
    new RegExp(value)
    return undefined
  } catch (error) {
    return `"${value}" is not a valid regular expression: ${(error as Error).message}`
  }
}
