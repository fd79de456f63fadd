// Busy-lamp lists (RFC 4662 resource lists, Snom's and Poly's BLF lists), end to end (real etcd,
// registries, SIP engines and nodes; sipp phones subscribing to `sip:blf-list@<domain>` with
// `Supported: eventlist`, test/helpers/busy-lamps.ts), two branches:
// - bad input: a list SUBSCRIBE without `Supported: eventlist` gets 421 with `Require: eventlist`,
//   one whose Accept has no multipart/related 406;
// - the list is the BLF keys of the subscribing desk (the seated worker's own keys): a 200 with
//   `Require: eventlist`, then a full-state NOTIFY (multipart/related, RLMI first, one resource per
//   key, a dialog-info part per instance, cids matching, an entry nobody has without instance);
// - a call ringing a member in the other branch: a partial NOTIFY (fullState="false", only that
//   member, versions counting up), idle again likewise;
// - the worker signs out: the desk's keys (none) in a full-state NOTIFY; back in: the keys again;
// - refresh (full state again), unsubscribe (terminated), expiry (terminated;reason=timeout).
// Each case says which guard it was seen to fail without.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { FunctionKeyType, unary, User } from '@flexseat/proto'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { type ListState, LampWatcher } from '../helpers/busy-lamps'

t.setTimeout(120_000)

const KAY_PIN = '3917'
const HAL_PIN = '6042'
const ringing = (s: ListState, uri: RegExp): boolean => s.resources.some((r) => uri.test(r.uri) && (r.dialogInfo?.dialogs.some((d) => d.state === 'early') ?? false))

