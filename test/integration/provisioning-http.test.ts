// The provisioning service over real HTTP, against real registries over gRPC (Branches: etcd,
// registry processes, the seeded directory), the service itself a real process per branch: each
// format fetched as the phone would, with its own credentials (digest) and with another device's,
// by token (right, wrong, another phone's MAC), an unknown MAC, another branch's phone; HTTPS with
// the configured certificate (curl with the CA and digest); what a
// seated desk's file carries and what it never carries; the softkey sign-in and sign-out; logs
// without PINs or tokens.
import t from 'tap'
import { XMLParser } from 'fast-xml-parser'
import { credentials } from '@grpc/grpc-js'
import { CallDirection, CallListServiceClient, type CallRecord, FunctionKeyProfile, FunctionKeyType, PhoneVendor, SeatVia, unary, User } from '@flexseat/proto'
import { deviceToken, localTime } from '@flexseat/provisioning'
import { ha1Of } from '@flexseat/sip-node'
import { Branches, PIN } from '../helpers/branches'
import { fetchAsPhone, ProvisioningServices, setPhone } from '../helpers/provisioning'
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const exec = promisify(execFile)

t.setTimeout(60_000)

const MAC = { yealink: '805ec0000001', snom: '000413000002', poly: '0004f2000003', generic: '020000000004' }
const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, isArray: (name) => name === 'fkey' || name === 'DirectoryEntry' || name === 'MenuItem' })

