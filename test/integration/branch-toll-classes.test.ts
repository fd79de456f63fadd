// Toll classes over real SIP (issue 21): sipp phones, a sipp carrier gateway, real SIP nodes,
// registries (gRPC) and etcd. A seated desk reaches the carrier for ordinary numbers but not for
// premium ones (sites/amsterdam.yaml's classes, every class but premium by default); a worker's
// own classes apply at the desk they sit at; a fixed phone's own classes, else the site's
// (`dial_plan.allow.fixed`: Berlin's fixed phones call nothing abroad); an idle flex desk calls
// emergency numbers only. Each refusal is a 403 naming the class, and nothing reaches the carrier.
import t, { type Test } from 'tap'
import { User } from '@flexseat/proto'
import { Cli } from '../helpers/cli'
import { Branches, PIN, statusLine } from '../helpers/branches'

t.setTimeout(90_000)

t.test('toll classes at the branches', async (t) => {
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'], confirmationLeaseSeconds: 3, carrier: true, startNodes: false })
  const carrier = branches.carrier!
  const admin = { FLEXSEAT_REGISTRY: branches.branch('amsterdam').registryAddress, FLEXSEAT_TOKEN: branches.registry.tokens.admin }
  // Before the nodes start (they then list them): a worker who may call only inside and within
  // the country, set with the CLI; a lobby phone that may call inside only.
  const created = await (await Cli.start(['user', 'create', '--id', 'kay', '--ext', '1009', '--name', 'Kay', '--home', 'amsterdam', '--roaming', '--classes', 'internal,national', '--pin', '4242', '--json'], admin)).result()
  t.equal(created.code, 0, created.stderr)
  t.match(JSON.parse(created.stdout), { user: { callClasses: { classes: ['internal', 'national'] } } }, 'the CLI sets and shows the classes')
  await branches.addDevice({ id: 'ams-lobby', siteId: 'amsterdam', extension: '2098', label: 'lobby', flexHost: false, callClasses: ['internal'] })
  await Promise.all(['amsterdam', 'berlin'].map((site) => branches.startNode(site)))
  const [desk1, desk2, idle, lobby, berFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start(),
    branches.phone('amsterdam', 'ams-desk-2').start(),
    branches.phone('berlin', 'ber-desk-1').start(),
    branches.phone('amsterdam', 'ams-lobby').start(),
    branches.phone('berlin', 'ber-fixed').start(),
  ])
  const nothingOut = (t: Test, before: number) => t.equal(carrier.invites().length, before, 'nothing reached the carrier')

  await t.test('a seated desk: ordinary numbers, but no premium number', async (t) => {
    t.equal(statusLine(await desk1.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
    const national = await desk1.dial('0201234567')
    t.ok(national.answered, `a national number goes out through the carrier (${statusLine(national)})`)
    const abroad = await desk1.dial('0049301234567')
    t.ok(abroad.answered, `so does an international one (${statusLine(abroad)})`)
    const before = carrier.invites().length
    t.equal(statusLine(await desk1.dial('0900123456')), '403 Premium calls not allowed')
    t.equal(statusLine(await desk1.dial('00900123456')), '403 Premium calls not allowed', '00900… is premium too')
    nothingOut(t, before)
  })

  await t.test("the seated worker's own classes apply at the desk", async (t) => {
    t.equal(statusLine(await desk2.dial('*51*1009*4242')), '480 Signed in as 1009')
    const before = carrier.invites().length
    t.equal(statusLine(await desk2.dial('0049301234567')), '403 International calls not allowed', "kay may not call abroad, though the site's seated desks may")
    t.equal(statusLine(await desk2.dial('0612345678')), '403 Mobile calls not allowed')
    nothingOut(t, before)
    const national = await desk2.dial('0201234567')
    t.ok(national.answered, `kay's national call goes out (${statusLine(national)})`)
  })

  await t.test("a fixed phone: its own classes, else the site's", async (t) => {
    const before = carrier.invites().length
    t.equal(statusLine(await lobby.dial('0201234567')), '403 National calls not allowed', 'the lobby phone calls inside only')
    t.equal(statusLine(await berFixed.dial('0033123456789')), '403 International calls not allowed', "Berlin's fixed phones call nothing abroad (dial_plan.allow.fixed)")
    nothingOut(t, before)
    const inside = await lobby.dial(branches.device('ams-desk-1').extension)
    t.ok(inside.answered, `the lobby phone calls a desk inside (${statusLine(inside)})`)
    const emergency = await lobby.dial('112')
    t.ok(emergency.answered, `and the emergency number, whatever its classes (${statusLine(emergency)})`)
  })

  await t.test('an idle flex desk: emergency only', async (t) => {
    const before = carrier.invites().length
    t.equal(statusLine(await idle.dial('030123456')), '403 Sign in with *51 to call')
    nothingOut(t, before)
  })

  await t.test('an administrator changes a worker back to the site\'s classes', async (t) => {
    const cleared = await (await Cli.start(['user', 'update', 'kay', '--classes', 'site', '--json'], admin)).result()
    t.equal(cleared.code, 0, cleared.stderr)
    t.equal(User.fromJSON((JSON.parse(cleared.stdout) as { user: unknown }).user).callClasses, undefined, 'unset: the site\'s allow.seated applies')
  })
})
