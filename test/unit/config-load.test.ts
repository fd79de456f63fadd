import t from 'tap'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, DEFAULT_SIP_SECURITY, loadSite, loadSites, parseHostPort } from '@flexseat/config'

const SITES = join(__dirname, '..', '..', 'sites')

t.test('the three example sites load, sorted by id, in camelCase', async (t) => {
  const sites = await loadSites(SITES)
  t.same(sites.map((s) => s.id), ['amsterdam', 'berlin', 'chicago'])
  const amsterdam = sites[0]!
  t.equal(amsterdam.name, 'Amsterdam')
  t.equal(amsterdam.timezone, 'Europe/Amsterdam')
  t.same(amsterdam.emergencyNumbers, ['112'])
  t.match(amsterdam.dispatchableLocation, /Herengracht/)
  t.same(amsterdam.etcd, { name: 'etcd-amsterdam', clientUrl: 'http://127.0.0.1:2379', peerUrl: 'http://127.0.0.1:2380' })
  t.same(amsterdam.registry, { listen: '127.0.0.1:50051' })
  t.same(amsterdam.sip, {
    contact: 'sip:127.0.0.1:5060;transport=udp,tcp',
    control: '127.0.0.1:9022',
    domain: 'amsterdam.flexseat.test',
    trunkUri: 'sip:127.0.0.1:5060',
  })
  t.same(amsterdam.featureCodes, { login: '*51', changePin: '*52' })
  t.same(amsterdam.dialPlan, {
    extension: '^[1-9][0-9]{3}$',
    external: '^0[0-9]{6,15}$',
    classes: {
      patterns: { premium: '^0{1,2}90[069][0-9]*$', international: '^00[1-9][0-9]*$', mobile: '^06[0-9]{8}$', national: '^0[1-9][0-9]{8}$' },
      seated: ['emergency', 'internal', 'local', 'national', 'mobile', 'international'],
      fixed: ['emergency', 'internal', 'local', 'national', 'mobile', 'international'],
    },
  }, 'toll classes: every class but premium unless dial_plan.allow says otherwise')
  t.same(sites[1]!.dialPlan.classes?.fixed, ['internal', 'local', 'national', 'mobile'], "Berlin's fixed phones call nothing abroad")
  t.same(sites[2]!.emergencyNumbers, ['911', '933'])
  t.same(sites[0]!.sipSecurity, DEFAULT_SIP_SECURITY, 'no sip_security section: guessing is met with the defaults (on)')
  t.same(amsterdam.emergency, { securityDesk: '2019', civicAddress: { country: 'NL', state: 'Noord-Holland', city: 'Amsterdam', street: 'Herengracht', houseNumber: '182', postalCode: '1016 BR', name: 'flexseat Amsterdam' } }, 'the emergency section, in camelCase')
  t.match(sites[2]!.emergency, { securityDesk: '2039', callbackNumber: '+13125550100', civicAddress: { country: 'US', streetSuffix: 'Dr', building: 'Willis Tower' } })
  t.equal(sites[1]!.emergency, undefined, 'optional (Berlin has none)')
  t.equal(new Set(sites.map((s) => s.etcd.name)).size, 3, 'three distinct etcd members')
})

t.test('loadSite reads one file', async (t) => {
  const berlin = await loadSite(join(SITES, 'berlin.yaml'))
  t.equal(berlin.id, 'berlin')
  t.equal(berlin.registry.listen, '127.0.0.1:50052')
})

t.test('a folder without sites and a missing folder are refused', async (t) => {
  const empty = await mkdtemp(join(tmpdir(), 'flexseat-sites-'))
  t.teardown(() => rm(empty, { recursive: true, force: true }))
  await t.rejects(loadSites(empty), { name: 'ConfigError', code: 'CONFIG_INVALID', file: empty, message: /holds no site files/ })
  await t.rejects(loadSites(join(empty, 'nope')), { code: 'CONFIG_UNREADABLE', message: /cannot read the sites folder \(ENOENT\)/ })
  const error = await loadSite(join(empty, 'nope.yaml')).catch((e: unknown) => e)
  t.ok(error instanceof ConfigError, 'a ConfigError')
  t.match(error, { code: 'CONFIG_UNREADABLE', message: /nope\.yaml: cannot read the file \(ENOENT\)/ })
})

t.test('a file whose name differs from its id is refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-sites-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await copyFile(join(SITES, 'berlin.yaml'), join(dir, 'paris.yaml'))
  await t.rejects(loadSites(dir), { code: 'CONFIG_INVALID', field: 'id', file: join(dir, 'paris.yaml'), message: /must equal the file name/ })
})

t.test('parseHostPort', async (t) => {
  t.same(parseHostPort('127.0.0.1:50051'), { host: '127.0.0.1', port: 50051 })
  t.same(parseHostPort('registry-berlin:0'), { host: 'registry-berlin', port: 0 })
  t.same(parseHostPort('[::1]:2379'), { host: '::1', port: 2379 })
  for (const bad of ['127.0.0.1', ':50051', 'host:65536', 'host:-1', 'ho st:1', '::1:2379', 'host:12a']) {
    t.equal(parseHostPort(bad), undefined, bad)
  }
})