t.test('files, credentials, softkey sign-in', async (t) => {
  const branches = await Branches.start(t, { sites: ['amsterdam', 'berlin'], startNodes: false, logLevel: 'info' })
  const prov = await ProvisioningServices.start(t, branches)
  const ams = prov.url('amsterdam')
  const desk1 = branches.device('ams-desk-1')
  const desk2 = branches.device('ams-desk-2')
  const fixed = branches.device('ams-fixed')
  const berlin = branches.device('ber-desk-1')
  await setPhone(branches, desk1.id, { mac: MAC.yealink, vendor: PhoneVendor.PHONE_VENDOR_YEALINK })
  await setPhone(branches, desk2.id, { mac: MAC.snom, vendor: PhoneVendor.PHONE_VENDOR_SNOM })
  await setPhone(branches, fixed.id, { mac: MAC.poly, vendor: PhoneVendor.PHONE_VENDOR_POLY })
  await setPhone(branches, berlin.id, { mac: MAC.generic, vendor: PhoneVendor.PHONE_VENDOR_UNSPECIFIED })
  const domain = branches.branch('amsterdam').domain
  const as = (device: { id: string; password: string }) => ({ username: device.id, password: device.password })
  const token = (device: { id: string; password: string }, realm = domain) => deviceToken(device.id, ha1Of(device.id, realm, device.password))

  t.test('who may fetch what', async (t) => {
    const unknown = await fetchAsPhone(`${ams}/805ec0ffffff.cfg`, as(desk1))
    t.equal(unknown.status, 404, 'an unknown MAC')
    const bare = await fetchAsPhone(`${ams}/${MAC.yealink}.cfg`)
    t.equal(bare.status, 401, 'no credentials: a challenge')
    t.match(bare.headers.get('www-authenticate') ?? '', new RegExp(`^Digest realm="${domain}", nonce="[^"]+", qop="auth", algorithm=MD5$`), 'in the realm of the branch\'s phones')
    const own = await fetchAsPhone(`${ams}/${MAC.yealink}.cfg`, as(desk1))
    t.equal(own.status, 200, 'the phone with its own credentials')
    t.ok(own.challenged)
    t.ok(own.text.startsWith('#!version:1.0.0.1\n'))
    t.equal(own.headers.get('cache-control'), 'no-store')
    const other = await fetchAsPhone(`${ams}/${MAC.yealink}.cfg`, as(desk2))
    t.equal(other.status, 401, 'another device\'s (valid) credentials do not open this file')
    const wrong = await fetchAsPhone(`${ams}/${MAC.yealink}.cfg`, { username: desk1.id, password: 'not-the-password' })
    t.equal(wrong.status, 401, 'a wrong password')
    const tokenUrl = `${ams}/t/${desk1.id}/${token(desk1)}`
    t.equal((await fetchAsPhone(`${tokenUrl}/${MAC.yealink}.cfg`)).status, 200, 'the device\'s token')
    t.equal((await fetchAsPhone(`${ams}/t/${desk1.id}/${token(desk2)}/${MAC.yealink}.cfg`)).status, 403, 'another device\'s token')
    t.equal((await fetchAsPhone(`${ams}/t/${desk1.id}/${'A'.repeat(32)}/${MAC.yealink}.cfg`)).status, 403, 'a made-up token')
    t.equal((await fetchAsPhone(`${tokenUrl}/${MAC.snom}.xml`)).status, 404, 'a token opens only its own phone\'s files')
    t.equal((await fetchAsPhone(`${ams}/t/${desk1.id}/short/${MAC.yealink}.cfg`)).status, 400, 'a malformed token')
    t.equal((await fetchAsPhone(`${ams}/${MAC.generic}.json`, as(berlin))).status, 404, 'another branch\'s phone is not served here')
    t.equal((await fetchAsPhone(`${prov.url('berlin')}/${MAC.generic}.json`, as(berlin))).status, 200, 'but at its own branch')
    t.equal((await fetchAsPhone(`${ams}/${MAC.snom}.cfg`, as(desk2))).status, 404, 'a Snom phone has no .cfg')
  })

  // HTTPS where a certificate is configured: curl, as a phone would, with the branch's CA and
  // digest. Guard tried: the service started without the certificate (plain HTTP: no https URL,
  // curl's TLS handshake fails).
  t.test('HTTPS with the configured certificate: the file over TLS and digest, its links https too', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'flexseat-prov-tls-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'prov.key'), '-out', join(dir, 'prov.pem')])
    const secure = await ProvisioningServices.start(t, branches, { sites: ['amsterdam'], env: { FLEXSEAT_PROVISIONING_TLS_CERT: join(dir, 'prov.pem'), FLEXSEAT_PROVISIONING_TLS_KEY: join(dir, 'prov.key') } })
    const url = secure.url('amsterdam')
    t.match(url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the service says it serves HTTPS')
    const curl = (...args: string[]) => exec('curl', ['-sS', '--max-time', '10', '-w', '\n%{http_code}', ...args])
    const { stdout } = await curl('--cacert', join(dir, 'prov.pem'), '--digest', '-u', `${desk1.id}:${desk1.password}`, `${url}/${MAC.yealink}.cfg`)
    t.match(stdout, /\n200$/, 'the phone\'s own credentials (digest over TLS): 200')
    t.ok(stdout.startsWith('#!version:1.0.0.1\n'), 'the Yealink file')
    t.match(stdout, `linekey.1.value = ${url}/t/${desk1.id}/${token(desk1)}/apps/`, 'its key links under the HTTPS base URL')
    t.match((await curl('--cacert', join(dir, 'prov.pem'), '--digest', '-u', `${desk2.id}:${desk2.password}`, `${url}/${MAC.yealink}.cfg`)).stdout, /\n401$/, 'another device\'s credentials: 401')
    const untrusted = await curl(`${url}/${MAC.yealink}.cfg`).catch((e: { code?: number }) => e)
    t.equal((untrusted as { code?: number }).code, 60, 'without the CA, curl refuses the certificate: it is TLS')
  })

  t.test('each format, idle and seated', async (t) => {
    const snom = await fetchAsPhone(`${ams}/${MAC.snom}.xml`, as(desk2))
    t.equal(snom.status, 200)
    const snomKeys = xml.parse(snom.text).settings.functionKeys.fkey as { '@label': string; '#text': string }[]
    t.equal(snomKeys[0]?.['@label'], 'Login', 'an idle flex desk: a Login key')
    t.equal(snomKeys[0]?.['#text'], `url ${ams}/t/${desk2.id}/${token(desk2)}/apps/guest-in`, 'that opens the sign-in under the phone\'s own token')

    const master = await fetchAsPhone(`${ams}/${MAC.poly}.cfg`, as(fixed))
    t.match(master.text, `CONFIG_FILES="${MAC.poly}-flexseat.cfg"`, 'Poly: the master configuration')
    const poly = await fetchAsPhone(`${ams}/${MAC.poly}-flexseat.cfg`, as(fixed))
    t.match(poly.text, 'softkey.1.enable="0"', 'a lobby phone: no sign-in key')
    t.equal((await fetchAsPhone(`${ams}/${MAC.poly}-directory.xml`, as(fixed))).status, 200)
    const generic = JSON.parse((await fetchAsPhone(`${prov.url('berlin')}/${MAC.generic}.json`, as(berlin))).text)
    t.equal(generic.state, 'idle')
    t.equal(generic.timezone.name, 'Europe/Berlin')
    t.equal(generic.language, 'de')

    // Ada's profile: her own label and language, the profile "sales"; Alan has only a profile name that names nothing.
    const { directory } = branches.admin()
    const meta = { metadata: branches.registry.metadata('admin'), timeoutMs: 5_000 }
    await unary(directory.setFunctionKeyProfile.bind(directory), { requestId: 'p-sales', profile: FunctionKeyProfile.fromPartial({ name: 'sales', keys: [{ type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1002', label: 'Alan' }] }) }, meta)
    await unary(directory.updateUser.bind(directory), { requestId: 'u-ada', user: User.fromPartial({ id: 'ada', label: 'Ada (Sales)', language: 'en-GB', functionKeyProfile: 'sales' }), updateMask: ['label', 'language', 'function_key_profile'] }, meta)
    const { seat } = branches.admin()
    await unary(seat.login.bind(seat), { requestId: 'l-ada', deviceId: desk1.id, extension: '1001', pin: '', durationHours: 0 }, meta)
    const seated = await fetchAsPhone(`${ams}/${MAC.yealink}.cfg`, as(desk1))
    t.match(seated.text, 'account.1.label = Ada (Sales)\n')
    t.match(seated.text, 'account.1.display_name = Ada Lovelace\n')
    t.match(seated.text, 'lang.gui = English\n')
    t.match(seated.text, `linekey.1.label = Logout\nlinekey.2.type = 27\n`, 'Logout, then Calls')
    t.match(seated.text, `linekey.1.value = ${ams}/t/${desk1.id}/${token(desk1)}/apps/guest-out\n`)
    t.match(seated.text, `linekey.2.value = ${ams}/t/${desk1.id}/${token(desk1)}/apps/call-list\nlinekey.2.label = Calls\nlinekey.3.type = 16\n`, 'the Calls key opens the call list, then the profile\'s BLF key')
    t.match(seated.text, 'linekey.3.value = 1002\n')
    for (const foreign of [desk2, fixed, berlin]) {
      t.notOk(seated.text.includes(foreign.id) || seated.text.includes(foreign.password) || seated.text.includes(token(foreign)), `nothing of ${foreign.id} in the file`)
    }
    t.notOk(seated.text.includes(desk1.password) || seated.text.includes(ha1Of(desk1.id, domain, desk1.password)), 'nor the phone\'s own password or HA1')
    t.notOk(seated.text.includes(PIN['1001']!) && /pin/i.test(seated.text), 'nor the worker\'s PIN')
    const snomSeated = xml.parse((await fetchAsPhone(`${ams}/${MAC.snom}.xml`, as(desk2))).text).settings.functionKeys.fkey as { '@label': string }[]
    t.equal(snomSeated[0]?.['@label'], 'Login', 'the other desk is still idle')
    await unary(seat.logout.bind(seat), { requestId: 'o-ada', target: { $case: 'deviceId', value: desk1.id }, reason: 0 }, meta)
    t.match((await fetchAsPhone(`${ams}/${MAC.yealink}.cfg`, as(desk1))).text, 'linekey.1.label = Login\n', 'after the sign-out: the desk\'s own file again')
  })

  t.test('the softkey sign-in and sign-out', async (t) => {
    const apps = `${ams}/t/${desk1.id}/${token(desk1)}/apps`
    const form = await fetchAsPhone(`${apps}/guest-in`)
    t.equal(form.status, 200)
    t.match(form.text, '<YealinkIPPhoneInputScreen', 'a Yealink phone gets an InputScreen')
    t.match(form.text, `<URL>${apps}/guest-in/submit</URL>`)
    const wrongPin = await fetchAsPhone(`${apps}/guest-in/submit?ext=1001&pin=0000`)
    t.match(wrongPin.text, '<Text>Wrong PIN - 4 tries left</Text>', 'the same text as *51 (and the same lockout count)')
    const unknown = await fetchAsPhone(`${apps}/guest-in/submit?ext=1999&pin=1234`)
    t.match(unknown.text, 'Unknown extension 1999')
    const malformed = await fetchAsPhone(`${apps}/guest-in/submit?ext=abc&pin=1`)
    t.match(malformed.text, 'Enter your extension and PIN')
    const ok = await fetchAsPhone(`${apps}/guest-in/submit?ext=1001&pin=${PIN['1001']}`)
    t.match(ok.text, '<Text>Signed in as 1001 (Ada Lovelace)</Text>')
    const seatNow = await branches.seat('1001')
    t.equal(seatNow?.deviceId, desk1.id)
    t.equal(seatNow?.via, SeatVia.SEAT_VIA_SOFTKEY, 'the seat says it came from the softkey')

    // Snom: two pages (the extension carried on in the second's URL); Poly: a form posted.
    const snomApps = `${ams}/t/${desk2.id}/${token(desk2)}/apps`
    const first = xml.parse((await fetchAsPhone(`${snomApps}/guest-in`)).text).SnomIPPhoneInput
    t.equal(first.Url, `${snomApps}/guest-in?ext=${first.InputItem.InputToken}`)
    const second = xml.parse((await fetchAsPhone(`${snomApps}/guest-in?ext=1002`)).text).SnomIPPhoneInput
    t.equal(second.Url, `${snomApps}/guest-in/submit?ext=1002&pin=${second.InputItem.InputToken}`)
    t.match((await fetchAsPhone(second.Url.replace(second.InputItem.InputToken, PIN['1002']!))).text, 'Signed in as 1002 (Alan Turing)')
    t.match((await fetchAsPhone(`${ams}/t/${fixed.id}/${token(fixed)}/apps/guest-in/submit`, undefined, { ext: '1004', pin: PIN['1004']! })).text, 'Not a flex desk', 'a lobby phone cannot host (POSTed form, XHTML)')

    const out = await fetchAsPhone(`${apps}/guest-out`)
    t.match(out.text, '<Text>1001 signed out</Text>')
    t.equal(await branches.seat('1001'), undefined)
    t.match((await fetchAsPhone(`${apps}/guest-out`)).text, 'Nobody signed in here', 'signing out twice')
    t.equal((await fetchAsPhone(`${ams}/t/${desk1.id}/${token(desk2)}/apps/guest-out`)).status, 403, 'another phone\'s token cannot sign out here')
    t.equal((await fetchAsPhone(`${ams}/apps/guest-out`)).status, 401, 'without a token: a digest challenge')
    t.match((await fetchAsPhone(`${ams}/apps/guest-in`, as(desk1))).text, '<YealinkIPPhoneInputScreen', 'with digest: the same application')

    const { text } = prov.logs('amsterdam')
    const all = text.join('\n')
    for (const secret of [PIN['1001']!, PIN['1002']!, PIN['1004']!, token(desk1), token(desk2), desk1.password]) t.notOk(all.includes(secret), 'no PIN, token or password in the logs')
    t.ok(prov.logs('amsterdam').lines.some((l) => l.msg === 'softkey sign-in' && l['user'] === 'ada'), 'the sign-in is logged (without the PIN)')
  })

  // Guards tried: ListCalls without device_id in call-list.ts (the registry refuses the service:
  // no list); the site's time zone replaced by UTC (the time is off by Amsterdam's offset). The
  // registry's own checks (seated here, own branch) are tried in registry-call-list.test.ts.
  t.test('the call list at the desk: the seated worker\'s, nobody else\'s', async (t) => {
    const client = new CallListServiceClient(branches.branch('amsterdam').registryAddress, credentials.createInsecure())
    t.teardown(() => client.close())
    const now = Date.now()
    const record = (minutesAgo: number, overrides: Partial<CallRecord>): CallRecord => ({
      recordId: `r-${minutesAgo}`, userId: 'ada', direction: CallDirection.CALL_DIRECTION_INCOMING, startedAt: new Date(now - minutesAgo * 60_000),
      otherParty: '2103', otherPartyName: 'Reception', answered: false, durationSeconds: 0, siteId: '', deviceId: '', ...overrides,
    })
    const older = record(90, { direction: CallDirection.CALL_DIRECTION_OUTGOING, otherParty: '+31201234567', otherPartyName: '', answered: true, durationSeconds: 30, siteId: 'amsterdam', deviceId: desk2.id })
    const missed = record(5, {})
    await unary(client.reportCalls.bind(client), { siteId: 'amsterdam', nodeId: 'amsterdam-test', calls: [older, missed] }, { metadata: branches.registry.metadata('admin'), timeoutMs: 5_000 })
    const apps = `${ams}/t/${desk1.id}/${token(desk1)}/apps`
    const { seat } = branches.admin()
    const meta = { metadata: branches.registry.metadata('admin'), timeoutMs: 5_000 }
    t.equal(await branches.seat('1001'), undefined, 'Ada is signed out')
    const idle = await fetchAsPhone(`${apps}/call-list`)
    t.equal(idle.status, 200)
    t.equal(xml.parse(idle.text).YealinkIPPhoneTextScreen?.Text, 'Sign in first to see your calls', 'an idle desk: sign in first')

    await unary(seat.login.bind(seat), { requestId: 'l-ada-calls', deviceId: desk1.id, extension: '1001', pin: '', durationHours: 0 }, meta)
    const page = await fetchAsPhone(`${apps}/call-list`)
    t.equal(page.status, 200)
    t.equal(page.headers.get('cache-control'), 'no-store')
    const directory = xml.parse(page.text).YealinkIPPhoneDirectory
    t.equal(directory?.Title, 'Calls 1001')
    t.same(directory.DirectoryEntry.map((e: { Name: string; Telephone: string }) => [e.Name, e.Telephone]), [
      [`${localTime(missed.startedAt!, 'Europe/Amsterdam')} Missed Reception (2103)`, '2103'],
      [`${localTime(older.startedAt!, 'Europe/Amsterdam')} Out +31201234567`, '+31201234567'],
    ], 'the desk where Ada sits shows her calls, newest first, in Amsterdam time, each dialling the other party (the missed one while she was signed out too)')
    t.equal((await fetchAsPhone(`${ams}/apps/call-list`, as(desk1))).text, page.text, 'with digest: the same page')
    // The desk menu (a seated Poly desk's soft key opens it: its one application key): the
    // sign-out and the call list, under the phone's own token; its Calls item opens this list.
    const menu = xml.parse((await fetchAsPhone(`${apps}/desk-menu`)).text).YealinkIPPhoneTextMenu
    t.same(menu.MenuItem.map((i: { Prompt: string; URI: string }) => [i.Prompt, i.URI]), [['Sign out', `${apps}/guest-out`], ['Calls', `${apps}/call-list`]], 'the desk menu links the sign-out and the calls')
    t.equal((await fetchAsPhone(menu.MenuItem[1].URI)).text, page.text, 'its Calls item opens the call list')
    t.match((await fetchAsPhone(`${ams}/t/${fixed.id}/${token(fixed)}/apps/desk-menu`)).text, `<p><a href="${ams}/t/${fixed.id}/${token(fixed)}/apps/call-list">Calls</a></p>`, 'in XHTML (Poly): links under that phone\'s own token')

    // Desk 2 (Alan seated since the sign-in test; a Snom): its own worker's list only.
    const other = await fetchAsPhone(`${ams}/t/${desk2.id}/${token(desk2)}/apps/call-list`)
    t.equal(xml.parse(other.text).SnomIPPhoneText?.Text, 'No calls', 'desk 2 shows Alan\'s (empty) list')
    t.notOk(other.text.includes('2103'), 'nothing of Ada\'s calls at desk 2')
    const byDigest = await fetchAsPhone(`${ams}/apps/call-list`, as(desk2))
    t.notOk(byDigest.text.includes('2103'), 'desk 2\'s credentials (digest) open desk 2\'s page, not Ada\'s')
    t.equal((await fetchAsPhone(`${ams}/t/${desk1.id}/${token(desk2)}/apps/call-list`)).status, 403, 'desk 2\'s token cannot open desk 1\'s list')
    t.equal((await fetchAsPhone(`${ams}/apps/call-list`, { username: desk1.id, password: desk2.password })).status, 401, 'nor desk 2\'s password under desk 1\'s name')
    t.equal((await fetchAsPhone(`${prov.url('berlin')}/t/${desk1.id}/${token(desk1)}/apps/call-list`)).status, 404, 'Berlin\'s service does not serve an Amsterdam desk')
    const lobby = await fetchAsPhone(`${ams}/t/${fixed.id}/${token(fixed)}/apps/call-list`)
    t.match(lobby.text, '<p>Sign in first to see your calls</p>', 'a lobby phone (XHTML): nobody sits there')

    await unary(seat.logout.bind(seat), { requestId: 'o-ada-calls', target: { $case: 'deviceId', value: desk1.id }, reason: 0 }, meta)
    t.match((await fetchAsPhone(`${apps}/call-list`)).text, 'Sign in first', 'signed out: the list is gone from the desk')
    t.ok(prov.logs('amsterdam').lines.some((l) => l.msg === 'call list shown' && l['user'] === 'ada' && l['device'] === desk1.id), 'the page is logged (without URL)')
  })
})
