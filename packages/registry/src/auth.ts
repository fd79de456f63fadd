import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Metadata } from '@grpc/grpc-js'
import { ErrorCode } from '@flexseat/proto'
import { parse as parseYaml } from 'yaml'
import type { Caller, Role } from './caller'
import { RegistryError } from './errors'
import { PIN_CHECK_KEY, parsePinCheck } from './pin-check'
import { isSiteBound, SITE_BOUND_ROLES } from './site-scope'

/** The metadata key with which a registry instance names the original caller of a forwarded call. */
export const ON_BEHALF_OF_KEY = 'x-flexseat-on-behalf-of'

/** Every RPC of the registry's four services, by its proto name. */
export type RpcName =
  | 'Login'
  | 'Logout'
  | 'RenewSeat'
  | 'GetSeat'
  | 'ListSeats'
  | 'WatchSeats'
  | 'CreateUser'
  | 'UpdateUser'
  | 'DeleteUser'
  | 'GetUser'
  | 'ListUsers'
  | 'ChangePin'
  | 'ResetPin'
  | 'ClearLockout'
  | 'CreateDevice'
  | 'UpdateDevice'
  | 'DeleteDevice'
  | 'GetDevice'
  | 'ListDevices'
  | 'GetDeviceCredentials'
  | 'CreateSite'
  | 'UpdateSite'
  | 'DeleteSite'
  | 'GetSite'
  | 'ListSites'
  | 'GetClusterStatus'
  | 'RenewLease'
  | 'ReleaseLease'
  | 'AckRevocations'
  | 'ReportBindings'
  | 'ListBindings'
  | 'SyncDirectory'
  | 'GetDirectorySyncStatus'
  | 'ReportCalls'
  | 'ListCalls'
  | 'SetFunctionKeyProfile'
  | 'DeleteFunctionKeyProfile'
  | 'GetFunctionKeyProfile'
  | 'ListFunctionKeyProfiles'
  | 'UnlockUser'
  | 'ListFreeDesks'
  | 'ListSeatHistory'
  | 'CreateSession'
  | 'GetSession'
  | 'EndSession'
  | 'GetOccupancyReport'
  | 'SetSeatPolicy'
  | 'ReportCallActivity'
  | 'WatchDialogs'
  | 'DeleteSeatPolicy'
  | 'GetSeatPolicy'
  | 'GetEffectiveSeatPolicy'

const READS: readonly RpcName[] = [
  'GetSeat',
  'ListSeats',
  'WatchSeats',
  'GetUser',
  'ListUsers',
  'GetDevice',
  'ListDevices',
  'GetSite',
  'ListSites',
  'GetClusterStatus',
  'ListBindings',
  'GetDirectorySyncStatus',
  'GetFunctionKeyProfile',
  'ListFunctionKeyProfiles',
  'ListFreeDesks',
  'ListSeatHistory',
  'GetSeatPolicy',
  'GetEffectiveSeatPolicy',
]

const SIP_NODE: readonly RpcName[] = [
  'Login',
  'Logout',
  'RenewSeat',
  'GetSeat',
  'ListSeats',
  'WatchSeats',
  'ChangePin',
  'GetUser',
  'ListUsers',
  'GetDevice',
  'ListDevices',
  'GetDeviceCredentials',
  'GetSite',
  'ListSites',
  'GetClusterStatus',
  'RenewLease',
  'ReleaseLease',
  'AckRevocations',
  'ReportBindings',
  'ListBindings',
  'ReportCalls',
  'ReportCallActivity',
  'WatchDialogs',
  'ListCalls',
  // The BLF keys of a desk, for its busy-lamp list (RFC 4662), read as provisioning reads them.
  'GetFunctionKeyProfile',
]

/**
 * What a branch's provisioning service needs: a phone's device (by MAC) and digest credentials
 * (HA1: a phone's file is fetched with the phone's own credentials), the seat at it, the seated
 * worker's profile, the softkey sign-in and sign-out (Login with the worker's PIN, Logout), and
 * the call-list page (ListCalls of the worker seated at one of its desks). Nothing of the confirmation lease, the seat stream or the phones' bindings.
 */
