/// <reference lib="dom" />
// The portal is a desk of its own for the lockout (issue 21: whoever guesses somewhere cannot lock
// the worker out of the other desks): five wrong PINs in the portal's sign-in (a real browser)
// lock the portal, while a sipp phone's *51 with the right PIN signs the worker in; the
// administrators' page shows the lock and unlocks it, and the portal takes the PIN again.
// Real etcd, registry, SIP engine and node (Branches, one branch), the portal as a process.
import t from 'tap'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { openBrowser, PortalServices, signInAdmin } from '../helpers/portal'

// A branch's four processes, a sipp phone and a browser.
t.setTimeout(90_000)

t.test('five wrong PINs in the portal lock the portal, not the phones; an administrator unlocks', async (t) => {
  const branches = await Branches.start(t, { sites: ['amsterdam'], logLevel: 'info' })
  const portals = await PortalServices.start(t, branches)
  const browser = await openBrowser(t)
  const desk = await branches.phone('amsterdam', 'ams-desk-1').start()
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  await page.goto(portals.url('amsterdam'))

  const messages: string[] = []
  for (let i = 0; i < 5; i++) {
    await page.getByLabel('Extension', { exact: true }).fill('1002')
    await page.getByLabel('PIN', { exact: true }).fill('0000')
    await page.getByRole('button', { name: 'Sign in' }).click()
    const alert = page.getByRole('alert')
    await alert.filter({ hasText: i < 4 ? `${4 - i} ${i === 3 ? 'try' : 'tries'} left` : 'Locked for' }).waitFor()
    messages.push(await alert.innerText())
  }
  t.same(messages.slice(0, 4), ['Wrong PIN - 4 tries left', 'Wrong PIN - 3 tries left', 'Wrong PIN - 2 tries left', 'Wrong PIN - 1 try left'], 'the page counts down as the phone does')
  t.match(messages[4], /^Locked for 15 min/, 'the fifth locks')
  t.equal(await page.getByLabel('PIN', { exact: true }).getAttribute('aria-invalid'), null, 'a lock is no field error')

  // Whoever guesses in the portal cannot lock the worker out of the phones (issue 21): the portal
  // is a desk of its own for the lockout.
  const atPhone = await desk.dial(`*51*1002*${PIN['1002']}`)
  t.equal(statusLine(atPhone), '480 Signed in as 1002', 'the right PIN at the phone signs him in')

  const adminPage = await context.newPage()
  await signInAdmin(adminPage, portals.url('amsterdam'), branches.registry.tokens.admin)
  const row = adminPage.locator('tr[data-user="alan"]')
  t.match(await row.innerText(), /locked until/, 'the administrators see the lock')
  await adminPage.getByRole('button', { name: 'Unlock Alan Turing' }).click()
  await adminPage.getByText('Alan Turing unlocked').waitFor()
  t.notMatch(await row.innerText(), /locked/, 'and end it')

  await page.getByLabel('Extension', { exact: true }).fill('1002')
  await page.getByLabel('PIN', { exact: true }).fill(PIN['1002'])
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('region', { name: 'Your desk' }).waitFor()
  t.pass('the portal takes his PIN again, unchanged')
})
