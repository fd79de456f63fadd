import { parseArgs } from 'node:util'
import { UsageError } from './errors'

/** One command-line option: its type, the placeholder of its value, one line of help. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean'
  /** May be given several times (its value is then a list). */
  readonly multiple?: boolean
  readonly short?: string
  /** Placeholder of the value in usage text, e.g. "N". */
  readonly value?: string
  readonly help: string
}

/**
 * Every option of every command, in one table so that a name means one thing throughout (`--ext`
 * is always an extension) and `util.parseArgs` can split the whole command line in one pass.
 * Which command accepts which option is said by the command's own list.
 */
export const OPTIONS = {
  registry: { type: 'string', value: 'HOST:PORT', help: 'registry address, or a comma list of IPv4 ones to fail over (env FLEXSEAT_REGISTRY; default 127.0.0.1:50051)' },
  token: { type: 'string', value: 'TOKEN', help: 'bearer token (env FLEXSEAT_TOKEN); visible in the process list, prefer --token-file' },
  'token-file': { type: 'string', value: 'FILE', help: 'read the bearer token from FILE' },
  'tls-ca': { type: 'string', value: 'FILE', help: 'use TLS, trusting the CA certificate(s) in FILE' },
  'tls-cert': { type: 'string', value: 'FILE', help: 'client certificate for mutual TLS (with --tls-key)' },
  'tls-key': { type: 'string', value: 'FILE', help: 'client private key for mutual TLS (with --tls-cert)' },
  timeout: { type: 'string', value: 'MS', help: 'deadline of each call in milliseconds (default 10000)' },
  json: { type: 'boolean', help: 'machine output: one JSON document (JSON lines for watch)' },
  help: { type: 'boolean', short: 'h', help: 'print usage' },

  id: { type: 'string', value: 'ID', help: 'record id (letters a-z, digits, - _ .; generated when omitted)' },
  ext: { type: 'string', value: 'N', help: 'extension (2 to 15 digits)' },
  name: { type: 'string', value: 'TEXT', help: 'display name' },
  home: { type: 'string', value: 'SITE', help: 'home site id' },
  did: { type: 'string', value: 'E164', help: 'direct inward dialling number, e.g. +31201234567' },
  email: { type: 'string', value: 'ADDR', help: 'e-mail address' },
  mobile: { type: 'string', value: 'NUMBER', help: 'mobile number' },
  department: { type: 'string', value: 'TEXT', help: 'department' },
  roaming: { type: 'boolean', help: 'may sit at desks of other sites' },
  'no-roaming': { type: 'boolean', help: 'may sit only at desks of the home site' },
  'max-hours': { type: 'string', value: 'N', help: 'seats end after N hours (a user: 0 is no limit; a policy: 1 to 999, or "none")' },
  fallback: { type: 'string', value: 'URI', help: 'where calls go while not seated (SIP URI or extension)' },
  'given-name': { type: 'string', value: 'TEXT', help: 'given name' },
  surname: { type: 'string', value: 'TEXT', help: 'family name' },
  username: { type: 'string', value: 'NAME', help: 'login name in the company directory (sAMAccountName)' },
  'fkey-profile': { type: 'string', value: 'NAME', help: 'function-key profile of the worker\'s desk (a name, like an id)' },
  'pin-stdin': { type: 'boolean', help: 'read the PIN from stdin (prompted without echo on a terminal)' },
  pin: { type: 'string', value: 'N', help: 'the PIN on the command line (for scripts: visible in the process list)' },

  site: { type: 'string', value: 'SITE', help: 'site id' },
  label: { type: 'string', value: 'TEXT', help: 'a device: where the phone stands, e.g. "desk 3"; a user: the line label at a desk (at most 32)' },
  mac: { type: 'string', value: 'MAC', help: 'the phone\'s MAC address (12 hex digits, ":" or "-" allowed; "" removes it)' },
  vendor: { type: 'string', value: 'NAME', help: 'the phone family, which provisioning format it gets: yealink, snom, poly or generic' },
  language: { type: 'string', value: 'TAG', help: 'the worker\'s language at a desk, e.g. de or en-US (default: the site\'s)' },
  key: { type: 'string', multiple: true, value: 'TYPE:VALUE[:LABEL]', help: 'a function key, in order (repeat): blf:1002:Alan, speed-dial:0301234:Office, line::Line' },
  'no-keys': { type: 'boolean', help: 'remove the user\'s own function keys (the profile applies again)' },
  'lamp-caller': { type: 'string', value: 'show|hide|branch', help: 'whether busy lamps watching the worker name the other party (branch: the SIP node\'s FLEXSEAT_BLF_SHOW_CALLER)' },
  description: { type: 'string', value: 'TEXT', help: 'what the profile is for' },
  model: { type: 'string', value: 'TEXT', help: 'phone model' },
  'flex-host': { type: 'boolean', help: 'the desk may host flex workers' },
  'no-flex-host': { type: 'boolean', help: 'the desk may not host flex workers' },

  timezone: { type: 'string', value: 'TZ', help: 'IANA time zone, e.g. Europe/Berlin' },
  emergency: { type: 'string', multiple: true, value: 'NUMBER', help: 'emergency number (repeat, or a comma list)' },
  location: { type: 'string', value: 'TEXT', help: 'dispatchable location sent with emergency calls' },
  trunk: { type: 'string', value: 'URI', help: 'SIP URI of the site\'s inter-site trunk' },
  'sip-domain': { type: 'string', value: 'DOMAIN', help: 'SIP domain and digest realm of the site\'s phones' },
  'sip-password-stdin': { type: 'boolean', help: 'read the phone\'s SIP password from stdin (prompted without echo on a terminal)' },

  classes: {
    type: 'string',
    multiple: true,
    value: 'CLASS',
    help: 'toll classes it may call (repeat, or a comma list): internal, local, national, mobile, international, premium; "site" for the site\'s',
  },
  device: { type: 'string', value: 'ID', help: 'device id' },
  user: { type: 'string', value: 'ID', help: 'user id' },
  hours: { type: 'string', value: 'N', help: 'limit the seat to N hours (default: the user\'s maximum)' },
  reason: { type: 'string', value: 'admin|logout', help: 'reason recorded with the release (default admin)' },
  from: { type: 'string', value: 'REV|DATE', help: 'watch: resume after this etcd revision (default: start with a snapshot); report: the first day, YYYY-MM-DD' },
  to: { type: 'string', value: 'DATE', help: 'the last day of a report, YYYY-MM-DD (inclusive)' },
  csv: { type: 'boolean', help: 'comma-separated values (RFC 4180), one table after another' },
  limit: { type: 'string', value: 'N', help: 'at most N entries (default: all the registry keeps)' },

  daily: { type: 'string', value: 'HH:MM', help: 'policy: sign out every day at this local time of the desk\'s site, or "none"' },
  'idle-minutes': { type: 'string', value: 'N', help: 'policy: sign out after N minutes without a call (1 to 10080), or "none"' },
  defer: { type: 'boolean', help: 'policy: an end due during a call waits for the call\'s end (the default)' },
  'no-defer': { type: 'boolean', help: 'policy: an end due during a call happens at once' },
  'defer-max-minutes': { type: 'string', value: 'N', help: 'policy: an end waits for a call at most N minutes (1 to 1440; default 240)' },
  'warn-minutes': { type: 'string', value: 'N', help: 'policy: warn the desk N minutes before a scheduled end (1 to 240), or "none"' },

  'dry-run': { type: 'boolean', help: 'plan only: print the changes and conflicts, write nothing' },
  incremental: { type: 'boolean', help: 'read only the entries changed since the last sync (default: a full sync)' },

  'state-dir': { type: 'string', value: 'DIR', help: 'the simulation\'s state folder (env FLEXSEAT_STATE_DIR; default ./.state)' },
  follow: { type: 'boolean', short: 'f', help: 'keep printing what is appended, until Ctrl-C' },
  raw: { type: 'boolean', help: 'print the log lines as written (JSON records unshortened)' },
} as const satisfies Record<string, OptionSpec>

