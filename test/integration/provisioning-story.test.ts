// The story over real SIP and real HTTP: real etcd, registries, engines and SIP nodes
// (Branches), the provisioning services as processes, sipp phones. Ada signs in at A (Amsterdam,
// a Yealink) with *51: A gets a check-sync NOTIFY, then its file (fetched as the phone would)
// shows her keys and a Logout key. She signs in at B (Berlin, a Snom) through the softkey
// sign-in (GuestIn): A gets another NOTIFY and its file is back to the desk's defaults with a
// Login key; B gets one and its file shows her keys. The call that rang A while she sat there is on
// B's call-list page (its Calls key), and A's page asks to sign in first. A is her home desk: a
// call to her then rings B and A in parallel. A key an administrator adds while she sits at B
// reaches B at once (another check-sync). A lobby phone gets no check-sync and its file never
// changes.
import t from 'tap'
import { XMLParser } from 'fast-xml-parser'
import { FunctionKeyProfile, FunctionKeyType, PhoneVendor, SeatVia, unary, User } from '@flexseat/proto'
import { deviceToken } from '@flexseat/provisioning'
import { ha1Of } from '@flexseat/sip-node'
import { Branches, PIN, statusLine } from '../helpers/branches'
import { fetchAsPhone, ProvisioningServices, setPhone } from '../helpers/provisioning'
import { eventually } from '../helpers/registry-cluster'
import type { SippTraceEntry } from '../helpers/sipp'

