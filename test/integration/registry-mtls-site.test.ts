// Mutual TLS with certificates that name the site, over real registry processes: a SIP node's
// client certificate carries `URI:urn:flexseat:site:<id>`, and the registry refuses a sip-node
// token of another site over it (a token stolen from Berlin is useless from Amsterdam's host),
// for every call; the right pair works, also through a follower (which forwards over its own
// mutual-TLS connection to the leader). Certificates made by openssl for this test.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { credentials, status } from '@grpc/grpc-js'
import { BranchServiceClient, SeatServiceClient, unary } from '@flexseat/proto'
import { RegistryClient } from '@flexseat/sip-node'
import pino from 'pino'
import { callError, RegistryCluster } from '../helpers/registry-cluster'

t.setTimeout(60_000)

const exec = promisify(execFile)

async function makeCertificates(dir: string): Promise<void> {
  const openssl = (...args: string[]): Promise<unknown> => exec('openssl', args, { cwd: dir })
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=flexseat test CA', '-keyout', 'ca.key', '-out', 'ca.pem')
  const certificates: Record<string, string> = {
    // The registries: servers, and clients of each other when they forward writes.
    registry: 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n',
    'node-amsterdam': 'subjectAltName=URI:urn:flexseat:site:amsterdam,DNS:node.amsterdam.example\nextendedKeyUsage=clientAuth\n',
    operator: 'extendedKeyUsage=clientAuth\n',
  }
  for (const [name, extensions] of Object.entries(certificates)) {
    await writeFile(join(dir, `${name}.ext`), extensions)
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`)
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`)
  }
}

// Guard tried: mustMatchCertificate's call left out of service-handlers.ts: Berlin's token over
// Amsterdam's certificate is then served.
t.test('a SIP node token must match the site its client certificate names', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'flexseat-mtls-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await makeCertificates(dir)
  const pem = (name: string): Promise<Buffer> => readFile(join(dir, name))
  const ca = await pem('ca.pem')
  const channel = async (name: string) => credentials.createSsl(ca, await pem(`${name}.key`), await pem(`${name}.pem`))
  const cluster = await RegistryCluster.start({
    instances: 2,
    etcdMembers: 1,
    logLevel: 'info',
    credentials: await channel('operator'),
    env: { FLEXSEAT_TLS_CERT: join(dir, 'registry.pem'), FLEXSEAT_TLS_KEY: join(dir, 'registry.key'), FLEXSEAT_TLS_CA: join(dir, 'ca.pem'), FLEXSEAT_TLS_CLIENT_AUTH: 'require' },
  })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const asAmsterdamHost = await channel('node-amsterdam')
  const branch = new BranchServiceClient(cluster.instances[follower]!.address, asAmsterdamHost)
  const seat = new SeatServiceClient(cluster.instances[follower]!.address, asAmsterdamHost)
  t.teardown(() => {
    branch.close()
    seat.close()
  })
  const renew = (site: string) => unary(branch.renewLease.bind(branch), { siteId: site, nodeId: `${site}-0000beef`, appliedRevision: '0' }, { metadata: cluster.metadata('sip-node', site), timeoutMs: 5_000 })

  const granted = await renew('amsterdam')
  t.ok(granted.granted, "Amsterdam's token over Amsterdam's certificate: its lease, through the follower (forwarded over mutual TLS)")
  const stolen = await callError(renew('berlin'))
  t.equal(stolen.code, status.PERMISSION_DENIED, "Berlin's token over Amsterdam's certificate: PERMISSION_DENIED")
  t.match(stolen.details, /client certificate is not for site "berlin"/)
  const read = await callError(unary(seat.listSeats.bind(seat), { siteId: '', pageSize: 0, pageToken: '' }, { metadata: cluster.metadata('sip-node', 'berlin'), timeoutMs: 5_000 }))
  t.equal(read.code, status.PERMISSION_DENIED, 'for every call, reads included')
  const listed = await unary(seat.listSeats.bind(seat), { siteId: '', pageSize: 0, pageToken: '' }, { metadata: cluster.metadata('admin'), timeoutMs: 5_000 })
  t.ok(listed.revision !== '', 'other roles are not bound to a site: an administrator over the same certificate is served')
  const status_ = await cluster.status(leader)
  t.ok(status_.leader, 'a certificate naming no site (the operator\'s) works as before')

  // The SIP node's own client (FLEXSEAT_REGISTRY_CERT_FILE / _KEY_FILE) presents its certificate.
  const logger = pino({ level: 'silent' })
  const clientCertificate = { cert: await pem('node-amsterdam.pem'), key: await pem('node-amsterdam.key') }
  const node = new RegistryClient({ addresses: [cluster.instances[leader]!.address], token: cluster.siteToken('amsterdam'), ca, clientCertificate, logger })
  const without = new RegistryClient({ addresses: [cluster.instances[leader]!.address], token: cluster.siteToken('amsterdam'), ca, logger, deadlineMs: 2_000 })
  t.teardown(() => {
    node.close()
    without.close()
  })
  const renewed = await node.renewLease({ siteId: 'amsterdam', nodeId: 'amsterdam-0000beef', appliedRevision: '0' })
  t.equal(renewed.grantedRevision, granted.grantedRevision, "the node's client renews over mutual TLS with its certificate")
  await t.rejects(without.renewLease({ siteId: 'amsterdam', nodeId: 'amsterdam-0000beef', appliedRevision: '0' }), 'without a client certificate the handshake fails')
})
