// What a branch's SIP node refuses, through real SIP from sipp phones to real nodes, engines,
// registries and etcd: wrong PINs (with the tries left), the lockout at a desk (with the minutes), a desk
// that is not a flex desk, a worker who may not roam, unknown extensions and malformed codes;
// phones that are not who they claim (wrong password, unknown device) get nothing.
import t from 'tap'
import { Branches, PIN, statusLine } from '../helpers/branches'

t.test('feature-code refusals', async (t) => {
  // Three wrong PINs at a desk lock a worker there for 10 minutes (the defaults are 5 and 15;
  // branch-pin-lockout.test.ts tries the lock at every desk).
  const branches = await Branches.start(t, {
    confirmationLeaseSeconds: 3,
    registryEnv: { FLEXSEAT_LOCKOUT_MAX_FAILURES: '3', FLEXSEAT_LOCKOUT_WINDOW_SECONDS: '600', FLEXSEAT_LOCKOUT_SECONDS: '600' },
  })
  const [amsDesk, amsFixed, berDesk] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start(),
    branches.phone('amsterdam', 'ams-fixed').start(),
    branches.phone('berlin', 'ber-desk-2').start(),
  ])

  await t.test('wrong PINs say how many tries are left, then the worker is locked at the desk', async (t) => {
    const first = await amsDesk.dial('*51*1002*0000')
    t.equal(statusLine(first), '403 Wrong PIN - 2 tries left')
    t.ok(await amsDesk.waitForMessage('Wrong PIN - 2 tries left', 5_000), 'and on the display (MESSAGE)')
    const second = await amsDesk.dial('*51*1002*0001')
    t.equal(statusLine(second), '403 Wrong PIN - 1 try left')
    const third = await amsDesk.dial('*51*1002*0002')
    t.match(statusLine(third), /^403 Locked at this desk for (9|10) min$/, 'the third wrong PIN locks 1002 at this desk')
    const right = await amsDesk.dial(`*51*1002*${PIN['1002']}`)
    t.match(statusLine(right), /^403 Locked at this desk for (9|10) min$/, 'even the right PIN is refused there while locked')
    t.ok(await amsDesk.waitForMessage(/^Locked at this desk for (9|10) min$/, 5_000), 'the display says so too')
    t.equal(await branches.seat('1002'), undefined, '1002 is not seated')
  })

  await t.test('a desk that is not a flex desk', async (t) => {
    const signIn = await amsFixed.dial(`*51*1001*${PIN['1001']}`)
    t.equal(statusLine(signIn), '403 Not a flex desk')
    t.ok(await amsFixed.waitForMessage('Not a flex desk', 5_000), 'on the display too')
    t.equal(await branches.seat('1001'), undefined)
  })

  await t.test('a worker who may not roam, away from home', async (t) => {
    const signIn = await berDesk.dial(`*51*1003*${PIN['1003']}`)
    t.equal(statusLine(signIn), '403 Not allowed at this branch')
    t.equal(await branches.seat('1003'), undefined)
  })

  await t.test('unknown extensions and malformed codes', async (t) => {
    t.equal(statusLine(await amsDesk.dial(`*51*1009*1234`)), '404 Unknown extension 1009')
    t.equal(statusLine(await amsDesk.dial(`*51*1001`)), '484 Dial *51*extension*PIN')
    t.equal(statusLine(await amsDesk.dial('*51')), '403 Nobody signed in here', '*51 with nobody seated')
  })

  await t.test('phones that are not who they claim', async (t) => {
    const impostor = branches.phone('amsterdam', 'ams-desk-2', { password: 'not-the-password' })
    const register = await impostor.register()
    t.not(register.status, 200, `REGISTER with a wrong password is refused (${statusLine(register)})`)
    t.ok(register.status === 401 || register.status === 403, 'with 401 or 403')
    const unknown = branches.phone('amsterdam', 'no-such-desk')
    const unknownRegister = await unknown.register()
    t.not(unknownRegister.status, 200, `REGISTER of an unknown device is refused (${statusLine(unknownRegister)})`)
    const signIn = await impostor.dial(`*51*1001*${PIN['1001']}`)
    t.ok(signIn.status === 407 || signIn.status === 403 || signIn.status === 401, `a sign-in with a wrong password gets no further than the challenge (${statusLine(signIn)})`)
    t.equal(await branches.seat('1001'), undefined, 'and seats nobody')
    const call = await unknown.dial('2101')
    t.ok(call.status === 407 || call.status === 403 || call.status === 401, `a call from an unknown device is refused (${statusLine(call)})`)
    t.equal(amsDesk.invites().length, 0, 'nothing rang the desk')
  })
})