t.setTimeout(90_000)

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, isArray: (name) => name === 'fkey' || name === 'DirectoryEntry' })
const checkSyncs = (received: SippTraceEntry[]): SippTraceEntry[] => {
  const seen = new Set<string>()
  return received.filter((m) => {
    if (m.method !== 'NOTIFY') return false
    const key = `${m.header('call-id')} ${m.header('cseq')}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

t.test('*51 at A, GuestIn at B: the desks follow the worker', async (t) => {
  // Debug logs: the node's 'directory refreshed' tells when it has read her home desk (below).
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'] })
  const prov = await ProvisioningServices.start(t, branches, { defaultProfile: 'desk-default' })
  const a = branches.device('ams-desk-1')
  const b = branches.device('ber-desk-1')
  const lobby = branches.device('ams-fixed')
  await setPhone(branches, a.id, { mac: '805ec0000a01', vendor: PhoneVendor.PHONE_VENDOR_YEALINK })
  await setPhone(branches, b.id, { mac: '000413000b01', vendor: PhoneVendor.PHONE_VENDOR_SNOM })
  await setPhone(branches, lobby.id, { mac: '805ec0000a03', vendor: PhoneVendor.PHONE_VENDOR_YEALINK })
  const { directory } = branches.admin()
  const meta = { metadata: branches.registry.metadata('admin'), timeoutMs: 5_000 }
  await unary(directory.setFunctionKeyProfile.bind(directory), { requestId: 'p-default', profile: FunctionKeyProfile.fromPartial({ name: 'desk-default', keys: [{ type: FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL, value: '112', label: 'Emergency' }] }) }, meta)
  await unary(
    directory.updateUser.bind(directory),
    {
      requestId: 'u-ada',
      // A is also her home desk, which rings with the desk she sits at (ring_home_device).
      user: User.fromPartial({ id: 'ada', functionKeys: [{ type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1002', label: 'Alan' }, { type: FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL, value: '1004', label: 'Edsger' }], homeDeviceId: a.id, ringHomeDevice: true }),
      updateMask: ['function_keys', 'home_device_id', 'ring_home_device'],
    },
    meta,
  )
  // The nodes hold the directory in memory, refreshed every 10 s: the Amsterdam node routes the
  // ring-both call below only once it has read her home desk (two refreshes after the update, so
  // that none started before it).
  const directoryMark = branches.nodeLogMark('amsterdam')
  const phoneA = await branches.phone('amsterdam', a.id).start()
  const phoneB = await branches.phone('berlin', b.id).start()
  const phoneLobby = await branches.phone('amsterdam', lobby.id).start()
  const fileA = async (): Promise<string> => {
    const res = await fetchAsPhone(`${prov.url('amsterdam')}/805ec0000a01.cfg`, { username: a.id, password: a.password })
    t.equal(res.status, 200, 'A fetches its file with its own credentials')
    return res.text
  }
  const keysB = async (): Promise<{ '@label': string; '#text': string }[]> => {
    const res = await fetchAsPhone(`${prov.url('berlin')}/000413000b01.xml`, { username: b.id, password: b.password })
    t.equal(res.status, 200, 'B fetches its file with its own credentials')
    return xml.parse(res.text).settings.functionKeys.fkey
  }
  const lobbyFile = (await fetchAsPhone(`${prov.url('amsterdam')}/805ec0000a03.cfg`, { username: lobby.id, password: lobby.password })).text

  t.match(await fileA(), 'linekey.1.label = Login\nlinekey.2.type = 13\n', 'before: A shows its Login key and the desk default')

  // 1. *51 at A.
  const signIn = await phoneA.dial(`*51*1001*${PIN['1001']}`)
  t.equal(statusLine(signIn), '480 Signed in as 1001')
  const notifyA1 = await phoneA.waitFor((m) => m.method === 'NOTIFY', 10_000, 'check-sync NOTIFY at A')
  t.equal(notifyA1.header('event'), 'check-sync;reboot=false', 'the Yealink variant, without a reboot')
  t.equal(notifyA1.header('subscription-state'), 'terminated')
  t.match(notifyA1.uri ?? '', `sip:${a.id}@127.0.0.1:${phoneA.port}`, 'to the phone\'s binding')
  const seated = await fileA()
  t.match(seated, 'account.1.label = 1001 Ada Lovelace\n')
  t.match(seated, 'linekey.1.label = Logout\n', 'a Logout key')
  t.match(seated, 'linekey.2.label = Calls\n', 'a Calls key')
  t.match(seated, 'linekey.3.type = 16\nlinekey.3.line = 1\nlinekey.3.value = 1002\nlinekey.3.label = Alan\n', 'her BLF key')
  t.match(seated, 'linekey.4.type = 13\nlinekey.4.line = 1\nlinekey.4.value = 1004\nlinekey.4.label = Edsger\n', 'her speed dial')

  // A call to her rings A (the lobby phone calls 1001; A answers).
  const call = await phoneLobby.dial('1001', { holdMs: 1_000 })
  t.ok(call.answered, `the lobby phone calls 1001 at A (${statusLine(call)})`)

  // 2. GuestIn at B (Snom's two pages, as the phone would fetch them after pressing Login).
  const tokenB = deviceToken(b.id, ha1Of(b.id, branches.branch('berlin').domain, b.password))
  const loginKey = (await keysB())[0]!
  t.equal(loginKey['@label'], 'Login')
  const appUrl = loginKey['#text'].replace(/^url /, '')
  t.equal(appUrl, `${prov.url('berlin')}/t/${b.id}/${tokenB}/apps/guest-in`)
  const askExt = xml.parse((await fetchAsPhone(appUrl)).text).SnomIPPhoneInput
  const askPin = xml.parse((await fetchAsPhone(askExt.Url.replace(askExt.InputItem.InputToken, '1001'))).text).SnomIPPhoneInput
  const marks = { a: checkSyncs(phoneA.received()).length, b: checkSyncs(phoneB.received()).length }
  const done = await fetchAsPhone(askPin.Url.replace(askPin.InputItem.InputToken, PIN['1001']!))
  t.match(done.text, '<Text>Signed in as 1001 (Ada Lovelace)</Text>', 'the same words as *51')
  t.equal((await branches.seat('1001'))?.via, SeatVia.SEAT_VIA_SOFTKEY)

  await phoneA.waitFor(() => checkSyncs(phoneA.received()).length > marks.a, 10_000, 'a second check-sync at A')
  await phoneA.waitForMessage('1001 signed out: signed in at Berlin, desk-1', 10_000)
  const idleAgain = await fileA()
  t.match(idleAgain, 'linekey.1.label = Login\nlinekey.2.type = 13\nlinekey.2.line = 1\nlinekey.2.value = 112\n', 'A is back to its Login key and the desk default')
  t.notOk(idleAgain.includes('Ada') || idleAgain.includes('1002'), 'nothing of Ada left on A')
  t.match(idleAgain, 'linekey.3.type = 0\n', 'her keys are cleared, not left behind')
  const tokenA = deviceToken(a.id, ha1Of(a.id, branches.branch('amsterdam').domain, a.password))
  t.match((await fetchAsPhone(`${prov.url('amsterdam')}/t/${a.id}/${tokenA}/apps/call-list`)).text, '<Text>Sign in first to see your calls</Text>', 'A\'s call list: nobody sits there now')

  await phoneB.waitFor(() => checkSyncs(phoneB.received()).length > marks.b, 10_000, 'a check-sync at B')
  const notifyB = checkSyncs(phoneB.received()).at(-1)!
  t.equal(notifyB.header('event'), 'check-sync;reboot=false', 'the Snom variant')
  const seatedB = await keysB()
  t.same(seatedB.slice(0, 5).map((k) => [k['@label'], k['#text']]), [
    ['Logout', `url ${prov.url('berlin')}/t/${b.id}/${tokenB}/apps/guest-out`],
    ['Calls', `url ${prov.url('berlin')}/t/${b.id}/${tokenB}/apps/call-list`],
    ['Alan', 'blf <sip:1002@berlin.flexseat.test>'],
    ['Edsger', 'speed 1004'],
    ['', 'none'],
  ], 'B shows her keys, a Logout and a Calls key')

  // An administrator gives her one more key while she sits at B: B is told to fetch its file
  // again, and shows it. Guards tried: the registry not stamping the seat (planUpdateUser's
  // profileAt), the node not comparing the stamp (seat-notifier.ts): no check-sync at B.
  const beforeEdit = checkSyncs(phoneB.received()).length
  await unary(
    directory.updateUser.bind(directory),
    {
      requestId: 'u-ada-keys',
      user: User.fromPartial({ id: 'ada', functionKeys: [{ type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1002', label: 'Alan' }, { type: FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL, value: '1004', label: 'Edsger' }, { type: FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL, value: '1005', label: 'Grace' }] }),
      updateMask: ['function_keys'],
    },
    meta,
  )
  await phoneB.waitFor(() => checkSyncs(phoneB.received()).length > beforeEdit, 10_000, 'a check-sync at B once her keys changed')
  t.same((await keysB()).slice(2, 5).map((k) => [k['@label'], k['#text']]), [['Alan', 'blf <sip:1002@berlin.flexseat.test>'], ['Edsger', 'speed 1004'], ['Grace', 'speed 1005']], 'B shows her new key')

  // B's Calls key: the call that rang A is there (the node reports it off the call path: wait for it).
  const callsKey = seatedB[1]!['#text'].replace(/^url /, '')
  const entries = await eventually('the call that rang A on B\'s call list', async () => {
    const page = xml.parse((await fetchAsPhone(callsKey)).text).SnomIPPhoneDirectory
    return page === undefined ? undefined : (page.DirectoryEntry as { Name: string; Telephone: string }[])
  })
  t.equal(entries.length, 1)
  t.match(entries[0]!.Name, new RegExp(`^\\d\\d\\.\\d\\d\\. \\d\\d:\\d\\d In (.* \\(${lobby.extension}\\)|${lobby.extension})$`), 'answered, from the lobby phone')
  t.equal(entries[0]!.Telephone, lobby.extension, 'dialable')

  // 3. A call to her now rings B, where she sits, and A, her home desk, at once: B answers (A is
  // left ringing), A gets a CANCEL.
  await eventually('the Amsterdam node has read her home desk', () => branches.nodeLogsMatching('amsterdam', (l) => l.msg === 'directory refreshed', directoryMark).length >= 2, 25_000)
  await phoneA.answer('ring')
  const both = await phoneLobby.dial('1001', { timeoutSec: 15 })
  t.ok(both.answered, `the call to 1001 is answered (${statusLine(both)})`)
  const sent = (phone: typeof phoneA, method: string): Promise<SippTraceEntry> => phone.waitFor((m) => m.method === method && m.header('call-id') === both.callId, 10_000, `${method} of the ring-both call at ${phone.deviceId}`)
  const [inviteA, inviteB, ackB, cancelA] = await Promise.all([sent(phoneA, 'INVITE'), sent(phoneB, 'INVITE'), sent(phoneB, 'ACK'), sent(phoneA, 'CANCEL')])
  t.ok(inviteA.time <= ackB.time && inviteB.time <= cancelA.time, 'in parallel: A rang before B\'s answer was acknowledged, B before A was cancelled')
  t.notOk(phoneB.received().some((m) => m.method === 'CANCEL' && m.header('call-id') === both.callId), 'B, which answered, got no CANCEL')

  t.same(checkSyncs(phoneLobby.received()), [], 'the lobby phone got no check-sync')
  t.equal((await fetchAsPhone(`${prov.url('amsterdam')}/805ec0000a03.cfg`, { username: lobby.id, password: lobby.password })).text, lobbyFile, 'and its file never changed')
})
