import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { loadSipNodeConfig, SipNodeError } from '@flexseat/sip-node'

const SITES = join(__dirname, '..', '..', 'sites')
const TOKEN = 'tok-3b9d1f0c5e7a'
const TRUNK = 'trunk-8c2e4a6b'
const base = { FLEXSEAT_SIP_NODE_TOKEN: TOKEN, FLEXSEAT_TRUNK_SECRET: TRUNK }
const argv = ['--site', 'berlin', '--sites-dir', SITES]

async function failure(t: Test, args: readonly string[], env: NodeJS.ProcessEnv): Promise<SipNodeError> {
  const error = await loadSipNodeConfig(args, env).then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof SipNodeError)) {
    t.fail(`expected a SipNodeError, got ${String(error)}`)
    throw error
  }
  t.equal(error.code, 'CONFIG_INVALID')
  t.equal(error.retryable, false)
  t.notMatch(error.message, TOKEN, 'never shows the token')
  t.notMatch(error.message, TRUNK, 'never shows the trunk secret')
  return error
}

t.test('defaults from the site file', async (t) => {
  const config = await loadSipNodeConfig(argv, base)
  t.equal(config.site.id, 'berlin')
  t.same([...config.sites.keys()].sort(), ['amsterdam', 'berlin', 'chicago'], 'every site, own included')
  t.same(config.registryAddresses, [config.site.registry.listen])
  t.equal(config.registryToken, TOKEN)
  t.equal(config.registryCa, undefined, 'no TLS by default')
  const [host, port] = config.site.sip.control.split(':')
  t.same(config.drachtio, { host, port: Number(port), secret: 'cymru' })
  t.equal(config.trunkSecret, TRUNK)
  t.match(config.nodeId, /^berlin-[0-9a-f]{8}$/)
  t.same(config.registration, { minSeconds: 60, maxSeconds: 3600 })
  t.same(config.busyLamps, { minSeconds: 60, maxSeconds: 3600, showCaller: true }, 'busy lamps: 60 to 3600 s, the caller shown')
  t.equal(config.directoryRefreshSeconds, 10, 'the directory listed again every 10 s')
  t.equal(config.logLevel, 'info')
  const again = await loadSipNodeConfig(argv, base)
  t.not(again.nodeId, config.nodeId, 'a new node id per load (per process)')
})

t.test('environment overrides; the files win over the values', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sip-node-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'token'), 'from-file-token\n')
  await writeFile(join(dir, 'trunk'), 'from-file-trunk\n')
  await writeFile(join(dir, 'ca.pem'), 'PEM')
  const config = await loadSipNodeConfig(argv, {
    ...base,
    FLEXSEAT_SIP_NODE_TOKEN_FILE: join(dir, 'token'),
    FLEXSEAT_TRUNK_SECRET_FILE: join(dir, 'trunk'),
    FLEXSEAT_REGISTRY_CA_FILE: join(dir, 'ca.pem'),
    FLEXSEAT_REGISTRY_ADDRESSES: ' 127.0.0.1:7001, registry-b:7002 ',
    FLEXSEAT_DRACHTIO_ADDRESS: '[::1]:9999',
    FLEXSEAT_DRACHTIO_SECRET: 's3',
    FLEXSEAT_REGISTRATION_MIN_SECONDS: '30',
    FLEXSEAT_REGISTRATION_MAX_SECONDS: '600',
    FLEXSEAT_DIRECTORY_REFRESH_SECONDS: '2',
    FLEXSEAT_LOG_LEVEL: 'debug',
  })
  t.equal(config.registryToken, 'from-file-token', 'token file wins, trimmed')
  t.equal(config.trunkSecret, 'from-file-trunk')
  t.equal(config.registryCa?.toString(), 'PEM')
  t.same(config.registryAddresses, ['127.0.0.1:7001', 'registry-b:7002'])
  t.same(config.drachtio, { host: '::1', port: 9999, secret: 's3' })
  t.same(config.registration, { minSeconds: 30, maxSeconds: 600 })
  t.equal(config.directoryRefreshSeconds, 2)
  t.equal(config.logLevel, 'debug')
})

t.test('errors name the option or variable at fault', async (t) => {
  t.match((await failure(t, [], base)).message, /--site is required/)
  t.match((await failure(t, ['--site'], base)).message, /usage: flexseat-sip-node/)
  t.match((await failure(t, [...argv, '--bogus'], base)).message, /bogus/)
  t.match((await failure(t, [...argv, 'extra'], base)).message, /usage/)
  t.match((await failure(t, ['--site', 'atlantis', '--sites-dir', SITES], base)).message, /--site: no site "atlantis"/)
  t.match((await failure(t, argv, { FLEXSEAT_TRUNK_SECRET: TRUNK })).message, /FLEXSEAT_SIP_NODE_TOKEN_FILE or FLEXSEAT_SIP_NODE_TOKEN is required/)
  t.match((await failure(t, argv, { FLEXSEAT_SIP_NODE_TOKEN: TOKEN })).message, /FLEXSEAT_TRUNK_SECRET_FILE or FLEXSEAT_TRUNK_SECRET is required/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_SIP_NODE_TOKEN_FILE: '/nonexistent/token' })).message, /^FLEXSEAT_SIP_NODE_TOKEN_FILE: cannot read \/nonexistent\/token \(ENOENT\)/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_REGISTRY_CA_FILE: '/nonexistent/ca' })).message, /^FLEXSEAT_REGISTRY_CA_FILE: cannot read/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_REGISTRY_ADDRESSES: '127.0.0.1' })).message, /^FLEXSEAT_REGISTRY_ADDRESSES: "127.0.0.1" is not host:port/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_REGISTRY_ADDRESSES: ' , ' })).message, /^FLEXSEAT_REGISTRY_ADDRESSES: no address/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_REGISTRY_ADDRESSES: '127.0.0.1:0' })).message, /^FLEXSEAT_REGISTRY_ADDRESSES/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_DRACHTIO_ADDRESS: 'nope' })).message, /^FLEXSEAT_DRACHTIO_ADDRESS/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_REGISTRATION_MIN_SECONDS: '-1' })).message, /^FLEXSEAT_REGISTRATION_MIN_SECONDS/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_REGISTRATION_MAX_SECONDS: '1.5' })).message, /^FLEXSEAT_REGISTRATION_MAX_SECONDS/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_REGISTRATION_MIN_SECONDS: '600', FLEXSEAT_REGISTRATION_MAX_SECONDS: '60' })).message, /^FLEXSEAT_REGISTRATION_MAX_SECONDS: 60 is below/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_BLF_MIN_SECONDS: '600', FLEXSEAT_BLF_MAX_SECONDS: '60' })).message, /^FLEXSEAT_BLF_MAX_SECONDS: 60 is below/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_BLF_SHOW_CALLER: 'maybe' })).message, /^FLEXSEAT_BLF_SHOW_CALLER/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_DIRECTORY_REFRESH_SECONDS: '0' })).message, /^FLEXSEAT_DIRECTORY_REFRESH_SECONDS/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_LOG_LEVEL: 'loud' })).message, /^FLEXSEAT_LOG_LEVEL/)
})

