// Busy lamps after a directory edit, end to end (real etcd, registries, SIP engines and nodes;
// sipp phones subscribing, test/helpers/busy-lamps.ts), two branches. The node compares what its
// lamps hold with the directory after each refresh (every 10 s by default; 2 s here, with
// FLEXSEAT_DIRECTORY_REFRESH_SECONDS), so each case waits for that:
// - a worker's `show_caller_on_lamps` changed by UpdateUser while their call rings: the lamps
//   already subscribed (a lamp of its own and a list member) are NOTIFYed again, the caller now
//   shown, without subscribing anew;
// - a desk's BLF keys edited: the seated worker's own keys by UpdateUser (a seat change: the
//   registry rewrites the seat), with nobody seated the profile the desk names (UpdateDevice) and
//   that profile's keys (SetFunctionKeyProfile): its list subscription gets a full-state NOTIFY
//   with the new members, without subscribing anew.
// Each case says which guard it was seen to fail without.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Device, FunctionKeyProfile, FunctionKeyType, unary, User } from '@flexseat/proto'
import { Branches, statusLine } from '../helpers/branches'
import { type LampState, type ListState, LampWatcher } from '../helpers/busy-lamps'

t.setTimeout(120_000)

const KAY_PIN = '3917'
const HAL_PIN = '6042'
const blf = (value: string, label: string) => ({ type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value, label })
const ringingLamp = (s: LampState): boolean => s.dialogs.some((d) => d.state === 'early')
const halOf = (s: ListState) => s.resources.find((r) => r.uri.startsWith('sip:1007@'))?.dialogInfo?.dialogs[0]

