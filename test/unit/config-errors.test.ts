import t from 'tap'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseDocument } from 'yaml'
import { ConfigError, loadSite, loadSites } from '@flexseat/config'

const SITES = join(__dirname, '..', '..', 'sites')

/** Writes amsterdam.yaml with one change (a YAML path and its new value; undefined deletes it). */
async function variant(dir: string, path: (string | number)[], value: unknown): Promise<string> {
  const document = parseDocument(await readFile(join(SITES, 'amsterdam.yaml'), 'utf8'))
  if (value === undefined) document.deleteIn(path)
  else document.setIn(path, value)
  const file = join(dir, 'amsterdam.yaml')
  await writeFile(file, document.toString())
  return file
}

// Each bad file, the field its error must name, and words the message must contain.
const CASES: { what: string; path: (string | number)[]; value: unknown; field: string; message: RegExp }[] = [
  { what: 'missing id', path: ['id'], value: undefined, field: 'id', message: /is missing/ },
  { what: 'upper-case id', path: ['id'], value: 'Amsterdam', field: 'id', message: /must match/ },
  { what: 'id too long', path: ['id'], value: 'a'.repeat(65), field: 'id', message: /must match/ },
  { what: 'empty name', path: ['name'], value: ' ', field: 'name', message: /must not be empty/ },
  { what: 'unknown time zone', path: ['timezone'], value: 'Europe/Atlantis', field: 'timezone', message: /IANA time zone/ },
  { what: 'unquoted emergency number', path: ['emergency_numbers'], value: [112], field: 'emergency_numbers[0]', message: /must be a string \(quote it\)/ },
  { what: 'no emergency number', path: ['emergency_numbers'], value: [], field: 'emergency_numbers', message: /at least one/ },
  { what: 'emergency number not digits', path: ['emergency_numbers'], value: ['112', 'help'], field: 'emergency_numbers[1]', message: /digits/ },
  { what: 'etcd section missing', path: ['etcd'], value: undefined, field: 'etcd', message: /is missing/ },
  { what: 'etcd client URL not a URL', path: ['etcd', 'client_url'], value: 'localhost 2379', field: 'etcd.client_url', message: /is not a URL/ },
  { what: 'etcd peer URL without port', path: ['etcd', 'peer_url'], value: 'http://127.0.0.1', field: 'etcd.peer_url', message: /must name a port/ },
  { what: 'etcd URL of another scheme', path: ['etcd', 'client_url'], value: 'unix:///tmp/etcd.sock', field: 'etcd.client_url', message: /http:\/\/ or https:\/\// },
  { what: 'misspelt etcd key', path: ['etcd', 'client_ulr'], value: 'http://127.0.0.1:1', field: 'etcd.client_ulr', message: /not a known field/ },
  { what: 'registry listen without port', path: ['registry', 'listen'], value: '127.0.0.1', field: 'registry.listen', message: /host:port/ },
  { what: 'registry port out of range', path: ['registry', 'listen'], value: '127.0.0.1:70000', field: 'registry.listen', message: /host:port/ },
  { what: 'registry listen is a number', path: ['registry', 'listen'], value: 50051, field: 'registry.listen', message: /must be a string/ },
  { what: 'sip control not host:port', path: ['sip', 'control'], value: 'drachtio', field: 'sip.control', message: /host:port/ },
  { what: 'sip contact not a SIP URI', path: ['sip', 'contact'], value: 'http://127.0.0.1:5060', field: 'sip.contact', message: /sip: or sips: URI/ },
  { what: 'sip trunk URI without host', path: ['sip', 'trunk_uri'], value: 'sip:', field: 'sip.trunk_uri', message: /sip: or sips: URI|no valid host/ },
  { what: 'bad domain', path: ['sip', 'domain'], value: 'amsterdam..test', field: 'sip.domain', message: /domain name/ },
  { what: 'feature code without star', path: ['feature_codes', 'login'], value: '51', field: 'feature_codes.login', message: /'\*' followed by 1 to 4 digits/ },
  { what: 'same code twice', path: ['feature_codes', 'change_pin'], value: '*51', field: 'feature_codes.change_pin', message: /already the login code/ },
  { what: 'dial plan regex does not compile', path: ['dial_plan', 'extension'], value: '^[1-9', field: 'dial_plan.extension', message: /not a valid regular expression/ },
  { what: 'toll class pattern does not compile', path: ['dial_plan', 'classes', 'premium'], value: '^0900(', field: 'dial_plan.classes.premium', message: /not a valid regular expression/ },
  { what: 'unknown toll class', path: ['dial_plan', 'classes', 'satellite'], value: '^00870', field: 'dial_plan.classes.satellite', message: /not a known field/ },
  { what: 'toll classes without a pattern', path: ['dial_plan', 'classes'], value: {}, field: 'dial_plan.classes', message: /at least one of premium, international/ },
  { what: 'allowed class misspelt', path: ['dial_plan', 'allow'], value: { seated: ['internal', 'premuim'] }, field: 'dial_plan.allow.seated[1]', message: /"premuim" is not a toll class/ },
  { what: 'allowed classes not a list', path: ['dial_plan', 'allow'], value: { fixed: 'internal' }, field: 'dial_plan.allow.fixed', message: /must be a list/ },
  { what: 'allow without classes', path: ['dial_plan'], value: { extension: '^[1-9][0-9]{3}$', external: '^0[0-9]{6,15}$', allow: { fixed: ['internal'] } }, field: 'dial_plan.allow', message: /needs dial_plan.classes/ },
  { what: 'security desk neither extension nor SIP URI', path: ['emergency', 'security_desk'], value: 'the lobby', field: 'emergency.security_desk', message: /extension \(2 to 15 digits\) or a sip: URI/ },
  { what: 'call-back number not E.164', path: ['emergency', 'callback_number'], value: '020 123 4567', field: 'emergency.callback_number', message: /E\.164/ },
  { what: 'civic address without country', path: ['emergency', 'civic_address', 'country'], value: undefined, field: 'emergency.civic_address.country', message: /is missing/ },
  { what: 'country in lower case', path: ['emergency', 'civic_address', 'country'], value: 'nl', field: 'emergency.civic_address.country', message: /two upper-case letters/ },
  { what: 'house number as a number', path: ['emergency', 'civic_address', 'house_number'], value: 182, field: 'emergency.civic_address.house_number', message: /must be a string/ },
  { what: 'civic address part with a newline', path: ['emergency', 'civic_address', 'street'], value: 'Heren\ngracht', field: 'emergency.civic_address.street', message: /without control characters/ },
  { what: 'misspelt civic address key', path: ['emergency', 'civic_address', 'steet'], value: 'Herengracht', field: 'emergency.civic_address.steet', message: /not a known field/ },
  { what: 'misspelt emergency key', path: ['emergency', 'security'], value: '2019', field: 'emergency.security', message: /not a known field/ },
  { what: 'ban threshold not a number', path: ['sip_security', 'failures_before_ban'], value: 'twenty', field: 'sip_security.failures_before_ban', message: /must be a whole number/ },
  { what: 'delay threshold zero', path: ['sip_security', 'failures_before_delay'], value: 0, field: 'sip_security.failures_before_delay', message: /between 1 and 1000/ },
  { what: 'ban before the delays', path: ['sip_security'], value: { failures_before_delay: 10, failures_before_ban: 5 }, field: 'sip_security.failures_before_ban', message: /at least failures_before_delay \(10\)/ },
  { what: 'fractional ban seconds', path: ['sip_security', 'ban_seconds'], value: 1.5, field: 'sip_security.ban_seconds', message: /whole number/ },
  { what: 'longest delay below the first', path: ['sip_security'], value: { first_delay_ms: 500, max_delay_ms: 100 }, field: 'sip_security.max_delay_ms', message: /at least first_delay_ms/ },
  { what: 'delay past the engine\'s patience', path: ['sip_security', 'max_delay_ms'], value: 60_000, field: 'sip_security.max_delay_ms', message: /between 1 and 30000/ },
  { what: 'drop_scanners as a string', path: ['sip_security', 'drop_scanners'], value: 'yes', field: 'sip_security.drop_scanners', message: /true or false/ },
  { what: 'misspelt sip_security key', path: ['sip_security', 'ban_secs'], value: 60, field: 'sip_security.ban_secs', message: /not a known field/ },
  { what: 'unknown top-level key', path: ['registy'], value: { listen: '127.0.0.1:1' }, field: 'registy', message: /not a known field/ },
]

t.test('each kind of bad field is refused with the file and field named', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-sites-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const c of CASES) {
    const file = await variant(dir, c.path, c.value)
    const error = await loadSite(file).then(
      () => undefined,
      (e: unknown) => e,
    )
    if (!(error instanceof ConfigError)) {
      t.fail(`${c.what}: expected a ConfigError, got ${String(error)}`)
      continue
    }
    t.equal(error.code, 'CONFIG_INVALID', `${c.what}: code`)
    t.equal(error.file, file, `${c.what}: file`)
    t.equal(error.field, c.field, `${c.what}: field`)
    t.match(error.message, c.message, `${c.what}: message`)
    t.ok(error.message.startsWith(`${file}: ${c.field}: `), `${c.what}: message names file and field (${error.message})`)
  }
})

