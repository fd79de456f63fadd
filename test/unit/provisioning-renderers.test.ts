// The renderers, pure: golden files per vendor and state (idle, seated, fixed) under
// test/fixtures/provisioning/ (FLEXSEAT_UPDATE_GOLDEN=1 rewrites them), and a parse-back check
// per format that the file says what was meant, in the vendor's documented terms. The precedence
// of profiles, and the softkey pages of each family's XML browser.
import t, { type Test } from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { CallDirection, type CallRecord, FunctionKeyType } from '@flexseat/proto'
import {
  callEntry,
  composeDesk,
  type Desk,
  type DeskFile,
  KEY_SLOTS,
  pickProfile,
  renderGeneric,
  renderPage,
  renderPoly,
  renderPolyDirectory,
  renderPolyMaster,
  renderSnom,
  renderYealink,
  SNOM_INPUT_TOKEN,
  type SeatedWorker,
  type Vendor,
} from '@flexseat/provisioning'

const GOLDEN = join(__dirname, '..', 'fixtures', 'provisioning')
const UPDATE = process.env['FLEXSEAT_UPDATE_GOLDEN'] === '1'

const desk = (vendor: Vendor, flexHost = true): Desk => ({
  deviceId: 'ber-desk-3',
  mac: '805ec0a1b2c3',
  vendor,
  label: 'desk 3',
  extension: '2023',
  flexHost,
  site: { id: 'berlin', name: 'Berlin', timezone: 'Europe/Berlin', language: 'de', domain: 'berlin.flexseat.test', registrar: { host: '192.0.2.10', port: 5062, transport: 'udp' } },
  apps: { signIn: 'https://prov.berlin.example/t/ber-desk-3/TOKENTOKENTOKENTOKENTOKENTOKEN12/apps/guest-in', signOut: 'https://prov.berlin.example/t/ber-desk-3/TOKENTOKENTOKENTOKENTOKENTOKEN12/apps/guest-out', calls: 'https://prov.berlin.example/t/ber-desk-3/TOKENTOKENTOKENTOKENTOKENTOKEN12/apps/call-list', menu: 'https://prov.berlin.example/t/ber-desk-3/TOKENTOKENTOKENTOKENTOKENTOKEN12/apps/desk-menu' },
  year: 2026,
})
const ADA: SeatedWorker = { userId: 'ada', extension: '1001', displayName: 'Ada Lovelace', label: '', language: 'en-GB' }
const DESK_PROFILE = pickProfile({ named: { name: 'berlin-desk', keys: [{ type: FunctionKeyType.FUNCTION_KEY_TYPE_LINE, value: '', label: '' }, { type: FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL, value: '112', label: 'Emergency' }] } })
const ADA_KEYS = pickProfile({
  own: [
    { type: FunctionKeyType.FUNCTION_KEY_TYPE_LINE, value: '', label: '' },
    { type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1002', label: 'Alan <& Co>' },
    { type: FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL, value: '+31201234567', label: 'Office' },
    { type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1004', label: '' },
  ],
})

const files = (vendor: Vendor): Record<'idle' | 'seated' | 'fixed', DeskFile> => ({
  idle: composeDesk(desk(vendor), undefined, DESK_PROFILE),
  seated: composeDesk(desk(vendor), ADA, ADA_KEYS),
  fixed: composeDesk(desk(vendor, false), ADA, DESK_PROFILE),
})

async function golden(t: Test, name: string, text: string): Promise<void> {
  const path = join(GOLDEN, name)
  if (UPDATE) await writeFile(path, text)
  t.equal(text, await readFile(path, 'utf8'), `${name} equals its golden file`)
}

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, parseAttributeValue: false, isArray: (name) => ['fkey', 'item', 'InputField', 'MenuItem'].includes(name) })
function parseXml(t: Test, text: string): any {
  t.equal(XMLValidator.validate(text), true, 'well-formed XML')
  return xml.parse(text)
}

