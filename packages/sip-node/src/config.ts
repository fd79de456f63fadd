import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadSites, parseHostPort, type SiteConfig } from '@flexseat/config'
import { SipNodeError } from './errors'

/**
 * The SIP node process' configuration, loaded and validated once by {@link loadSipNodeConfig} in
 * main.ts and passed down read-only. Environment names and defaults: packages/sip-node/README.md.
 */
export interface SipNodeConfig {
  /** This node's own site (`--site`). */
  site: SiteConfig
  /**
   * Every site of the sites folder, own included, by id; FLEXSEAT_TRUNK_URIS
   * (`<site>=<sip URI>,...`) replaces their `sip.trunk_uri`.
   */
  sites: ReadonlyMap<string, SiteConfig>
  /** `host:port` of registry instances, tried in order (FLEXSEAT_REGISTRY_ADDRESSES; default the site's `registry.listen`). */
  registryAddresses: string[]
  /** Bearer token with the registry role `sip-node` (FLEXSEAT_SIP_NODE_TOKEN_FILE wins over FLEXSEAT_SIP_NODE_TOKEN; required). */
  registryToken: string
  /** PEM CA of the registry's TLS certificate (FLEXSEAT_REGISTRY_CA_FILE); TLS is off when undefined. */
  registryCa: Buffer | undefined
  /**
   * The node's client certificate and key for mutual TLS (FLEXSEAT_REGISTRY_CERT_FILE and
   * FLEXSEAT_REGISTRY_KEY_FILE, together, with the CA file); it names the site
   * (`urn:flexseat:site:<id>`), see docs/CONFIGURATION.md.
   */
  registryClientCertificate: { cert: Buffer; key: Buffer } | undefined
  /**
   * The SIP engine's control socket (FLEXSEAT_DRACHTIO_ADDRESS, default the site's `sip.control`;
   * the secret from FLEXSEAT_DRACHTIO_SECRET_FILE, else FLEXSEAT_DRACHTIO_SECRET, default `cymru`).
   */
  drachtio: { host: string; port: number; secret: string }
  /** Shared secret of the inter-site trunk (FLEXSEAT_TRUNK_SECRET_FILE wins over FLEXSEAT_TRUNK_SECRET; required). */
  trunkSecret: string
  /** `${site.id}-${8 random hex}`, new per process: a restarted node is a new lease holder. */
  nodeId: string
  /** Accepted registration intervals in seconds (FLEXSEAT_REGISTRATION_MIN_SECONDS / _MAX_SECONDS, default 60 / 3600). */
  registration: { minSeconds: number; maxSeconds: number }
  /**
   * Busy lamps (busy-lamps.ts): accepted subscription intervals in seconds
   * (FLEXSEAT_BLF_MIN_SECONDS / _MAX_SECONDS, default 60 / 3600: 423 below the minimum, shortened
   * to the maximum), and whether a ringing lamp names the caller (FLEXSEAT_BLF_SHOW_CALLER,
   * default true).
   */
  busyLamps: { minSeconds: number; maxSeconds: number; showCaller: boolean }
  /**
   * How often the node lists the directory again (FLEXSEAT_DIRECTORY_REFRESH_SECONDS, default 10):
   * the longest an edit (a device's profile, a profile's keys, a worker's lamp caller choice)
   * takes to reach the busy lamps already subscribed. Each refresh lists devices and users.
   */
  directoryRefreshSeconds: number
  /**
   * Where the node records its id and pid (FLEXSEAT_SIP_NODE_STATE_DIR, default none), so that the
   * next process, after a crash, takes the branch's lease over at once (previous-node.ts).
   */
  stateDir: string | undefined
  /** pino level (FLEXSEAT_LOG_LEVEL, default `info`). */
  logLevel: string
}

const USAGE = 'usage: flexseat-sip-node --site <id> [--sites-dir <dir>]'
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function invalid(message: string, cause?: unknown): SipNodeError {
  return new SipNodeError('CONFIG_INVALID', message, cause === undefined ? { retryable: false } : { cause, retryable: false })
}

/**
 * Reads `flexseat-sip-node --site <id> [--sites-dir <dir>]` (sites folder default `./sites`,
 * relative to `cwd`) and the `FLEXSEAT_*` environment. Messages name the option or variable at
 * fault and never contain a token or secret.
 * @throws SipNodeError `CONFIG_INVALID`, or the site loader's ConfigError (naming file and field)
 */
