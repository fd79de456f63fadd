// Directed pickup from a busy lamp, end to end (real etcd, registries, SIP engines and nodes;
// sipp phones): a call from Chicago rings 1001 at a Berlin desk nobody answers;
// - an Amsterdam phone presses the lamp: an INVITE with the `Replaces` its dialog-info names
//   (RFC 3891, early-only) goes to its node, which forwards it to Berlin's node over the trunk;
//   Berlin's node answers the caller and the picking phone and CANCELs the ringing desk;
// - a Berlin phone dials the pickup code `**1001`: taken by its own node;
// - nothing ringing by that name: 481; a malformed Replaces: 400; an idle flex desk: 403.
// Each case says which guard it was seen to fail without.
import t from 'tap'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { LampWatcher } from '../helpers/busy-lamps'

t.setTimeout(90_000)

t.test('a ringing call is picked up from another branch and from the same one', async (t) => {
  const branches = await Branches.start(t)
  const [berDesk, chiFixed] = await Promise.all([branches.phone('berlin', 'ber-desk-1').start({ mode: 'ring' }), branches.phone('chicago', 'chi-fixed').start()])
  const amsFixed = branches.phone('amsterdam', 'ams-fixed')
  const berFixed = branches.phone('berlin', 'ber-fixed')
  t.equal(statusLine(await berDesk.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
  const lamp = await LampWatcher.start(t, amsFixed, '1001')
  await lamp.waitForState((s) => s.dialogs.length === 0, 8_000, 'idle')

  await t.test('from the lamp in Amsterdam, with Replaces', async (t) => {
    // Guard tried: the pickable registration of sip-node.ts #call (481: nothing rings by that
    // name at Berlin; this case and the next fail).
    const since = Date.now()
    const call = chiFixed.dial('1001', { holdMs: 2_000, timeoutSec: 20 })
    const lit = await lamp.waitForState((s) => s.dialogs.some((d) => d.state === 'early'), 8_000, 'ringing', since)
    const d = lit.dialogs[0]!
    const pickup = await amsFixed.dial('1001', { header: `Replaces: ${d.callId};to-tag=${d.localTag};from-tag=${d.remoteTag};early-only` })
    t.equal(pickup.status, 200, 'the picking phone is answered')
    const outcome = await call
    t.ok(outcome.answered, 'so is the caller')
    t.ok(await berDesk.waitFor((m) => m.method === 'CANCEL' && m.header('call-id') === d.callId, 5_000, 'the CANCEL'), 'the ringing desk got a CANCEL')
    t.equal(branches.nodeLogsMatching('berlin', (l) => l.msg === 'call picked up').length, 1, "Berlin's node took the call")
    await lamp.waitForState((s) => s.dialogs.length === 0, 8_000, 'idle again', lit.time + 1)
  })

  await t.test('with the pickup code at the same branch', async (t) => {
    const since = Date.now()
    const call = chiFixed.dial('1001', { holdMs: 2_000, timeoutSec: 20 })
    await lamp.waitForState((s) => s.dialogs.some((d) => d.state === 'early'), 8_000, 'ringing', since)
    const pickup = await berFixed.dial('**1001')
    t.equal(pickup.status, 200, 'the Berlin phone takes the call with **1001')
    t.ok((await call).answered, 'the caller is answered')
    t.equal(branches.nodeLogsMatching('berlin', (l) => l.msg === 'call picked up').length, 2)
  })

  await t.test('nothing to pick up, or a malformed Replaces', async (t) => {
    t.equal((await amsFixed.dial('**1002')).status, 481, 'nothing rings for 1002: 481')
    // Guard tried: #pickup without the idle-flex-desk rule: 481 here (it looked for a call).
    const idleDesk = await branches.phone('amsterdam', 'ams-desk-1').start()
    t.equal(statusLine(await idleDesk.dial('**1002')), '403 Sign in with *51 to call', 'an idle flex desk takes no call: 403, as for placing one')
    t.equal((await amsFixed.dial('1001', { header: 'Replaces: ;to-tag=1' })).status, 400, 'a malformed Replaces: 400')
    t.equal((await amsFixed.dial('1001', { header: 'Replaces: gone@x;to-tag=1;from-tag=2;early-only' })).status, 481, 'a call that does not ring (any more): 481')
  })
})
