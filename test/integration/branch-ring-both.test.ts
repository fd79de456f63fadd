// The worker's own phone rings too (BroadWorks Flexible Seating), end to end: real etcd,
// registries, SIP engines and nodes, sipp phones, the directory set through real gRPC. A worker
// with a home device and ring_home_device has a call ring the desk they sit at and their home
// device at once; the first to answer takes it and the other gets a CANCEL; the legs may be at
// other branches than the caller (both over the trunk); a revocation while both ring cancels the
// seated desk only, and the home device can still take the call; not seated, the home device
// rings alone. Each case names the guard it was seen to fail without.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { unary, User } from '@flexseat/proto'
import { Branches, PIN, type Phone, statusLine } from '../helpers/branches'
import type { SippTraceEntry } from '../helpers/sipp'

t.setTimeout(150_000)

/** The first message of call `callId` with `method` that `phone` received (waits up to `timeoutMs`). */
function received(phone: Phone, callId: string, method: string, timeoutMs = 5_000): Promise<SippTraceEntry> {
  return phone.waitFor((m) => m.method === method && m.header('call-id') === callId, timeoutMs, `${method} of ${callId}`)
}

/** Whether `phone` received a `method` of call `callId` (now). */
function got(phone: Phone, callId: string, method: string): boolean {
  return phone.received().some((m) => m.method === method && m.header('call-id') === callId)
}

/** The Call-ID of the first INVITE `phone` received after `since`. */
async function ringing(phone: Phone, since: number, timeoutMs = 8_000): Promise<string> {
  return (await phone.waitFor((m) => m.method === 'INVITE' && m.time >= since, timeoutMs, 'an INVITE')).header('call-id')
}