export async function loadSipNodeConfig(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<SipNodeConfig> {
  let values: { site?: string; 'sites-dir'?: string }
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      options: { site: { type: 'string' }, 'sites-dir': { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }))
  } catch (error) {
    throw invalid(`${USAGE} (${(error as Error).message})`, error)
  }
  if (values.site === undefined || values.site === '') throw invalid(`${USAGE}: --site is required`)
  const sitesDir = resolve(cwd, values['sites-dir'] ?? 'sites')
  const list = await loadSites(sitesDir)
  const sites = new Map(list.map((site) => [site.id, site] as const))
  const site = sites.get(values.site)
  if (site === undefined) throw invalid(`--site: no site "${values.site}" in ${sitesDir} (${list.map((s) => s.id).join(', ')})`)

  const text = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const readText = async (name: string, file: string): Promise<string> => {
    try {
      return (await readFile(resolve(cwd, file), 'utf8')).trim()
    } catch (error) {
      throw invalid(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error)
    }
  }
  // A secret comes from its file when one is named (so it stays out of `ps` and the environment
  // dumps), else from the variable itself. Its value never appears in a message.
  const secret = async (fileName: string, valueName: string): Promise<string> => {
    const file = text(fileName)
    const value = file === undefined ? text(valueName) : await readText(fileName, file)
    if (value === undefined || value === '') {
      throw invalid(file === undefined ? `${fileName} or ${valueName} is required` : `${fileName}: ${file} is empty`)
    }
    return value
  }

  const registryAddresses = (text('FLEXSEAT_REGISTRY_ADDRESSES') ?? site.registry.listen)
    .split(',')
    .map((address) => address.trim())
    .filter((address) => address !== '')
  if (registryAddresses.length === 0) throw invalid('FLEXSEAT_REGISTRY_ADDRESSES: no address')
  for (const address of registryAddresses) {
    if ((parseHostPort(address)?.port ?? 0) === 0) throw invalid(`FLEXSEAT_REGISTRY_ADDRESSES: "${address}" is not host:port with a port`)
  }
  const registryToken = await secret('FLEXSEAT_SIP_NODE_TOKEN_FILE', 'FLEXSEAT_SIP_NODE_TOKEN')
  const caFile = text('FLEXSEAT_REGISTRY_CA_FILE')
  let registryCa: Buffer | undefined
  if (caFile !== undefined) {
    try {
      registryCa = await readFile(resolve(cwd, caFile))
    } catch (error) {
      throw invalid(`FLEXSEAT_REGISTRY_CA_FILE: cannot read ${caFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error)
    }
  }

  const certFile = text('FLEXSEAT_REGISTRY_CERT_FILE')
  const keyFile = text('FLEXSEAT_REGISTRY_KEY_FILE')
  if ((certFile === undefined) !== (keyFile === undefined)) throw invalid('FLEXSEAT_REGISTRY_CERT_FILE and FLEXSEAT_REGISTRY_KEY_FILE go together')
  if (certFile !== undefined && registryCa === undefined) throw invalid('FLEXSEAT_REGISTRY_CERT_FILE needs FLEXSEAT_REGISTRY_CA_FILE (mutual TLS)')
  const pem = async (name: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(resolve(cwd, file))
    } catch (error) {
      throw invalid(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error)
    }
  }
  const registryClientCertificate =
    certFile === undefined || keyFile === undefined ? undefined : { cert: await pem('FLEXSEAT_REGISTRY_CERT_FILE', certFile), key: await pem('FLEXSEAT_REGISTRY_KEY_FILE', keyFile) }

  const controlText = text('FLEXSEAT_DRACHTIO_ADDRESS') ?? site.sip.control
  const control = parseHostPort(controlText)
  if (control === undefined || control.port === 0) throw invalid(`FLEXSEAT_DRACHTIO_ADDRESS: "${controlText}" is not host:port with a port`)
  const drachtioSecret = text('FLEXSEAT_DRACHTIO_SECRET_FILE') === undefined ? (text('FLEXSEAT_DRACHTIO_SECRET') ?? 'cymru') : await secret('FLEXSEAT_DRACHTIO_SECRET_FILE', 'FLEXSEAT_DRACHTIO_SECRET')
  const trunkSecret = await secret('FLEXSEAT_TRUNK_SECRET_FILE', 'FLEXSEAT_TRUNK_SECRET')

  const whole = (name: string, fallback: number, min: number, max: number): number => {
    const raw = text(name) ?? String(fallback)
    const value = Number(raw)
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw invalid(`${name}: "${raw}" is not a whole number from ${min} to ${max}`)
    }
    return value
  }
  // RFC 3261 §10.2.8: a registrar may refuse intervals below its minimum with 423 (the RFC
  // recommends at least 3600 s as the default; phones ask for less to detect loss quickly).
  const minSeconds = whole('FLEXSEAT_REGISTRATION_MIN_SECONDS', 60, 1, 86_400)
  const maxSeconds = whole('FLEXSEAT_REGISTRATION_MAX_SECONDS', 3_600, 1, 7 * 86_400)
  if (maxSeconds < minSeconds) {
    throw invalid(`FLEXSEAT_REGISTRATION_MAX_SECONDS: ${maxSeconds} is below FLEXSEAT_REGISTRATION_MIN_SECONDS (${minSeconds})`)
  }

  // RFC 6665 §4.2.1.1: a notifier may shorten the interval, and answers 423 with Min-Expires below
  // its minimum (RFC 4235 §4.1 suggests 3600 s as the dialog package's default).
  const blfMinSeconds = whole('FLEXSEAT_BLF_MIN_SECONDS', 60, 1, 86_400)
  const blfMaxSeconds = whole('FLEXSEAT_BLF_MAX_SECONDS', 3_600, 1, 86_400)
  if (blfMaxSeconds < blfMinSeconds) throw invalid(`FLEXSEAT_BLF_MAX_SECONDS: ${blfMaxSeconds} is below FLEXSEAT_BLF_MIN_SECONDS (${blfMinSeconds})`)
  const showCallerText = (text('FLEXSEAT_BLF_SHOW_CALLER') ?? 'true').toLowerCase()
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(showCallerText)) throw invalid(`FLEXSEAT_BLF_SHOW_CALLER: "${showCallerText}" is not true or false`)

  const directoryRefreshSeconds = whole('FLEXSEAT_DIRECTORY_REFRESH_SECONDS', 10, 1, 3_600)

  const logLevel = text('FLEXSEAT_LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw invalid(`FLEXSEAT_LOG_LEVEL: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`)

  // Where the nodes reach each other can differ from the site files, which describe the local
  // simulation (docker-compose names each branch's drachtio-server on its backbone network).
  const trunks = text('FLEXSEAT_TRUNK_URIS')
  if (trunks !== undefined) {
    for (const entry of trunks.split(',').map((item) => item.trim()).filter((item) => item !== '')) {
      const [id, uri] = [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]
      const target = sites.get(id)
      if (!entry.includes('=') || target === undefined) throw invalid(`FLEXSEAT_TRUNK_URIS: "${entry}" is not <site id>=<sip URI> of a known site`)
      if (!/^sips?:[^\s;?]+(;[^\s]*)?$/.test(uri)) throw invalid(`FLEXSEAT_TRUNK_URIS: "${uri}" (site ${id}) is not a sip: URI`)
      sites.set(id, { ...target, sip: { ...target.sip, trunkUri: uri } })
    }
  }

  return {
    site: sites.get(site.id) as SiteConfig,
    sites,
    registryAddresses,
    registryToken,
    registryCa,
    registryClientCertificate,
    drachtio: { host: control.host, port: control.port, secret: drachtioSecret },
    trunkSecret,
    nodeId: `${site.id}-${randomBytes(4).toString('hex')}`,
    registration: { minSeconds, maxSeconds },
    busyLamps: { minSeconds: blfMinSeconds, maxSeconds: blfMaxSeconds, showCaller: ['true', '1', 'yes'].includes(showCallerText) },
    directoryRefreshSeconds,
    stateDir: text('FLEXSEAT_SIP_NODE_STATE_DIR') === undefined ? undefined : resolve(cwd, text('FLEXSEAT_SIP_NODE_STATE_DIR') as string),
    logLevel,
  }
}