t.test('the sign-in key and the profile: seated, idle, fixed', async (t) => {
  const { idle, seated, fixed } = files('generic')
  t.same(idle.keys.map((k) => [k.kind, k.label]), [['app', 'Login'], ['line', 'Line'], ['speed-dial', 'Emergency']], 'an idle flex desk: Login, then its own keys')
  t.equal(idle.keys[0]?.value, desk('generic').apps.signIn)
  t.same(seated.keys.map((k) => [k.kind, k.label]), [['app', 'Logout'], ['app', 'Calls'], ['line', 'Line'], ['blf', 'Alan <& Co>'], ['speed-dial', 'Office'], ['blf', '1004']], 'a seated desk: Logout, Calls, then the worker\'s keys (a key without label shows its value)')
  t.equal(seated.keys[0]?.value, desk('generic').apps.signOut)
  t.equal(seated.keys[1]?.value, desk('generic').apps.calls, 'the Calls key opens the call list')
  t.same(seated.line, { label: '1001 Ada Lovelace', displayName: 'Ada Lovelace' }, 'the worker\'s line (default label)')
  t.equal(seated.language, 'en-GB', 'the worker\'s language')
  t.equal(idle.language, 'de', 'the site\'s language')
  t.equal(fixed.state, 'fixed')
  t.equal(fixed.worker, undefined, 'a lobby phone never shows a worker')
  t.notOk(fixed.keys.some((k) => k.kind === 'app'), 'nor a sign-in key')
})

t.test('which keys apply: own keys, then the named profile, then the site\'s default', async (t) => {
  const named = { name: 'sales', keys: [{ type: FunctionKeyType.FUNCTION_KEY_TYPE_BLF, value: '1003', label: 'Grace' }] }
  const site = { name: 'berlin-default', keys: [{ type: FunctionKeyType.FUNCTION_KEY_TYPE_LINE, value: '', label: 'L' }] }
  t.equal(pickProfile({ own: [{ type: FunctionKeyType.FUNCTION_KEY_TYPE_SPEED_DIAL, value: '12', label: '' }], named, siteDefault: site }).source, 'user')
  t.equal(pickProfile({ own: [], named, siteDefault: site }).source, 'profile:sales', 'no own keys: the named profile')
  t.equal(pickProfile({ named: undefined, siteDefault: site }).source, 'site-default:berlin-default', 'a missing profile: the site\'s default')
  t.same(pickProfile({}), { source: 'none', keys: [] })
})

t.test('Yealink <mac>.cfg', async (t) => {
  for (const [state, file] of Object.entries(files('yealink'))) {
    const text = renderYealink(file)
    await golden(t, `yealink-${state}.cfg`, text)
    t.ok(text.startsWith('#!version:1.0.0.1\n'), 'the version line is the very first bytes')
    const values = new Map(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => [l.slice(0, l.indexOf(' = ')), l.slice(l.indexOf(' = ') + 3)]))
    t.equal(values.get('sip.notify_reboot_enable'), '0', 'check-sync without a reboot')
    t.equal(values.get('account.1.user_name'), 'ber-desk-3')
    t.equal(values.get('account.1.sip_server.1.address'), '192.0.2.10')
    t.equal(values.get('account.1.sip_server.1.port'), '5062')
    t.equal(values.get('local_time.time_zone'), '+1')
    t.equal(values.get('local_time.time_zone_name'), 'Germany(Berlin)')
    t.notOk([...values.keys()].some((k) => k.includes('password')), 'no password at all')
    const slots = [...values.keys()].filter((k) => /^linekey\.\d+\.type$/.test(k))
    t.equal(slots.length, KEY_SLOTS, 'every key slot is written (unused ones cleared)')
    for (const [i, key] of file.keys.entries()) {
      t.equal(values.get(`linekey.${i + 1}.type`), { line: '15', blf: '16', 'speed-dial': '13', app: '27' }[key.kind], `key ${i + 1} type`)
      t.equal(values.get(`linekey.${i + 1}.label`), key.label)
      if (key.kind !== 'line') t.equal(values.get(`linekey.${i + 1}.value`), key.value)
    }
    t.equal(values.get(`linekey.${file.keys.length + 1}.type`), '0', 'the slot after the last key is cleared')
    if (state === 'seated') {
      t.equal(values.get('account.1.label'), '1001 Ada Lovelace')
      t.equal(values.get('account.1.display_name'), 'Ada Lovelace')
      t.equal(values.get('lang.gui'), 'English')
      t.equal(values.get('linekey.1.label'), 'Logout')
      t.equal(values.get('linekey.2.label'), 'Calls')
      t.equal(values.get('linekey.2.value'), desk('yealink').apps.calls, 'the Calls key opens the call list')
    } else {
      t.equal(values.get('lang.gui'), 'German')
      t.equal(values.get('linekey.1.label'), state === 'idle' ? 'Login' : 'Line')
    }
  }
})

