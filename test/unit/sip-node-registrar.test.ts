// The registrar: expiry rules (423 + Min-Expires, capping, Expires 0, Contact *), one binding per
// device, the AOR check, and bindings ending on their own. Authentication is stubbed (it has its
// own tests in sip-node-digest.test.ts).
import t from 'tap'
import { pino } from 'pino'
import type { Device } from '@flexseat/proto'
import { parseContact, type PhoneAuthenticator, Registrar, type SrfRequest, type SrfResponse } from '@flexseat/sip-node'
// Not (yet) exported by the package's index.ts.
import { foreignTargetsOf, sourceDestination, uriHostPort } from '@flexseat/sip-node/dist/registrar'

const DESK: Device = { id: 'desk-1', siteId: 'amsterdam', extension: '2001', label: '', model: '', flexHost: true, revision: '1' }

const CARRIER = 'sip:carrier-gw.example:5080;transport=tcp'
const TRUNK = 'sip:127.0.0.1:5062'

function setup(authResult: Awaited<ReturnType<PhoneAuthenticator['authenticate']>> = { kind: 'ok', device: DESK }) {
  let now = 1_800_000_000_000
  const auth = { authenticate: async () => authResult } as unknown as PhoneAuthenticator
  const registrar = new Registrar({ auth, registration: { minSeconds: 60, maxSeconds: 3600 }, logger: pino({ level: 'silent' }), now: () => now, foreignTargets: [CARRIER, TRUNK] })
  t.teardown(() => registrar.stop())
  const register = async (headers: Record<string, string>, source: { protocol?: string; address?: string; port?: number } = {}) => {
    const all: Record<string, string> = { To: '<sip:desk-1@amsterdam.flexseat.test>', ...headers }
    const req = { method: 'REGISTER', uri: 'sip:amsterdam.flexseat.test', protocol: source.protocol ?? 'udp', source_address: source.address ?? '10.0.0.7', source_port: source.port ?? 5070, get: (h: string) => all[h] ?? '', has: (h: string) => h in all } as unknown as SrfRequest
    let sent: { status: number; reason?: string; headers: Record<string, string> } | undefined
    const res = {
      finalResponseSent: false,
      send(status: number, a?: unknown, b?: unknown) {
        const reason = typeof a === 'string' ? a : undefined
        const options = (typeof a === 'object' ? a : b) as { headers?: Record<string, string> } | undefined
        sent = { status, ...(reason === undefined ? {} : { reason }), headers: options?.headers ?? {} }
      },
    } as unknown as SrfResponse
    await registrar.handle(req, res)
    return sent!
  }
  return { registrar, register, advance: (ms: number) => (now += ms) }
}

t.test('parseContact', async (t) => {
  t.same(parseContact('"Desk" <sip:desk-1@10.0.0.7:5070;transport=udp>;expires=120;+sip.instance="<urn:x>"'), { uri: 'sip:desk-1@10.0.0.7:5070;transport=udp', expires: 120 })
  t.same(parseContact('sip:desk-1@10.0.0.7;expires=30'), { uri: 'sip:desk-1@10.0.0.7', expires: 30 })
  t.same(parseContact('<sip:desk-1@10.0.0.7>'), { uri: 'sip:desk-1@10.0.0.7', expires: undefined })
  t.equal(parseContact('<mailto:x@y>'), undefined)
  t.equal(parseContact('<sip:unterminated'), undefined)
})

t.test('registers, caps, refuses short intervals, answers with Contact;expires and Date', async (t) => {
  const { registrar, register } = setup()
  const ok = await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '600' })
  t.equal(ok.status, 200)
  t.equal(ok.headers['Contact'], '<sip:desk-1@10.0.0.7:5070>;expires=600')
  t.match(ok.headers['Date'], /GMT$/)
  t.same(registrar.binding('desk-1'), { deviceId: 'desk-1', contact: 'sip:desk-1@10.0.0.7:5070', registered: 'sip:desk-1@10.0.0.7:5070', expiresAt: 1_800_000_600_000, source: 'udp:10.0.0.7:5070', userAgent: '', registeredAt: 1_800_000_000_000 })

  t.equal((await register({ Contact: '<sip:desk-1@10.0.0.7:5070>;expires=7200' })).headers['Contact'], '<sip:desk-1@10.0.0.7:5070>;expires=3600', 'capped at the maximum; the Contact parameter wins')
  t.equal((await register({ Contact: '<sip:desk-1@10.0.0.7:5070>' })).headers['Contact'], '<sip:desk-1@10.0.0.7:5070>;expires=3600', 'no expiry asked: 3600')
  const short = await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '30' })
  t.equal(short.status, 423)
  t.equal(short.headers['Min-Expires'], '60')
  t.equal((await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: 'soon' })).status, 400)
  t.equal((await register({ Contact: 'garbage' })).status, 400)
})

