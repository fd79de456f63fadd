// Busy lamps across branches, end to end (real etcd, registries, SIP engines and nodes; the
// lamps are sipp phones subscribing with `Event: dialog`, test/helpers/busy-lamps.ts):
// - bad input gets a clear answer: an unknown event package 489 (Allow-Events), an unknown
//   extension 404, an interval below the minimum 423 (Min-Expires), one above the maximum is
//   shortened; a SUBSCRIBE without credentials is challenged (407) like an INVITE;
// - a lamp in Amsterdam for a worker seated in Berlin shows Berlin's call ringing (RFC 4235
//   dialog-info with the Call-ID, the caller's tag and identity), then idle; when the worker
//   moves to Chicago the same subscription follows their calls there (early, confirmed, idle);
//   the lamp of a desk's own extension follows that desk's calls;
// - signed out: idle (a call to the signed-out worker does not light it), or, for a worker whose
//   home device rings with their desk (ring_home_device), the home device's calls.
// Refresh, unsubscribe, expiry and a node restart: branch-busy-lamps-lifecycle.test.ts.
// Each case says which guard it was seen to fail without.
import t from 'tap'
import { User } from '@flexseat/proto'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { type LampState, LampWatcher } from '../helpers/busy-lamps'

t.setTimeout(120_000)

const idle = (s: LampState): boolean => s.dialogs.length === 0
const ringing = (s: LampState): boolean => s.dialogs.some((d) => d.state === 'early')
const busy = (s: LampState): boolean => s.dialogs.some((d) => d.state === 'confirmed')

