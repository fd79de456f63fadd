// PIN lockout is no weapon (issue 21), over real SIP from sipp phones to real nodes, engines,
// registries (gRPC) and etcd: an attacker with one desk's credentials locks a worker out of that
// desk only; the worker signs in at another desk; wrong PINs from three desks lock the worker
// everywhere; the phone's reason phrase names which lock applies; an administrator lifts a desk's
// lock, the worker's lock and a desk's pause with the CLI (`flexseat user unlock`, `device unlock`).
import t from 'tap'
import { Cli } from '../helpers/cli'
import { Branches, PIN, statusLine } from '../helpers/branches'

t.setTimeout(90_000)

t.test('an attacker at one desk cannot lock a worker out of the others', async (t) => {
  // Per worker: 2 wrong PINs at one desk lock them there, 5 from several desks everywhere; a
  // desk pauses after 5 wrong PINs for any workers. All for 10 minutes.
  const branches = await Branches.start(t, {
    sites: ['amsterdam', 'berlin'],
    confirmationLeaseSeconds: 3,
    registryEnv: {
      FLEXSEAT_LOCKOUT_MAX_FAILURES: '2',
      FLEXSEAT_LOCKOUT_CLUSTER_MAX_FAILURES: '5',
      FLEXSEAT_LOCKOUT_WINDOW_SECONDS: '600',
      FLEXSEAT_LOCKOUT_SECONDS: '600',
      FLEXSEAT_DESK_THROTTLE_MAX_FAILURES: '5',
      FLEXSEAT_DESK_THROTTLE_SECONDS: '600',
    },
  })
  const [attacker, victim, second, third] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start(),
    branches.phone('amsterdam', 'ams-desk-2').start(),
    branches.phone('berlin', 'ber-desk-1').start(),
    branches.phone('berlin', 'ber-desk-2').start(),
  ])
  const admin = { FLEXSEAT_REGISTRY: branches.branch('amsterdam').registryAddress, FLEXSEAT_TOKEN: branches.registry.tokens.admin }
  const flexseat = async (...args: string[]) => (await Cli.start(args, admin)).result()
  const ada = PIN['1001']!

  await t.test("the attacker's wrong PINs lock ada at the attacker's desk only", async (t) => {
    t.equal(statusLine(await attacker.dial('*51*1001*0000')), '403 Wrong PIN - 1 try left')
    t.match(statusLine(await attacker.dial('*51*1001*0001')), /^403 Locked at this desk for (9|10) min$/, 'the second locks ada at ams-desk-1')
    t.match(statusLine(await attacker.dial(`*51*1001*${ada}`)), /^403 Locked at this desk for (9|10) min$/, 'even her right PIN there')
    t.ok(await attacker.waitForMessage(/^Locked at this desk for (9|10) min$/, 5_000), 'the display says which lock')
    t.equal(await branches.seat('1001'), undefined, 'ada is not seated')
  })

  await t.test('ada signs in at another desk', async (t) => {
    t.equal(statusLine(await victim.dial(`*51*1001*${ada}`)), '480 Signed in as 1001')
    t.equal((await branches.seat('1001'))?.deviceId, 'ams-desk-2')
  })

  await t.test('wrong PINs from three desks lock ada everywhere', async (t) => {
    t.equal(statusLine(await second.dial('*51*1001*0002')), '403 Wrong PIN - 1 try left', 'ber-desk-1 has its own count')
    t.match(statusLine(await second.dial('*51*1001*0003')), /^403 Locked at this desk for (9|10) min$/, 'two desks: locked at each, not everywhere')
    t.match(statusLine(await third.dial('*51*1001*0004')), /^403 Locked at every desk for (9|10) min$/, 'the fifth, from a third desk, locks ada everywhere')
    t.match(statusLine(await victim.dial(`*51*1001*${ada}`)), /^403 Locked at every desk for (9|10) min$/, "ada's right PIN at her own desk too")
    t.ok(await victim.waitForMessage(/^Locked at every desk for (9|10) min$/, 5_000), 'on her display')
    const shown = await flexseat('user', 'get', 'ada', '--json')
    t.match(shown.stdout, /"lockedUntil"/, 'the administrator sees the lock')
  })

  await t.test('an administrator lifts the locks', async (t) => {
    const one = await flexseat('user', 'unlock', 'ada', '--device', 'ber-desk-2')
    t.equal(one.code, 0, one.stderr)
    t.equal(one.stdout, 'user ada unlocked at desk ber-desk-2\n')
    t.match(statusLine(await third.dial(`*51*1001*${ada}`)), /^403 Locked at every desk/, "one desk's unlock leaves the lock everywhere")
    const all = await flexseat('user', 'unlock', 'ada')
    t.equal(all.code, 0, all.stderr)
    t.equal(all.stdout, 'user ada unlocked at every desk\n')
    // Ada still sits at her desk (signed in above): her *51*1001*PIN there renews the seat (RenewSeat), past the same lockout.
    t.equal(statusLine(await victim.dial(`*51*1001*${ada}`)), '480 Seat renewed', 'ada gets through again at her desk')
    t.equal(statusLine(await attacker.dial('*51*1001*0005')), '403 Wrong PIN - 1 try left', "the attacker's desk starts a fresh count")
    t.match(statusLine(await attacker.dial('*51*1001*0006')), /^403 Locked at this desk for (9|10) min$/, 'and locks ada there again')
    const desk = await flexseat('user', 'unlock', 'ada', '--device', 'ams-desk-1')
    t.equal(desk.code, 0, desk.stderr)
    t.equal(statusLine(await attacker.dial(`*51*1001*${ada}`)), '480 Signed in as 1001', "one desk's unlock lifts ada's lock there")
  })

  await t.test('a desk that tries many workers is paused until an administrator lifts it', async (t) => {
    // The desk throttle counts wrong PINs for any workers; a worker's unlock leaves it: ams-desk-1
    // had four (for ada), the fifth, for alan, pauses it.
    t.equal(statusLine(await attacker.dial('*51*1002*0007')), '403 Wrong PIN - 1 try left', 'a wrong PIN for alan')
    t.match(statusLine(await attacker.dial(`*51*1004*${PIN['1004']}`)), /^403 Too many wrong PINs here - wait (9|10) min$/, "another worker's right PIN at the paused desk")
    const lifted = await flexseat('device', 'unlock', 'ams-desk-1')
    t.equal(lifted.code, 0, lifted.stderr)
    t.equal(lifted.stdout, 'desk ams-desk-1 unlocked\n')
    t.equal(statusLine(await attacker.dial(`*51*1004*${PIN['1004']}`)), '480 Signed in as 1004', 'the desk takes PINs again')
  })
})