t.test('a file that is not YAML is refused with its position', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-sites-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'broken.yaml')
  await writeFile(file, 'id: broken\nname: [unclosed\n')
  await t.rejects(loadSite(file), { code: 'CONFIG_UNREADABLE', file, message: /not valid YAML at line \d+/ })
  await writeFile(file, 'id: broken\nid: twice\n')
  await t.rejects(loadSite(file), { code: 'CONFIG_UNREADABLE', message: /not valid YAML/ }, 'duplicate keys are an error')
  await writeFile(file, '- a list\n')
  await t.rejects(loadSite(file), { code: 'CONFIG_INVALID', field: undefined, message: /must be a mapping/ })
})

t.test('two sites with the same etcd member name are refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-sites-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await variant(dir, ['etcd', 'name'], 'etcd-shared')
  const berlin = parseDocument(await readFile(join(SITES, 'berlin.yaml'), 'utf8'))
  berlin.setIn(['etcd', 'name'], 'etcd-shared')
  await writeFile(join(dir, 'berlin.yaml'), berlin.toString())
  await t.rejects(loadSites(dir), {
    code: 'CONFIG_CONFLICT',
    file: join(dir, 'berlin.yaml'),
    field: 'etcd.name',
    message: /"etcd-shared" is already the etcd member of .*amsterdam\.yaml/,
  })
})

t.test('two files with the same id are refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-sites-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // Ids follow file names, so a duplicate id shows up as a file whose id is not its name.
  await variant(dir, [], undefined)
  const copy = parseDocument(await readFile(join(SITES, 'amsterdam.yaml'), 'utf8'))
  copy.setIn(['etcd', 'name'], 'etcd-copy')
  await writeFile(join(dir, 'amsterdam-copy.yaml'), copy.toString())
  await t.rejects(loadSites(dir), { code: 'CONFIG_INVALID', field: 'id', message: /"amsterdam" must equal the file name/ })
})
