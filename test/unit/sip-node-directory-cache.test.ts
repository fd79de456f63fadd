import t from 'tap'
import { pino } from 'pino'
import { ErrorCode, type GetDeviceCredentialsResponse } from '@flexseat/proto'
import { DirectoryCache, RegistryCallError } from '@flexseat/sip-node'

// A branch's phones keep working while the cluster is unreachable (only flex seats depend on it):
// the node authenticates them with the credentials it fetched before, and still tells an unknown
// device from an outage. The client is a fake: this is about the cache's own rules, not gRPC.
const CREDENTIALS: GetDeviceCredentialsResponse = { deviceId: 'desk-1', siteId: 'berlin', realm: 'berlin.example', ha1: '0'.repeat(32) }

function unavailable(): RegistryCallError {
  return new RegistryCallError('GetDeviceCredentials: connection refused', { code: ErrorCode.ERROR_CODE_UNAVAILABLE, grpcCode: 14 })
}

t.test('credentials held are used while the registry is unreachable; unknown devices are not invented', async (t) => {
  let clock = 0
  let answer: () => Promise<GetDeviceCredentialsResponse> = async () => CREDENTIALS
  let calls = 0
  const cache = await DirectoryCache.create({
    client: {
      listDevices: async () => [],
      listUsers: async () => [],
      listSites: async () => [],
      getUser: async () => undefined,
      getUserByExtension: async () => undefined,
      getDeviceCredentials: async () => {
        calls += 1
        return answer()
      },
    },
    logger: pino({ level: 'silent' }),
    now: () => clock,
  })
  t.teardown(() => cache.stop())

  t.same(await cache.credentials('desk-1'), CREDENTIALS, 'fetched')
  clock += 31_000
  answer = async () => {
    throw unavailable()
  }
  t.same(await cache.credentials('desk-1'), CREDENTIALS, 'expired, registry unreachable: the credentials held')
  t.equal(calls, 2, 'the registry was asked again first')
  await t.rejects(cache.credentials('desk-2'), RegistryCallError, 'a device never seen: the outage is reported, not hidden')

  answer = async () => {
    throw new RegistryCallError('no device', { code: ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, grpcCode: 5 })
  }
  t.equal(await cache.credentials('desk-1'), undefined, 'the registry answers again: a deleted device has no credentials')
})
