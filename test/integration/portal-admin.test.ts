// The administrators' page and the worker's own settings in a real browser against the running
// system (real etcd, registries, SIP engines and nodes; the portal as a process; sipp phones;
// Debian's chromium): an administrator adds a desk and a worker by keyboard alone; the new worker
// signs in with the PIN given, changes it (the phone then takes the new one only) and takes the
// new desk until released; the administrator signs her out from the map and reads her seat
// history with the reasons; a seat waiting for a branch that has not let go yet shows as pending.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import t from 'tap'
import { SeatVia, unary } from '@flexseat/proto'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { accessibility, openBrowser, PortalServices, signInAdmin, signInWorker, tabTo } from '../helpers/portal'
import { eventually } from '../helpers/registry-cluster'

// Two branches of four processes, sipp phones and a browser: longer than tap's 30 s.
t.setTimeout(120_000)

t.test('administrators manage workers and desks and see pending seats; a worker changes the PIN', async (t) => {
  // A long confirmation lease: a paused node keeps its branch's lease (renewed every 10 s, so for
  // 20 s at least) while the map is read and the portal's Login gives up waiting (9 s).
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'], logLevel: 'info', confirmationLeaseSeconds: 30 })
  const portals = await PortalServices.start(t, branches, { sites: ['amsterdam'] })
  const url = portals.url('amsterdam')
  const browser = await openBrowser(t)
  const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  // A step that finds nothing fails with playwright's words, before tap's 30 s per subtest.
  adminContext.setDefaultTimeout(15_000)
  t.teardown(() => adminContext.close())
  const admin = await adminContext.newPage()
  await signInAdmin(admin, url, branches.registry.tokens.admin)
  await admin.locator('[data-feed="live"]').waitFor()
  const { directory } = branches.admin()

  await t.test('by keyboard alone: a desk, then a worker', async (t) => {
    await admin.getByRole('button', { name: 'Add a desk' }).focus()
    await admin.keyboard.press('Enter')
    await admin.getByRole('heading', { name: 'Add a desk' }).waitFor()
    t.same(await accessibility(admin), [], 'the desk form: every field labelled')
    await tabTo(admin, /^Id/)
    await admin.keyboard.type('ams-quiet-1')
    await tabTo(admin, /^Label/)
    await admin.keyboard.type('Quiet room')
    await tabTo(admin, /own extension/)
    await admin.keyboard.type('2109')
    await tabTo(admin, /^SIP password/)
    await admin.keyboard.type('quiet-room-secret-1')
    const typed = await admin.evaluate(() => [...document.querySelectorAll<HTMLInputElement>('form.editor input')].map((input) => `${input.id}=${input.type === 'checkbox' ? String(input.checked) : input.value}`))
    t.same(typed, ['d-id=ams-quiet-1', 'd-label=Quiet room', 'd-ext=2109', '=true', 'd-password=quiet-room-secret-1'], 'the form holds what was typed')
    await admin.keyboard.press('Enter')
    await admin.getByText('Desk Quiet room added').waitFor()
    await admin.locator('tr[data-desk="ams-quiet-1"]').waitFor()
    t.pass('the live map lists it')
    // Another instance may answer this read: it sees the write once its watch delivered it.
    const desk = await eventually('the desk at the registry', async () => (await unary(directory.getDevice.bind(directory), { deviceId: 'ams-quiet-1' }, { metadata: branches.registry.metadata('admin') }).catch(() => undefined))?.device)
    t.match(desk, { id: 'ams-quiet-1', siteId: 'amsterdam', extension: '2109', label: 'Quiet room', flexHost: true }, 'the registry has the desk, a flex desk at Amsterdam')

    await admin.getByRole('button', { name: 'Add a worker' }).focus()
    await admin.keyboard.press('Enter')
    await admin.getByRole('heading', { name: 'Add a worker' }).waitFor()
    t.same(await accessibility(admin), [], 'the worker form: every field labelled')
    await tabTo(admin, /^Id/)
    await admin.keyboard.type('barbara')
    await tabTo(admin, /^Name/)
    await admin.keyboard.type('Barbara Liskov')
    await tabTo(admin, /^Extension/)
    await admin.keyboard.type('1005')
    await tabTo(admin, /^PIN/)
    await admin.keyboard.type('97531')
    await admin.keyboard.press('Enter')
    await admin.getByText('Barbara Liskov added').waitFor()
    t.match(await admin.locator('tr[data-user="barbara"]').innerText(), /Barbara Liskov \(1005\)\s+barbara\s+Amsterdam, roams\s+ok/, 'listed: home Amsterdam, may roam, a PIN set')

    // Wrong input: the words, the field marked.
    await admin.getByRole('button', { name: 'Edit Barbara Liskov' }).click()
    await admin.getByLabel('Extension', { exact: true }).fill('1001')
    await admin.getByRole('button', { name: 'Save' }).click()
    await admin.getByRole('alert').filter({ hasText: 'That extension belongs to someone else already' }).waitFor()
    t.equal(await admin.getByLabel('Extension', { exact: true }).getAttribute('aria-invalid'), 'true', 'a taken extension: the field is marked')
    // Another worker's Edit while the form is open: the form is that worker's.
    await admin.getByRole('button', { name: 'Edit Ada Lovelace' }).click()
    await admin.getByRole('heading', { name: 'Edit Ada Lovelace' }).waitFor()
    t.same([await admin.getByLabel('Name', { exact: true }).inputValue(), await admin.getByLabel('Extension', { exact: true }).inputValue()], ['Ada Lovelace', '1001'], 'the form shows the worker chosen')
    // Guard tried: userMask without show_caller_on_lamps (the registry kept it unset).
    t.equal(await admin.getByLabel('Caller shown on busy lamps watching this worker').inputValue(), 'branch', "unset: as the branch sets it")
    await admin.getByLabel('Caller shown on busy lamps watching this worker').selectOption('hide')
    await admin.getByRole('button', { name: 'Save' }).click()
    await admin.getByText('Ada Lovelace saved').waitFor()
    const ada = await eventually('the choice at the registry', async () => {
      const user = (await unary(directory.getUser.bind(directory), { key: { $case: 'userId', value: 'ada' } }, { metadata: branches.registry.metadata('admin') }).catch(() => undefined))?.user
      return user?.showCallerOnLamps === false ? user : undefined
    })
    t.equal(ada.showCallerOnLamps, false, "Ada's lamps withhold her callers")
  })

  await t.test('the new worker changes her PIN; the phone takes the new one only', async (t) => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } })
    context.setDefaultTimeout(15_000)
    t.teardown(() => context.close())
    const page = await context.newPage()
    await signInWorker(page, url, '1005', '97531')
    await page.getByLabel('Current PIN').fill('97531')
    await page.getByLabel('New PIN', { exact: true }).fill('86420')
    await page.getByLabel('New PIN again').fill('86421')
    await page.getByRole('button', { name: 'Change PIN' }).click()
    await page.getByRole('alert').filter({ hasText: 'The two new PINs differ' }).waitFor()
    await page.getByLabel('New PIN again').fill('86420')
    await page.getByRole('button', { name: 'Change PIN' }).click()
    await page.getByText('PIN changed: use it at the phones from now on').waitFor()
    await page.reload()
    await page.getByRole('heading', { name: 'Hello, Barbara Liskov (1005)' }).waitFor()
    t.pass('still signed in after the change (a new session with the new PIN)')

    const desk = await branches.phone('amsterdam', 'ams-desk-2').start()
    t.equal(statusLine(await desk.dial('*51*1005*97531')), '403 Wrong PIN - 4 tries left', 'the old PIN no longer works at the phone')
    t.equal(statusLine(await desk.dial('*51*1005*86420')), '480 Signed in as 1005', 'the new one does')

    // Until released: she moves from the phone to the quiet room in the portal.
    await page.reload()
    await page.getByLabel('Label contains').fill('quiet')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.getByRole('button', { name: 'Take Quiet room in Amsterdam' }).waitFor()
    await page.getByLabel('Until I release it').check()
    t.ok(await page.getByLabel('Hours (1 to 999)').isDisabled(), 'no hours when until released')
    await page.getByRole('button', { name: 'Take Quiet room in Amsterdam' }).click()
    await page.getByText('You took Quiet room in Amsterdam until you release it').waitFor({ timeout: 15_000 })
    const seat = await eventually('her seat at the quiet room', async () => ((await branches.seat('1005'))?.deviceId === 'ams-quiet-1' ? branches.seat('1005') : undefined))
    t.match(seat, { deviceId: 'ams-quiet-1', via: SeatVia.SEAT_VIA_PORTAL }, 'seated at the quiet room, via the portal')
    t.equal(seat?.expiresAt, undefined, 'with no end')
    await desk.waitForMessage(/1005 signed out/, 10_000)
    t.pass('the desk she left is told')
  })

  await t.test('force sign-out from the map; the seat history with its reasons', async (t) => {
    await admin.getByRole('button', { name: 'Sign Barbara Liskov out of Quiet room' }).click()
    await admin.waitForFunction(() => document.querySelector('tr[data-desk="ams-quiet-1"]')?.getAttribute('data-occupant') === '', undefined, { timeout: 10_000 })
    t.equal(await branches.seat('1005'), undefined, 'signed out')
    await admin.getByRole('button', { name: 'Seat history of Barbara Liskov' }).focus()
    await admin.keyboard.press('Enter')
    const history = admin.getByRole('region', { name: 'Seat history of Barbara Liskov (1005)' })
    await history.waitFor()
    t.equal(await admin.evaluate(() => document.activeElement?.id), 'history-title', 'focus moves to the history')
    const rows = (await history.locator('tbody tr').allInnerTexts()).map((row) => row.split('\t').map((cell) => cell.trim()))
    t.same(rows.map((r) => [r[0], r[1], r[4], r[5]]), [
      ['ams-quiet-1', 'Amsterdam', 'in the portal', 'signed out by an administrator'],
      ['ams-desk-2', 'Amsterdam', 'at the phone (*51)', 'signed in elsewhere'],
    ], 'newest first: the quiet room (ended by the administrator), the desk she left')
  })

  await t.test('a seat waiting for a branch that has not let go shows as pending', async (t) => {
    const berDesk = await branches.phone('berlin', 'ber-desk-1').start()
    t.equal(statusLine(await berDesk.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
    await admin.waitForFunction(() => document.querySelector('tr[data-desk="ber-desk-1"]')?.getAttribute('data-occupant') === '1001', undefined, { timeout: 10_000 })
    const context = await browser.newContext()
    context.setDefaultTimeout(15_000)
    t.teardown(() => context.close())
    const page = await context.newPage()
    await signInWorker(page, url, '1001', PIN['1001']!)
    await page.getByLabel('Branch').selectOption('amsterdam')
    await page.getByRole('button', { name: 'Search' }).click()
    // Berlin's node stops answering: it holds its lease but acknowledges nothing.
    branches.pauseNode('berlin')
    let paused = true
    t.teardown(() => paused && branches.resumeNode('berlin'))
    await page.getByRole('button', { name: 'Take desk-1 in Amsterdam' }).click()
    const row = admin.locator('tr[data-desk="ams-desk-1"]')
    await admin.waitForFunction(() => /pending: Berlin/.test(document.querySelector('tr[data-desk="ams-desk-1"]')?.textContent ?? ''), undefined, { timeout: 10_000 })
    t.match(await row.innerText(), /Ada Lovelace \(1001\)[\s\S]*pending: Berlin/, 'the map: Ada at Amsterdam desk 1, pending on Berlin')
    // The portal's Login stops waiting (9 s) while Berlin still holds its lease: the worker's page
    // says what is true, a seat that waits for Berlin. (Guard tried: without the page reading a
    // pending seat again, the last step below times out.)
    const desk = page.getByRole('region', { name: 'Your desk' })
    await page.getByText(/You took desk-1 in Amsterdam until .*: its phone rings for you as soon as your previous branch lets go/).waitFor({ timeout: 15_000 })
    t.match(await desk.innerText(), /You sit at desk-1 in Amsterdam \(waiting for Berlin to let go of your previous desk\)/, 'the worker\'s page: Amsterdam desk 1, pending on Berlin')
    t.equal((await branches.seat('1001'))?.pending.length, 1, 'as the registry says')
    branches.resumeNode('berlin')
    paused = false
    await admin.waitForFunction(() => {
      const text = document.querySelector('tr[data-desk="ams-desk-1"]')?.textContent ?? ''
      return text.includes('Ada Lovelace') && !text.includes('pending')
    }, undefined, { timeout: 15_000 })
    t.pass('once Berlin acknowledged, no longer pending')
    await page.getByText('Berlin let go of your previous desk: desk-1 in Amsterdam rings for you now').waitFor({ timeout: 15_000 })
    t.match(await desk.innerText(), /You sit at desk-1 in Amsterdam\./, 'the worker\'s page follows without a reload: seated')
    t.equal((await branches.seat('1001'))?.pending.length, 0, 'the registry agrees')
    await berDesk.waitForMessage('1001 signed out: signed in at Amsterdam, desk-1', 10_000)
  })
})
