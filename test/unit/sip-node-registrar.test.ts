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
  t.same(registrar.binding('desk-1'), { deviceId: 'desk-1', contact: 'sip:desk-1@10.0.0.7:5070', registered: 'sip:desk-1@10.0.0.7:5070', expiresAt: 1_800_000_600_000, source: 'udp/10.0.0.7:5070' })

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
