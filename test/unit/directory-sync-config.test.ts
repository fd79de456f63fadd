// The directory sync's configuration: defaults (Active Directory's attribute names), and every
// refusal names the file and the key, never the bind password.
import t from 'tap'
import { DEFAULT_ATTRIBUTES, DirectorySyncError, departmentPolicies, parseDirectorySyncConfig, templateFor } from '@flexseat/directory-sync'

const SECRET = 's3cret-Bind-Pa55'
const files: Record<string, string> = {
  '/etc/flexseat/bind-password': `${SECRET}\n`,
  '/etc/flexseat/empty': '\n',
  '/etc/flexseat/ca.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  '/etc/flexseat/not-a-cert': 'hello',
}
const readFile = async (path: string): Promise<Buffer> => {
  const text = files[path]
  if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' })
  return Buffer.from(text)
}

const MINIMAL = `
ldap:
  url: ldaps://dc1.example.com
  bind_dn: CN=flexseat-sync,OU=Service Accounts,DC=example,DC=com
  bind_password_file: bind-password
  base_dn: OU=Staff,DC=example,DC=com
templates:
  default: { home_site: amsterdam }
`

const parse = (text: string) => parseDirectorySyncConfig(text, { source: '/etc/flexseat/directory-sync.yaml', siteIds: ['amsterdam', 'berlin'], readFile })

t.test('a minimal file: AD defaults, an hourly full sync, a minute between incremental ones', async (t) => {
  const config = await parse(MINIMAL)
  t.same(config.attributes, DEFAULT_ATTRIBUTES)
  t.same(config.attributes, {
    key: 'objectGUID',
    username: 'sAMAccountName',
    displayName: 'displayName',
    givenName: 'givenName',
    surname: 'sn',
    extension: 'ipPhone',
    did: 'telephoneNumber',
    mobile: 'mobile',
    email: 'mail',
    department: 'department',
    accountControl: 'userAccountControl',
  })
  t.match(config.ldap, { url: 'ldaps://dc1.example.com', startTls: false, ca: undefined, filter: '(objectClass=user)', scope: 'sub', pageSize: 500, timeoutMs: 30_000, incremental: 'usn', clockSkewMs: 300_000 })
  t.equal(config.ldap.bindPassword(), SECRET, 'the password file, less its newline')
  t.same(config.schedule, { fullEveryMs: 3_600_000, incrementalEveryMs: 60_000, maxDeletions: 100 })
  t.notMatch(JSON.stringify(config), new RegExp(SECRET), 'the password never shows in a serialised config (e.g. a log line)')
  t.same(templateFor(config.templates, 'Anything'), { key: 'templates.default', homeSiteId: 'amsterdam', roamingAllowed: false, maxSeatHours: 0, functionKeyProfile: '', policy: undefined })
})

t.test('everything set', async (t) => {
  const config = await parse(`
ldap:
  url: ldap://ldap.example.com:3389
  start_tls: true
  ca_file: ca.pem
  bind_dn: cn=sync,dc=example,dc=com
  bind_password_file: /etc/flexseat/bind-password
  base_dn: ou=people,dc=example,dc=com
  filter: (&(objectClass=inetOrgPerson)(ipPhone=*))
  scope: one
  page_size: 200
  timeout: 1m30s
  incremental: timestamp
  clock_skew: 2m
attributes:
  key: entryUUID
  username: uid
  account_control: ""
  did: ""
schedule:
  full_every: 15m
  incremental_every: 30s
  max_deletions: 0
templates:
  departments:
    Sales: { home_site: berlin, roaming: true, max_seat_hours: 10, function_key_profile: sales-keys }
`)
  t.match(config.ldap, { startTls: true, scope: 'one', pageSize: 200, timeoutMs: 90_000, incremental: 'timestamp', clockSkewMs: 120_000 })
  t.ok(config.ldap.ca?.toString().includes('BEGIN CERTIFICATE'), 'ca_file relative to the configuration file')
  t.match(config.attributes, { key: 'entryUUID', username: 'uid', accountControl: '', did: '', extension: 'ipPhone' })
  t.same(config.schedule, { fullEveryMs: 900_000, incrementalEveryMs: 30_000, maxDeletions: 0 })
  t.same(templateFor(config.templates, '  sales '), { key: 'templates.departments.Sales', homeSiteId: 'berlin', roamingAllowed: true, maxSeatHours: 10, functionKeyProfile: 'sales-keys', policy: undefined })
  t.equal(templateFor(config.templates, 'Legal'), undefined, 'no default: no template')
})

t.test('a department template\'s sign-out policy (issue 19)', async (t) => {
  const config = await parse(`${MINIMAL}  departments:
    Sales: { home_site: berlin, max_hours: 8, daily_sign_out: "19:00", idle_minutes: none, defer_while_in_call: false, warn_minutes: 10 }
    Support: { home_site: berlin, daily_sign_out: none }
    Legal: { home_site: berlin }
`)
  t.same(templateFor(config.templates, 'sales')?.policy, { maxHours: 8, dailySignOut: '19:00', deferWhileInCall: false, warnMinutes: 10, none: ['idleMinutes'] })
  t.same(templateFor(config.templates, 'support')?.policy, { none: ['dailySignOut'] }, 'none: switched off at the department')
  t.equal(templateFor(config.templates, 'legal')?.policy, undefined, 'no settings: no policy (an administrator\'s stays)')
  // Guard tried: departmentPolicies without the `undefined` filter: Legal listed with no policy.
  t.same([...departmentPolicies(config.templates)].map(([name, p]) => [name, p.template]), [['sales', 'templates.departments.Sales'], ['support', 'templates.departments.Support']])
})