/** The name of an option, without dashes. */
export type OptionName = keyof typeof OPTIONS

/** Options every command accepts. */
export const GLOBAL_OPTIONS: readonly OptionName[] = ['registry', 'token', 'token-file', 'tls-ca', 'tls-cert', 'tls-key', 'timeout', 'json', 'help']

/** A command line split into words (positionals) and options. */
export interface ParsedArgs {
  /** Every positional, command words first. */
  readonly words: readonly string[]
  /** The options given, by name; repeatable options are lists. */
  readonly values: Readonly<Partial<Record<OptionName, string | boolean | string[]>>>
}

function isOptionName(name: string): name is OptionName {
  return Object.hasOwn(OPTIONS, name)
}

/**
 * Splits argv (without node and the script) with `util.parseArgs`. Options may come anywhere,
 * before or after the command words; `--` ends the options. Throws a {@link UsageError} for an
 * unknown option, a missing value, or a value given to a flag. Error messages never echo a value
 * (it could be a PIN or a token).
 */
export function parseArgv(argv: readonly string[]): ParsedArgs {
  const { tokens } = parseArgs({ args: [...argv], options: OPTIONS, strict: false, allowPositionals: true, tokens: true })
  const words: string[] = []
  const values: Partial<Record<OptionName, string | boolean | string[]>> = {}
  for (const token of tokens) {
    if (token.kind === 'positional') {
      words.push(token.value)
      continue
    }
    if (token.kind !== 'option') continue
    if (!isOptionName(token.name)) throw new UsageError(`unknown option ${token.rawName}`)
    const spec: OptionSpec = OPTIONS[token.name]
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`option --${token.name} takes no value`)
      values[token.name] = true
      continue
    }
    // Non-strict parseArgs takes the next word as the value even when it is another option.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-') && token.value.length > 1)) {
      throw new UsageError(`option --${token.name} needs a value${token.value === undefined ? '' : ` (write --${token.name}=VALUE for a value starting with "-")`}`)
    }
    if (spec.multiple === true) {
      const list = (values[token.name] as string[] | undefined) ?? []
      list.push(token.value)
      values[token.name] = list
    } else {
      if (values[token.name] !== undefined) throw new UsageError(`option --${token.name} given twice`)
      values[token.name] = token.value
    }
  }
  return { words, values }
}