t.test('one binding per device: the latest REGISTER wins; a query reports it', async (t) => {
  const { registrar, register } = setup()
  await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '600' })
  await register({ Contact: '<sip:desk-1@10.0.0.8:5080>', Expires: '600' }, { address: '10.0.0.8', port: 5080 })
  t.equal(registrar.binding('desk-1')?.contact, 'sip:desk-1@10.0.0.8:5080')
  t.equal(registrar.size, 1)
  const query = await register({})
  t.same(query.headers['Contact'], '<sip:desk-1@10.0.0.8:5080>;expires=600', 'no Contact: the binding is reported')
  const stale = await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '0' })
  t.equal(stale.status, 200)
  t.equal(registrar.binding('desk-1')?.registered, 'sip:desk-1@10.0.0.8:5080', "removing an old Contact keeps the phone's current one")
  await register({ Contact: '<sip:desk-1@10.0.0.8:5080>;expires=0' })
  t.equal(registrar.binding('desk-1'), undefined, 'its own Contact with expires=0: unregistered')
})

t.test('Contact: * needs Expires: 0 and removes the binding', async (t) => {
  const { registrar, register } = setup()
  await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '600' })
  t.equal((await register({ Contact: '*', Expires: '60' })).status, 400)
  t.ok(registrar.binding('desk-1'))
  t.equal((await register({ Contact: '*', Expires: '0' })).status, 200)
  t.equal(registrar.binding('desk-1'), undefined)
})

t.test('bindings expire', async (t) => {
  const { registrar, register, advance } = setup()
  await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '60' })
  advance(59_000)
  t.ok(registrar.binding('desk-1'), 'alive before its time')
  advance(1_000)
  t.equal(registrar.binding('desk-1'), undefined, 'gone at its time')
})

t.test('the AOR must be the device itself (id or own extension)', async (t) => {
  const { register } = setup()
  t.equal((await register({ To: '<sip:2001@amsterdam.flexseat.test>', Contact: '<sip:x@10.0.0.7>', Expires: '600' })).status, 200, 'own extension')
  t.same(await register({ To: '<sip:2002@amsterdam.flexseat.test>', Contact: '<sip:x@10.0.0.7>', Expires: '600' }), { status: 403, reason: 'Not your AOR', headers: {} })
  t.equal((await register({ To: 'sip:desk-1@10.0.0.1;tag=x', Contact: '<sip:x@10.0.0.7>', Expires: '600' })).status, 200, 'addr-spec To, host not checked')
})

t.test('authentication outcomes', async (t) => {
  const challenged = setup({ kind: 'challenge', status: 401, header: 'WWW-Authenticate', value: 'Digest realm="r"' })
  t.same(await challenged.register({ Contact: '<sip:x@10.0.0.7>' }), { status: 401, headers: { 'WWW-Authenticate': 'Digest realm="r"' } })
  const forbidden = setup({ kind: 'forbidden', why: 'unknown-device' })
  t.same(await forbidden.register({ Contact: '<sip:x@10.0.0.7>' }), { status: 403, headers: {} })
  t.equal(forbidden.registrar.size, 0)
})

t.test('calls go where the REGISTER came from, never where the Contact points', async (t) => {
  const { registrar, register } = setup()
  // A phone trying to have calls to its extension sent to a premium number at a carrier.
  const redirect = await register({ Contact: '<sip:0900123456@carrier-gw.example>', Expires: '600' }, { address: '192.0.2.10', port: 40112 })
  t.equal(redirect.status, 200)
  t.equal(redirect.headers['Contact'], '<sip:0900123456@carrier-gw.example>;expires=600', 'the answer lists the Contact as registered')
  t.equal(registrar.binding('desk-1')?.contact, 'sip:0900123456@192.0.2.10:40112', 'but calls and MESSAGEs go to the source')
  // A phone behind NAT: its private Contact is reached through its public source.
  await register({ Contact: '<sip:desk-1@192.168.1.20:5060;transport=tcp>', Expires: '600' }, { protocol: 'tcp', address: '198.51.100.4', port: 61002 })
  t.equal(registrar.binding('desk-1')?.contact, 'sip:desk-1@198.51.100.4:61002;transport=tcp')
  t.equal(registrar.binding('desk-1')?.registered, 'sip:desk-1@192.168.1.20:5060;transport=tcp')
  await register({ Contact: '<sip:desk-1@192.168.1.20:5060;transport=tcp>', Expires: '0' }, { protocol: 'tcp', address: '198.51.100.4', port: 61002 })
  t.equal(registrar.binding('desk-1'), undefined, 'Expires 0 matches the Contact as registered')
})

