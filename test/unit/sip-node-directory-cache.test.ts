import t from 'tap'
import { pino } from 'pino'
import { type Device, ErrorCode, type GetDeviceCredentialsResponse, User } from '@flexseat/proto'
import { digestResponse, DigestVerifier, DirectoryCache, ha1Of, parseDigestHeader, PhoneAuthenticator, RegistryCallError } from '@flexseat/sip-node'

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
  t.equal(calls, 2, 'the registry was asked again (behind the answer)')
  await t.rejects(cache.credentials('desk-2'), RegistryCallError, 'a device never seen: the outage is reported, not hidden')

  answer = async () => {
    throw new RegistryCallError('no device', { code: ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, grpcCode: 5 })
  }
  t.same(await cache.credentials('desk-1'), CREDENTIALS, 'the registry answers again: the credentials held are answered while they are fetched again (no round trip to time)')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(await cache.credentials('desk-1'), undefined, 'then a deleted device has no credentials')
})

t.test('the auth path: made-up digest usernames cost the registry nothing', async (t) => {
  let clock = 0
  const calls = { listDevices: 0, getDeviceCredentials: [] as string[] }
  const realm = 'amsterdam.flexseat.test'
  const devices: Device[] = [
    { id: 'desk-1', siteId: 'amsterdam', extension: '2001', label: '', model: '', flexHost: true, revision: '1' },
    { id: 'desk-b', siteId: 'berlin', extension: '3001', label: '', model: '', flexHost: true, revision: '1' },
  ]
  const cache = await DirectoryCache.create({
    client: {
      listDevices: async () => {
        calls.listDevices++
        return devices
      },
      listUsers: async () => [],
      listSites: async () => [],
      getUser: async () => undefined,
      getUserByExtension: async () => undefined,
      getDeviceCredentials: async (id: string) => {
        calls.getDeviceCredentials.push(id)
        if (id !== 'desk-1') throw new RegistryCallError('no device', { code: ErrorCode.ERROR_CODE_DEVICE_NOT_FOUND, grpcCode: 5 })
        return { deviceId: 'desk-1', siteId: 'amsterdam', realm, ha1: ha1Of('desk-1', realm, 'pw-1234') }
      },
    },
    logger: pino({ level: 'silent' }),
    now: () => clock,
  })
  t.teardown(() => cache.stop())
  const auth = new PhoneAuthenticator({ siteId: 'amsterdam', realm, digest: new DigestVerifier(), directory: cache })
  const challenge = await auth.authenticate({ method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', get: () => '', has: () => false, source_address: '192.0.2.10' })
  const nonce = parseDigestHeader((challenge as { value: string }).value)!.nonce!
  const register = (username: string, password = 'pw-1234') => {
    const response = digestResponse({ ha1: ha1Of(username, realm, password), method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', nonce, nc: '00000001', cnonce: 'c1', qop: 'auth' })
    const value = `Digest username="${username}", realm="${realm}", nonce="${nonce}", uri="sip:amsterdam.flexseat.test", qop=auth, nc=00000001, cnonce="c1", response="${response}", algorithm=MD5`
    return auth.authenticate({ method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', get: () => value, has: (h) => h === 'Authorization', source_address: '192.0.2.10' })
  }
  t.equal(calls.listDevices, 1, 'loaded once at creation')
  for (let i = 0; i < 20; i++) {
    clock += 2_000 // past the once-per-second bound of miss refreshes every time
    t.match(await register(`prober-${i}`), { kind: 'forbidden', why: 'unknown-device' })
  }
  t.match(await register('desk-b'), { kind: 'forbidden', why: 'other-site' }, "another site's device")
  t.equal(calls.listDevices, 1, 'no directory reload for unknown usernames')
  t.same(calls.getDeviceCredentials, [], 'and no credentials fetched for unknown devices or devices of another site')
  t.match(await register('desk-1'), { kind: 'ok', device: { id: 'desk-1' } }, 'a known device of this site authenticates')
  t.same(calls.getDeviceCredentials, ['desk-1'], 'fetching its credentials only')
})

t.test('the auth path before any directory was loaded: loads it (at most once a second), else 503', async (t) => {
  let clock = 0
  let up = false
  let lists = 0
  const cache = await DirectoryCache.create({
    client: {
      listDevices: async () => {
        lists++
        if (!up) throw unavailable()
        return [{ id: 'desk-1', siteId: 'amsterdam', extension: '2001', label: '', model: '', flexHost: true, revision: '1' }]
      },
      listUsers: async () => [],
      listSites: async () => [],
      getUser: async () => undefined,
      getUserByExtension: async () => undefined,
      getDeviceCredentials: async () => CREDENTIALS,
    },
    logger: pino({ level: 'silent' }),
    now: () => clock,
  })
  t.teardown(() => cache.stop())
  await t.rejects(cache.deviceForAuth('desk-1'), RegistryCallError, 'nothing loaded, within the second: unavailable')
  t.equal(lists, 1)
  clock += 1_000
  up = true
  t.equal((await cache.deviceForAuth('desk-1'))?.id, 'desk-1', 'loaded on demand')
  t.equal(lists, 2)
})

// Guard tried: holdCredentialsOf() not prefetching: nothing is fetched before the first request.
t.test("the site's credentials are held before any phone asks (no registry round trip to time)", async (t) => {
  const fetched: string[] = []
  const device = (id: string, siteId: string): Device => ({ id, siteId }) as Device
  const cache = await DirectoryCache.create({
    client: {
      listDevices: async () => [device('ams-1', 'amsterdam'), device('ams-2', 'amsterdam'), device('ber-1', 'berlin')],
      listUsers: async () => [],
      listSites: async () => [],
      getUser: async () => undefined,
      getUserByExtension: async () => undefined,
      getDeviceCredentials: async (id: string) => {
        fetched.push(id)
        return { ...CREDENTIALS, deviceId: id }
      },
    },
    logger: pino({ level: 'silent' }),
  })
  t.teardown(() => cache.stop())
  cache.holdCredentialsOf('amsterdam')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(fetched.sort(), ['ams-1', 'ams-2'], "this site's devices only, fetched at once")
  t.same(await cache.credentials('ams-1'), { ...CREDENTIALS, deviceId: 'ams-1' })
  t.equal(fetched.length, 2, 'then answered from memory')
})

t.test('refresh listeners and the users held: what the busy lamps compare after each refresh', async (t) => {
  const calls = { listUsers: 0 }
  let users = [User.fromPartial({ id: 'hal', extension: '1007', showCallerOnLamps: false })]
  const cache = await DirectoryCache.create({
    client: {
      listDevices: async () => [],
      listUsers: async () => {
        calls.listUsers++
        return users
      },
      listSites: async () => [],
      getUser: async () => undefined,
      getUserByExtension: async () => undefined,
      getDeviceCredentials: async () => CREDENTIALS,
    },
    logger: pino({ level: 'silent' }),
  })
  t.teardown(() => cache.stop())
  const seen: (boolean | undefined)[] = []
  // Guard tried: the listener loop of #load (nothing seen), its try/catch (the refresh rejected).
  const off = cache.onRefresh(() => {
    throw new Error('a listener that fails')
  })
  const offSeen = cache.onRefresh(() => void cache.userHeld('hal').then((u) => seen.push(u?.showCallerOnLamps)))
  users = [User.fromPartial({ id: 'hal', extension: '1007', showCallerOnLamps: true })]
  await cache.refresh()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(seen, [true], 'called after the refresh, with the directory as just listed')
  off()
  offSeen()
  await cache.refresh()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(seen, [true], 'removed: not called again')
  // Guard tried: userHeld answering through user() (a miss refreshed the directory).
  const before = calls.listUsers
  t.equal(await cache.userHeld('nobody'), undefined, 'a user not held: undefined')
  t.equal(calls.listUsers, before, 'without a refresh')
})