t.test('Snom XML settings', async (t) => {
  for (const [state, file] of Object.entries(files('snom'))) {
    const text = renderSnom(file)
    await golden(t, `snom-${state}.xml`, text)
    const doc = parseXml(t, text)
    const phone = doc.settings['phone-settings']
    t.equal(phone.user_name['#text'], 'ber-desk-3')
    t.equal(phone.user_name['@idx'], '1')
    t.equal(phone.timezone['#text'], 'GER+1', 'Snom\'s code for Europe/Berlin')
    t.equal(phone.language['#text'], state === 'seated' ? 'English' : 'Deutsch')
    t.notOk(Object.keys(phone).some((k) => k.includes('pass')), 'no password')
    const fkeys = doc.settings.functionKeys.fkey as any[]
    t.equal(fkeys.length, KEY_SLOTS, 'every key slot, unused ones "none"')
    t.same(fkeys.map((k) => k['@idx']).slice(0, 3), ['0', '1', '2'], 'keys count from 0')
    t.ok(fkeys.every((k) => k['@perm'] === ''), 'never perm="!": the next file overwrites every key')
    const values = fkeys.map((k) => k['#text'] ?? '')
    if (state === 'seated') {
      t.equal(values[0], `url ${desk('snom').apps.signOut}`, 'the Logout key opens the sign-out application')
      t.equal(values[1], `url ${desk('snom').apps.calls}`, 'the Calls key opens the call list')
      t.equal(values[3], 'blf <sip:1002@berlin.flexseat.test>', 'a BLF value with its brackets, escaped in the file')
      t.equal(fkeys[3]['@label'], 'Alan <& Co>')
      t.equal(values[4], 'speed +31201234567')
      t.equal(doc.settings['phone-settings'].user_realname['#text'], 'Ada Lovelace')
    }
    t.equal(values[file.keys.length], 'none')
  }
})