const PROVISIONING: readonly RpcName[] = [
  'Login',
  'Logout',
  'GetSeat',
  'GetUser',
  'GetDevice',
  'GetDeviceCredentials',
  'GetSite',
  'GetFunctionKeyProfile',
  'GetClusterStatus',
  'ListCalls',
]

/**
 * A web portal's own credential opens sessions and nothing else: every other call it makes
 * presents a session (sessions.ts) and runs as the session's principal.
 */
const PORTAL: readonly RpcName[] = ['CreateSession']

/**
 * What a worker's portal session may call: for the worker's own seat, record, PIN, history and
 * call list (session-scope.ts confines them to the worker), and the places and free desks to
 * choose from.
 */
const WORKER: readonly RpcName[] = [
  'GetSession',
  'EndSession',
  'Login',
  'Logout',
  'GetSeat',
  'GetUser',
  'ChangePin',
  'ListSites',
  'GetSite',
  'GetDevice',
  'ListFreeDesks',
  'ListSeatHistory',
  'ListCalls',
]

/**
 * Which roles may call which RPC: admin and registry may call everything; portal only
 * CreateSession, worker (a portal session's) what WORKER lists; sip-node what a branch's
 * SIP node needs (sign-in/out, PIN change, lookups, the seat stream, phones' digest credentials,
 * its branch's confirmation lease and revocation acks, its phones' bindings); provisioning what
 * a branch's provisioning service needs (see PROVISIONING);
 * viewer every read except GetDeviceCredentials (HA1 is a password equivalent), phone bindings
 * included (they hold no secret).
 */
export function mayCall(role: Role, rpc: RpcName): boolean {
  switch (role) {
    case 'admin':
    case 'registry':
      return true
    case 'sip-node':
      return SIP_NODE.includes(rpc)
    case 'provisioning':
      return PROVISIONING.includes(rpc)
    case 'viewer':
      return READS.includes(rpc)
    case 'portal':
      return PORTAL.includes(rpc)
    case 'worker':
      return WORKER.includes(rpc)
  }
}

/** One entry of the tokens file. */
export interface TokenEntry {
  readonly name: string
  readonly role: Role
  /** SHA-256 of the token, 32 bytes. */
  readonly sha256: Buffer
  /**
   * The branch a `sip-node` or `provisioning` token acts for (required for those roles, refused for
   * the others): its BranchService calls, phone credentials, sign-outs and (provisioning) phone
   * reads are confined to this site (site-scope.ts).
   */
  readonly site?: string
}

/** Roles of the tokens file (`worker` is only ever a portal session's). */
const ROLES: readonly Role[] = ['admin', 'sip-node', 'provisioning', 'viewer', 'registry', 'portal']
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/
const SHA256_HEX = /^[0-9a-f]{64}$/
/** Site ids, as sites/<id>.yaml and the directory spell them. */
const SITE = /^[a-z0-9][a-z0-9._-]{0,63}$/

/** The tokens file is malformed; the message names the entry and field (never a token). */
export class TokensFileError extends Error {
  override readonly name = 'TokensFileError'
}

/**
 * Parses a tokens file (YAML: `tokens: [{name, role, sha256, site?}]`, each token stored only as
 * its SHA-256 in hex; every `sip-node` and `provisioning` token names the `site` it acts for, no
 * other does).
 * Throws {@link TokensFileError} naming the entry at fault.
 */