t.test("a Contact naming a carrier or a branch's trunk is refused", async (t) => {
  const { registrar, register } = setup()
  t.same(await register({ Contact: '<sip:0900123456@carrier-gw.example:5080>', Expires: '600' }), { status: 403, reason: 'Contact not allowed', headers: {} }, 'the carrier')
  t.same(await register({ Contact: '<sip:0900123456@CARRIER-GW.example:5080;transport=tcp>', Expires: '600' }), { status: 403, reason: 'Contact not allowed', headers: {} }, 'case does not matter')
  t.equal((await register({ Contact: '<sip:1001@127.0.0.1:5062>', Expires: '600' })).status, 403, 'a trunk')
  t.equal((await register({ Contact: 'sip:1001@127.0.0.1', Expires: '600' })).status, 200, 'another port of the same host is not the trunk')
  t.equal(registrar.size, 1)
})

t.test('helpers: host:port, the source destination, the foreign targets of the site files', async (t) => {
  t.equal(uriHostPort('sip:a@Host.Example'), 'host.example:5060')
  t.equal(uriHostPort('<sips:a@host.example;transport=tls>'), 'host.example:5061')
  t.equal(uriHostPort('sip:[2001:db8::1]:5070;transport=udp'), '[2001:db8::1]:5070')
  t.equal(uriHostPort('mailto:a@b'), undefined)
  t.equal(sourceDestination('sip:desk-1@10.1.1.1', { protocol: 'udp', address: '2001:db8::7', port: 5060 }), 'sip:desk-1@[2001:db8::7]:5060')
  t.equal(sourceDestination('sip:10.1.1.1:5060', { protocol: 'udp', address: '10.0.0.7', port: 5070 }), 'sip:10.0.0.7:5070', 'a Contact without user')
  const site = (id: string, trunkUri: string, carrierUri?: string) => ({ id, sip: { trunkUri, ...(carrierUri === undefined ? {} : { carrierUri }) } })
  const sites = new Map([site('ams', 'sip:127.0.0.1:5060', CARRIER), site('ber', 'sip:127.0.0.1:5062')].map((s) => [s.id, s] as const))
  t.same(foreignTargetsOf({ sites: sites as never }), [CARRIER, 'sip:127.0.0.1:5060', 'sip:127.0.0.1:5062'])
})

// Guards tried: `emit('unbound')` left out of #remove (no removal event); the registeredAt carry
// over on a refresh removed (registeredAt moves to the refresh).
t.test('events: bound on every REGISTER (registeredAt kept on a refresh), unbound on Expires 0 and on expiry, none on stop', async (t) => {
  const { registrar, register, advance } = setup()
  const events: string[] = []
  registrar.on('bound', (b) => events.push(`bound ${b.deviceId} ${b.source} ${b.userAgent} ${b.registeredAt}`))
  registrar.on('unbound', (id, why) => events.push(`unbound ${id} ${why}`))
  await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '600', 'User-Agent': 'Yealink\r\nX: 1' })
  advance(1_000)
  await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '600', 'User-Agent': 'Yealink' })
  await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '0' })
  t.same(events, ['bound desk-1 udp:10.0.0.7:5070 Yealink  X: 1 1800000000000', 'bound desk-1 udp:10.0.0.7:5070 Yealink 1800000000000', 'unbound desk-1 unregistered'])
  events.length = 0
  await register({ Contact: '<sip:desk-1@10.0.0.7:5070>', Expires: '600' })
  registrar.stop()
  t.equal(events.filter((e) => e.startsWith('unbound')).length, 0, 'stop() emits nothing: the phones are still registered as far as the cluster knows')
})

t.test('expiry emits unbound (real timer)', async (t) => {
  const auth = { authenticate: async () => ({ kind: 'ok', device: DESK }) } as unknown as PhoneAuthenticator
  const registrar = new Registrar({ auth, registration: { minSeconds: 0, maxSeconds: 3600 }, logger: pino({ level: 'silent' }) })
  t.teardown(() => registrar.stop())
  const gone = new Promise<string>((resolve) => registrar.on('unbound', (id, why) => resolve(`${id} ${why}`)))
  // expires=1 s: the timer fires for real.
  const all: Record<string, string> = { To: '<sip:desk-1@x>', Contact: '<sip:desk-1@10.0.0.7:5070>;expires=1' }
  const req = { method: 'REGISTER', uri: 'sip:x', protocol: 'udp', source_address: '10.0.0.7', source_port: 5070, get: (h: string) => all[h] ?? '', has: (h: string) => h in all } as unknown as SrfRequest
  await registrar.handle(req, { finalResponseSent: false, send() {} } as unknown as SrfResponse)
  // The binding's timer is unref'd: hold the process open while waiting for it.
  const hold = setInterval(() => undefined, 100)
  t.equal(await gone, 'desk-1 registration expired')
  clearInterval(hold)
})

