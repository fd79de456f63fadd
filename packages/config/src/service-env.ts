import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { parseHostPort } from './host-port'
import { loadSites } from './load-sites'
import type { SiteConfig } from './site-config'

/**
 * What a branch's HTTP service (the provisioning service, the web portal) reads the same way from
 * its command line and environment: `--site <id> [--sites-dir <dir>]`, then `<PREFIX>_LISTEN`,
 * `<PREFIX>_TLS_CERT` / `_KEY`, `FLEXSEAT_REGISTRY_ADDRESSES`, `<PREFIX>_TOKEN_FILE` /
 * `<PREFIX>_TOKEN`, `FLEXSEAT_REGISTRY_CA_FILE` and `FLEXSEAT_LOG_LEVEL`. Each service keeps its
 * own settings beside these and its own error type: `invalid` makes the error it throws. Messages
 * name the option or variable at fault and never contain a token.
 */
export interface ServiceEnv {
  site: SiteConfig
  /** Every site of the folder. */
  sites: readonly SiteConfig[]
  listen: { host: string; port: number }
  tls: { cert: Buffer; key: Buffer } | undefined
  registryAddresses: string[]
  registryToken: string
  registryCa: Buffer | undefined
  logLevel: string
  /** A variable's value, trimmed; undefined when unset or blank. */
  text(name: string): string | undefined
  /** A file named by variable `name`, relative to `cwd`. */
  readBytes(name: string, file: string): Promise<Buffer>
}

export interface ServiceEnvOptions {
  /** The program's usage line, in messages about the command line. */
  usage: string
  /** The site file's section the service needs (`provisioning`, `portal`): its `listen` is the default. */
  section: 'provisioning' | 'portal'
  /** The service's variables' prefix (`FLEXSEAT_PROVISIONING`, `FLEXSEAT_PORTAL`). */
  prefix: string
  invalid: (message: string, cause?: unknown) => Error
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/**
 * Reads what {@link ServiceEnv} lists.
 * @throws `options.invalid(...)`, or the site loader's ConfigError (naming file and field)
 */
export async function loadServiceEnv(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string, options: ServiceEnvOptions): Promise<ServiceEnv> {
  const { usage, section, prefix, invalid } = options
  let values: { site?: string; 'sites-dir'?: string }
  try {
    ;({ values } = parseArgs({ args: [...argv], options: { site: { type: 'string' }, 'sites-dir': { type: 'string' } }, strict: true, allowPositionals: false }))
  } catch (error) {
    throw invalid(`${usage} (${(error as Error).message})`, error)
  }
  if (values.site === undefined || values.site === '') throw invalid(`${usage}: --site is required`)
  const sitesDir = resolve(cwd, values['sites-dir'] ?? 'sites')
  const sites = await loadSites(sitesDir)
  const site = sites.find((s) => s.id === values.site)
  if (site === undefined) throw invalid(`--site: no site "${values.site}" in ${sitesDir} (${sites.map((s) => s.id).join(', ')})`)
  const own = site[section]
  if (own === undefined) throw invalid(`--site: ${site.id}.yaml has no ${section} section (${section}.listen)`)

  const text = (name: string): string | undefined => {
    const value = env[name]?.trim()
    return value === undefined || value === '' ? undefined : value
  }
  const readBytes = async (name: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(resolve(cwd, file))
    } catch (error) {
      throw invalid(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error)
    }
  }

  const listenText = text(`${prefix}_LISTEN`) ?? own.listen
  const listen = parseHostPort(listenText)
  if (listen === undefined) throw invalid(`${prefix}_LISTEN: "${listenText}" is not host:port`)

  const certFile = text(`${prefix}_TLS_CERT`)
  const keyFile = text(`${prefix}_TLS_KEY`)
  if ((certFile === undefined) !== (keyFile === undefined)) throw invalid(`${prefix}_TLS_CERT and ${prefix}_TLS_KEY go together`)
  const tls = certFile === undefined || keyFile === undefined ? undefined : { cert: await readBytes(`${prefix}_TLS_CERT`, certFile), key: await readBytes(`${prefix}_TLS_KEY`, keyFile) }

  const registryAddresses = (text('FLEXSEAT_REGISTRY_ADDRESSES') ?? site.registry.listen).split(',').map((a) => a.trim()).filter((a) => a !== '')
  for (const address of registryAddresses) {
    if ((parseHostPort(address)?.port ?? 0) === 0) throw invalid(`FLEXSEAT_REGISTRY_ADDRESSES: "${address}" is not host:port with a port`)
  }
  if (registryAddresses.length === 0) throw invalid('FLEXSEAT_REGISTRY_ADDRESSES: no address')

  // The token comes from its file when one is named (out of `ps` and environment dumps).
  const tokenFile = text(`${prefix}_TOKEN_FILE`)
  const registryToken = tokenFile === undefined ? text(`${prefix}_TOKEN`) : (await readBytes(`${prefix}_TOKEN_FILE`, tokenFile)).toString('utf8').trim()
  if (registryToken === undefined || registryToken === '') {
    throw invalid(tokenFile === undefined ? `${prefix}_TOKEN_FILE or ${prefix}_TOKEN is required` : `${prefix}_TOKEN_FILE: ${tokenFile} is empty`)
  }
  const caFile = text('FLEXSEAT_REGISTRY_CA_FILE')
  const registryCa = caFile === undefined ? undefined : await readBytes('FLEXSEAT_REGISTRY_CA_FILE', caFile)

  const logLevel = text('FLEXSEAT_LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw invalid(`FLEXSEAT_LOG_LEVEL: one of ${LOG_LEVELS.join(', ')}`)

  return { site, sites, listen, tls, registryAddresses, registryToken, registryCa, logLevel, text, readBytes }
}
