import t, { type Test as Tap } from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { promisify } from 'node:util'
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js'
import { run } from '@flexseat/cli'
import { ClusterServiceService, type GetClusterStatusRequest, type GetClusterStatusResponse } from '@flexseat/proto'

// TLS and mutual TLS between the CLI and a real gRPC server on 127.0.0.1:0 with certificates
// made by openssl for this test. (The registry cluster harness speaks plaintext, so the server
// here is a plain grpc-js server with the ClusterService; the CLI's own TLS is what is tested.)

const exec = promisify(execFile)

async function makeCertificates(dir: string): Promise<void> {
  const openssl = (...args: string[]): Promise<unknown> => exec('openssl', args, { cwd: dir })
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=flexseat test CA', '-keyout', 'ca.key', '-out', 'ca.pem')
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n')
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const name of ['server', 'client']) {
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`)
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`)
  }
}

async function startServer(t: Tap, credentials: ServerCredentials): Promise<{ address: string; tokens: string[] }> {
  const tokens: string[] = []
  const server = new Server()
  server.addService(ClusterServiceService, {
    getClusterStatus(call: ServerUnaryCall<GetClusterStatusRequest, GetClusterStatusResponse>, callback: sendUnaryData<GetClusterStatusResponse>) {
      tokens.push(String(call.metadata.get('authorization')[0] ?? ''))
      callback(null, { leader: undefined, leaderSince: undefined, instances: [], answeredBy: 'tls-test', revision: '1', branches: [] })
    },
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (error, bound) => (error ? reject(error) : resolve(bound))))
  t.teardown(() => server.forceShutdown())
  return { address: `127.0.0.1:${port}`, tokens }
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const code = await run(argv, { stdin: new PassThrough(), stdout, stderr, env: { FLEXSEAT_TOKEN: 'tls-token' }, signal: new AbortController().signal })
  return { code, stdout: out, stderr: err }
}

t.test('TLS and mutual TLS', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-cli-tls-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await makeCertificates(dir)
  const file = (name: string): string => join(dir, name)
  const [ca, serverCert, serverKey] = await Promise.all(['ca.pem', 'server.pem', 'server.key'].map((name) => readFile(file(name))))

  await t.test('server TLS: the CLI trusts the given CA', async (t) => {
    const server = await startServer(t, ServerCredentials.createSsl(null, [{ cert_chain: serverCert!, private_key: serverKey! }], false))
    const ok = await cli(['cluster', 'status', '--json', '--registry', server.address, '--tls-ca', file('ca.pem')])
    t.equal(ok.code, 0, ok.stderr)
    t.match(JSON.parse(ok.stdout), { answeredBy: 'tls-test', revision: '1' })
    t.same(server.tokens, ['Bearer tls-token'], 'the token travelled inside TLS')
    const plain = await cli(['cluster', 'status', '--registry', server.address, '--timeout', '2000'])
    t.equal(plain.code, 3, 'plaintext to a TLS server does not get through')
  })

  await t.test('mutual TLS: the client certificate is presented, and required', async (t) => {
    const server = await startServer(t, ServerCredentials.createSsl(ca!, [{ cert_chain: serverCert!, private_key: serverKey! }], true))
    const ok = await cli(['cluster', 'status', '--registry', server.address, '--tls-ca', file('ca.pem'), '--tls-cert', file('client.pem'), '--tls-key', file('client.key')])
    t.equal(ok.code, 0, ok.stderr)
    t.match(ok.stdout, /^answered by\s+tls-test$/m)
    const without = await cli(['cluster', 'status', '--registry', server.address, '--tls-ca', file('ca.pem'), '--timeout', '2000'])
    t.equal(without.code, 3, 'no client certificate: the handshake fails')
    t.match(without.stderr, /^flexseat: the registry at 127\.0\.0\.1:\d+ is unavailable/)
  })

  await t.test('an unreadable certificate file is a usage error', async (t) => {
    const missing = await cli(['cluster', 'status', '--tls-ca', file('nope.pem')])
    t.equal(missing.code, 2)
    t.match(missing.stderr, /^flexseat: cannot read the CA certificate file .*nope\.pem: ENOENT\n/)
  })
})
