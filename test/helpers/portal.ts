/**
 * The web portal of each branch of a {@link Branches} harness, as real processes
 * (`node packages/portal/dist/main.js --site <id>`) on ephemeral ports with the registry role
 * `portal`; and a browser: Debian's chromium driven by playwright-core (`/usr/bin/chromium`, never
 * a download), one per test file, closed in teardown.
 *
 * ```ts
 * const portals = await PortalServices.start(t, branches)
 * const browser = await openBrowser(t)
 * const page = await browser.newPage()
 * await page.goto(portals.url('amsterdam'))
 * ```
 */
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { TetheredProcess } from '@flexseat/sim'
import type { Branches, LogLine } from './branches'
import { REPO_ROOT } from './registry-cluster'
import type { TestLike } from './sip-engine'
import { untilListening } from './service-listening'

export const PORTAL_MAIN = join(REPO_ROOT, 'packages', 'portal', 'dist', 'main.js')
/** Debian's chromium (scripts/install-system-packages.sh installs it). */
export const CHROMIUM = '/usr/bin/chromium'

/** The portals of a harness's branches. */
export class PortalServices {
  readonly #urls = new Map<string, string>()
  readonly #logs = new Map<string, LogLine[]>()
  readonly #text = new Map<string, string[]>()
  readonly #children = new Map<string, TetheredProcess>()

  private constructor() {}

  /**
   * Starts one portal per branch (or `sites`), each resolving once it logged `portal listening`.
   * `env` adds to every portal's environment (e.g. FLEXSEAT_PORTAL_SIGN_IN_LIMIT).
   */
  static async start(t: TestLike, branches: Branches, options: { sites?: readonly string[]; env?: Record<string, string> } = {}): Promise<PortalServices> {
    return PortalServices.startWith(t, { dir: branches.dir, sitesDir: branches.sitesDir, token: branches.registry.tokens.portal, addressOf: (siteId) => branches.branch(siteId).registryAddress }, options.sites ?? branches.branches.map((b) => b.id), options.env)
  }

  /**
   * Starts portals for `sites` of any registry: `host` names a folder for the token file, the
   * sites folder, the portal token and each site's registry address.
   */
  static async startWith(t: TestLike, host: { dir: string; sitesDir: string; token: string; addressOf: (siteId: string) => string }, sites: readonly string[], env: Record<string, string> = {}): Promise<PortalServices> {
    const services = new PortalServices()
    t.teardown(() => services.stop())
    const tokenFile = join(host.dir, 'portal.token')
    await writeFile(tokenFile, `${host.token}\n`, { mode: 0o600 })
    if (!existsSync(PORTAL_MAIN)) throw new Error(`${PORTAL_MAIN} is missing: npm run build`)
    await Promise.all(sites.map(async (siteId) => {
      const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_') && !name.startsWith('OTEL_')))
      const child = await TetheredProcess.spawn(process.execPath, [PORTAL_MAIN, '--site', siteId, '--sites-dir', host.sitesDir], {
        cwd: REPO_ROOT,
        env: {
          ...inherited,
          FLEXSEAT_PORTAL_LISTEN: '127.0.0.1:0',
          FLEXSEAT_REGISTRY_ADDRESSES: host.addressOf(siteId),
          FLEXSEAT_PORTAL_TOKEN_FILE: tokenFile,
          FLEXSEAT_LOG_LEVEL: 'debug',
          FLEXSEAT_PORTAL_SIGN_IN_LIMIT: '100',
          ...env,
        },
      })
      services.#children.set(siteId, child)
      const logs: LogLine[] = []
      const text: string[] = []
      services.#logs.set(siteId, logs)
      services.#text.set(siteId, text)
      const ready = untilListening(child, siteId, 'portal', logs, text)
      services.#urls.set(siteId, await ready)
    }))
    return services
  }

  /** The base URL of `siteId`'s portal. */
  url(siteId: string): string {
    const url = this.#urls.get(siteId)
    if (url === undefined) throw new RangeError(`no portal at ${siteId}`)
    return url
  }