t.test('busy lamps follow the worker across branches', async (t) => {
  const branches = await Branches.start(t, { nodeEnv: { FLEXSEAT_BLF_MIN_SECONDS: '2', FLEXSEAT_BLF_MAX_SECONDS: '600' } })
  const [berDesk, chiDesk, chiFixed] = await Promise.all([
    branches.phone('berlin', 'ber-desk-1').start({ mode: 'ring' }),
    branches.phone('chicago', 'chi-desk-1').start(),
    branches.phone('chicago', 'chi-fixed').start(),
  ])
  const amsFixed = branches.phone('amsterdam', 'ams-fixed')
  const berFixed = branches.phone('berlin', 'ber-fixed')

  await t.test('bad input gets a clear answer', async (t) => {
    // Guards tried: the Event check (the presence SUBSCRIBE got 200), the 404 of #resolve, the
    // Min-Expires check of #expires.
    const wrongEvent = await LampWatcher.start(t, amsFixed, '1001', { event: 'presence' })
    const refused = await wrongEvent.waitForAnswer()
    t.equal(`${refused.status} ${refused.reason}`, '489 Bad Event', 'an unknown event package: 489')
    t.equal(refused.header('allow-events'), 'dialog', 'naming the package served')
    const unknown = await (await LampWatcher.start(t, amsFixed, '1009')).waitForAnswer()
    t.equal(unknown.status, 404, 'an extension nobody has: 404')
    const brief = await (await LampWatcher.start(t, amsFixed, '1001', { expires: 1 })).waitForAnswer()
    t.equal(brief.status, 423, 'below the minimum: 423')
    t.equal(brief.header('min-expires'), '2', 'with Min-Expires')
  })

  // Ada (1001) sits at the Berlin desk, which rings and is never picked up.
  t.equal(statusLine(await berDesk.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
  // Guard tried: the cap to FLEXSEAT_BLF_MAX_SECONDS (200 with Expires: 3600).
  const lamp = await LampWatcher.start(t, amsFixed, '1001', { expires: 3600 })
  const accepted = await lamp.waitForAnswer()
  t.equal(accepted.status, 200, 'the Amsterdam phone subscribes to 1001: 200 (not 202)')
  t.equal(accepted.header('expires'), '600', 'the interval shortened to the maximum')
  t.ok(lamp.messages().some((m) => m.status === 407), 'the SUBSCRIBE was challenged first, as an INVITE is')
  const first = await lamp.waitForState(() => true, 5_000, 'at all')
  t.equal(first.version, 0, 'the first NOTIFY: version 0')
  t.match(first.subscriptionState, /^active;expires=\d+$/, 'active')
  t.ok(idle(first), 'idle')
  t.equal(first.entity, `sip:1001@${branches.branch('amsterdam').domain}`, 'the entity is the extension watched')

  await t.test("Berlin's call rings on the Amsterdam lamp, with what a pickup needs", async (t) => {
    // Guard tried: the desks' and workers' events of call-log.ts not reported (the lamp stays idle).
    const since = Date.now()
    const call = chiFixed.dial('1001', { timeoutSec: 20 })
    const lit = await lamp.waitForState(ringing, 8_000, 'ringing', since)
    const invite = await berDesk.waitFor((m) => m.method === 'INVITE' && m.time >= since, 5_000, 'the INVITE at the desk')
    const dialog = lit.dialogs[0]!
    t.equal(dialog.callId, invite.header('call-id'), "the Call-ID of the call ringing at Berlin's desk")
    t.equal(dialog.direction, 'recipient')
    t.match(dialog.remoteTag, /\S+/, "the caller's tag")
    t.match(dialog.remote, new RegExp(`^sip:${branches.device('chi-fixed').extension}@`), 'the caller')
    t.ok(lit.version > first.version, 'versions count up')

    // Ada moves to Chicago: the Berlin call stops (480), the lamp goes idle, and then follows her.
    t.equal(statusLine(await chiDesk.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001', '1001 moves to Chicago')
    t.equal(statusLine(await call), '480 1001 signed in elsewhere')
    await lamp.waitForState(idle, 8_000, 'idle after the move', lit.time + 1)
  })

  await t.test('the same subscription follows the worker to Chicago; a desk lamp follows its desk', async (t) => {
    // Guard tried: the desks' own events of call-log.ts (the desk lamp stayed idle).
    const deskLamp = await LampWatcher.start(t, berFixed, branches.device('chi-desk-1').extension)
    await deskLamp.waitForState(idle, 5_000, 'idle')
    const since = Date.now()
    const call = await berFixed.dial('1001', { holdMs: 1_500, timeoutSec: 20 })
    t.ok(call.answered, 'answered at the Chicago desk')
    const talking = await lamp.waitForState(busy, 8_000, 'busy', since)
    t.equal(talking.dialogs[0]!.callId, call.callId, 'the call from Berlin')
    t.match(talking.dialogs[0]!.remote, new RegExp(`^sip:${branches.device('ber-fixed').extension}@`))
    await deskLamp.waitForState(busy, 8_000, "busy on the desk's own lamp", since)
    await lamp.waitForState(idle, 8_000, 'idle after the hang-up', talking.time + 1)
    await deskLamp.waitForState(idle, 8_000, 'the desk idle after the hang-up', talking.time + 1)
  })

  await t.test('signed out: idle, even while her extension is called', async (t) => {
    // Guard tried: #state without the seat check (the missed call lit the lamp).
    t.equal(statusLine(await chiDesk.dial('*51')), '480 Signed out 1001')
    const mark = lamp.notifies().length
    t.equal(statusLine(await chiFixed.dial('1001')), '480 1001 is not signed in')
    const witness = await LampWatcher.start(t, amsFixed, '1001')
    t.ok(idle(await witness.waitForState(() => true, 5_000, 'at all')), 'a new lamp: idle')
    t.ok(lamp.notifies().slice(mark).every(idle), 'no NOTIFY showed the missed call')
  })


  await t.test("signed out with ring_home_device: the home device's calls", async (t) => {
    // Guard tried: the home-device branch of BusyLamps #state (the lamp stayed idle).
    await branches.addWorker(User.fromPartial({ id: 'hedy', extension: '1005', displayName: 'Hedy Lamarr', homeSiteId: 'amsterdam', roamingAllowed: true, homeDeviceId: 'ams-desk-2', ringHomeDevice: true }), '1593')
    const home = await branches.phone('amsterdam', 'ams-desk-2').start()
    const hedy = await LampWatcher.start(t, berFixed, '1005')
    await hedy.waitForState(idle, 8_000, 'idle')
    const since = Date.now()
    const call = await chiFixed.dial(home.extension, { holdMs: 1_500, timeoutSec: 20 })
    t.ok(call.answered, "a call to the home device's own extension")
    const lit = await hedy.waitForState(busy, 8_000, 'busy', since)
    t.equal(lit.dialogs[0]!.callId, call.callId, "1005's lamp shows the home device's call")
    await hedy.waitForState(idle, 8_000, 'idle after it', lit.time + 1)
  })
})
