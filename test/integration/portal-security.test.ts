/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The portal's defences over real HTTP against a real registry (etcd, a registry process, the
// portal as a process): the session cookie's attributes (HttpOnly, SameSite=Strict; Secure and
// __Host- under TLS), CSRF (a change without the token, or from a foreign Origin, is refused and
// changes nothing, also when a real browser sends it from a page on another port of the same host
// with the portal's cookies), sessions that end (sign-out, a forged cookie), scopes, the sign-in
// rate limit, clear messages for wrong input, and no PIN, token or session token in any log.
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Device, unary } from '@flexseat/proto'
import { eventually, RegistryCluster, REPO_ROOT, worker } from '../helpers/registry-cluster'
import { openBrowser, PortalClient as Client, PortalServices } from '../helpers/portal'

t.setTimeout(60_000)

const PIN = '73519'
const exec = promisify(execFile)

t.test('the portal\'s defences', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 1, sites: ['amsterdam'], etcdMembers: 1, logLevel: 'info' })
  t.teardown(() => cluster.stop())
  const { directory, seat } = cluster.clients(0)
  const admin = { metadata: cluster.metadata('admin'), timeoutMs: 5_000 }
  await eventually('the site exists', async () => (await unary(directory.getSite.bind(directory), { siteId: 'amsterdam' }, admin)).site !== undefined)
  await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: Device.fromPartial({ id: 'desk-1', siteId: 'amsterdam', extension: '2101', label: 'desk 1', flexHost: true }) }, admin)
  await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: worker('1001'), pin: PIN }, admin)
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-portal-security-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const host = { dir, sitesDir: join(REPO_ROOT, 'sites'), token: cluster.tokens.portal, addressOf: () => cluster.instances[0]!.address }
  const portals = await PortalServices.startWith(t, host, ['amsterdam'], { FLEXSEAT_PORTAL_SIGN_IN_LIMIT: '6' })
  const base = portals.url('amsterdam')
  const seatOf = async (): Promise<string | undefined> => (await unary(seat.getSeat.bind(seat), { target: { $case: 'userId', value: 'u1001' } }, admin)).seat?.deviceId
  const sessionsSeen: string[] = []

  const ada = new Client(base)
  await t.test('signing in: CSRF token and Origin required; the cookie HttpOnly and SameSite=Strict', async (t) => {
    t.equal((await ada.send('GET', '/api/me')).status, 401, 'no session: 401')
    const noToken = await ada.send('POST', '/api/session', { body: { method: 'pin', extension: '1001', pin: PIN } })
    t.same([noToken.status, noToken.body['code']], [403, 'CSRF'], 'no CSRF token: refused')
    await ada.token()
    const foreign = await ada.send('POST', '/api/session', { body: { method: 'pin', extension: '1001', pin: PIN }, origin: 'http://127.0.0.1:9' })
    t.same([foreign.status, foreign.body['code']], [403, 'FOREIGN_ORIGIN'], 'a foreign Origin: refused')
    const signedIn = await ada.send('POST', '/api/session', { body: { method: 'pin', extension: '1001', pin: PIN } })
    t.equal(signedIn.status, 200, 'with both: signed in')
    const cookie = ada.setCookies.find((line) => line.startsWith('flexseat-session='))
    t.ok(cookie !== undefined, 'a session cookie')
    t.match(cookie, /; HttpOnly/i, 'HttpOnly')
    t.match(cookie, /; SameSite=Strict/i, 'SameSite=Strict')
    t.notMatch(cookie, /; Secure/i, 'not Secure over plain HTTP (under TLS: below)')
    sessionsSeen.push(ada.cookies.get('flexseat-session')!)
  })

  await t.test('changes: without the token, without or with a foreign Origin, nothing happens', async (t) => {
    for (const [what, options] of [
      ['no CSRF token', { csrf: false }],
      ['a foreign Origin', { origin: 'http://127.0.0.1:9' }],
      ['no Origin', { origin: null }],
      ['another scheme', { origin: base.replace('http:', 'https:') }],
    ] as const) {
      const res = await ada.send('POST', '/api/seat', { body: { deviceId: 'desk-1', hours: 2 }, ...options })
      t.equal(res.status, 403, `${what}: 403 (${String(res.body['message'])})`)
    }
    t.equal(await seatOf(), undefined, 'no seat was taken')
    // Guard tried: the onRequest hook returning done() without the checks: these pass through.
    const taken = await ada.send('POST', '/api/seat', { body: { deviceId: 'desk-1', hours: 2 } })
    t.equal(taken.status, 200, 'the same request from the page itself: taken')
    t.equal(await seatOf(), 'desk-1')
  })

  await t.test('a real browser on another port of the same host sends the cookie: still refused', async (t) => {
    const browser = await openBrowser(t)
    const context = await browser.newContext()
    t.teardown(() => context.close())
    // The browser holds Ada's session cookie for the portal's host (ports do not separate cookies).
    const portalUrl = new URL(base)
    await context.addCookies([{ name: 'flexseat-session', value: ada.cookies.get('flexseat-session')!, domain: portalUrl.hostname, path: '/', httpOnly: true, sameSite: 'Strict' }])
    const evil = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html')
      res.end(`<!doctype html><html lang="en"><title>elsewhere</title><body><form id="f" method="POST" action="${base}/api/seat/release" enctype="text/plain"><input name="x" value="y"></form><script>
        window.results = []
        fetch('${base}/api/seat/release', { method: 'POST', credentials: 'include', mode: 'no-cors' }).then(() => window.results.push('fetch sent'), () => window.results.push('fetch failed'))
      </script></body></html>`)
    })
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise<void>((resolve) => evil.close(() => resolve())))
    const evilUrl = `http://127.0.0.1:${(evil.address() as { port: number }).port}/`
    t.not(new URL(evilUrl).port, portalUrl.port, 'another port, the same host')
    const page = await context.newPage()
    const mark = portals.logs('amsterdam').lines.length
    await page.goto(evilUrl)
    await page.waitForFunction(() => (window as unknown as { results: string[] }).results.length > 0)
    await Promise.all([page.waitForNavigation().catch(() => undefined), page.evaluate(() => (document.getElementById('f') as HTMLFormElement).submit())])
    await eventually('both refusals logged', () => portals.logs('amsterdam').lines.slice(mark).filter((l) => l.msg === 'foreign origin refused').length >= 2)
    const refused = portals.logs('amsterdam').lines.slice(mark).filter((l) => l.msg === 'foreign origin refused')
    t.ok(refused.every((l) => l['origin'] === evilUrl.replace(/\/$/, '')), 'refused for their Origin, the other port')
    t.equal(await seatOf(), 'desk-1', 'Ada still sits at desk 1: the forged sign-outs did nothing')
  })

  await t.test('sessions: scope, a forged cookie, sign-out', async (t) => {
    const adminOnly = await ada.send('GET', '/api/admin/users')
    t.same([adminOnly.status, adminOnly.body['code']], [403, 'PERMISSION_DENIED'], 'a worker\'s session on the administrators\' API: 403')
    const forged = await ada.send('GET', '/api/me', { cookie: `flexseat-session=${'A'.repeat(43)}` })
    t.same([forged.status, forged.body['code']], [401, 'SESSION_INVALID'], 'a forged session token: 401')
    const old = ada.cookies.get('flexseat-session')!
    t.equal((await ada.send('POST', '/api/session/end')).status, 204, 'sign-out')
    t.equal(ada.cookies.get('flexseat-session'), undefined, 'the cookie is cleared')
    const replay = await ada.send('GET', '/api/me', { cookie: `flexseat-session=${old}` })
    t.equal(replay.status, 401, 'the old token is refused by the registry: the session ended there')
  })

  await t.test('wrong input gets words for a person, naming the field', async (t) => {
    const bob = new Client(base)
    await bob.token()
    const letters = await bob.send('POST', '/api/session', { body: { method: 'pin', extension: '10a1', pin: PIN } })
    t.same([letters.status, letters.body['field'], letters.body['message']], [400, 'extension', 'The extension is 2 to 15 digits'])
    const unknown = await bob.send('POST', '/api/session', { body: { method: 'pin', extension: '9999', pin: PIN } })
    t.same([unknown.status, unknown.body['message']], [404, 'Unknown extension'])
    const wrong = await bob.send('POST', '/api/session', { body: { method: 'pin', extension: '1001', pin: '0000' } })
    t.same([wrong.status, wrong.body['message'], wrong.body['field']], [403, 'Wrong PIN - 4 tries left', 'pin'], 'the phones\' words')
    await bob.send('POST', '/api/session', { body: { method: 'pin', extension: '1001', pin: PIN } })
    const hours = await bob.send('POST', '/api/seat', { body: { deviceId: 'desk-1', hours: 1000 } })
    t.same([hours.status, hours.body['field'], hours.body['message']], [400, 'hours', 'Hours: a whole number from 1 to 999, or until released'])
    const zero = await bob.send('POST', '/api/seat', { body: { deviceId: 'desk-1', hours: 0 } })
    t.equal(zero.body['field'], 'hours', `0 hours too (${JSON.stringify(zero.body)})`)
    const nowhere = await bob.send('POST', '/api/seat', { body: { deviceId: 'no-such-desk', hours: 1 } })
    t.same([nowhere.status, nowhere.body['message']], [404, 'No such desk'])
    const garbage = await fetch(`${base}/api/seat`, { method: 'POST', headers: { origin: base, 'x-csrf-token': bob.csrf, cookie: [...bob.cookies].map(([k, v]) => `${k}=${v}`).join('; '), 'content-type': 'application/json' }, body: '{"deviceId":' })
    t.equal(garbage.status, 400, 'a malformed body: 400, no crash')
    sessionsSeen.push(bob.cookies.get('flexseat-session')!)
  })

  await t.test('sign-in attempts are limited per client address', async (t) => {
    const eve = new Client(base)
    await eve.token()
    let last = { status: 0, body: {} as Record<string, unknown> }
    for (let i = 0; i < 8 && last.status !== 429; i++) last = await eve.send('POST', '/api/session', { body: { method: 'admin-token', token: 'not-a-token' } })
    t.equal(last.status, 429, 'past FLEXSEAT_PORTAL_SIGN_IN_LIMIT (6 a minute, the other sign-ins of this file counted): 429')
    t.match(String(last.body['message']), /^Too many requests: try again in \d+ s$/)
  })

  await t.test('TLS: the session cookie is Secure and __Host-', async (t) => {
    await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'portal.key'), '-out', join(dir, 'portal.pem')])
    const secure = await PortalServices.startWith(t, { ...host, dir: await mkdtemp(join(dir, 'tls-')) }, ['amsterdam'], { FLEXSEAT_PORTAL_TLS_CERT: join(dir, 'portal.pem'), FLEXSEAT_PORTAL_TLS_KEY: join(dir, 'portal.key') })
    const url = secure.url('amsterdam')
    t.match(url, /^https:/)
    const ca = await import('node:fs/promises').then((fs) => fs.readFile(join(dir, 'portal.pem')))
    const call = (method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; cookies: string[]; text: string }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(`${url}${path}`, { method, headers, ca }, (res) => {
          let text = ''
          res.on('data', (chunk: Buffer) => (text += chunk.toString()))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, cookies: ([] as string[]).concat(res.headers['set-cookie'] ?? []), text }))
        })
        req.on('error', reject)
        req.end(body)
      })
    const csrf = await call('GET', '/api/csrf', {})
    const csrfCookie = csrf.cookies.map((c) => c.split(';')[0]).join('; ')
    t.match(csrf.cookies.join('\n'), /^__Host-flexseat-csrf=.*; Secure/m, 'the CSRF secret cookie is __Host- and Secure')
    const signIn = await call('POST', '/api/session', { origin: url, cookie: csrfCookie, 'content-type': 'application/json', 'x-csrf-token': String((JSON.parse(csrf.text) as { csrfToken: string }).csrfToken) }, JSON.stringify({ method: 'pin', extension: '1001', pin: PIN }))
    t.equal(signIn.status, 200)
    const session = signIn.cookies.find((c) => c.startsWith('__Host-flexseat-session='))
    t.match(session, /; Path=\//)
    t.match(session, /; HttpOnly/i)
    t.match(session, /; Secure/i)
    t.match(session, /; SameSite=Strict/i)
    t.notMatch(session, /; Domain=/i, 'no Domain (a __Host- cookie)')
    sessionsSeen.push(session!.split(';')[0]!.split('=')[1]!)
  })

  await t.test('no PIN, token or session token in any log', async (t) => {
    const logs = [...portals.logs('amsterdam').text, ...cluster.instances.flatMap((i) => i.logs)].join('\n')
    t.ok(logs.includes('signed in'), 'the logs say what happened')
    for (const [what, secret] of [['the PIN', PIN], ['the portal token', cluster.tokens.portal], ['the admin token', cluster.tokens.admin], ...sessionsSeen.map((s, i) => [`session token ${i}`, s] as const)] as const) {
      t.notOk(logs.includes(secret), `${what} is in no log line`)
    }
    await writeFile(join(dir, 'logs.txt'), logs)
  })
})