// Guards tried: the site check in restore removed (the berlin device is restored); the foreign
// check removed (the carrier destination is restored); the `restored` destination match in the
// Expires 0 path removed (the restored binding stays after the phone's own Expires 0).
t.test('restore: checks device, site, destination, expiry; a restored binding is removed by the phone\'s own Expires 0', async (t) => {
  const { registrar, register } = setup()
  const now = 1_800_000_000_000
  const devices: Record<string, { siteId: string }> = { 'desk-1': { siteId: 'amsterdam' }, 'desk-2': { siteId: 'amsterdam' }, 'ber-1': { siteId: 'berlin' }, 'desk-3': { siteId: 'amsterdam' }, 'desk-4': { siteId: 'amsterdam' } }
  const directory = { siteId: 'amsterdam', device: async (id: string) => (devices[id] === undefined ? undefined : ({ ...DESK, id, siteId: devices[id]!.siteId } as Device)) }
  const saved = (deviceId: string, over: Record<string, unknown> = {}) => ({ deviceId, contact: `sip:${deviceId}@10.0.0.7:5070`, source: 'udp:10.0.0.7:5070', userAgent: 'ua', expiresAt: now + 600_000, registeredAt: now - 5_000, ...over })
  const outcome = await registrar.restore(
    [
      saved('desk-1'),
      saved('desk-2', { expiresAt: now - 1 }),
      saved('ber-1'),
      saved('nobody'),
      saved('desk-3', { contact: 'sip:0900@carrier-gw.example:5080', source: 'udp:carrier-gw.example:5080' }),
      saved('desk-4', { expiresAt: now + 86_400_000, contact: 'sip:desk-4@192.168.1.2:5060', source: 'tcp:[2001:db8::4]:5061' }),
    ],
    directory,
  )
  t.same(outcome.restored, ['desk-1', 'desk-4'])
  t.same(outcome.skipped.map((s) => `${s.deviceId}: ${s.why}`), ['desk-2: expired', 'ber-1: device of another site', 'nobody: unknown device', 'desk-3: contact names a carrier or trunk'])
  t.match(registrar.binding('desk-1'), { contact: 'sip:desk-1@10.0.0.7:5070', source: 'udp:10.0.0.7:5070', registeredAt: now - 5_000, expiresAt: now + 600_000, restored: true })
  t.match(registrar.binding('desk-4'), { contact: 'sip:desk-4@[2001:db8::4]:5061;transport=tcp', expiresAt: now + 3_600_000 }, 'reached at its source; the expiry capped at the maximum')
  // The phone unregisters with the Contact it registered with (which the cluster never knew).
  await register({ Contact: '<sip:desk-1@10.0.0.7:5070;transport=udp>', Expires: '0' })
  t.equal(registrar.binding('desk-1'), undefined, "the phone's own Contact with Expires 0 removes the restored binding")
  // A device bound already keeps its binding.
  await register({ Contact: '<sip:desk-1@10.0.0.9:5070>', Expires: '600' }, { address: '10.0.0.9' })
  const again = await registrar.restore([saved('desk-1')], directory)
  t.same(again.skipped, [{ deviceId: 'desk-1', why: 'registered since' }])
  t.equal(registrar.binding('desk-1')?.contact, 'sip:desk-1@10.0.0.9:5070')
})

t.test('source text', async (t) => {
  const { parseSource, sourceText } = await import('@flexseat/sip-node')
  t.equal(sourceText({ protocol: 'UDP', address: '192.0.2.1', port: 5060 }), 'udp:192.0.2.1:5060')
  t.equal(sourceText({ protocol: 'tcp', address: '2001:db8::1', port: 5061 }), 'tcp:[2001:db8::1]:5061')
  t.same(parseSource('tcp:[2001:db8::1]:5061'), { protocol: 'tcp', address: '2001:db8::1', port: 5061 })
  t.same(parseSource('udp:192.0.2.1:5060'), { protocol: 'udp', address: '192.0.2.1', port: 5060 })
  t.equal(parseSource('192.0.2.1:5060'), undefined)
  t.equal(parseSource('udp:192.0.2.1:70000'), undefined)
})
