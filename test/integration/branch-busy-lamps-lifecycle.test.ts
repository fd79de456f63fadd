// Busy lamps' subscription lifecycle, end to end (real etcd, registries, SIP engines and nodes;
// sipp lamps, test/helpers/busy-lamps.ts), two branches:
// - refresh (200 with Expires, a NOTIFY), unsubscribe (a final `terminated` NOTIFY), expiry
//   (`terminated;reason=timeout`), versions counting up;
// - a node restart: the phones are told to subscribe again (`terminated;reason=deactivated`)
//   and a new subscription gets the current state at once (a call still ringing in Berlin).
// Each case says which guard it was seen to fail without.
import t from 'tap'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { type LampState, LampWatcher } from '../helpers/busy-lamps'

t.setTimeout(90_000)

const idle = (s: LampState): boolean => s.dialogs.length === 0
const ringing = (s: LampState): boolean => s.dialogs.some((d) => d.state === 'early')

t.test('busy lamp subscriptions: refresh, unsubscribe, expiry, node restart', async (t) => {
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'], nodeEnv: { FLEXSEAT_BLF_MIN_SECONDS: '2', FLEXSEAT_BLF_MAX_SECONDS: '600' } })
  const berDesk = await branches.phone('berlin', 'ber-desk-1').start({ mode: 'ring' })
  const amsFixed = branches.phone('amsterdam', 'ams-fixed')
  const berFixed = branches.phone('berlin', 'ber-fixed')
  const lamp = await LampWatcher.start(t, amsFixed, '1001')
  await lamp.waitForState(idle, 8_000, 'idle')

  await t.test('refresh, unsubscribe and expiry as RFC 6665 says', async (t) => {
    // Guards tried: the NOTIFY after a refresh (sub.sent reset), the final NOTIFY on unsubscribe,
    // the expiry timer of #arm.
    const cycle = await LampWatcher.start(t, amsFixed, '1001', { expires: 30, refreshAfterMs: 300, unsubscribeAfterMs: 300 })
    const exit = await cycle.exited
    t.equal(exit.code, 0, 'subscribe, NOTIFY, refresh 200, NOTIFY, unsubscribe, final NOTIFY', { output: exit.output })
    const states = cycle.notifies().map((s) => s.subscriptionState)
    t.equal(states.length, 3, 'three NOTIFYs')
    t.match(states[2], /^terminated/, 'the last one terminated')
    t.same(cycle.notifies().map((s) => s.version), [0, 1, 2], 'versions 0, 1, 2')
    const refreshAnswer = cycle.messages().find((m) => m.direction === 'received' && m.header('cseq') === '3 SUBSCRIBE')
    t.equal(refreshAnswer?.header('expires'), '30', 'the refresh granted its interval')

    const short = await LampWatcher.start(t, amsFixed, '1001', { expires: 2 })
    const ended = await short.waitForState((s) => s.subscriptionState.startsWith('terminated'), 8_000, 'terminated')
    t.equal(ended.subscriptionState, 'terminated;reason=timeout', 'not refreshed: ended with reason timeout')
  })

  await t.test('a node restart: phones told to subscribe again, and the state is there at once', async (t) => {
    // Guard tried: BusyLamps.stop not called from SipNode.stop (no deactivated NOTIFY).
    t.equal(statusLine(await berDesk.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001', '1001 sits at the ringing Berlin desk')
    const since = Date.now()
    const call = berFixed.dial('1001', { timeoutSec: 20 })
    await lamp.waitForState(ringing, 8_000, 'ringing', since)
    const stopping = Date.now()
    await branches.stopNode('amsterdam')
    await lamp.waitForState((s) => s.subscriptionState === 'terminated;reason=deactivated', 5_000, 'deactivated', stopping)
    await branches.startNode('amsterdam')
    const again = await LampWatcher.start(t, amsFixed, '1001')
    const state = await again.waitForState(() => true, 5_000, 'at all')
    t.ok(ringing(state), 'the first NOTIFY after the restart shows the call still ringing in Berlin')
    t.equal(statusLine(await berDesk.dial('*51')), '480 Signed out 1001')
    t.equal(statusLine(await call), '480 1001 is not signed in')
    await again.waitForState(idle, 8_000, 'idle', state.time + 1)
  })
})