t.test('ring-both over real SIP', async (t) => {
  const branches = await Branches.start(t, { confirmationLeaseSeconds: 3 })
  const { directory } = branches.admin()
  const metadata = branches.registry.metadata('admin')
  const ringBoth = async (userId: string, homeDeviceId: string): Promise<void> => {
    await unary(directory.updateUser.bind(directory), { requestId: randomUUID(), user: User.fromPartial({ id: userId, homeDeviceId, ringHomeDevice: true }), updateMask: ['home_device_id', 'ring_home_device'] }, { metadata, timeoutMs: 5_000 })
  }
  // grace (1003): seated at ams-desk-1, home ams-desk-2 (the same branch as her caller);
  // ada (1001): seated at chi-desk-1, home ber-fixed (neither at the caller's branch);
  // edsger (1004): seated at ber-desk-1, home chi-fixed, picked up late.
  const marks = branches.branches.map((b) => branches.nodeLogMark(b.id))
  await Promise.all([ringBoth('grace', 'ams-desk-2'), ringBoth('ada', 'ber-fixed'), ringBoth('edsger', 'chi-fixed')])
  // The nodes hold the directory in memory, refreshed every 10 s: wait until each has the change.
  await Promise.all(branches.branches.map((b, i) => branches.waitForNodeLog(b.id, (l) => l.msg === 'directory refreshed', { since: marks[i], timeoutMs: 15_000, what: '`directory refreshed`' })))
  const [amsDesk1, amsDesk2, amsFixed, chiDesk1, berFixed, berDesk1, berDesk2, chiFixed] = await Promise.all([
    branches.phone('amsterdam', 'ams-desk-1').start({ mode: 'ring' }),
    branches.phone('amsterdam', 'ams-desk-2').start(),
    branches.phone('amsterdam', 'ams-fixed').start(),
    branches.phone('chicago', 'chi-desk-1').start({ mode: 'ring' }),
    branches.phone('berlin', 'ber-fixed').start(),
    branches.phone('berlin', 'ber-desk-1').start({ mode: 'ring' }),
    branches.phone('berlin', 'ber-desk-2').start(),
    branches.phone('chicago', 'chi-fixed').start({ mode: 'answer-late' }),
  ])
  for (const [desk, ext] of [[amsDesk1, '1003'], [chiDesk1, '1001'], [berDesk1, '1004']] as const) {
    t.equal(statusLine(await desk.dial(`*51*${ext}*${PIN[ext]}`)), `480 Signed in as ${ext}`, `${ext} signs in at ${desk.deviceId}`)
  }

  // Guards tried: the fork replaced by the seated leg alone (ams-desk-2 never rings); the CANCEL
  // of the other legs in ForkedCall.#answered left out (ams-desk-1 rings on); the home leg started
  // only once the seated one was cancelled (the order of the home INVITE and the CANCEL).
  await t.test('both ring at once; the first to answer takes the call, the other gets a CANCEL', async (t) => {
    const before = Date.now()
    const call = await amsFixed.dial('1003', { timeoutSec: 15 })
    t.ok(call.answered, `answered (${statusLine(call)})`)
    const seated = await received(amsDesk1, call.callId, 'INVITE')
    const home = await received(amsDesk2, call.callId, 'INVITE')
    t.ok(seated.time >= before && home.time >= before, 'both phones got the INVITE')
    for (const invite of [seated, home]) t.match(invite.header('p-asserted-identity'), new RegExp(`<sip:${branches.device('ams-fixed').extension}@`), `${invite === seated ? 'the seated desk' : 'the home device'} sees the caller`)
    const cancel = await received(amsDesk1, call.callId, 'CANCEL')
    t.ok(cancel, 'the seated desk, still ringing, got a CANCEL')
    // In parallel, not one after the other: the home device rang while the seated desk still did
    // (a hunt that tries the seated desk first would CANCEL it before inviting the home device).
    t.ok(home.time <= cancel.time, 'the home device rang before the seated desk was cancelled: at once')
    t.notOk(got(amsDesk2, call.callId, 'CANCEL'), 'the phone that answered did not')
    t.ok(await received(amsDesk2, call.callId, 'BYE'), 'the answered call ended end to end')
    t.equal(branches.nodeLogsMatching('amsterdam', (l) => l.msg === 'forked call answered' && l['callId'] === call.callId && l['device'] === 'ams-desk-2').length, 1, 'the Amsterdam node logged which leg took it')
  })

  // Guards tried: the home leg's own Call-ID left out (Berlin refuses the second signed request as
  // a replay: the home device never rings); the trunk signature of the home leg made for the
  // caller's Call-ID (403 Trunk not authenticated at Berlin).
  await t.test('the seated desk and the home device at two other branches: both over the trunk', async (t) => {
    const call = await amsFixed.dial('1001', { timeoutSec: 15 })
    t.ok(call.answered, `answered by the home device in Berlin (${statusLine(call)})`)
    const seated = await received(chiDesk1, call.callId, 'INVITE')
    t.match(seated.header('to'), /sip:1001@/, 'the Chicago desk rang for 1001')
    const home = await received(berFixed, `home-${call.callId}`, 'INVITE')
    t.match(home.header('to'), /sip:1001@/, 'the Berlin home device rang for 1001, as a leg of its own')
    t.ok(await received(chiDesk1, call.callId, 'CANCEL'), 'the Chicago desk got a CANCEL once Berlin answered')
    t.notOk(got(berFixed, `home-${call.callId}`, 'CANCEL'), 'Berlin did not')
  })

  // Guards tried: RingingCall.stop of a forked call ending the whole call (the caller gets 480 and
  // chi-fixed a CANCEL); ForkedCall.#stopLeg leaving the leg ringing (ber-desk-1 gets no CANCEL).
  await t.test('a revocation while both ring cancels the seated desk only; the home device still takes the call', async (t) => {
    const before = Date.now()
    const dialling = berFixed.dial('1004', { timeoutSec: 20 })
    const callId = await ringing(berDesk1, before)
    await received(chiFixed, `home-${callId}`, 'INVITE')
    const mark = branches.nodeLogMark('berlin')
    const move = await berDesk2.dial(`*51*1004*${PIN['1004']}`)
    t.equal(statusLine(move), '480 Signed in as 1004', '1004 moves to ber-desk-2 while the call rings')
    const cancel = await received(berDesk1, callId, 'CANCEL', 3_000)
    t.ok(cancel, 'the desk 1004 left got a CANCEL')
    await branches.waitForNodeLog('berlin', (l) => l.msg === 'forked call: the seated leg stopped while ringing' && l['callId'] === callId, { since: mark, what: 'the seated leg stopped' })
    const call = await dialling
    t.ok(call.answered, `the home device answered the call after all (${statusLine(call)})`)
    const answered = await received(chiFixed, `home-${callId}`, 'ACK')
    t.ok(cancel.time < answered.time, 'the seated leg was cancelled before the home device answered: by the revocation')
    t.notOk(got(chiFixed, `home-${callId}`, 'CANCEL'), 'the home device was never cancelled')
    t.equal(berDesk2.invites().filter((m) => m.header('call-id') === callId).length, 0, "the worker's new desk does not join a call that rang before (the caller's node decided once)")
  })

  // Guard tried: the home device checked before the seat (an unseated worker's call 480s).
  await t.test('not seated: the home device rings alone', async (t) => {
    t.equal(statusLine(await chiDesk1.dial('*51')), '480 Signed out 1001', '1001 signs out')
    const mark = branches.nodeLogMark('amsterdam')
    const call = await amsFixed.dial('1001', { timeoutSec: 15 })
    t.ok(call.answered, `answered (${statusLine(call)})`)
    t.ok(await received(berFixed, call.callId, 'INVITE'), "the home device rang (the caller's Call-ID: one leg)")
    t.equal(chiDesk1.invites().filter((m) => m.header('call-id') === call.callId).length, 0, 'the desk 1001 left did not')
    t.equal(branches.nodeLogsMatching('amsterdam', (l) => l.msg === 'call routed' && l['callId'] === call.callId && l['target'] === 'home' && String(l['destinations']).includes(branches.device('ber-fixed').extension), mark).length, 1, 'routed to the home device (over the trunk)')
  })
})