/**
 * The options and positionals of one command, with typed accessors that throw a
 * {@link UsageError} naming the option at fault.
 */
export class CommandInput {
  /** The command, e.g. "user create" (for messages). */
  readonly command: string
  /** The positionals after the command words. */
  readonly positionals: readonly string[]
  readonly #values: ParsedArgs['values']

  constructor(command: string, positionals: readonly string[], values: ParsedArgs['values']) {
    this.command = command
    this.positionals = positionals
    this.#values = values
  }

  /** Whether the option was given. */
  has(name: OptionName): boolean {
    return this.#values[name] !== undefined
  }

  /** A boolean option: true when given. */
  flag(name: OptionName): boolean {
    return this.#values[name] === true
  }

  /** A string option's value, or undefined. */
  string(name: OptionName): string | undefined {
    const value = this.#values[name]
    return typeof value === 'string' ? value : undefined
  }

  /** A string option that must be given. */
  required(name: OptionName): string {
    const value = this.string(name)
    if (value === undefined) throw new UsageError(`${this.command}: --${name} is required`, this.command)
    return value
  }

  /** A repeatable option's values, each split at commas; undefined when not given. */
  list(name: OptionName): string[] | undefined {
    const value = this.#values[name]
    if (value === undefined) return undefined
    const items = Array.isArray(value) ? value : [String(value)]
    return items.flatMap((item) => item.split(',')).map((item) => item.trim()).filter((item) => item !== '')
  }

  /** A repeatable option's values as given (not split at commas); undefined when not given. */
  all(name: OptionName): string[] | undefined {
    const value = this.#values[name]
    if (value === undefined) return undefined
    return Array.isArray(value) ? value : [String(value)]
  }

  /** A whole number option (0 or more, at most `max`), or undefined. */
  integer(name: OptionName, max = 2 ** 32 - 1): number | undefined {
    const value = this.string(name)
    if (value === undefined) return undefined
    if (!/^[0-9]+$/.test(value) || Number(value) > max) {
      throw new UsageError(`${this.command}: --${name} must be a whole number from 0 to ${max}`, this.command)
    }
    return Number(value)
  }

  /** A boolean with a --no- twin: true, false, or undefined when neither was given. */
  toggle(on: OptionName, off: OptionName): boolean | undefined {
    if (this.flag(on) && this.flag(off)) throw new UsageError(`${this.command}: give --${on} or --${off}, not both`, this.command)
    if (this.flag(on)) return true
    if (this.flag(off)) return false
    return undefined
  }

  /** Exactly one of the named options, as [name, value]. */
  oneOf<N extends OptionName>(names: readonly N[]): [N, string] {
    const given = names.filter((name) => this.has(name))
    if (given.length !== 1) {
      throw new UsageError(`${this.command}: give exactly one of ${names.map((name) => `--${name}`).join(', ')}`, this.command)
    }
    const name = given[0] as N
    return [name, this.required(name)]
  }
}