t.test('refusals name the key', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['not YAML', 'ldap: [', /\(file\): not valid YAML/],
    ['unknown key', MINIMAL + 'extra: 1\n', /: extra: unknown key/],
    ['typo in ldap', MINIMAL.replace('base_dn', 'basedn'), /: ldap\.basedn: unknown key/],
    ['no url', MINIMAL.replace(/ {2}url: .*\n/, ''), /: ldap\.url: is required/],
    ['http url', MINIMAL.replace('ldaps://dc1.example.com', 'http://dc1.example.com'), /: ldap\.url: "http:\/\/dc1\.example\.com" is not ldap:\/\/host/],
    ['url with a path', MINIMAL.replace('ldaps://dc1.example.com', 'ldap://dc1/dc=x'), /: ldap\.url: /],
    ['start_tls on ldaps', MINIMAL.replace('  bind_dn', '  start_tls: true\n  bind_dn'), /: ldap\.start_tls: is for ldap:\/\/ URLs/],
    ['missing password file', MINIMAL.replace('bind-password', 'nope'), /: ldap\.bind_password_file: cannot read \/etc\/flexseat\/nope \(ENOENT\)/],
    ['empty password', MINIMAL.replace('bind-password', 'empty'), /: ldap\.bind_password_file: .* is empty/],
    ['not a certificate', MINIMAL.replace('  bind_dn', '  ca_file: not-a-cert\n  bind_dn'), /: ldap\.ca_file: not-a-cert holds no PEM certificate/],
    ['bad filter', MINIMAL.replace('  bind_dn', '  filter: (objectClass=user\n  bind_dn'), /: ldap\.filter: "\(objectClass=user" is not an LDAP filter/],
    ['bad page size', MINIMAL.replace('  bind_dn', '  page_size: 0\n  bind_dn'), /: ldap\.page_size: must be a whole number from 1 to 10000/],
    ['bad incremental', MINIMAL.replace('  bind_dn', '  incremental: dirsync\n  bind_dn'), /: ldap\.incremental: must be one of usn, timestamp, none/],
    ['bad duration', MINIMAL + 'schedule: { full_every: soon }\n', /: schedule\.full_every: must be a duration such as 30s/],
    ['required attribute emptied', MINIMAL + 'attributes: { extension: "" }\n', /: attributes\.extension: is required/],
    ['bad attribute', MINIMAL + 'attributes: { mobile: "mobile phone" }\n', /: attributes\.mobile: "mobile phone" is not an LDAP attribute name/],
    ['unknown site', MINIMAL.replace('home_site: amsterdam', 'home_site: paris'), /: templates\.default\.home_site: no site "paris" \(sites: amsterdam, berlin\)/],
    ['bad profile', MINIMAL.replace('home_site: amsterdam', 'home_site: amsterdam, function_key_profile: Sales Keys'), /: templates\.default\.function_key_profile: "Sales Keys" is not a profile name/],
    ['bad hours', MINIMAL.replace('home_site: amsterdam', 'home_site: amsterdam, max_seat_hours: -1'), /: templates\.default\.max_seat_hours: must be a whole number from 0 to 8760/],
    ['no templates', MINIMAL.replace(/templates:[\s\S]*/, ''), /: templates: give templates\.default or at least one of templates\.departments/],
    ['max_hours 0', MINIMAL + '  departments:\n    Sales: { home_site: berlin, max_hours: 0 }\n', /: templates\.departments\.Sales\.max_hours: must be a whole number from 1 to 999, or none/],
    ['max_hours 1000', MINIMAL + '  departments:\n    Sales: { home_site: berlin, max_hours: 1000 }\n', /: templates\.departments\.Sales\.max_hours: must be a whole number from 1 to 999/],
    ['daily 25:00', MINIMAL + '  departments:\n    Sales: { home_site: berlin, daily_sign_out: "25:00" }\n', /: templates\.departments\.Sales\.daily_sign_out: must be a local time HH:MM from 00:00 to 23:59/],
    ['daily as a number', MINIMAL + '  departments:\n    Sales: { home_site: berlin, daily_sign_out: 19 }\n', /: templates\.departments\.Sales\.daily_sign_out: must be a local time/],
    ['idle 0', MINIMAL + '  departments:\n    Sales: { home_site: berlin, idle_minutes: 0 }\n', /: templates\.departments\.Sales\.idle_minutes: must be a whole number from 1 to 10080/],
    ['defer not a boolean', MINIMAL + '  departments:\n    Sales: { home_site: berlin, defer_while_in_call: maybe }\n', /: templates\.departments\.Sales\.defer_while_in_call: must be true or false/],
    ['warn 241', MINIMAL + '  departments:\n    Sales: { home_site: berlin, warn_minutes: 241 }\n', /: templates\.departments\.Sales\.warn_minutes: must be a whole number from 1 to 240/],
    ['a policy in the default', MINIMAL.replace('home_site: amsterdam', 'home_site: amsterdam, max_hours: 8'), /: templates\.default\.max_hours: sign-out policy settings belong to a department's template/],
    ['duplicate department', MINIMAL + '  departments:\n    Sales: { home_site: berlin }\n    SALES: { home_site: berlin }\n', /: templates\.departments\.SALES: names a department twice/],
  ]
  for (const [what, text, message] of cases) {
    const error = await parse(text).catch((e: unknown) => e)
    t.ok(error instanceof DirectorySyncError && error.code === 'CONFIG', `${what}: a CONFIG error`)
    t.match((error as Error).message, new RegExp(`^/etc/flexseat/directory-sync\\.yaml: ${message.source.replace(/^: /, '')}`), what)
    t.notMatch((error as Error).message, new RegExp(SECRET), `${what}: never the password`)
  }
})