export function parseTokens(text: string, source = 'tokens file'): TokenEntry[] {
  let document: unknown
  try {
    document = parseYaml(text)
  } catch (error) {
    throw new TokensFileError(`${source}: not valid YAML`, { cause: error })
  }
  const list = (document as { tokens?: unknown } | null)?.tokens
  if (!Array.isArray(list)) throw new TokensFileError(`${source}: tokens: must be a list`)
  const names = new Set<string>()
  return list.map((raw: unknown, index) => {
    const where = `${source}: tokens[${index}]`
    if (typeof raw !== 'object' || raw === null) throw new TokensFileError(`${where}: must be a mapping`)
    const { name, role, sha256, site } = raw as Record<string, unknown>
    if (typeof name !== 'string' || !NAME.test(name)) throw new TokensFileError(`${where}.name: 1 to 64 of letters, digits, '.', '_', '@', '-'`)
    if (names.has(name)) throw new TokensFileError(`${where}.name: duplicate`)
    names.add(name)
    if (typeof role !== 'string' || !ROLES.includes(role as Role)) throw new TokensFileError(`${where}.role: one of ${ROLES.join(', ')}`)
    const hex = typeof sha256 === 'string' ? sha256.toLowerCase() : ''
    if (!SHA256_HEX.test(hex)) throw new TokensFileError(`${where}.sha256: 64 hexadecimal digits`)
    // A branch's node and provisioning service act for their own branch only: a token that could
    // act for every branch would let one compromised branch release, renew and acknowledge for the
    // others, or read their phones' credentials (site-scope.ts).
    if (isSiteBound(role as Role)) {
      if (typeof site !== 'string' || !SITE.test(site)) throw new TokensFileError(`${where}.site: a ${role} token names the site it acts for (^[a-z0-9][a-z0-9._-]{0,63}$)`)
      return { name, role: role as Role, sha256: Buffer.from(hex, 'hex'), site }
    }
    if (site !== undefined) throw new TokensFileError(`${where}.site: only ${SITE_BOUND_ROLES.join(' and ')} tokens name a site`)
    return { name, role: role as Role, sha256: Buffer.from(hex, 'hex') }
  })
}

/** Reads and parses a tokens file. */
export async function loadTokensFile(path: string): Promise<TokenEntry[]> {
  return parseTokens(await readFile(path, 'utf8'), path)
}

/** SHA-256 of a token in hex, as the tokens file stores it. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** The metadata key of a portal session token (sessions.ts). */
export const SESSION_KEY = 'x-flexseat-session'

/** The session token of a call's metadata, when it carries exactly one that is well formed. */
export function sessionTokenOf(metadata: Metadata): string | undefined {
  const values = metadata.get(SESSION_KEY)
  if (values.length !== 1 || typeof values[0] !== 'string') return undefined
  return SESSION_TOKEN.test(values[0]) ? values[0] : undefined
}

/** A session token: 32 to 256 characters of base64url (the portal's are 43). */
const SESSION_TOKEN = /^[A-Za-z0-9_-]{32,256}$/

function unauthenticated(): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_UNAUTHENTICATED, 'unauthenticated')
}

function permissionDenied(): RegistryError {
  return new RegistryError(ErrorCode.ERROR_CODE_PERMISSION_DENIED, 'permission denied')
}

/**
 * Authenticates callers by bearer token against the tokens file and checks their role against
 * the RPC. With no tokens (no file configured) every call is refused.
 *
 * Refusals carry no detail that helps an attacker: UNAUTHENTICATED for a missing, malformed or
 * unknown token alike, PERMISSION_DENIED for a known caller whose role may not make the call.
 */
export class Authenticator {
  readonly #tokens: readonly TokenEntry[]

  constructor(tokens: readonly TokenEntry[]) {
    this.#tokens = tokens
  }

  /** Whether any token is configured (without a tokens file every call is refused). */
  get enabled(): boolean {
    return this.#tokens.length > 0
  }

  /**
   * The caller a request comes from: the token's owner (with its site, for a site-bound role) or,
   * for callers with the registry role that pass `x-flexseat-on-behalf-of: <name>/<role>[/<site>]`,
   * the original caller named there (with the forwarder's PIN verdict, `x-flexseat-pin-check`,
   * when given; other callers' verdicts are ignored). A forwarded site-bound caller without a site
   * is refused: the instance that forwarded it knew the site, so the value is not ours. A portal
   * that presents a session (`x-flexseat-session`) comes back with the token to resolve
   * (`sessionToken`), unchecked against `rpc`: the service layer resolves it to the session's
   * principal and checks that (service-handlers.ts).
   * Throws RegistryError UNAUTHENTICATED, PERMISSION_DENIED or SESSION_INVALID.
   */
  authenticate(metadata: Metadata, rpc: RpcName): Caller {
    const direct = this.#tokenOwner(metadata)
    const onBehalf = metadata.get(ON_BEHALF_OF_KEY)
    if (onBehalf.length === 0) return this.#withSession(direct, metadata, rpc)
    if (direct.role !== 'registry' || onBehalf.length !== 1 || typeof onBehalf[0] !== 'string') throw permissionDenied()
    const original = parseOnBehalfOf(onBehalf[0])
    if (original === undefined) throw permissionDenied()
    if (isSiteBound(original.role) && original.site === undefined) throw permissionDenied()
    // A forwarding instance's PIN verdict: trusted from the registry role only (see pin-check.ts).
    const checks = metadata.get(PIN_CHECK_KEY)
    const pinCheck = checks.length === 1 ? parsePinCheck(checks[0]) : undefined
    const caller = pinCheck === undefined ? original : { ...original, pinCheck }
    // A portal's call forwarded by another instance: its session is resolved here again.
    if (original.role === 'portal') return this.#withSession(caller, metadata, rpc)
    if (!mayCall(original.role, rpc)) throw permissionDenied()
    return caller
  }