t.test('busy lamps follow directory edits without subscribing anew', async (t) => {
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'], nodeEnv: { FLEXSEAT_BLF_MIN_SECONDS: '2', FLEXSEAT_BLF_MAX_SECONDS: '600', FLEXSEAT_DIRECTORY_REFRESH_SECONDS: '2' } })
  const { directory } = branches.admin()
  const metadata = branches.registry.metadata('admin')
  // Hal hides his callers from the lamps (show_caller_on_lamps false); Kay's own keys watch him.
  await branches.addWorker(User.fromPartial({ id: 'hal', extension: '1007', displayName: 'Hal Abelson', homeSiteId: 'berlin', roamingAllowed: true, showCallerOnLamps: false }), HAL_PIN)
  await branches.addWorker(User.fromPartial({ id: 'kay', extension: '1006', displayName: 'Kay Sievers', homeSiteId: 'amsterdam', roamingAllowed: true, functionKeys: [blf('1007', 'Hal')] }), KAY_PIN)
  const berDesk = await branches.phone('berlin', 'ber-desk-1').start({ mode: 'ring' })
  const amsDesk = branches.phone('amsterdam', 'ams-desk-1')
  const amsFixed = branches.phone('amsterdam', 'ams-fixed')
  const berFixed = branches.phone('berlin', 'ber-fixed')
  t.equal(statusLine(await amsDesk.dial(`*51*1006*${KAY_PIN}`)), '480 Signed in as 1006', 'Kay sits at the Amsterdam desk')
  t.equal(statusLine(await berDesk.dial(`*51*1007*${HAL_PIN}`)), '480 Signed in as 1007', 'Hal sits at the ringing Berlin desk')
  const callerUri = new RegExp(`^sip:${branches.device('ber-fixed').extension}@`)

  const lamp = await LampWatcher.start(t, amsFixed, '1007')
  const list = await LampWatcher.start(t, amsDesk, 'blf-list', { list: true })
  await lamp.waitForState(() => true, 8_000, 'the lamp at all')
  const first = await list.waitForList(() => true, 8_000, 'the list at all')
  t.same(first.resources.map((r) => [r.uri.replace(/@.*/, ''), r.name]), [['sip:1007', 'Hal']], "the list: Kay's keys")

  await t.test("show_caller_on_lamps changed while Hal's call rings: the lamps show the caller at once", async (t) => {
    // Guard tried: the show_caller_on_lamps comparison of BusyLamps.compareWithDirectory (no
    // NOTIFY until the call ended; the setting read once per subscription as before).
    const since = Date.now()
    const call = berFixed.dial('1007', { timeoutSec: 40 })
    const withheld = await lamp.waitForState(ringingLamp, 8_000, 'ringing', since)
    t.equal(withheld.dialogs[0]!.remote, '', 'the caller withheld (Hal says so)')
    const listWithheld = await list.waitForList((s) => halOf(s)?.state === 'early', 8_000, '1007 ringing on the list', since)
    t.equal(halOf(listWithheld)!.remote, '', 'withheld on the list too')
    await unary(directory.updateUser.bind(directory), { requestId: randomUUID(), user: User.fromPartial({ id: 'hal', showCallerOnLamps: true }), updateMask: ['show_caller_on_lamps'] }, { metadata, timeoutMs: 5_000 })
    const shown = await lamp.waitForState((s) => ringingLamp(s) && callerUri.test(s.dialogs[0]!.remote), 20_000, 'the caller shown', withheld.time + 1)
    t.equal(shown.dialogs[0]!.callId, withheld.dialogs[0]!.callId, 'the same call, NOTIFYed again while it rings')
    t.ok(shown.version > withheld.version, 'a new version')
    const listShown = await list.waitForList((s) => halOf(s)?.state === 'early' && callerUri.test(halOf(s)!.remote), 20_000, 'the caller shown on the list', listWithheld.time + 1)
    t.equal(listShown.fullState, false, 'partial state: only the member that changed')
    t.equal(statusLine(await berDesk.dial('*51')), '480 Signed out 1007')
    t.equal(statusLine(await call), '480 1007 is not signed in')
  })

  await t.test("Kay's keys edited while she sits: the list's members follow, full state", async (t) => {
    // The registry rewrites a seated worker's seat when their keys change (profileAt: the desk
    // provisions again), so this one reaches the list as a seat change (the reload of #onSeats),
    // and the directory comparison would bring it within a refresh too: this case holds the pair
    // (each alone passes it; not tried with both removed).
    const since = Date.now()
    await unary(directory.updateUser.bind(directory), { requestId: randomUUID(), user: User.fromPartial({ id: 'kay', functionKeys: [blf('1007', 'Hal'), blf('1001', 'Ada')] }), updateMask: ['function_keys'] }, { metadata, timeoutMs: 5_000 })
    const edited = await list.waitForList((s) => s.resources.length === 2, 20_000, 'two members', since)
    t.equal(edited.fullState, true, 'full state')
    t.same(edited.resources.map((r) => [r.uri.replace(/@.*/, ''), r.name]), [['sip:1007', 'Hal'], ['sip:1001', 'Ada']], 'the keys as edited, in key order')
    t.equal(edited.resources[0]!.instance?.id, first.resources[0]!.instance?.id, 'the member kept keeps its instance')
    t.ok(edited.resources.every((r) => r.dialogInfo !== undefined), 'a dialog-info part per member')
  })

  await t.test("nobody seated: the desk's profile named, then edited: the list follows each", async (t) => {
    // No seat changes here. Guard tried: the key comparison of BusyLamps.compareWithDirectory
    // (the list kept the keys it had after the sign-out).
    const out = Date.now()
    t.equal(statusLine(await amsDesk.dial('*51')), '480 Signed out 1006')
    const desk = await list.waitForList((s) => s.fullState, 20_000, "the desk's own keys", out)
    t.notOk(desk.resources.some((r) => r.uri.startsWith('sip:1007@')), "Kay's keys gone with her")
    await unary(directory.setFunctionKeyProfile.bind(directory), { requestId: randomUUID(), profile: FunctionKeyProfile.fromPartial({ name: 'edits', keys: [blf('1001', 'Ada')] }) }, { metadata, timeoutMs: 5_000 })
    const named = Date.now()
    await unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: Device.fromPartial({ id: 'ams-desk-1', functionKeyProfile: 'edits' }), updateMask: ['function_key_profile'] }, { metadata, timeoutMs: 5_000 })
    const profiled = await list.waitForList((s) => s.fullState && s.resources.length === 1 && s.resources[0]!.uri.startsWith('sip:1001@'), 20_000, 'the profile the desk names', named)
    t.ok(profiled.version > desk.version, 'versions count on')
    const since = Date.now()
    await unary(directory.setFunctionKeyProfile.bind(directory), { requestId: randomUUID(), profile: FunctionKeyProfile.fromPartial({ name: 'edits', keys: [blf('1001', 'Ada'), blf('1007', 'Hal')] }) }, { metadata, timeoutMs: 5_000 })
    const edited = await list.waitForList((s) => s.resources.length === 2, 20_000, 'the profile as edited', since)
    t.equal(edited.fullState, true, 'full state')
    t.same(edited.resources.map((r) => r.uri.replace(/@.*/, '')), ['sip:1001', 'sip:1007'])
    t.equal(edited.resources[0]!.instance?.id, profiled.resources[0]!.instance?.id, 'the member kept keeps its instance')
  })
})