  /** Every output line of `siteId`'s portal so far (JSON and raw). */
  logs(siteId: string): { lines: LogLine[]; text: string[] } {
    return { lines: this.#logs.get(siteId) ?? [], text: this.#text.get(siteId) ?? [] }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#children.values()].map((child) => child.stop(2_000).catch(() => undefined)))
  }
}

/** Launches Debian's chromium (headless) for this test file; closed in teardown. */
export async function openBrowser(t: TestLike): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (scripts/install-system-packages.sh)`)
  const browser = await chromium.launch({ executablePath: CHROMIUM })
  t.teardown(() => browser.close())
  return browser
}

/** Signs in on the workers' page (`/`) with extension and PIN; resolves once the page greets the worker. */
export async function signInWorker(page: Page, portalUrl: string, extension: string, pin: string): Promise<void> {
  await page.goto(portalUrl)
  await page.getByLabel('Extension', { exact: true }).fill(extension)
  await page.getByLabel('PIN', { exact: true }).fill(pin)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: /^Hello, / }).waitFor()
}

/** Signs in on the administrators' page (`/admin`) with an administrator token. */
export async function signInAdmin(page: Page, portalUrl: string, token: string): Promise<void> {
  await page.goto(`${portalUrl}/admin`)
  await page.getByRole('textbox', { name: 'Administrator token' }).fill(token)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('heading', { name: 'Live map' }).waitFor()
}

/** Presses Tab until the focused element's accessible name matches (the control is reachable by keyboard). */
export async function tabTo(page: Page, name: RegExp, max = 40): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab')
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null
      if (el === null) return ''
      const labelled = (el as HTMLInputElement).labels?.[0]?.textContent ?? ''
      return `${el.getAttribute('aria-label') ?? ''} ${labelled} ${el.tagName === 'BUTTON' ? el.textContent : ''}`.trim()
    })
    if (name.test(focused)) return
  }
  throw new Error(`no control matching ${name} within ${max} tabs`)
}

/** Every form control has a label, every button a name, the page its landmarks and a language. */
export async function accessibility(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = []
    if (document.documentElement.lang === '') problems.push('no lang on <html>')
    for (const landmark of ['header', 'main', 'footer']) if (document.querySelector(landmark) === null) problems.push(`no <${landmark}>`)
    for (const el of document.querySelectorAll('input, select, textarea')) {
      const input = el as HTMLInputElement
      if ((input.labels?.length ?? 0) === 0 && input.getAttribute('aria-label') === null) problems.push(`unlabelled ${input.tagName} ${input.name || input.id}`)
    }
    for (const button of document.querySelectorAll('button')) if ((button.getAttribute('aria-label') ?? button.textContent ?? '').trim() === '') problems.push('a button without a name')
    if (document.querySelectorAll('h1, h2').length === 0) problems.push('no heading')
    return problems
  })
}

/**
 * An HTTP client of a portal that keeps the portal's cookies, as a browser would for its own
 * origin; a POST carries the portal's Origin and the CSRF token fetched by `token()` unless told
 * otherwise.
 */
export class PortalClient {
  readonly cookies = new Map<string, string>()
  readonly setCookies: string[] = []
  csrf = ''
  constructor(readonly base: string) {}

  async send(method: 'GET' | 'POST', path: string, options: { body?: unknown; origin?: string | null; csrf?: boolean; cookie?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = { accept: 'application/json' }
    const cookie = options.cookie ?? [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')
    if (cookie !== '') headers['cookie'] = cookie
    if (method === 'POST') {
      const origin = options.origin === undefined ? this.base : options.origin
      if (origin !== null) headers['origin'] = origin
      if (options.csrf !== false && this.csrf !== '') headers['x-csrf-token'] = this.csrf
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const res = await fetch(`${this.base}${path}`, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) })
    for (const line of res.headers.getSetCookie()) {
      this.setCookies.push(line)
      const [pair] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq)
      const value = pair!.slice(eq + 1)
      if (value === '' || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
    const text = await res.text()
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }
  }

  async token(): Promise<void> {
    this.csrf = String((await this.send('GET', '/api/csrf')).body['csrfToken'])
  }
}
