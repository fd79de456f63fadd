/**
 * The provisioning service of each branch of a {@link Branches} harness, as real processes
 * (`node packages/provisioning/dist/main.js --site <id>`) on ephemeral ports, each with its own
 * site's token of the registry role `provisioning`; and a phone's HTTP client: GET (or POST) a
 * URL, answering a digest challenge with the device's credentials the way phones do (RFC 2617,
 * MD5, qop=auth, computed here independently of the service's code).
 *
 * ```ts
 * const prov = await ProvisioningServices.start(t, branches)
 * await branches.setPhone('ams-desk-1', { mac: '805ec0000001', vendor: PhoneVendor.PHONE_VENDOR_YEALINK })
 * const res = await fetchAsPhone(`${prov.url('amsterdam')}/805ec0000001.cfg`, { username: 'ams-desk-1', password })
 * ```
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseDocument } from 'yaml'
import { Device, type PhoneVendor, unary } from '@flexseat/proto'
import { TetheredProcess } from '@flexseat/sim'
import type { Branches, LogLine } from './branches'
import { REPO_ROOT } from './registry-cluster'
import type { TestLike } from './sip-engine'
import { untilListening } from './service-listening'

export const PROVISIONING_MAIN = join(REPO_ROOT, 'packages', 'provisioning', 'dist', 'main.js')

/** The provisioning services of a harness's branches. */
export class ProvisioningServices {
  readonly #urls = new Map<string, string>()
  readonly #logs = new Map<string, LogLine[]>()
  readonly #text = new Map<string, string[]>()
  readonly #children = new Map<string, TetheredProcess>()

  private constructor(readonly branches: Branches) {}

  /** Starts one service per branch (or `sites`), each resolving once it logged `provisioning listening`; `env` adds variables (FLEXSEAT_PROVISIONING_TLS_CERT...). */
  static async start(t: TestLike, branches: Branches, options: { sites?: readonly string[]; defaultProfile?: string; env?: Readonly<Record<string, string>> } = {}): Promise<ProvisioningServices> {
    const services = new ProvisioningServices(branches)
    t.teardown(() => services.stop())
    if (!existsSync(PROVISIONING_MAIN)) throw new Error(`${PROVISIONING_MAIN} is missing: npm run build`)
    await Promise.all((options.sites ?? branches.branches.map((b) => b.id)).map(async (siteId) => {
      const file = join(branches.sitesDir, `${siteId}.yaml`)
      const doc = parseDocument(await readFile(file, 'utf8'))
      doc.setIn(['provisioning', 'listen'], '127.0.0.1:0')
      if (options.defaultProfile !== undefined) doc.setIn(['provisioning', 'default_profile'], options.defaultProfile)
      await writeFile(file, doc.toString())
      // Each branch's service presents its own branch's token, as deployed (one credential per branch).
      const tokenFile = join(branches.dir, `provisioning-${siteId}.token`)
      await writeFile(tokenFile, `${branches.registry.siteToken(siteId, 'provisioning')}\n`, { mode: 0o600 })
      const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_') && !name.startsWith('OTEL_')))
      const child = await TetheredProcess.spawn(process.execPath, [PROVISIONING_MAIN, '--site', siteId, '--sites-dir', branches.sitesDir], {
        cwd: REPO_ROOT,
        env: { ...inherited, FLEXSEAT_REGISTRY_ADDRESSES: branches.branch(siteId).registryAddress, FLEXSEAT_PROVISIONING_TOKEN_FILE: tokenFile, FLEXSEAT_LOG_LEVEL: 'debug', ...options.env },
      })
      services.#children.set(siteId, child)
      const logs: LogLine[] = []
      const text: string[] = []
      services.#logs.set(siteId, logs)
      services.#text.set(siteId, text)
      const ready = untilListening(child, siteId, 'provisioning', logs, text)
      services.#urls.set(siteId, await ready)
    }))
    return services
  }

  /** The base URL of `siteId`'s service. */
  url(siteId: string): string {
    const url = this.#urls.get(siteId)
    if (url === undefined) throw new RangeError(`no provisioning service at ${siteId}`)
    return url
  }

  /** Every log line of `siteId`'s service so far (raw text included). */
  logs(siteId: string): { lines: LogLine[]; text: string[] } {
    return { lines: this.#logs.get(siteId) ?? [], text: this.#text.get(siteId) ?? [] }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#children.values()].map((child) => child.stop(2_000).catch(() => undefined)))
  }
}

/** Gives a device a MAC and a vendor (and a desk profile) through the admin API. */
export async function setPhone(branches: Branches, deviceId: string, fields: { mac: string; vendor: PhoneVendor; functionKeyProfile?: string }): Promise<void> {
  const { directory } = branches.admin()
  await unary(
    directory.updateDevice.bind(directory),
    { requestId: `phone-${deviceId}-${randomBytes(4).toString('hex')}`, device: Device.fromPartial({ id: deviceId, ...fields }), updateMask: ['mac', 'vendor', ...(fields.functionKeyProfile === undefined ? [] : ['function_key_profile'])] },
    { metadata: branches.registry.metadata('admin'), timeoutMs: 5_000 },
  )
}

/** What a phone got. */
export interface PhoneResponse {
  status: number
  headers: Headers
  text: string
  /** Whether a digest challenge was answered on the way. */
  challenged: boolean
}

const md5 = (text: string): string => createHash('md5').update(text).digest('hex')

/**
 * Fetches `url` as a phone: without credentials first; on a 401 with a Digest challenge, again
 * with the answer for `credentials` (when given). `form`: POST it form-encoded.
 */
export async function fetchAsPhone(url: string, credentials?: { username: string; password: string }, form?: Record<string, string>): Promise<PhoneResponse> {
  const init = (authorization?: string): RequestInit => ({
    method: form === undefined ? 'GET' : 'POST',
    headers: { 'user-agent': 'flexseat-test-phone', ...(authorization === undefined ? {} : { authorization }), ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }) },
    ...(form === undefined ? {} : { body: new URLSearchParams(form).toString() }),
  })
  const first = await fetch(url, init())
  const challenge = first.headers.get('www-authenticate')
  if (first.status !== 401 || credentials === undefined || challenge === null || !challenge.startsWith('Digest ')) {
    return { status: first.status, headers: first.headers, text: await first.text(), challenged: false }
  }
  await first.text()
  const params = Object.fromEntries([...challenge.slice(7).matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]+))/g)].map((m) => [m[1]!, m[2] ?? m[3] ?? '']))
  const { pathname, search } = new URL(url)
  const uri = `${pathname}${search}`
  const cnonce = randomBytes(8).toString('hex')
  const nc = '00000001'
  const ha1 = md5(`${credentials.username}:${params['realm']}:${credentials.password}`)
  const ha2 = md5(`${form === undefined ? 'GET' : 'POST'}:${uri}`)
  const response = md5(`${ha1}:${params['nonce']}:${nc}:${cnonce}:auth:${ha2}`)
  const authorization = `Digest username="${credentials.username}", realm="${params['realm']}", nonce="${params['nonce']}", uri="${uri}", qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}", algorithm=MD5`
  const second = await fetch(url, init(authorization))
  return { status: second.status, headers: second.headers, text: await second.text(), challenged: true }
}
