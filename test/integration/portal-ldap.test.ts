// Signing in to the portal with the company directory's password, against a real slapd: the
// registry runs the directory sync (the worker comes from the directory, with no PIN) and checks
// passwords with an LDAP bind; the administrators' page opens for members of the configured group
// only. The worker sets her first PIN in the portal and then signs in with it. Real etcd and
// registry process, the portal as a process, Debian's chromium; no password in any log.
/// <reference lib="dom" />
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { randomBytes, randomUUID } from 'node:crypto'
import { ErrorCode, SessionScope, unary, UserSource } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { listAllUsers, startSyncCluster } from '../helpers/directory-sync'
import { Slapd } from '../helpers/ldap'
import { openBrowser, PortalServices, signInWorker } from '../helpers/portal'
import { callError, eventually, REPO_ROOT } from '../helpers/registry-cluster'

// slapd, etcd, a registry and its first sync, a portal and a browser.
t.setTimeout(60_000)

/** Chooses "Company password" and signs in with it; the answer is left to the caller. */
async function companySignIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByRole('radio', { name: 'Company password' }).check()
  await page.getByLabel('Username').fill(username)
  await page.getByLabel('Password', { exact: true }).fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
}

t.test('the directory password opens a worker\'s session; the administrators\' group an administrator\'s', async (t) => {
  const slapd = await Slapd.start({
    people: [
      { username: 'ada', ipPhone: '1001', displayName: 'Ada Lovelace', department: 'Engineering', password: 'correct horse' },
      { username: 'linus', ipPhone: '1009', displayName: 'Linus Admin', department: 'IT', password: 'battery staple' },
      { username: 'grace', ipPhone: '1010', displayName: 'Grace Admin', department: 'IT', password: 'compiler' },
    ],
  })
  t.teardown(() => slapd.stop())
  const group = await slapd.addGroup('flexseat-admins', ['linus', 'grace'])
  const { cluster, sync } = await startSyncCluster(slapd, { instances: 1, sites: ['amsterdam'], logLevel: 'info', extra: `portal:\n  admin_group: ${group}` })
  t.teardown(async () => {
    sync.close()
    await cluster.stop()
  })
  // The registry writes its site's record once it runs; the templates' home site must exist.
  const { directory } = cluster.clients(0)
  await eventually('the site exists', async () => (await unary(directory.getSite.bind(directory), { siteId: 'amsterdam' }, { metadata: cluster.metadata('admin') }).catch(() => undefined))?.site)
  // The leader's first sync (at start) may already have created them, if the site was there in
  // time; else this one does. Either way the three workers are there, from the directory.
  const { run } = await sync.syncToEnd(0)
  t.equal(run.conflictCount, 0, `no conflict ${JSON.stringify(run.conflicts)}`)
  const fromDirectory = (await listAllUsers(cluster, 0)).filter((u) => u.source === UserSource.USER_SOURCE_DIRECTORY).map((u) => u.username).sort()
  t.same(fromDirectory, ['ada', 'grace', 'linus'], 'the sync created the three workers')
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-portal-ldap-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const portals = await PortalServices.startWith(t, { dir, sitesDir: join(REPO_ROOT, 'sites'), token: cluster.tokens.portal, addressOf: () => cluster.instances[0]!.address }, ['amsterdam'])
  const url = portals.url('amsterdam')
  const browser = await openBrowser(t)

  await t.test('a worker: a wrong password counts, the right one signs her in; she sets her first PIN', async (t) => {
    const context = await browser.newContext()
    // A step that finds nothing fails with playwright's words, before tap's 30 s per subtest.
    context.setDefaultTimeout(15_000)
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.goto(url)
    await companySignIn(page, 'ada', 'wrong horse')
    const alert = page.getByRole('alert')
    await alert.waitFor()
    t.equal(await alert.innerText(), 'Wrong username or password - 4 tries left', 'the lockout counts directory passwords as it counts PINs')
    t.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true', 'the password field is marked')

    await companySignIn(page, 'ADA', 'correct horse')
    await page.getByRole('heading', { name: 'Hello, Ada Lovelace (1001)' }).waitFor()
    t.pass('the directory\'s username (matched as the directory matches it) and password: her page')
    // A worker from the directory has no PIN yet: the page offers to set one, without the old.
    await page.getByRole('heading', { name: 'Set your PIN' }).waitFor()
    t.equal(await page.getByLabel('Current PIN').count(), 0, 'no current PIN asked')
    await page.getByLabel('New PIN', { exact: true }).fill('25800')
    await page.getByLabel('New PIN again').fill('25800')
    await page.getByRole('button', { name: 'Set PIN' }).click()
    await page.getByText('PIN changed: use it at the phones from now on').waitFor()
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByText('Signed out').waitFor()
    await signInWorker(page, url, '1001', '25800')
    t.pass('then her extension and the new PIN sign her in')
  })

  await t.test('administrators: members of portal.admin_group only', async (t) => {
    const context = await browser.newContext()
    context.setDefaultTimeout(15_000)
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.goto(`${url}/admin`)
    await companySignIn(page, 'ada', 'correct horse')
    await page.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor()
    t.pass('a worker outside the group is refused the administrators\' page as a wrong password is: the answer does not tell a right password')
    await companySignIn(page, 'linus', 'wrong')
    await page.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor()
    await companySignIn(page, 'linus', 'battery staple')
    await page.getByRole('heading', { name: 'Live map' }).waitFor()
    await page.locator('tr[data-user="ada"]').waitFor()
    t.pass('a member of the group: the live map and the workers')
  })

  await t.test('administrators\' directory sign-ins are bounded as a worker\'s: the directory is not asked past the count', async (t) => {
    // Over gRPC, as the portal calls the registry (the portal's own per-address limit is not what
    // is tested here). Guard tried: the count check removed: the right password opens a session.
    const { session } = cluster.clients(0)
    const open = (username: string, password: string) => unary(session.createSession.bind(session), { requestId: randomUUID(), scope: SessionScope.SESSION_SCOPE_ADMIN, tokenSha256: randomBytes(32).toString('hex'), credential: { $case: 'directory', value: { username, password } } }, { metadata: cluster.metadata('portal') })
    for (const [i, name] of ['grace', 'Grace', 'GRACE', 'grace', 'gRace'].entries()) {
      t.equal(errorDetailOf(await callError(open(name, `guess ${i}`)))?.code, ErrorCode.ERROR_CODE_WRONG_PASSWORD, `wrong password ${i + 1} (${name})`)
    }
    t.equal(errorDetailOf(await callError(open('grace', 'compiler')))?.code, ErrorCode.ERROR_CODE_LOCKED_OUT, 'past five, the right password is not tried: LOCKED_OUT')
  })

  await t.test('no password in any log', async (t) => {
    const logs = [...portals.logs('amsterdam').text, ...cluster.instances.flatMap((instance) => instance.logs)].join('\n')
    t.ok(logs.includes('signed in'), 'the portal logged the sign-ins')
    for (const secret of ['correct horse', 'wrong horse', 'battery staple', 'compiler', '25800']) t.notOk(logs.includes(secret), `not "${secret}"`)
  })
})
