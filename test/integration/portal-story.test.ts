// The portal in a real browser against the running system: real etcd, registries, SIP engines and
// nodes (Branches), the portals as processes, sipp phones, Debian's chromium (playwright-core).
// Ada sits at Berlin's desk 1 (*51); in the Amsterdam portal she finds Amsterdam's desk 1 and takes
// it for 2 hours, by keyboard alone: the Berlin desk is told she left, the Amsterdam desk gets the
// MESSAGE and a call for 1001 rings it, which her page then lists among her calls; she releases
// it. An administrator's live map shows a *51 at Berlin as it happens. With
// FLEXSEAT_PORTAL_SCREENSHOTS=<dir> the run saves the two pages.
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import t from 'tap'
import { join } from 'node:path'
import { credentials } from '@grpc/grpc-js'
import { CallListServiceClient, SeatVia, unary } from '@flexseat/proto'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { accessibility, openBrowser, PortalServices, signInAdmin, tabTo } from '../helpers/portal'
import { eventually } from '../helpers/registry-cluster'

// Four processes per branch, two branches, sipp phones and a browser: longer than tap's 30 s.
t.setTimeout(120_000)

t.test('a worker takes a desk for 2 hours in the portal; the live map follows a *51', async (t) => {
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'], logLevel: 'info', confirmationLeaseSeconds: 3 })
  const portals = await PortalServices.start(t, branches)
  const browser = await openBrowser(t)
  const shots = process.env['FLEXSEAT_PORTAL_SCREENSHOTS']
  const amsDesk = await branches.phone('amsterdam', 'ams-desk-1').start()
  const berDesk = await branches.phone('berlin', 'ber-desk-1').start()
  const berDesk2 = await branches.phone('berlin', 'ber-desk-2').start()
  const caller = await branches.phone('berlin', 'ber-fixed').start()

  t.equal(statusLine(await berDesk.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001', 'Ada sits at Berlin desk 1 to begin with')

  await t.test('by keyboard alone: sign in, find Amsterdam desk 1, take it for 2 hours', async (t) => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } })
    t.teardown(() => context.close())
    const page = await context.newPage()
    await page.goto(portals.url('amsterdam'))
    await page.getByRole('heading', { name: 'Sign in' }).waitFor()
    t.same(await accessibility(page), [], 'the sign-in page: labels, names, landmarks, a language')
    await tabTo(page, /Extension and PIN/)
    await tabTo(page, /^Extension/)
    await page.keyboard.type('1001')
    await tabTo(page, /^PIN/)
    await page.keyboard.type(PIN['1001']!)
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Hello, Ada Lovelace (1001)' }).waitFor()
    t.match(await page.getByRole('region', { name: 'Your desk' }).innerText(), /You sit at desk-1 in Berlin/, 'she sees where she sits')
    t.same(await accessibility(page), [], 'the worker\'s page: labels, names, landmarks')

    await tabTo(page, /^Branch/)
    await page.keyboard.press('End') // the select: choose with the keyboard
    await page.getByLabel('Branch').selectOption('amsterdam')
    await tabTo(page, /^Label contains/)
    await page.keyboard.type('DESK')
    await page.keyboard.press('Enter')
    const found = page.getByRole('list', { name: 'Free desks found' })
    await found.waitFor()
    t.same(await found.getByRole('button').allInnerTexts(), ['Take', 'Take'], 'two free flex desks at Amsterdam (the reception phone is no flex desk)')
    await tabTo(page, /^Hours/)
    await page.keyboard.press('ControlOrMeta+A')
    await page.keyboard.type('2')
    if (shots !== undefined) await page.screenshot({ path: join(shots, 'portal-worker.png'), fullPage: true })

    const marks = { ams: amsDesk.messages().length, ber: berDesk.messages().length }
    const taking = Date.now()
    await tabTo(page, /Take desk-1 in Amsterdam/)
    await page.keyboard.press('Enter')
    await page.getByText(/You took desk-1 in Amsterdam until/).waitFor({ timeout: 15_000 })
    t.comment(`Take → page confirmed in ${Date.now() - taking} ms (the Login waits for Berlin to let go)`)
    t.match(await page.getByRole('region', { name: 'Your desk' }).innerText(), /You sit at desk-1 in Amsterdam/)

    const seat = await branches.seat('1001')
    t.equal(seat?.deviceId, 'ams-desk-1', 'the registry seats her at Amsterdam desk 1')
    t.equal(seat?.via, SeatVia.SEAT_VIA_PORTAL, 'via PORTAL')
    t.equal(seat?.pending.length, 0, 'active: Berlin acknowledged')
    const hours = ((seat?.expiresAt?.getTime() ?? 0) - (seat?.since?.getTime() ?? 0)) / 3_600_000
    t.ok(Math.abs(hours - 2) < 0.001, `for 2 hours (${hours})`)
    await berDesk.waitForMessage('1001 signed out: signed in at Amsterdam, desk-1', 10_000)
    t.pass('Berlin desk 1 is told she left')
    const told = await amsDesk.waitForMessage('Signed in as 1001 (Ada Lovelace)', 10_000)
    t.ok(told.time >= taking, 'Amsterdam desk 1 shows her sign-in')
    t.ok(amsDesk.messages().length > marks.ams && berDesk.messages().length > marks.ber)

    const call = await caller.dial('1001')
    t.ok(call.answered, `a call to 1001 is answered (${statusLine(call)})`)
    await amsDesk.waitFor((m) => m.method === 'INVITE' && (m.header('to') ?? '').includes('1001'), 5_000, 'the call for 1001 at Amsterdam desk 1')
    t.equal(berDesk.invites().filter((m) => (m.header('to') ?? '').includes('1001')).length, 0, 'and not at Berlin desk 1')

    // Her call list: that call, once Amsterdam's node has reported it to the registry.
    const callList = new CallListServiceClient(branches.branch('amsterdam').registryAddress, credentials.createInsecure())
    t.teardown(() => callList.close())
    await eventually('the call is reported', async () => (await unary(callList.listCalls.bind(callList), { userId: 'ada', deviceId: '', limit: 0 }, { metadata: branches.registry.metadata('admin'), timeoutMs: 5_000 })).calls.length > 0)
    await tabTo(page, /Refresh calls/, 60)
    await page.keyboard.press('Enter')
    const calls = page.getByRole('region', { name: 'Your calls' })
    await calls.locator('tbody tr').first().waitFor()
    t.match(await calls.locator('tbody tr').first().innerText(), /incoming[\s\S]*ams-desk-1 \(Amsterdam\)/, 'her calls: the call answered at Amsterdam desk 1')

    await tabTo(page, /Release this desk/, 60)
    await page.keyboard.press('Enter')
    await page.getByText('Desk released: your calls no longer ring there').waitFor()
    t.equal(await branches.seat('1001'), undefined, 'released')
    const history = await page.getByRole('region', { name: 'Your recent desks' }).innerText()
    t.match(history, /ams-desk-1\s+Amsterdam.*signed out/s, 'her recent desks: Amsterdam, signed out')
    t.match(history, /ber-desk-1\s+Berlin.*signed in elsewhere/s, 'and Berlin, left when she took Amsterdam')
  })

  await t.test('the live map shows a *51 at Berlin as it happens', async (t) => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    t.teardown(() => context.close())
    const page = await context.newPage()
    await signInAdmin(page, portals.url('amsterdam'), branches.registry.tokens.admin)
    await page.locator('[data-feed="live"]').waitFor()
    await page.locator('tr[data-desk="ber-desk-2"]').waitFor()
    t.same(await accessibility(page), [], 'the live map: labels, names, landmarks')
    t.equal(await page.locator('tr[data-desk="ber-desk-2"]').getAttribute('data-occupant'), '', 'Berlin desk 2 is free')
    const started = Date.now()
    const shown = page.waitForFunction(() => document.querySelector('tr[data-desk="ber-desk-2"]')?.getAttribute('data-occupant') === '1002', undefined, { timeout: 15_000 }).then(() => Date.now())
    const signIn = await berDesk2.dial(`*51*1002*${PIN['1002']}`)
    t.equal(statusLine(signIn), '480 Signed in as 1002')
    const at = await shown
    t.comment(`*51 dialled at Berlin → the Amsterdam admin page shows it: ${at - started} ms (INVITE to DOM, sipp's 407 round trip included)`)
    t.match(await page.locator('tr[data-desk="ber-desk-2"]').innerText(), /Alan Turing \(1002\)/, 'with the worker\'s name')
    t.match(await page.getByRole('region', { name: 'Berlin' }).innerText(), /SIP node .*: lease held/, 'and Berlin\'s lease state')
    if (shots !== undefined) await page.screenshot({ path: join(shots, 'portal-admin.png'), fullPage: true })

    // Force sign-out from the map, by keyboard.
    await page.getByRole('button', { name: 'Sign Alan Turing out of desk-2' }).focus()
    await page.keyboard.press('Enter')
    await page.waitForFunction(() => document.querySelector('tr[data-desk="ber-desk-2"]')?.getAttribute('data-occupant') === '', undefined, { timeout: 10_000 })
    t.equal(await branches.seat('1002'), undefined, 'signed out by the administrator')
    await berDesk2.waitForMessage(/1002 signed out/, 10_000)
    t.pass('the desk is told')
  })
})