t.test('Poly master, settings and directory', async (t) => {
  for (const [state, file] of Object.entries(files('poly'))) {
    const master = renderPolyMaster(file)
    const settings = renderPoly(file)
    const directory = renderPolyDirectory(file)
    await golden(t, `poly-${state}.cfg`, settings)
    await golden(t, `poly-${state}-directory.xml`, directory)
    t.equal(parseXml(t, master).APPLICATION['@CONFIG_FILES'], '805ec0a1b2c3-flexseat.cfg', 'the master configuration names the settings file')
    const config = parseXml(t, settings).polycomConfig
    t.equal(config.reg['@reg.1.auth.userId'], 'ber-desk-3')
    t.equal(config.voIpProt['@voIpProt.SIP.specialEvent.checkSync.alwaysReboot'], '0')
    t.equal(config.tcpIpApp['@tcpIpApp.sntp.gmtOffset'], '3600', 'the offset in seconds')
    t.equal(config.tcpIpApp['@tcpIpApp.sntp.daylightSavings.start.month'], '3', 'this year\'s daylight-saving start, from Intl')
    t.equal(config.tcpIpApp['@tcpIpApp.sntp.daylightSavings.start.date'], '29')
    t.equal(config.tcpIpApp['@tcpIpApp.sntp.daylightSavings.stop.date'], '25')
    t.notOk(/[a-z.]*password[a-z.]*="/i.test(settings), 'no password setting')
    const items = parseXml(t, directory).directory.item_list?.item ?? []
    if (state === 'seated') {
      t.equal(config.reg['@reg.1.label'], '1001 Ada Lovelace')
      t.equal(config.lcl['@lcl.ml.lang'], 'English_United_Kingdom')
      t.equal(config.softkey['@softkey.1.label'], 'Logout')
      t.equal(config.softkey['@softkey.1.enable'], '1')
      t.equal(config.softkey['@softkey.1.use.idle'], '1')
      t.equal(config.feature['@feature.enhancedFeatureKeys.enabled'], '1', 'custom soft keys need enhanced feature keys')
      // Guard tried: the home page left at the first application (sign-out): no way to the calls.
      t.equal(config.mb['@mb.main.home'], desk('poly').apps.menu, 'the soft key opens the desk menu: sign-out and calls (one application key only)')
      t.equal(config.lineKey['@lineKey.2.category'], 'BLF')
      t.equal(config.attendant['@attendant.resourceList.1.address'], '1002@berlin.flexseat.test')
      t.equal(config.lineKey['@lineKey.3.category'], 'SpeedDial')
      t.same(items.map((i: any) => [i.fn, i.ct, i.sd]), [['Office', '+31201234567', '1']], 'the speed dial in the directory, by sd index')
      t.equal(config.attendant['@attendant.resourceList.3.address'], '', 'monitored entries past the list are cleared')
    }
    if (state === 'idle') t.equal(config.mb['@mb.main.home'], desk('poly').apps.signIn, 'an idle desk: the soft key opens the sign-in itself')
    if (state === 'fixed') t.equal(config.softkey['@softkey.1.enable'], '0', 'a lobby phone has no sign-in key')
    t.equal(config.attendant['@attendant.uri'], '', 'no resource list unless the site asks for one')
  }
})

t.test("Poly with the site's provisioning.blf_list: one subscription to the desk's list", async (t) => {
  // Guard tried: attendant.uri written without the site's blfList (the golden files' '' became the list).
  const base = desk('poly')
  const listed = composeDesk({ ...base, site: { ...base.site, blfList: true } }, ADA, ADA_KEYS)
  const config = parseXml(t, renderPoly(listed)).polycomConfig
  t.equal(config.attendant['@attendant.uri'], 'blf-list@berlin.flexseat.test', "the SIP node's list of this desk (RFC 4662)")
  t.equal(config.attendant['@attendant.reg'], '1', 'on the desk\'s one registration')
  t.equal(config.attendant['@attendant.resourceList.1.address'], '', 'no subscription per key: the list names the entries')
  t.equal(config.lineKey['@lineKey.2.category'], 'BLF', 'the BLF line keys stay, in list order')
  t.equal(config.lineKey['@lineKey.4.index'], '2')
  const idle = parseXml(t, renderPoly(composeDesk({ ...base, site: { ...base.site, blfList: true } }, undefined, DESK_PROFILE))).polycomConfig
  t.equal(idle.attendant['@attendant.uri'], '', 'a desk without BLF keys subscribes to no list')
})

t.test('the generic JSON', async (t) => {
  for (const [state, file] of Object.entries(files('generic'))) {
    const text = renderGeneric(file)
    await golden(t, `generic-${state}.json`, text)
    const doc = JSON.parse(text)
    t.equal(doc.format, 'flexseat-desk/1')
    t.equal(doc.state, state)
    t.same(doc.keys.map((k: any) => k.position), file.keys.map((_, i) => i + 1))
    t.notOk(/password|ha1/i.test(text), 'no password')
  }
})

t.test('the softkey pages in each XML browser', async (t) => {
  const input = { kind: 'input' as const, title: 'Sign in', submit: 'https://p.example/t/d/TOKEN/apps/guest-in/submit?x=1&y=2', fields: [{ name: 'ext', prompt: 'Extension', secret: false }, { name: 'pin', prompt: 'PIN', secret: true }] }
  const yealink = parseXml(t, renderPage('yealink', input).body).YealinkIPPhoneInputScreen
  t.equal(yealink.URL, input.submit, 'the submit URL (& escaped in the XML)')
  t.same(yealink.InputField.map((f: any) => [f.Parameter, f['@password']]), [['ext', 'no'], ['pin', 'yes']], 'two fields, the PIN masked')
  const snom = parseXml(t, renderPage('snom', { ...input, fields: [input.fields[1]!] }).body).SnomIPPhoneInput
  t.equal(snom.Url, `${input.submit}&pin=${SNOM_INPUT_TOKEN}`, 'the entered value replaces the token in the Url')
  t.equal(snom.InputItem.InputToken, SNOM_INPUT_TOKEN)
  t.equal(snom.InputItem.InputFlags, 'pn', 'a numeric password field')
  const poly = renderPage('poly', input, 'de')
  t.equal(poly.contentType, 'application/xhtml+xml; charset=utf-8')
  const html = parseXml(t, poly.body).html
  t.equal(html['@xmlns'], 'http://www.w3.org/1999/xhtml')
  t.equal(html.body.form['@method'], 'post', 'the PIN goes in the body, not the URL')
  const tags = new Set([...poly.body.matchAll(/<([a-z0-9]+)[\s/>]/g)].map((m) => m[1]))
  t.same([...tags].filter((tag) => !['html', 'head', 'title', 'body', 'p', 'b', 'br', 'form', 'input'].includes(tag!)), [], 'only tags the microbrowser documents')
  const text = renderPage('yealink', { kind: 'text', title: 'Sign in', text: 'Wrong PIN - 4 tries left' }).body
  t.equal(parseXml(t, text).YealinkIPPhoneTextScreen.Text, 'Wrong PIN - 4 tries left')
  t.equal(parseXml(t, renderPage('snom', { kind: 'text', title: 'x', text: 'a < b' }).body).SnomIPPhoneText.Text, 'a < b')
})

t.test('the desk-menu page in each XML browser', async (t) => {
  const menu = { kind: 'menu' as const, title: 'Your desk', items: [{ label: 'Sign out', url: 'https://p.example/t/d/TOKEN/apps/guest-out' }, { label: 'Calls & more', url: 'https://p.example/t/d/TOKEN/apps/call-list?a=1&b=2' }] }
  const yealink = parseXml(t, renderPage('yealink', menu).body).YealinkIPPhoneTextMenu
  t.equal(yealink.Title, 'Your desk')
  t.same(yealink.MenuItem.map((i: any) => [i.Prompt, i.URI]), menu.items.map((i) => [i.label, i.url]), 'Yealink: MenuItem Prompt and URI (escaped in the XML)')
  const snom = parseXml(t, renderPage('snom', menu).body).SnomIPPhoneMenu
  t.same(snom.MenuItem.map((i: any) => [i.Name, i.URL]), menu.items.map((i) => [i.label, i.url]), 'Snom: MenuItem Name and URL')
  const poly = renderPage('poly', menu)
  const links = parseXml(t, poly.body).html.body.p.slice(1).map((p: any) => [p.a['#text'], p.a['@href']])
  t.same(links, menu.items.map((i) => [i.label, i.url]), 'XHTML: one link per item')
  const tags = new Set([...poly.body.matchAll(/<([a-z0-9]+)[\s/>]/g)].map((m) => m[1]))
  t.same([...tags].filter((tag) => !['html', 'head', 'title', 'body', 'p', 'b', 'a'].includes(tag!)), [], 'only tags the microbrowser documents')
})

t.test('the call-list page in each XML browser', async (t) => {
  const call = (overrides: Partial<CallRecord>): CallRecord => ({ recordId: 'r', userId: 'ada', direction: CallDirection.CALL_DIRECTION_INCOMING, startedAt: new Date('2026-07-01T12:05:00Z'), otherParty: '2103', otherPartyName: 'Reception & Co', answered: false, durationSeconds: 0, siteId: 'berlin', deviceId: 'ber-desk-3', ...overrides })
  // Berlin in July is UTC+2; New York UTC-4: the time is the branch's.
  t.same(callEntry(call({}), 'Europe/Berlin'), { label: '01.07. 14:05 Missed Reception & Co (2103)', number: '2103' }, 'a missed call, in the branch\'s time zone')
  t.equal(callEntry(call({}), 'America/New_York').label, '01.07. 08:05 Missed Reception & Co (2103)')
  t.equal(callEntry(call({ answered: true }), 'UTC').label, '01.07. 12:05 In Reception & Co (2103)')
  t.equal(callEntry(call({ direction: CallDirection.CALL_DIRECTION_OUTGOING, answered: true, otherPartyName: '' }), 'UTC').label, '01.07. 12:05 Out 2103')
  t.equal(callEntry(call({ direction: CallDirection.CALL_DIRECTION_OUTGOING }), 'UTC').label, '01.07. 12:05 Out, no answer Reception & Co (2103)')
  t.same(callEntry(call({ otherParty: '', otherPartyName: '' }), 'UTC'), { label: '01.07. 12:05 Missed Anonymous', number: '' }, 'an anonymous caller: not dialable')
  const list = { kind: 'list' as const, title: 'Calls 1001', entries: [{ label: 'a <b>', number: '2103' }, { label: 'Anonymous', number: '' }], empty: 'No calls' }
  const yealink = parseXml(t, renderPage('yealink', list).body).YealinkIPPhoneDirectory
  t.equal(yealink.Title, 'Calls 1001')
  t.same(yealink.DirectoryEntry.map((e: any) => [e.Name, e.Telephone]), [['a <b>', '2103'], ['Anonymous', undefined]], 'Yealink: a Directory, each entry dialling its number')
  const snom = parseXml(t, renderPage('snom', list).body).SnomIPPhoneDirectory
  t.same(snom.DirectoryEntry.map((e: any) => [e.Name, e.Telephone]), [['a <b>', '2103'], ['Anonymous', undefined]], 'Snom: a Directory, each entry dialling its number')
  const poly = renderPage('poly', list)
  const html = parseXml(t, poly.body).html
  t.same(html.body.p.slice(1).map((p: any) => p.a?.['@href'] ?? p), ['tel://2103', 'Anonymous'], 'XHTML: a tel link per dialable entry')
  const tags = new Set([...poly.body.matchAll(/<([a-z0-9]+)[\s/>]/g)].map((m) => m[1]))
  t.same([...tags].filter((tag) => !['html', 'head', 'title', 'body', 'p', 'b', 'a'].includes(tag!)), [], 'only tags the microbrowser documents')
  t.equal(parseXml(t, renderPage('yealink', { ...list, entries: [] }).body).YealinkIPPhoneTextScreen.Text, 'No calls', 'an empty list: a text')
})
