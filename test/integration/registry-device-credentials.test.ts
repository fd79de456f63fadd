// SIP digest credentials of devices, over real gRPC to real registry processes on a real etcd
// cluster: stored only as HA1 for the site's sip_domain, readable by sip-node and admin only,
// never returned, stored, logged or fingerprinted in clear.
import t from 'tap'
import { createHash, randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { status } from '@grpc/grpc-js'
import { Etcd3 } from 'etcd3'
import { parse as parseYaml } from 'yaml'
import { type Device, ErrorCode, unary } from '@flexseat/proto'
import { errorDetailOf } from '@flexseat/registry'
import { callError, eventually, REPO_ROOT, RegistryCluster } from '../helpers/registry-cluster'

t.setTimeout(60_000)

// Distinctive passwords, to search for in responses, etcd and logs.
const PASSWORDS = {
  desk: 'Zq8!vXr2-desk-pw',
  moved: 'Mv7#kLp9-moved-pw',
  retry: 'Rt3$wQz5-retry-pw',
  second: 'Sc4%yHn6-second-pw',
}

const md5 = (text: string): string => createHash('md5').update(text).digest('hex')

function device(id: string, siteId: string, extension: string, sipPassword?: string): Device {
  return { id, siteId, extension, label: '', model: '', flexHost: true, revision: '0', sipPassword }
}

t.test('device SIP credentials', async (t) => {
  const keepAlive = setInterval(() => undefined, 1_000)
  const cluster = await RegistryCluster.start({ instances: 2, etcdMembers: 1 }).catch((error: unknown) => {
    clearInterval(keepAlive)
    throw error
  })
  t.teardown(async () => {
    await cluster.stop()
    clearInterval(keepAlive)
  })
  const leader = await cluster.leader()
  const follower = leader === 0 ? 1 : 0
  const admin = cluster.metadata('admin')
  const { directory } = cluster.clients(follower)
  const getSite = (siteId: string) => unary(directory.getSite.bind(directory), { siteId }, { metadata: admin })
  const credentials = (deviceId: string, role: 'admin' | 'sip-node' | 'viewer' = 'admin') =>
    unary(directory.getDeviceCredentials.bind(directory), { deviceId }, { metadata: cluster.metadata(role) })

  const realms: Record<string, string> = {}
  for (const siteId of ['amsterdam', 'berlin']) {
    const file = parseYaml(await readFile(join(REPO_ROOT, 'sites', `${siteId}.yaml`), 'utf8')) as { sip: { domain: string } }
    realms[siteId] = file.sip.domain
  }

  await t.test('each site takes sip_domain from its site file', async (t) => {
    for (const siteId of ['amsterdam', 'berlin']) {
      const site = await eventually(`${siteId} has its sip_domain`, async () => {
        const found = await getSite(siteId).catch(() => undefined)
        return found?.site?.sipDomain === realms[siteId] ? found.site : undefined
      })
      t.equal(site.sipDomain, realms[siteId], `${siteId}: sip_domain ${realms[siteId]}`)
    }
  })

  await t.test('a password given on create is stored as HA1 and never returned', async (t) => {
    const created = await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: device('ams-sip-1', 'amsterdam', '4101', PASSWORDS.desk) }, { metadata: admin })
    t.equal(created.device?.hasSipPassword, true, 'create: has_sip_password')
    t.notOk(created.device?.sipPassword, 'create: no password in the response')

    const got = await unary(directory.getDevice.bind(directory), { deviceId: 'ams-sip-1' }, { metadata: admin })
    t.equal(got.device?.hasSipPassword, true, 'get: has_sip_password')
    t.notOk(got.device?.sipPassword, 'get: no password')
    const listed = await unary(directory.listDevices.bind(directory), { siteId: '', pageSize: 0, pageToken: '' }, { metadata: admin })
    const entry = listed.devices.find((d) => d.id === 'ams-sip-1')
    t.equal(entry?.hasSipPassword, true, 'list: has_sip_password')
    t.notOk(listed.devices.some((d) => d.sipPassword), 'list: no password on any device')

    const creds = await credentials('ams-sip-1', 'sip-node')
    t.same(creds, { deviceId: 'ams-sip-1', siteId: 'amsterdam', realm: realms.amsterdam, ha1: md5(`ams-sip-1:${realms.amsterdam}:${PASSWORDS.desk}`) }, 'sip-node reads HA1 = MD5(id:realm:password)')
    t.same(await credentials('ams-sip-1', 'admin'), creds, 'admin reads the same')
  })

  await t.test('roles and errors of GetDeviceCredentials', async (t) => {
    const viewer = await callError(credentials('ams-sip-1', 'viewer'))
    t.equal(viewer.code, status.PERMISSION_DENIED, 'viewer: PERMISSION_DENIED')

    const unknown = await callError(credentials('no-such-device'))
    t.equal(unknown.code, status.NOT_FOUND, 'unknown device: NOT_FOUND')
    t.equal(errorDetailOf(unknown)?.code, ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND)

    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: device('ams-plain', 'amsterdam', '4102') }, { metadata: admin })
    const plain = await unary(directory.getDevice.bind(directory), { deviceId: 'ams-plain' }, { metadata: admin })
    t.equal(plain.device?.hasSipPassword, false, 'a device created without a password has none')
    const none = await callError(credentials('ams-plain', 'sip-node'))
    t.equal(none.code, status.FAILED_PRECONDITION, 'no password: FAILED_PRECONDITION')
    t.equal(errorDetailOf(none)?.code, ErrorCode.ERROR_CODE_NO_CREDENTIALS, 'no password: NO_CREDENTIALS')

    for (const [what, bad] of [
      ['too short', 'short7!'],
      ['with a space', 'has a space'],
      ['non-ASCII', 'pässwört-long'],
      ['too long', 'x'.repeat(65)],
    ] as const) {
      const refused = await callError(
        unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: device('ams-plain', '', '', bad), updateMask: ['sip_password'] }, { metadata: admin }),
      )
      t.equal(refused.code, status.INVALID_ARGUMENT, `${what}: INVALID_ARGUMENT`)
      t.equal(errorDetailOf(refused)?.field, 'device.sip_password', `${what}: names device.sip_password`)
      t.notMatch(refused.details, bad, `${what}: the message does not repeat the password`)
    }
    const badCreate = await callError(unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: device('ams-bad', 'amsterdam', '4103', 'short') }, { metadata: admin }))
    t.equal(errorDetailOf(badCreate)?.field, 'device.sip_password', 'create with a bad password: names device.sip_password')
  })

  await t.test('set-password later, then a site move clears the credentials', async (t) => {
    await unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: device('ams-plain', '', '', PASSWORDS.moved), updateMask: ['sipPassword'] }, { metadata: admin })
    t.equal((await credentials('ams-plain')).ha1, md5(`ams-plain:${realms.amsterdam}:${PASSWORDS.moved}`), 'set by UpdateDevice')

    const label = await unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: { ...device('ams-plain', '', ''), label: 'desk 9' }, updateMask: ['label'] }, { metadata: admin })
    t.equal(label.device?.hasSipPassword, true, 'an unrelated update keeps the credentials')

    const moved = await unary(directory.updateDevice.bind(directory), { requestId: randomUUID(), device: device('ams-plain', 'berlin', ''), updateMask: ['site_id'] }, { metadata: admin })
    t.equal(moved.device?.hasSipPassword, false, 'moved without a password: credentials cleared')
    t.equal(errorDetailOf(await callError(credentials('ams-plain')))?.code, ErrorCode.ERROR_CODE_NO_CREDENTIALS, 'no credentials after the move')

    const both = await unary(
      directory.updateDevice.bind(directory),
      { requestId: randomUUID(), device: device('ams-plain', 'amsterdam', '', PASSWORDS.second), updateMask: ['site_id', 'sip_password'] },
      { metadata: admin },
    )
    t.equal(both.device?.hasSipPassword, true, 'moved with a new password: set')
    t.same(await credentials('ams-plain'), { deviceId: 'ams-plain', siteId: 'amsterdam', realm: realms.amsterdam, ha1: md5(`ams-plain:${realms.amsterdam}:${PASSWORDS.second}`) }, 'HA1 for the new site')
  })

  await t.test('a site without sip_domain refuses passwords', async (t) => {
    await unary(directory.createSite.bind(directory), { requestId: randomUUID(), site: { id: 'nodomain', name: 'No domain', timezone: '', emergencyNumbers: [], dispatchableLocation: '', sipTrunkUri: '', revision: '0' } }, { metadata: admin })
    const refused = await callError(unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: device('nd-1', 'nodomain', '4301', PASSWORDS.desk) }, { metadata: admin }))
    t.equal(refused.code, status.INVALID_ARGUMENT, 'INVALID_ARGUMENT')
    t.equal(errorDetailOf(refused)?.field, 'device.sip_password')
    t.match(refused.details, /sip_domain/, 'the message says why')
    const badDomain = await callError(
      unary(directory.updateSite.bind(directory), { requestId: randomUUID(), site: { id: 'nodomain', name: '', timezone: '', emergencyNumbers: [], dispatchableLocation: '', sipTrunkUri: '', revision: '0', sipDomain: 'not a domain' }, updateMask: ['sip_domain'] }, { metadata: admin }),
    )
    t.equal(errorDetailOf(badDomain)?.field, 'site.sip_domain', 'a bad sip_domain names site.sip_domain')
  })

  await t.test('a retried CreateDevice returns the first outcome', async (t) => {
    const requestId = randomUUID()
    const request = { requestId, device: device('ams-retry', 'amsterdam', '4104', PASSWORDS.retry) }
    const first = await unary(directory.createDevice.bind(directory), request, { metadata: admin })
    const again = await unary(directory.createDevice.bind(directory), request, { metadata: admin })
    t.same(again, first, 'the same response, not ALREADY_EXISTS')
    const other = await callError(unary(directory.createDevice.bind(directory), { requestId, device: device('ams-retry', 'amsterdam', '4105', PASSWORDS.retry) }, { metadata: admin }))
    t.equal(errorDetailOf(other)?.code, ErrorCode.ERROR_CODE_REQUEST_ID_REUSED, 'a different request under the same id: REQUEST_ID_REUSED')
    t.equal((await credentials('ams-retry')).ha1, md5(`ams-retry:${realms.amsterdam}:${PASSWORDS.retry}`))
  })

  await t.test('no password anywhere: etcd and logs', async (t) => {
    const etcd = new Etcd3({ hosts: [...cluster.etcd.endpoints] })
    t.teardown(() => etcd.close())
    const all = await etcd.getAll().prefix(cluster.prefix).strings()
    t.ok(Object.keys(all).length > 0, 'the cluster wrote under its prefix')
    const dump = Object.entries(all).map(([k, v]) => `${k}=${v}`).join('\n')
    for (const [name, password] of Object.entries(PASSWORDS)) {
      t.notOk(dump.includes(password), `the ${name} password is not in etcd`)
      for (const instance of cluster.instances) t.notOk(instance.logs.some((line) => line.includes(password)), `the ${name} password is not in instance ${instance.index}'s log`)
    }
    t.ok(dump.includes(md5(`ams-sip-1:${realms.amsterdam}:${PASSWORDS.desk}`)), 'etcd holds HA1 instead')
  })
})