t.test('busy-lamp lists: a desk subscribes to its BLF keys at once', async (t) => {
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'], nodeEnv: { FLEXSEAT_BLF_MIN_SECONDS: '2', FLEXSEAT_BLF_MAX_SECONDS: '600' } })
  const domain = branches.branch('amsterdam').domain
  // Hal hides the other party of his calls from the lamps watching him (show_caller_on_lamps).
  await branches.addWorker(User.fromPartial({ id: 'hal', extension: '1007', displayName: 'Hal Abelson', homeSiteId: 'berlin', roamingAllowed: true, showCallerOnLamps: false }), HAL_PIN)
  await branches.addWorker(
    User.fromPartial({
      id: 'kay',
      extension: '1006',
      displayName: 'Kay Sievers',
      homeSiteId: 'amsterdam',
      roamingAllowed: true,
      functionKeys: [
        { type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1001', label: 'Ada' },
        { type: FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL, value: '1003', label: 'Grace' },
        { type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1002', label: '' },
        { type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1999', label: 'Gone' },
        { type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1007', label: 'Hal' },
      ],
    }),
    KAY_PIN,
  )
  const berDesk = await branches.phone('berlin', 'ber-desk-1').start({ mode: 'ring' })
  const amsDesk = branches.phone('amsterdam', 'ams-desk-1')
  const berFixed = branches.phone('berlin', 'ber-fixed')
  t.equal(statusLine(await amsDesk.dial(`*51*1006*${KAY_PIN}`)), '480 Signed in as 1006', 'Kay sits at the Amsterdam desk')
  t.equal(statusLine(await berDesk.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001', 'Ada sits at the ringing Berlin desk')

  await t.test('bad input gets a clear answer', async (t) => {
    // Guards tried: the Supported check of BusyLamps.subscribe (200), acceptsMultipart (200).
    const unsupported = await (await LampWatcher.start(t, amsDesk, 'blf-list', { list: { supported: false } })).waitForAnswer()
    t.equal(`${unsupported.status} ${unsupported.reason}`, '421 Extension Required', 'a list without Supported: eventlist: 421')
    t.equal(unsupported.header('require'), 'eventlist', 'naming the extension')
    const plain = await (await LampWatcher.start(t, amsDesk, 'blf-list', { list: true, accept: 'application/dialog-info+xml' })).waitForAnswer()
    t.equal(plain.status, 406, 'an Accept without multipart/related: 406')
  })

  const lamp = await LampWatcher.start(t, amsDesk, 'blf-list', { list: true })
  let first: ListState

  await t.test("the first NOTIFY: the desk's BLF keys, full state", async (t) => {
    // Guards tried: Require in the 200 and in the NOTIFY (headers left out), the BLF filter of
    // deskBlfKeys (the speed dial listed), the cid of a part (a part per resource under another id).
    const accepted = await lamp.waitForAnswer()
    t.equal(accepted.status, 200, 'the list subscription: 200')
    t.equal(accepted.header('require'), 'eventlist', 'with Require: eventlist')
    first = await lamp.waitForList(() => true, 8_000, 'at all')
    t.match(first.contentType, /^multipart\/related;\s*type="application\/rlmi\+xml";\s*start="<[^>]+>";\s*boundary="[^"]+"$/, 'multipart/related of RLMI')
    t.equal(first.require, 'eventlist', 'the NOTIFY requires eventlist')
    t.equal(first.start, `<${first.rlmiCid}>`, 'start names the RLMI part')
    t.same(first.partTypes, ['application/rlmi+xml;charset=UTF-8', ...Array(3).fill('application/dialog-info+xml;charset=UTF-8')], 'the RLMI first, then a dialog-info per instance')
    t.equal(first.uri, `sip:blf-list@${domain}`, 'the list uri')
    t.equal(first.version, 0, 'version 0')
    t.equal(first.fullState, true, 'full state')
    t.match(first.subscriptionState, /^active;expires=\d+$/)
    t.same(first.resources.map((r) => [r.uri, r.name]), [[`sip:1001@${domain}`, 'Ada'], [`sip:1002@${domain}`, '1002'], [`sip:1999@${domain}`, 'Gone'], [`sip:1007@${domain}`, 'Hal']], "Kay's BLF keys in key order (the speed dial is none)")
    for (const r of [...first.resources.slice(0, 2), first.resources[3]!]) {
      t.equal(r.instance?.state, 'active', `${r.uri}: an active instance`)
      t.equal(r.dialogInfo?.entity, r.uri, `${r.uri}: its dialog-info part, by cid`)
      t.equal(r.dialogInfo?.version, 0, `${r.uri}: dialog-info version 0`)
      t.same(r.dialogInfo?.dialogs, [], `${r.uri}: idle`)
    }
    t.equal(first.resources[2]!.instance, undefined, 'an extension nobody has: no instance')
  })

  await t.test('a call ringing a member in Berlin: partial state, only that member', async (t) => {
    // Guard tried: the partial filter of #payload (every member sent, fullState true).
    const since = Date.now()
    const call = berFixed.dial('1001', { timeoutSec: 20 })
    const lit = await lamp.waitForList((s) => ringing(s, /^sip:1001@/), 8_000, '1001 ringing', since)
    t.equal(lit.fullState, false, 'partial state')
    t.equal(lit.version, 1, 'the RLMI version counts up')
    t.same(lit.resources.map((r) => r.uri), [`sip:1001@${domain}`], 'only the member that changed')
    const ada = lit.resources[0]!
    t.equal(ada.instance?.id, first.resources[0]!.instance?.id, 'the same instance')
    t.equal(ada.dialogInfo?.version, 1, "the member's dialog-info version counts up")
    t.equal(ada.dialogInfo?.dialogs[0]?.direction, 'recipient')
    t.equal(statusLine(await berDesk.dial('*51')), '480 Signed out 1001')
    t.equal(statusLine(await call), '480 1001 is not signed in')
    const idle = await lamp.waitForList((s) => s.resources.some((r) => r.uri.startsWith('sip:1001@') && r.dialogInfo?.dialogs.length === 0), 8_000, '1001 idle', lit.time + 1)
    t.equal(idle.fullState, false, 'idle again: partial')
    t.equal(idle.version, 2)
  })

  await t.test('the caller is shown where the watched worker allows it', async (t) => {
    // Guard tried: #state with the branch's switch for workers (Hal's caller shown).
    const { directory } = branches.admin()
    const metadata = branches.registry.metadata('admin')
    const hal = await unary(directory.getUser.bind(directory), { key: { $case: 'userId', value: 'hal' } }, { metadata, timeoutMs: 5_000 })
    t.equal(hal.user?.showCallerOnLamps, false, 'the registry keeps the setting')
    const [berDesk2, amsFixed] = [await branches.phone('berlin', 'ber-desk-2').start({ mode: 'ring' }), branches.phone('amsterdam', 'ams-fixed')]
    t.equal(statusLine(await berDesk.dial(`*51*1001*${PIN['1001']}`)), '480 Signed in as 1001')
    t.equal(statusLine(await berDesk2.dial(`*51*1007*${HAL_PIN}`)), '480 Signed in as 1007')
    const since = Date.now()
    const toAda = berFixed.dial('1001', { timeoutSec: 20 })
    const toHal = amsFixed.dial('1007', { timeoutSec: 20 })
    const adaRinging = await lamp.waitForList((s) => ringing(s, /^sip:1001@/), 8_000, '1001 ringing', since)
    const halRinging = await lamp.waitForList((s) => ringing(s, /^sip:1007@/), 8_000, '1007 ringing', since)
    const dialogOf = (s: ListState, user: string) => s.resources.find((r) => r.uri.startsWith(`sip:${user}@`))!.dialogInfo!.dialogs[0]!
    t.match(dialogOf(adaRinging, '1001').remote, new RegExp(`^sip:${branches.device('ber-fixed').extension}@`), "Ada's caller shown (the branch's default)")
    t.equal(dialogOf(halRinging, '1007').remote, '', "Hal's caller withheld")
    t.equal(dialogOf(halRinging, '1007').remoteDisplay, '')
    t.equal(statusLine(await berDesk.dial('*51')), '480 Signed out 1001')
    t.equal(statusLine(await berDesk2.dial('*51')), '480 Signed out 1007')
    t.equal(statusLine(await toAda), '480 1001 is not signed in')
    t.equal(statusLine(await toHal), '480 1007 is not signed in')
    // Cleared (update_mask names it, the user leaves it unset): the branch's switch again.
    await unary(directory.updateUser.bind(directory), { requestId: randomUUID(), user: User.fromPartial({ id: 'hal' }), updateMask: ['show_caller_on_lamps'] }, { metadata, timeoutMs: 5_000 })
    t.equal((await unary(directory.getUser.bind(directory), { key: { $case: 'userId', value: 'hal' } }, { metadata, timeoutMs: 5_000 })).user?.showCallerOnLamps, undefined, 'cleared by UpdateUser')
  })

  await t.test("the desk's worker signs out and in: the list follows the desk's keys", async (t) => {
    // Guard tried: the seat-change reload of #onSeats (the list kept Kay's keys).
    const since = Date.now()
    t.equal(statusLine(await amsDesk.dial('*51')), '480 Signed out 1006')
    const empty = await lamp.waitForList((s) => s.fullState && s.resources.length === 0, 8_000, 'no keys', since)
    t.ok(empty.version > 2, 'versions count on')
    const back = Date.now()
    t.equal(statusLine(await amsDesk.dial(`*51*1006*${KAY_PIN}`)), '480 Signed in as 1006')
    const again = await lamp.waitForList((s) => s.fullState && s.resources.length === 4, 8_000, "Kay's keys again", back)
    t.equal(again.resources[0]!.dialogInfo?.dialogs.length, 0, 'full state with the dialog-info of each')
  })

  await t.test('refresh, unsubscribe and expiry', async (t) => {
    // Guards tried: the full state after a refresh (sub.sent reset: the refresh sent nothing), the
    // expiry timer.
    const cycle = await LampWatcher.start(t, amsDesk, 'blf-list', { list: true, expires: 30, refreshAfterMs: 300, unsubscribeAfterMs: 300 })
    const exit = await cycle.exited
    t.equal(exit.code, 0, 'subscribe, NOTIFY, refresh 200, NOTIFY, unsubscribe, final NOTIFY', { output: exit.output })
    const lists = cycle.lists()
    t.same(lists.map((s) => [s.version, s.fullState, s.resources.length]), [[0, true, 4], [1, true, 4], [2, true, 4]], 'full state each time, versions 0, 1, 2')
    t.match(lists[2]!.subscriptionState, /^terminated/, 'the last one terminated')
    const refreshAnswer = cycle.messages().find((m) => m.direction === 'received' && m.header('cseq') === '3 SUBSCRIBE')
    t.equal(refreshAnswer?.header('require'), 'eventlist', 'the refresh answered with Require: eventlist')

    const short = await LampWatcher.start(t, amsDesk, 'blf-list', { list: true, expires: 2 })
    const ended = await short.waitForList((s) => s.subscriptionState.startsWith('terminated'), 8_000, 'terminated')
    t.equal(ended.subscriptionState, 'terminated;reason=timeout', 'not refreshed: ended with reason timeout')
    t.equal(ended.resources.length, 4, 'with the full list')
  })
})
