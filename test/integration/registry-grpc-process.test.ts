// The registry process' command/environment contract: usage errors, running without a tokens
// file (everything but health and reflection refused), and TLS with client certificates (mTLS),
// including writes forwarded between instances over mTLS.
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { credentials, loadPackageDefinition, status } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { bearer, ClusterServiceClient, unary } from '@flexseat/proto'
import { EtcdCluster, TetheredProcess } from '@flexseat/sim'
import { protoPath as healthProtoPath } from 'grpc-health-check'
import { callError, eventually, REGISTRY_MAIN, REPO_ROOT, RegistryCluster } from '../helpers/registry-cluster'

t.setTimeout(90_000)

const run = promisify(execFile)

/** The environment of a registry child without anything inherited from ours. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FLEXSEAT_') && !name.startsWith('OTEL_')))
  return { ...inherited, ...extra }
}

async function exitOf(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [REGISTRY_MAIN, ...args], { cwd: REPO_ROOT, env: cleanEnv(env), timeout: 10_000 })
    return { code: 0, stderr: '' }
  } catch (error) {
    const failed = error as { code: number; stderr: string }
    return { code: failed.code, stderr: failed.stderr }
  }
}

t.test('usage and configuration errors exit 2 and name the option', async (t) => {
  const noSite = await exitOf([])
  t.equal(noSite.code, 2, 'no --site: exit 2')
  t.match(noSite.stderr, /--site/)
  const unknown = await exitOf(['--site', 'atlantis'])
  t.equal(unknown.code, 2, 'unknown site: exit 2')
  t.match(unknown.stderr, /atlantis/)
  const ttl = await exitOf(['--site', 'amsterdam'], { FLEXSEAT_LEASE_TTL_SECONDS: 'soon' })
  t.equal(ttl.code, 2, 'bad FLEXSEAT_LEASE_TTL_SECONDS: exit 2')
  t.match(ttl.stderr, /FLEXSEAT_LEASE_TTL_SECONDS/)
  const listen = await exitOf(['--site', 'amsterdam'], { FLEXSEAT_REGISTRY_LISTEN: 'nowhere' })
  t.equal(listen.code, 2, 'bad FLEXSEAT_REGISTRY_LISTEN: exit 2')
  t.match(listen.stderr, /FLEXSEAT_REGISTRY_LISTEN/)
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-tokens-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const secret = randomUUID()
  await writeFile(join(dir, 'tokens.yaml'), `tokens:\n  - name: x\n    role: root\n    sha256: ${secret}\n`)
  const tokens = await exitOf(['--site', 'amsterdam'], { FLEXSEAT_TOKENS_FILE: join(dir, 'tokens.yaml') })
  t.equal(tokens.code, 2, 'malformed tokens file: exit 2')
  t.match(tokens.stderr, /tokens\[0\]\.role/, 'names the entry and field')
  t.notOk(tokens.stderr.includes(secret), 'does not repeat the file content')
})

t.test('without a tokens file every call is refused and health checking still answers', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-notokens-'))
  const etcd = await EtcdCluster.start({ members: 1, dataDir: join(dir, 'etcd') })
  t.teardown(async () => {
    await etcd.stop()
    await rm(dir, { recursive: true, force: true })
  })
  const child = await TetheredProcess.spawn(process.execPath, [REGISTRY_MAIN, '--site', 'amsterdam'], {
    cwd: REPO_ROOT,
    env: cleanEnv({ FLEXSEAT_ETCD_ENDPOINTS: etcd.endpoints.join(','), FLEXSEAT_ETCD_PREFIX: `test-${randomUUID()}/`, FLEXSEAT_REGISTRY_LISTEN: '127.0.0.1:0' }),
  })
  const keep = setInterval(() => undefined, 1_000)
  t.teardown(async () => {
    await child.stop(3_000)
    clearInterval(keep)
  })
  const lines: Record<string, unknown>[] = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>)
    } catch {
      // not a log line
    }
  })
  const listening = await eventually('registry listening', () => lines.find((line) => line['msg'] === 'registry listening'), 15_000)
  const address = String(listening['address'])
  t.ok(lines.some((line) => line['level'] === 40 && String(line['msg']).includes('no tokens file')), 'a warning says so at start')

  const client = new ClusterServiceClient(address, credentials.createInsecure())
  t.teardown(() => client.close())
  const refused = await callError(unary(client.getClusterStatus.bind(client), {}, { metadata: bearer('anything') }))
  t.equal(refused.code, status.UNAUTHENTICATED, 'a call with a token is refused: no token is valid')

  const Health = (loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as any).grpc.health.v1.Health
  const health = new Health(address, credentials.createInsecure())
  t.teardown(() => health.close())
  await eventually('health SERVING', () => new Promise<boolean>((resolve) => health.check({ service: '' }, (error: Error | null, response: { status: string }) => resolve(!error && response.status === 'SERVING'))), 10_000)
  t.pass('health checking answers SERVING without credentials')

  child.signal('SIGTERM')
  t.same(await child.exited, { code: 0, signal: null }, 'SIGTERM: exit 0')
})

t.test('TLS with client certificates (mTLS), writes forwarded over mTLS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-tls-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const pki = await makePki(dir)

  const cluster = await RegistryCluster.start({
    instances: 2,
    etcdMembers: 1,
    env: { FLEXSEAT_TLS_CERT: pki.serverCert, FLEXSEAT_TLS_KEY: pki.serverKey, FLEXSEAT_TLS_CA: pki.ca, FLEXSEAT_TLS_CLIENT_AUTH: 'require' },
    credentials: credentials.createSsl(await readFile(pki.ca), await readFile(pki.clientKey), await readFile(pki.clientCert)),
  })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const follower = 1 - leader
  const { directory } = cluster.clients(follower)
  const admin = cluster.metadata('admin')
  await eventually('the sites exist (created through the leader over mTLS)', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 2)
  const created = await unary(
    directory.createDevice.bind(directory),
    { requestId: randomUUID(), device: { id: 'tls-desk', siteId: 'amsterdam', extension: '9901', label: '', model: '', flexHost: true, revision: '0' } },
    { metadata: admin },
  )
  t.equal(created.device?.id, 'tls-desk', 'a write sent to the follower is forwarded to the leader over mTLS')

  const address = cluster.instances[follower]!.address
  const noCert = new ClusterServiceClient(address, credentials.createSsl(await readFile(pki.ca)))
  const plain = new ClusterServiceClient(address, credentials.createInsecure())
  t.teardown(() => {
    noCert.close()
    plain.close()
  })
  t.equal((await callError(unary(noCert.getClusterStatus.bind(noCert), {}, { metadata: admin, timeoutMs: 3_000 }))).code, status.UNAVAILABLE, 'a client without a certificate cannot connect')
  t.equal((await callError(unary(plain.getClusterStatus.bind(plain), {}, { metadata: admin, timeoutMs: 3_000 }))).code, status.UNAVAILABLE, 'a plaintext client cannot connect')
})

/** A CA, a server certificate for 127.0.0.1 (also usable as a client certificate) and a client certificate. */
async function makePki(dir: string) {
  const file = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir })
  await openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '2', '-subj', '/CN=flexseat test CA')
  await writeFile(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n')
  await writeFile(file('client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const [name, ext] of [['server', 'server.ext'], ['client', 'client.ext']] as const) {
    await openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=flexseat test ${name}`)
    await openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file(`${name}.pem`), '-days', '2', '-extfile', file(ext))
  }
  return { ca: file('ca.pem'), serverCert: file('server.pem'), serverKey: file('server.key'), clientCert: file('client.pem'), clientKey: file('client.key') }
}
