import type { User } from '@flexseat/proto'
// The registry's gRPC surface over real processes: authentication and roles, health checking,
// reflection, error details, and writes sent to a follower (forwarded to the leader).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { credentials, loadPackageDefinition, Metadata, status } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'
import { protoPath as healthProtoPath } from 'grpc-health-check'
import { bearer, ErrorCode, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { callError, eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(60_000)

// Every PIN this file sends, distinctive enough to find in a log line (bounded by non-digits,
// so timestamps, pids and ports cannot match by chance).
const PINS = {
  refused: '47185296',
  forwarded: '24681357',
  details: '13579246',
  wrong: '90817263',
  unknownExtension: '31415926',
}

t.test('registry gRPC surface', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 3, etcdMembers: 1 })
  t.teardown(() => cluster.stop())
  const leader = await cluster.leader()
  const follower = [0, 1, 2].find((i) => i !== leader)!
  const admin = cluster.metadata('admin')

  // Every instance creates its own site at start, through the leader.
  await eventually('the three sites exist', async () => {
    const { directory } = cluster.clients(leader)
    const { sites } = await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })
    return sites.length === 3
  })

  t.test('authentication and roles', async (t) => {
    const { seat, directory, cluster: status_ } = cluster.clients(follower)
    const createUser = (metadata: Metadata) =>
      unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: user('7001'), pin: PINS.refused }, { metadata })

    const noToken = await callError(unary(status_.getClusterStatus.bind(status_), {}, { metadata: new Metadata() }))
    t.equal(noToken.code, status.UNAUTHENTICATED, 'no token: UNAUTHENTICATED')
    t.equal(noToken.details, 'unauthenticated', 'says nothing more')

    const wrong = await callError(unary(status_.getClusterStatus.bind(status_), {}, { metadata: bearer(`${cluster.tokens.admin}x`) }))
    t.equal(wrong.code, status.UNAUTHENTICATED, 'wrong token: UNAUTHENTICATED')
    t.equal(wrong.details, noToken.details, 'a wrong token is refused exactly as a missing one')

    const basic = new Metadata()
    basic.set('authorization', `Basic ${cluster.tokens.admin}`)
    t.equal((await callError(unary(status_.getClusterStatus.bind(status_), {}, { metadata: basic }))).code, status.UNAUTHENTICATED, 'not a bearer token: UNAUTHENTICATED')

    const sipNodeAdmin = await callError(createUser(cluster.metadata('sip-node')))
    t.equal(sipNodeAdmin.code, status.PERMISSION_DENIED, 'sip-node calling CreateUser: PERMISSION_DENIED')
    t.equal(sipNodeAdmin.details, 'permission denied')

    const viewerLogin = await callError(
      unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ams-desk-1', extension: '7001', pin: PINS.refused, durationHours: 0 }, { metadata: cluster.metadata('viewer') }),
    )
    t.equal(viewerLogin.code, status.PERMISSION_DENIED, 'viewer writing: PERMISSION_DENIED')

    const forged = cluster.metadata('sip-node')
    forged.set('x-flexseat-on-behalf-of', 'test-admin/admin')
    t.equal((await callError(createUser(forged))).code, status.PERMISSION_DENIED, 'on-behalf-of from a sip-node: PERMISSION_DENIED')
    const forgedRead = cluster.metadata('viewer')
    forgedRead.set('x-flexseat-on-behalf-of', 'test-admin/admin')
    t.equal((await callError(unary(status_.getClusterStatus.bind(status_), {}, { metadata: forgedRead }))).code, status.PERMISSION_DENIED, 'on-behalf-of from a viewer, even on a read: PERMISSION_DENIED')

    const asViewer = cluster.metadata('registry')
    asViewer.set('x-flexseat-on-behalf-of', 'someone/viewer')
    t.equal((await callError(createUser(asViewer))).code, status.PERMISSION_DENIED, 'registry on behalf of a viewer may not write')

    // None of the refused calls wrote anything.
    const { directory: leaderDirectory } = cluster.clients(leader)
    const missing = await callError(unary(leaderDirectory.getUser.bind(leaderDirectory), { key: { $case: 'extension', value: '7001' } }, { metadata: admin }))
    t.equal(missing.code, status.NOT_FOUND, 'no user was created by a refused call')

    const viewerRead = await unary(status_.getClusterStatus.bind(status_), {}, { metadata: cluster.metadata('viewer') })
    t.ok(viewerRead.leader, 'a viewer may read')
    const sipNodeRead = await unary(directory.listDevices.bind(directory), { siteId: '', pageSize: 0, pageToken: '' }, { metadata: cluster.metadata('sip-node') })
    t.ok(Array.isArray(sipNodeRead.devices), 'a sip-node may list devices')

    // No token appears in any log line.
    for (const instance of cluster.instances) {
      for (const token of Object.values(cluster.tokens)) {
        t.notOk(instance.logs.some((line) => line.includes(token)), `instance ${instance.index} never logs a token`)
      }
    }
  })

  t.test('a write sent to a follower is forwarded and visible on every instance', async (t) => {
    const { directory, seat } = cluster.clients(follower)
    const created = await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: user('7101'), pin: PINS.forwarded }, { metadata: admin })
    t.equal(created.user?.extension, '7101', 'the follower answers with the created user')
    const device = await unary(
      directory.createDevice.bind(directory),
      { requestId: randomUUID(), device: { id: 'ams-desk-7101', siteId: 'amsterdam', extension: '8101', label: 'desk 1', model: 'test', flexHost: true, revision: '0' } },
      { metadata: admin },
    )
    t.equal(device.device?.id, 'ams-desk-7101')

    // The sip-node's login goes through the follower too: the leader sees the original caller
    // (a sip-node, which must give the PIN).
    const request = { requestId: randomUUID(), deviceId: 'ams-desk-7101', extension: '7101', pin: PINS.forwarded, durationHours: 0 }
    const login = await unary(seat.login.bind(seat), request, { metadata: cluster.metadata('sip-node') })
    t.equal(login.seat?.userId, created.user?.id, 'seated through the follower')
    const retried = await unary(seat.login.bind(seat), request, { metadata: cluster.metadata('sip-node') })
    t.equal(retried.seat?.epoch, login.seat?.epoch, 'a retried login returns the first outcome')

    const noPin = await callError(unary(seat.login.bind(seat), { ...request, requestId: randomUUID(), pin: '' }, { metadata: cluster.metadata('sip-node') }))
    t.equal(noPin.code, status.INVALID_ARGUMENT, 'a sip-node login without PIN, forwarded, is refused: the leader sees the original role')
    t.equal(errorDetailOf(noPin)?.field, 'pin', 'the detail names the pin')
    const adminNoPin = await unary(seat.login.bind(seat), { ...request, requestId: randomUUID(), pin: '' }, { metadata: admin })
    t.equal(adminNoPin.seat?.userId, created.user?.id, 'an admin login without PIN, forwarded, is accepted')

    for (const i of [0, 1, 2]) {
      const { directory: d, seat: s } = cluster.clients(i)
      await eventually(`user visible on instance ${i}`, async () => (await unary(d.getUser.bind(d), { key: { $case: 'extension', value: '7101' } }, { metadata: admin })).user?.id === created.user?.id)
      const seen = await eventually(`seat visible on instance ${i}`, async () => {
        const { seat: current } = await unary(s.getSeat.bind(s), { target: { $case: 'extension', value: '7101' } }, { metadata: admin })
        return current?.epoch === adminNoPin.seat?.epoch ? current : undefined
      })
      t.equal(seen.deviceId, 'ams-desk-7101', `instance ${i} sees the seat`)
      t.equal(seen.epoch, adminNoPin.seat?.epoch, `instance ${i} sees the latest epoch`)
    }
  })

  t.test('error details decode (WRONG_PIN attempts_left, NOT_FOUND)', async (t) => {
    const { directory, seat } = cluster.clients(follower)
    await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: user('7201'), pin: PINS.details }, { metadata: admin })
    await unary(
      directory.createDevice.bind(directory),
      { requestId: randomUUID(), device: { id: 'ams-desk-7201', siteId: 'amsterdam', extension: '8201', label: '', model: '', flexHost: true, revision: '0' } },
      { metadata: admin },
    )
    const attempt = () => unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ams-desk-7201', extension: '7201', pin: PINS.wrong, durationHours: 0 }, { metadata: cluster.metadata('sip-node') })
    const first = await callError(attempt())
    t.equal(first.code, status.PERMISSION_DENIED)
    const detail = errorDetailOf(first)
    t.equal(detail?.code, ErrorCode.ERROR_CODE_WRONG_PIN, 'detail code WRONG_PIN')
    t.equal(detail?.attemptsLeft, 4, 'four attempts left after the first wrong PIN (default 5)')
    const second = errorDetailOf(await callError(attempt()))
    t.equal(second?.attemptsLeft, 3, 'three after the second')
    t.notOk(JSON.stringify(first.details).includes(PINS.wrong), 'the message does not repeat the PIN')

    const unknown = await callError(unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: 'ams-desk-7201', extension: '7999', pin: PINS.unknownExtension, durationHours: 0 }, { metadata: cluster.metadata('sip-node') }))
    t.equal(unknown.code, status.NOT_FOUND)
    t.equal(errorDetailOf(unknown)?.code, ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION)
  })

  t.test('health checking answers without a token', async (t) => {
    const definition = loadSync(healthProtoPath, { keepCase: false, enums: String })
    const Health = (loadPackageDefinition(definition) as any).grpc.health.v1.Health
    for (const i of [0, 1, 2]) {
      const client = new Health(cluster.instances[i]!.address, credentials.createInsecure())
      t.teardown(() => client.close())
      const check = (service: string) =>
        new Promise<{ status: string }>((resolve, reject) => client.check({ service }, (error: Error | null, response: { status: string }) => (error ? reject(error) : resolve(response))))
      await eventually(`instance ${i} SERVING`, async () => (await check('')).status === 'SERVING')
      for (const service of ['flexseat.v1.SeatService', 'flexseat.v1.DirectoryService', 'flexseat.v1.ClusterService']) {
        t.equal((await check(service)).status, 'SERVING', `instance ${i}: ${service} SERVING`)
      }
      const unknown = await callError(check('no.such.Service'))
      t.equal(unknown.code, status.NOT_FOUND, 'an unknown service is NOT_FOUND')
    }
  })

  t.test('reflection lists the services and serves their descriptors', async (t) => {
    const reflectionProto = join(dirname(require.resolve('@grpc/reflection')), '..', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto')
    const definition = loadSync(reflectionProto, { keepCase: false })
    const ServerReflection = (loadPackageDefinition(definition) as any).grpc.reflection.v1.ServerReflection
    const client = new ServerReflection(cluster.instances[follower]!.address, credentials.createInsecure())
    t.teardown(() => client.close())
    const ask = (request: Record<string, string>) =>
      new Promise<any>((resolve, reject) => {
        const call = client.serverReflectionInfo()
        call.on('data', (response: unknown) => {
          resolve(response)
          call.end()
        })
        call.on('error', reject)
        call.write(request)
      })
    const listed = await ask({ listServices: '' })
    const names = listed.listServicesResponse.service.map((s: { name: string }) => s.name)
    for (const name of ['flexseat.v1.SeatService', 'flexseat.v1.DirectoryService', 'flexseat.v1.ClusterService']) t.ok(names.includes(name), `lists ${name}`)
    const files = await ask({ fileContainingSymbol: 'flexseat.v1.SeatService' })
    t.ok(files.fileDescriptorResponse.fileDescriptorProto.length > 0, 'serves the file descriptor of SeatService')
  })

  // Last, after every call above (the instances log at debug level).
  t.test('no PIN appears in any log line', async (t) => {
    for (const instance of cluster.instances) {
      t.ok(instance.logs.length > 0 && instance.logs.length < 5_000, `instance ${instance.index} logged, and the helper's cap (5000 lines) dropped none`)
      for (const [use, pin] of Object.entries(PINS)) {
        const pattern = new RegExp(`(^|[^0-9])${pin}([^0-9]|$)`)
        t.notOk(instance.logs.some((line) => pattern.test(line)), `instance ${instance.index} never logs the ${use} PIN`)
      }
    }
  })
})

const user = (extension: string): User => worker(extension, { id: '' })