  /**
   * A portal presenting a session is checked once the session is resolved (the role that counts
   * is the session's principal's): its caller carries the token. Any other caller is checked
   * against `rpc` now; a session header from anyone but a portal is refused.
   */
  #withSession(caller: Caller, metadata: Metadata, rpc: RpcName): Caller {
    const presented = metadata.get(SESSION_KEY).length > 0
    if (caller.role === 'portal' && presented) {
      const sessionToken = sessionTokenOf(metadata)
      if (sessionToken === undefined) throw new RegistryError(ErrorCode.ERROR_CODE_SESSION_INVALID, 'the session token is malformed')
      return { ...caller, sessionToken }
    }
    if (presented || !mayCall(caller.role, rpc)) throw permissionDenied()
    return caller
  }

  /** The name of the admin-role entry `token` matches (constant time per entry), if any. */
  adminName(token: string): string | undefined {
    const digest = createHash('sha256').update(token, 'utf8').digest()
    let found: TokenEntry | undefined
    for (const entry of this.#tokens) {
      if (timingSafeEqual(entry.sha256, digest) && found === undefined) found = entry
    }
    return found?.role === 'admin' ? found.name : undefined
  }

  /** Whether the tokens file has an admin-role entry named `name` (an admin session's token still counts). */
  hasAdmin(name: string): boolean {
    return this.#tokens.some((entry) => entry.role === 'admin' && entry.name === name)
  }

  #tokenOwner(metadata: Metadata): Caller {
    const values = metadata.get('authorization')
    if (values.length !== 1 || typeof values[0] !== 'string') throw unauthenticated()
    const match = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(values[0])
    if (match === null) throw unauthenticated()
    const digest = createHash('sha256').update(match[1]!, 'utf8').digest()
    // Compare with every entry, each in constant time, so that timing tells nothing about which
    // entry (if any) matched.
    let found: TokenEntry | undefined
    for (const entry of this.#tokens) {
      if (timingSafeEqual(entry.sha256, digest) && found === undefined) found = entry
    }
    if (found === undefined) throw unauthenticated()
    return found.site === undefined ? { name: found.name, role: found.role } : { name: found.name, role: found.role, site: found.site }
  }
}

/**
 * The value of `x-flexseat-on-behalf-of` for a caller: `<name>/<role>`, plus `/<site>` for a
 * site-bound role (site-scope.ts); for a caller resolved from a portal session, the portal
 * (`<portal name>/portal`): the leader resolves the session again from the forwarded session
 * header, never from a name.
 */
export function formatOnBehalfOf(caller: Caller): string {
  if (caller.session !== undefined) return `${caller.session.portal}/portal`
  return caller.site === undefined ? `${caller.name}/${caller.role}` : `${caller.name}/${caller.role}/${caller.site}`
}

function parseOnBehalfOf(value: string): Caller | undefined {
  // Neither names, roles nor site ids contain a slash.
  const [name, role, site, ...rest] = value.split('/') as [string, Role, string | undefined, ...string[]]
  if (rest.length > 0 || name === undefined || role === undefined || !NAME.test(name) || !ROLES.includes(role)) return undefined
  if (site === undefined) return { name, role }
  if (!isSiteBound(role) || !SITE.test(site)) return undefined
  return { name, role, site }
}
