import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadRegistryConfig, RegistryConfigError } from '@flexseat/registry'
import { loadSites } from '@flexseat/config'

// The registry's settings this branch added: the desk throttle, certificates naming the site, group commit.
const SITES = join(__dirname, '..', '..', 'sites')
const argv = ['--site', 'berlin', '--sites-dir', SITES]

t.test('the desk throttle: defaults, overrides, bounds', async (t) => {
  t.same((await loadRegistryConfig(argv, {})).deskThrottle, { maxFailures: 10, windowMs: 900_000, pauseMs: 900_000 }, '10 in 15 minutes pause for 15 minutes')
  const set = await loadRegistryConfig(argv, { FLEXSEAT_DESK_THROTTLE_MAX_FAILURES: '4', FLEXSEAT_DESK_THROTTLE_WINDOW_SECONDS: '60', FLEXSEAT_DESK_THROTTLE_SECONDS: '43200' })
  t.same(set.deskThrottle, { maxFailures: 4, windowMs: 60_000, pauseMs: 43_200_000 })
  await t.rejects(loadRegistryConfig(argv, { FLEXSEAT_DESK_THROTTLE_SECONDS: '43201' }), new RegistryConfigError('FLEXSEAT_DESK_THROTTLE_SECONDS: "43201" is not a whole number from 1 to 43200'), 'at most 12 h: the record lives a day')
  await t.rejects(loadRegistryConfig(argv, { FLEXSEAT_DESK_THROTTLE_MAX_FAILURES: '0' }), RegistryConfigError)
})

t.test('the lockout: per desk and cluster-wide counts, defaults, bounds', async (t) => {
  t.same((await loadRegistryConfig(argv, {})).lockout, { maxFailures: 5, clusterMaxFailures: 15, windowMs: 900_000, lockMs: 900_000 }, '5 at a desk, 15 from several desks')
  t.same((await loadRegistryConfig(argv, { FLEXSEAT_LOCKOUT_MAX_FAILURES: '3' })).lockout.clusterMaxFailures, 9, 'three times the per-desk count by default')
  t.equal((await loadRegistryConfig(argv, { FLEXSEAT_LOCKOUT_CLUSTER_MAX_FAILURES: '8' })).lockout.clusterMaxFailures, 8)
  await t.rejects(
    loadRegistryConfig(argv, { FLEXSEAT_LOCKOUT_CLUSTER_MAX_FAILURES: '5' }),
    new RegistryConfigError('FLEXSEAT_LOCKOUT_CLUSTER_MAX_FAILURES: "5" is not a whole number from 6 to 3000'),
    'more than one desk\'s count',
  )
  // Guard tried: the check removed: the config loads with a 60 s lock in a 900 s window.
  await t.rejects(
    loadRegistryConfig(argv, { FLEXSEAT_LOCKOUT_SECONDS: '60' }),
    { message: /^FLEXSEAT_LOCKOUT_SECONDS: 60 is shorter than FLEXSEAT_LOCKOUT_WINDOW_SECONDS \(900\)/ },
    'a lock shorter than the window is refused: one desk would guess past the bound',
  )
  t.equal((await loadRegistryConfig(argv, { FLEXSEAT_LOCKOUT_SECONDS: '60', FLEXSEAT_LOCKOUT_WINDOW_SECONDS: '60' })).lockout.lockMs, 60_000, 'as long as the window is')
})

t.test('FLEXSEAT_TLS_CLIENT_SITE=require needs client certificates', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'registry-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const name of ['cert.pem', 'key.pem', 'ca.pem']) await writeFile(join(dir, name), 'PEM')
  const tls = { FLEXSEAT_TLS_CERT: join(dir, 'cert.pem'), FLEXSEAT_TLS_KEY: join(dir, 'key.pem'), FLEXSEAT_TLS_CA: join(dir, 'ca.pem') }
  const strict = await loadRegistryConfig(argv, { ...tls, FLEXSEAT_TLS_CLIENT_AUTH: 'require', FLEXSEAT_TLS_CLIENT_SITE: 'require' })
  t.equal(strict.tls?.requireSiteCertificate, true)
  t.equal((await loadRegistryConfig(argv, { ...tls, FLEXSEAT_TLS_CLIENT_AUTH: 'require' })).tls?.requireSiteCertificate, false, 'off by default')
  await t.rejects(loadRegistryConfig(argv, { ...tls, FLEXSEAT_TLS_CLIENT_SITE: 'require' }), /needs FLEXSEAT_TLS_CLIENT_AUTH=require/)
  await t.rejects(loadRegistryConfig(argv, { ...tls, FLEXSEAT_TLS_CLIENT_AUTH: 'require', FLEXSEAT_TLS_CLIENT_SITE: 'yes' }), /is not "require"/)
})

t.test('FLEXSEAT_GROUP_COMMIT: on by default, true or false, nothing else', async (t) => {
  t.equal((await loadRegistryConfig(argv, {})).groupCommit, true, 'logins share transactions unless told otherwise')
  t.equal((await loadRegistryConfig(argv, { FLEXSEAT_GROUP_COMMIT: 'false' })).groupCommit, false, 'false: one transaction per login')
  t.equal((await loadRegistryConfig(argv, { FLEXSEAT_GROUP_COMMIT: 'true' })).groupCommit, true)
  await t.rejects(loadRegistryConfig(argv, { FLEXSEAT_GROUP_COMMIT: 'off' }), new RegistryConfigError('FLEXSEAT_GROUP_COMMIT: "off" is not true or false'))
})

t.test('etcd endpoints: nearest first, the site\'s own member by default', async (t) => {
  const sites = await loadSites(SITES)
  const berlin = sites.find((s) => s.id === 'berlin')!
  const endpoints = (await loadRegistryConfig(argv, {})).etcdEndpoints
  t.equal(endpoints[0], berlin.etcd.clientUrl, 'berlin\'s registry starts with berlin\'s member')
  t.same([...endpoints].sort(), [...new Set(sites.map((s) => s.etcd.clientUrl))].sort(), 'then every other site\'s')
  t.same((await loadRegistryConfig(argv, { FLEXSEAT_ETCD_ENDPOINTS: 'http://b:2379, http://a:2379' })).etcdEndpoints, ['http://b:2379', 'http://a:2379'], 'a list given is kept in its order')
})