t.test('an empty token file is refused without echoing anything', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sip-node-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'token'), '\n')
  t.match((await failure(t, argv, { ...base, FLEXSEAT_SIP_NODE_TOKEN_FILE: join(dir, 'token') })).message, /^FLEXSEAT_SIP_NODE_TOKEN_FILE: .* is empty/)
})

t.test('a broken sites folder is reported by the site loader (file and field)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sip-node-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await t.rejects(loadSipNodeConfig(['--site', 'berlin', '--sites-dir', dir], base), { name: 'ConfigError', code: 'CONFIG_INVALID' })
})

t.test('FLEXSEAT_TRUNK_URIS replaces the branches\' trunk addresses (docker-compose), checked', async (t) => {
  const config = await loadSipNodeConfig(argv, { ...base, FLEXSEAT_TRUNK_URIS: 'amsterdam=sip:drachtio-amsterdam:5060, berlin=sip:drachtio-berlin:5060' })
  t.equal(config.sites.get('amsterdam')?.sip.trunkUri, 'sip:drachtio-amsterdam:5060')
  t.equal(config.site.sip.trunkUri, 'sip:drachtio-berlin:5060', 'the own site too')
  t.equal(config.sites.get('chicago')?.sip.trunkUri, (await loadSipNodeConfig(argv, base)).sites.get('chicago')?.sip.trunkUri, 'a site not named keeps its file value')
  t.match((await failure(t, argv, { ...base, FLEXSEAT_TRUNK_URIS: 'paris=sip:x:5060' })).message, /FLEXSEAT_TRUNK_URIS: "paris=sip:x:5060"/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_TRUNK_URIS: 'berlin' })).message, /FLEXSEAT_TRUNK_URIS/)
  t.match((await failure(t, argv, { ...base, FLEXSEAT_TRUNK_URIS: 'berlin=http://x' })).message, /not a sip: URI/)
})

t.test('the engine secret from a file (kept off command lines and environment dumps)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sip-node-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'engine'), 'engine-from-file\n')
  const config = await loadSipNodeConfig(argv, { ...base, FLEXSEAT_DRACHTIO_SECRET: 'from-env', FLEXSEAT_DRACHTIO_SECRET_FILE: join(dir, 'engine') })
  t.equal(config.drachtio.secret, 'engine-from-file', 'the file wins over the variable')
  await writeFile(join(dir, 'empty'), '\n')
  const empty = await failure(t, argv, { ...base, FLEXSEAT_DRACHTIO_SECRET_FILE: join(dir, 'empty') })
  t.match(empty.message, /FLEXSEAT_DRACHTIO_SECRET_FILE: .* is empty/)
  const missing = await failure(t, argv, { ...base, FLEXSEAT_DRACHTIO_SECRET_FILE: join(dir, 'absent') })
  t.match(missing.message, /FLEXSEAT_DRACHTIO_SECRET_FILE: cannot read/)
})

t.test('a client certificate for mutual TLS with the registry', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sip-node-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const name of ['ca.pem', 'node.pem', 'node.key']) await writeFile(join(dir, name), `PEM ${name}`)
  const files = { FLEXSEAT_REGISTRY_CA_FILE: join(dir, 'ca.pem'), FLEXSEAT_REGISTRY_CERT_FILE: join(dir, 'node.pem'), FLEXSEAT_REGISTRY_KEY_FILE: join(dir, 'node.key') }
  const config = await loadSipNodeConfig(argv, { ...base, ...files })
  t.equal(config.registryClientCertificate?.cert.toString(), 'PEM node.pem')
  t.equal(config.registryClientCertificate?.key.toString(), 'PEM node.key')
  t.equal((await loadSipNodeConfig(argv, base)).registryClientCertificate, undefined, 'none by default')
  t.match((await failure(t, argv, { ...base, ...files, FLEXSEAT_REGISTRY_KEY_FILE: '' })).message, /FLEXSEAT_REGISTRY_CERT_FILE and FLEXSEAT_REGISTRY_KEY_FILE go together/)
  t.match((await failure(t, argv, { ...base, ...files, FLEXSEAT_REGISTRY_CA_FILE: '' })).message, /needs FLEXSEAT_REGISTRY_CA_FILE/)
})
