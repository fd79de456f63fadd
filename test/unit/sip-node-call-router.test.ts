// Where calls go: from phones (identity, idle flex desks, emergency/external via the carrier,
// extensions locally or over the trunk, fallbacks) and from the trunk (epoch catch-up, lease,
// forwarding once). Plain objects stand in for the view, the lease, the directory and bindings.
import t from 'tap'
import type { SiteConfig } from '@flexseat/config'
import { type Device, type Seat, User } from '@flexseat/proto'
import { CallRouter, type CallRouterOptions, PAI_HEADER, type RouteDecision, verifyTrunk, withUser } from '@flexseat/sip-node'
import { civicOf } from '../helpers/pidf'

const SECRET = 'trunk-secret'
const NOW = 1_900_000_000_000

function site(id: string, name: string, port: number, extra: Partial<SiteConfig['sip']> = {}): SiteConfig {
  return {
    id,
    name,
    timezone: 'Europe/Amsterdam',
    emergencyNumbers: ['112'],
    dispatchableLocation: `${name} HQ, floor 2`,
    etcd: { name: `etcd-${id}`, clientUrl: 'http://127.0.0.1:2379', peerUrl: 'http://127.0.0.1:2380' },
    registry: { listen: '127.0.0.1:50051' },
    sip: { contact: `sip:127.0.0.1:${port}`, control: '127.0.0.1:9022', domain: `${id}.flexseat.test`, trunkUri: `sip:127.0.0.1:${port}`, ...extra },
    featureCodes: { login: '*51', changePin: '*52' },
    dialPlan: { extension: '^[1-9][0-9]{3}$', external: '^0[0-9]{6,15}$' },
  }
}
const AMS = site('amsterdam', 'Amsterdam', 5060, { carrierUri: 'sip:carrier.example:5080;transport=tcp' })
const BER = site('berlin', 'Berlin', 5062)
const SITES = new Map([AMS, BER].map((s) => [s.id, s] as const))

function seat(userId: string, extension: string, deviceId: string, siteId: string, epoch: string, pending = false): Seat {
  return {
    userId,
    extension,
    displayName: `Worker ${extension}`,
    deviceId,
    siteId,
    since: undefined,
    expiresAt: undefined,
    via: 1,
    epoch,
    pending: pending ? [{ siteId: 'berlin', deviceId: 'old', epoch: '1', since: undefined, traceParent: '' }] : [],
    dailySignOutAt: undefined,
    idleSeconds: 0,
    dailySignOut: '',
    warnSeconds: 0, renewedAt: undefined, profileChangedAt: undefined,
  }
}
function device(id: string, siteId: string, extension: string, flexHost: boolean): Device {
  return { id, siteId, extension, label: `label ${id}`, model: '', flexHost, revision: '1' }
}
function user(extension: string, fallback = ''): User {
  return User.fromPartial({ id: `u${extension}`, extension, displayName: `Worker ${extension}`, homeSiteId: 'amsterdam', roamingAllowed: true, fallback, revision: '1' })
}

/** A router over a small world; every piece can be changed per test. */
function world(options: { seats?: Seat[]; users?: User[]; devices?: Device[]; bindings?: Record<string, string>; leaseActive?: boolean; revision?: string; site?: SiteConfig } = {}) {
  const seats = [...(options.seats ?? [])]
  const users = options.users ?? [user('1001'), user('1002'), user('1003', '2002'), user('1004', 'sip:voicemail@example.com'), user('1005', '1006'), user('1006', '1005')]
  const devices = options.devices ?? [device('ams-1', 'amsterdam', '2001', true), device('ams-2', 'amsterdam', '2002', false), device('ber-1', 'berlin', '3001', true)]
  const bindings: Record<string, string> = options.bindings ?? { 'ams-1': 'sip:ams-1@127.0.0.1:7001', 'ams-2': 'sip:ams-2@127.0.0.1:7002' }
  const lease = { active: options.leaseActive ?? true }
  const view = {
    revision: options.revision ?? '100',
    waited: [] as string[],
    catchUp: undefined as Seat[] | undefined,
    byExtension: (ext: string) => seats.find((s) => s.extension === ext),
    byDevice: (id: string) => seats.find((s) => s.deviceId === id),
    async waitForRevision(revision: string, _ms: number): Promise<boolean> {
      view.waited.push(revision)
      if (view.catchUp === undefined) return false
      seats.splice(0, seats.length, ...view.catchUp)
      view.revision = revision
      return true
    },
  }
  const routerOptions: CallRouterOptions = {
    site: options.site ?? AMS,
    sites: SITES,
    seats: view,
    lease,
    directory: {
      userByExtension: async (ext) => users.find((u) => u.extension === ext),
      deviceByExtension: async (ext) => devices.find((d) => d.extension === ext),
      device: async (id) => devices.find((d) => d.id === id),
      user: async (id) => users.find((u) => u.id === id),
    },
    binding: (id) => (bindings[id] === undefined ? undefined : { contact: bindings[id]! }),
    trunkSecret: SECRET,
    now: () => NOW,
    catchUpMs: 10,
  }
  return { router: new CallRouter(routerOptions), view, lease, seats, devices, bindings }
}

/** The call list's facts of worker u1001 seated at ams-1, calling. */
const CALLER_1001 = { userId: 'u1001', extension: '1001', displayName: 'Worker 1001', siteId: 'amsterdam', deviceId: 'ams-1' }
/** The call list's facts of a call to worker `extension` from a phone nobody sits at. */
const calls = (extension: string) => ({ callee: { userId: `u${extension}`, extension, displayName: `Worker ${extension}` }, called: { number: extension, name: `Worker ${extension}` } })

const phone = (w: ReturnType<typeof world>, deviceId: string, dialled: string, callId = 'call-1'): Promise<RouteDecision> =>
  w.router.fromPhone({ device: w.devices.find((d) => d.id === deviceId)!, user: dialled, callId })

t.test('withUser', async (t) => {
  t.equal(withUser('sip:127.0.0.1:5062', '1001'), 'sip:1001@127.0.0.1:5062')
  t.equal(withUser('sip:node@berlin.example:5062;transport=tcp', '1001'), 'sip:1001@berlin.example:5062;transport=tcp')
  t.equal(withUser('sips:gw.example', '112'), 'sips:112@gw.example')
  t.equal(withUser('sip:gw.example', '+31*20#'), 'sip:+31*20%23@gw.example', '# is escaped, + and * are not')
  t.equal(withUser('sip:gw.example', '0123@evil.com;maddr=evil'), 'sip:0123%40evil.com%3Bmaddr%3Devil@gw.example', 'nothing in the user can end it')
})

t.test('identity: the acting worker, else the phone itself; any PAI is replaced', async (t) => {
  const w = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')] })
  const d = await phone(w, 'ams-1', '2002')
  t.match(d, { kind: 'proxy', target: 'phone', destinations: ['sip:ams-2@127.0.0.1:7002'], headers: { 'P-Asserted-Identity': '"Worker 1001" <sip:1001@amsterdam.flexseat.test>' } })
  t.match(await phone(w, 'ams-2', '2001'), { kind: 'proxy', headers: { 'P-Asserted-Identity': '<sip:2002@amsterdam.flexseat.test>' } }, 'a phone nobody sits at: its own extension')

  w.lease.active = false
  t.equal(w.router.identity(w.devices[0]!), '<sip:2001@amsterdam.flexseat.test>', 'no valid lease: the worker is not presented')
  w.lease.active = true
  w.seats[0] = seat('u1001', '1001', 'ams-1', 'amsterdam', '51', true)
  t.equal(w.router.identity(w.devices[0]!), '<sip:2001@amsterdam.flexseat.test>', 'a pending seat is not presented')
  const quoted = world({ seats: [{ ...seat('u1001', '1001', 'ams-1', 'amsterdam', '50'), displayName: 'Ada "The Countess" L' }] })
  t.equal(quoted.router.identity(quoted.devices[0]!), '"Ada \\"The Countess\\" L" <sip:1001@amsterdam.flexseat.test>', 'display names are quoted')
})

t.test('an idle flex desk may call emergency numbers only', async (t) => {
  const w = world()
  t.same(await phone(w, 'ams-1', '2002'), { kind: 'reject', status: 403, reason: 'Sign in with *51 to call' })
  t.same(await phone(w, 'ams-1', '030123456'), { kind: 'reject', status: 403, reason: 'Sign in with *51 to call' }, 'external too')
  t.match(await phone(w, 'ams-1', '112'), { kind: 'proxy', target: 'carrier' }, 'emergency goes out')
  t.match(await phone(w, 'ams-2', '2001'), { kind: 'proxy' }, 'a desk that is not a flex host calls freely')
  const pending = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50', true)] })
  t.match(await phone(pending, 'ams-1', '2002'), { kind: 'reject', status: 403 }, 'a pending seat does not unlock the desk')
  const offline = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')], leaseActive: false })
  t.match(await phone(offline, 'ams-1', '2002'), { kind: 'reject', status: 403 }, 'nor does a seat while the lease is not valid')
})

t.test('emergency and external numbers leave through the carrier with the location', async (t) => {
  const w = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')] })
  t.same(await phone(w, 'ams-1', '112'), {
    kind: 'proxy',
    target: 'carrier',
    destinations: ['sip:112@carrier.example:5080;transport=tcp'],
    headers: { 'P-Asserted-Identity': '"Worker 1001" <sip:1001@amsterdam.flexseat.test>', 'X-Flexseat-Location': 'Amsterdam HQ, floor 2' },
    emergency: { alert: 'EMERGENCY call to 112 from label ams-1 (ams-1, 2001), Amsterdam: Amsterdam HQ, floor 2; 1001 Worker 1001' },
    call: { caller: CALLER_1001, called: { number: '112', name: '' } },
  })
  t.match(await phone(w, 'ams-2', '0301234567'), { kind: 'proxy', target: 'carrier', destinations: ['sip:0301234567@carrier.example:5080;transport=tcp'], headers: { 'X-Flexseat-Location': 'Amsterdam HQ, floor 2' } })
  const noCarrier = world({ site: BER, devices: [device('ber-1', 'berlin', '3001', true)] })
  t.same(
    await phone(noCarrier, 'ber-1', '112'),
    { kind: 'reject', status: 503, reason: 'No carrier route', emergency: { alert: 'EMERGENCY call to 112 from label ber-1 (ber-1, 3001), Berlin: Berlin HQ, floor 2; nobody signed in' }, call: { called: { number: '112', name: '' } } },
    'no carrier: refused, and the security desk is still told (the desk\'s busy lamp keeps the attempt)',
  )
})

t.test("a worker's extension: local phone, trunk, pending, lease, fallbacks", async (t) => {
  const w = world({
    seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50'), seat('u1002', '1002', 'ber-1', 'berlin', '60'), seat('u1003', '1003', 'ams-1x', 'amsterdam', '70', true)],
  })
  t.same(
    await phone(w, 'ams-2', '1001'),
    { kind: 'proxy', target: 'phone', destinations: ['sip:ams-1@127.0.0.1:7001'], headers: { 'P-Asserted-Identity': '<sip:2002@amsterdam.flexseat.test>' }, seat: w.seats[0], call: { ...calls('1001'), desk: { siteId: 'amsterdam', deviceId: 'ams-1' } } },
    'seated here: the phone rings, for that seat',
  )

  const trunk = await phone(w, 'ams-2', '1002', 'call-xyz')
  t.match(trunk, { kind: 'proxy', target: 'trunk', destinations: ['sip:1002@127.0.0.1:5062'], headers: { 'X-Flexseat-Epoch': '60', 'X-Flexseat-Hops': '0' } }, 'seated in Berlin: over the trunk')
  const header = trunk.kind === 'proxy' ? trunk.headers['X-Flexseat-Trunk'] : undefined
  const identity = '<sip:2002@amsterdam.flexseat.test>'
  t.equal(trunk.kind === 'proxy' ? trunk.headers['P-Asserted-Identity'] : undefined, identity, 'the identity it signed')
  t.same(verifyTrunk(SECRET, header, { toSite: 'berlin', callId: 'call-xyz', user: '1002', epoch: '60', hops: 0, identity }, NOW), { ok: true, fromSite: 'amsterdam' }, 'signed for Berlin, this call, target, epoch, hops and caller')
  t.same(verifyTrunk(SECRET, header, { toSite: 'chicago', callId: 'call-xyz', user: '1002', epoch: '60', hops: 0, identity }, NOW), { ok: false, reason: 'bad-signature' }, 'not for another branch')
  t.same(verifyTrunk(SECRET, header, { toSite: 'berlin', callId: 'call-xyz', user: '1002', epoch: '60', hops: 0, identity: '"Boss" <sip:1000@amsterdam.flexseat.test>' }, NOW), { ok: false, reason: 'bad-signature' }, 'another caller does not verify')

  t.match(await phone(w, 'ams-2', '1003'), { kind: 'proxy', destinations: ['sip:ams-2@127.0.0.1:7002'] }, 'pending: not seated, so the fallback (extension 2002)')
  t.same(await phone(w, 'ams-2', '1004'), { kind: 'proxy', target: 'fallback', destinations: ['sip:voicemail@example.com'], headers: { 'P-Asserted-Identity': '<sip:2002@amsterdam.flexseat.test>' }, call: calls('1004') }, 'a SIP URI fallback')
  t.same(await phone(w, 'ams-2', '1005'), { kind: 'reject', status: 480, reason: '1006 is not signed in', call: calls('1005') }, 'a fallback is followed once, not in a loop')
  t.same(await phone(w, 'ams-2', '1006'), { kind: 'reject', status: 480, reason: '1005 is not signed in', call: calls('1006') })

  w.lease.active = false
  t.same(await phone(w, 'ams-2', '1001'), { kind: 'reject', status: 480, reason: '1001 is unreachable (branch offline)', call: calls('1001') }, 'no valid lease: our own flex seats do not ring')
  t.match(await phone(w, 'ams-2', '1002'), { kind: 'proxy', target: 'trunk' }, "another branch's seats are that branch's business")

  const unseated = world()
  t.same(await phone(unseated, 'ams-2', '1001'), { kind: 'reject', status: 480, reason: '1001 is not signed in', call: calls('1001') })
  const unregistered = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')], bindings: {} })
  t.same(await phone(unregistered, 'ams-2', '1001'), { kind: 'reject', status: 480, reason: '1001 is unreachable', call: { ...calls('1001'), desk: { siteId: 'amsterdam', deviceId: 'ams-1' } } }, 'the seated phone is not registered')
})

t.test("a device's own extension rings the phone, seated or not, wherever it is", async (t) => {
  const w = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')] })
  t.match(await phone(w, 'ams-2', '2001'), { kind: 'proxy', target: 'phone', destinations: ['sip:ams-1@127.0.0.1:7001'] })
  const berlin = await phone(w, 'ams-2', '3001', 'c-3001')
  t.match(berlin, { kind: 'proxy', target: 'trunk', destinations: ['sip:3001@127.0.0.1:5062'], headers: { 'X-Flexseat-Epoch': '', 'X-Flexseat-Hops': '0' } })
  t.same(verifyTrunk(SECRET, berlin.kind === 'proxy' ? berlin.headers['X-Flexseat-Trunk'] : undefined, { toSite: 'berlin', callId: 'c-3001', user: '3001', epoch: '', hops: 0, identity: '"Worker 1001" <sip:1001@amsterdam.flexseat.test>' }, NOW), { ok: false, reason: 'bad-signature' }, 'signed as ams-2, not as the worker seated at ams-1')
  t.same(verifyTrunk(SECRET, berlin.kind === 'proxy' ? berlin.headers['X-Flexseat-Trunk'] : undefined, { toSite: 'berlin', callId: 'c-3001', user: '3001', epoch: '', hops: 0, identity: '<sip:2002@amsterdam.flexseat.test>' }, NOW), { ok: true, fromSite: 'amsterdam' })
  t.same(await phone(w, 'ams-1', '9999'), { kind: 'reject', status: 404, reason: 'Not Found', call: { caller: CALLER_1001, called: { number: '9999', name: '' } } }, 'nobody has 9999 (the seated caller\'s list keeps the attempt)')
  t.same(await phone(w, 'ams-2', '9999'), { kind: 'reject', status: 404, reason: 'Not Found', call: { called: { number: '9999', name: '' } } }, 'nobody has 9999 (no worker involved: the facts name only the number, for the desk\'s busy lamp)')
  t.same(await phone(w, 'ams-1', '77'), { kind: 'reject', status: 404, reason: 'Not Found', call: { caller: CALLER_1001, called: { number: '77', name: '' } } }, 'outside the dial plan and unknown')
  w.lease.active = false
  t.match(await phone(w, 'ams-2', '2001'), { kind: 'proxy', target: 'phone' }, 'the lease does not matter for a phone of its own')
})

t.test('from the trunk: a worker is rung only where our own view seats them', async (t) => {
  const w = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50'), seat('u1002', '1002', 'ber-1', 'berlin', '60')] })
  t.same(await w.router.fromTrunk({ user: '1001', callId: 'c', epoch: '50', hops: 0 }), { kind: 'proxy', target: 'phone', destinations: ['sip:ams-1@127.0.0.1:7001'], headers: {}, seat: w.seats[0] })
  t.same(w.view.waited, [], 'no wait when the view is past the epoch')
  t.same(await w.router.fromTrunk({ user: '1002', callId: 'c', epoch: '60', hops: 0 }), { kind: 'reject', status: 480, reason: '1002 is not signed in' }, 'seated elsewhere at the same epoch: no ping-pong')
  t.same(await w.router.fromTrunk({ user: '1009', callId: 'c', epoch: '60', hops: 0 }), { kind: 'reject', status: 480, reason: '1009 is not signed in' })

  w.lease.active = false
  t.same(await w.router.fromTrunk({ user: '1001', callId: 'c', epoch: '50', hops: 0 }), { kind: 'reject', status: 480, reason: '1001 is unreachable (branch offline)' })
  w.lease.active = true

  // The sender routed on epoch 40 and our view (at 100) seats 1002 in Berlin since 60: forward once.
  const caller = '"Worker 2001" <sip:2001@chicago.flexseat.test>'
  const forwarded = await w.router.fromTrunk({ user: '1002', callId: 'c2', epoch: '40', hops: 0, identity: caller })
  t.match(forwarded, { kind: 'proxy', target: 'trunk', destinations: ['sip:1002@127.0.0.1:5062'], headers: { 'X-Flexseat-Epoch': '60', 'X-Flexseat-Hops': '1', 'P-Asserted-Identity': caller } })
  const resigned = forwarded.kind === 'proxy' ? forwarded.headers['X-Flexseat-Trunk'] : undefined
  t.same(verifyTrunk(SECRET, resigned, { toSite: 'berlin', callId: 'c2', user: '1002', epoch: '60', hops: 1, identity: caller }, NOW), { ok: true, fromSite: 'amsterdam' }, 'forwarded: signed again with the caller it came with and one hop more')
  const anonymous = await w.router.fromTrunk({ user: '1002', callId: 'c2', epoch: '40', hops: 0 })
  t.equal(anonymous.kind === 'proxy' ? anonymous.headers['P-Asserted-Identity'] : undefined, '', 'no identity known: forwarded without one (removed), as signed')
  t.same(await w.router.fromTrunk({ user: '1002', callId: 'c2', epoch: '40', hops: 1 }), { kind: 'reject', status: 480, reason: '1002 is not signed in' }, 'but never twice')
  t.same(await w.router.fromTrunk({ user: '1001', callId: 'c', epoch: 'x1', hops: 0 }), { kind: 'reject', status: 400, reason: 'Bad X-Flexseat-Epoch' })
})

t.test('from the trunk: a view behind the epoch waits, then decides on what it learnt', async (t) => {
  // The view is at 100 and seats 1001 here on an old phone; the sender knows epoch 120.
  const w = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')], revision: '100' })
  t.same(await w.router.fromTrunk({ user: '1001', callId: 'c', epoch: '120', hops: 0 }), { kind: 'reject', status: 480, reason: '1001 is unreachable' }, 'not caught up: the old phone must not ring')
  t.same(w.view.waited, ['120'], 'it waited for revision 120')

  const moved = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')], revision: '100' })
  moved.view.catchUp = [seat('u1001', '1001', 'ams-2', 'amsterdam', '120')]
  t.same(await moved.router.fromTrunk({ user: '1001', callId: 'c', epoch: '120', hops: 0 }), { kind: 'proxy', target: 'phone', destinations: ['sip:ams-2@127.0.0.1:7002'], headers: {}, seat: moved.seats[0] }, 'caught up: the new phone rings')
})

t.test("from the trunk: a device's extension (no epoch) rings only our own phones", async (t) => {
  const w = world()
  t.same(await w.router.fromTrunk({ user: '2002', callId: 'c', epoch: '', hops: 0 }), { kind: 'proxy', target: 'phone', destinations: ['sip:ams-2@127.0.0.1:7002'], headers: {} })
  t.same(await w.router.fromTrunk({ user: '3001', callId: 'c', epoch: '', hops: 0 }), { kind: 'reject', status: 404, reason: 'Not Found' }, "another branch's phone is not forwarded")
  t.same(await w.router.fromTrunk({ user: '1001', callId: 'c', epoch: '', hops: 0 }), { kind: 'reject', status: 404, reason: 'Not Found' }, 'a worker without epoch is not a device')
})

t.test('every call from a phone carries the node\'s identity and nothing the phone chose', async (t) => {
  // The node carries these calls back to back: only the headers decided here reach the callee
  // (branch-calls.test.ts checks the callee's INVITE over real SIP).
  const w = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50'), seat('u1002', '1002', 'ber-1', 'berlin', '60')] })
  for (const [dialled, target] of [['112', 'carrier'], ['0301234567', 'carrier'], ['2002', 'phone'], ['1002', 'trunk'], ['3001', 'trunk'], ['1004', 'fallback']] as const) {
    const d = await phone(w, 'ams-1', dialled)
    t.match(d, { kind: 'proxy', target }, `${dialled} goes to the ${target}`)
    const headers = d.kind === 'proxy' ? d.headers : {}
    t.equal(headers['P-Asserted-Identity'], '"Worker 1001" <sip:1001@amsterdam.flexseat.test>', `${dialled}: as the worker seated at the phone`)
    t.same(Object.keys(headers).filter((name) => !['P-Asserted-Identity', 'X-Flexseat-Location', 'X-Flexseat-Trunk', 'X-Flexseat-Epoch', 'X-Flexseat-Hops'].includes(name)), [], `${dialled}: no other header`)
  }
})

t.test('emergency numbers are recognised in every form a phone dials them', async (t) => {
  const w = world()
  for (const user of ['112', '112#', '112%23', '112;phone-context=+31', '112;phone-context=amsterdam.flexseat.test', '112%23;phone-context=+31', '11%32']) {
    t.match(await phone(w, 'ams-1', user), { kind: 'proxy', target: 'carrier', destinations: ['sip:112@carrier.example:5080;transport=tcp'] }, `${user}: the idle flex desk reaches the carrier`)
  }
  t.same(await phone(w, 'ams-1', '112%3Bphone-context=x'), { kind: 'reject', status: 404, reason: 'Not Found' }, 'an escaped ; is part of the number, not a parameter')
  const seated = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')] })
  t.match(await phone(seated, 'ams-1', '0301234567;phone-context=+31#'), { kind: 'proxy', target: 'carrier', destinations: ['sip:0301234567@carrier.example:5080;transport=tcp'] }, 'external numbers too')
  t.match(await phone(seated, 'ams-1', '2002;phone-context=x'), { kind: 'proxy', target: 'phone' }, 'and extensions')
})

t.test('only digits, +, * and # reach the carrier or the trunk; the URI is escaped', async (t) => {
  const loose = { ...AMS, dialPlan: { extension: '^[1-9][0-9]{3}$', external: '^[0+].*' } }
  const w = world({ site: loose, seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')] })
  for (const user of ['0123%40evil.com%3Bmaddr%3Devil', '0123@evil.com', '0123%3Bmaddr=evil', '0123%3Fx', '0 123', '0123%0D%0AVia:x', '%ZZ']) {
    t.same(await phone(w, 'ams-1', user), { kind: 'reject', status: 404, reason: 'Not Found' }, JSON.stringify(user))
  }
  t.match(await phone(w, 'ams-1', '0123*9%23%23'), { kind: 'proxy', target: 'carrier', destinations: ['sip:0123*9%23@carrier.example:5080;transport=tcp'] }, 'a trailing # goes, an inner one is escaped')
  t.match(await phone(w, 'ams-1', '+31201234567'), { kind: 'proxy', target: 'carrier', destinations: ['sip:+31201234567@carrier.example:5080;transport=tcp'] })
  t.same(await w.router.fromTrunk({ user: '1001%40evil.com', callId: 'c', epoch: '50', hops: 0 }), { kind: 'reject', status: 404, reason: 'Not Found' }, 'from the trunk too')
})

t.test('the identity is read after the directory answered: a worker who left meanwhile does not go out', async (t) => {
  const w = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')] })
  // fromPhone runs up to its first directory lookup, then the seat view applies the move away.
  const pending = phone(w, 'ams-1', '2002')
  w.seats.splice(0, w.seats.length)
  const d = await pending
  t.equal(d.kind, 'proxy')
  t.equal(d.kind === 'proxy' ? d.headers[PAI_HEADER] : undefined, `<sip:2001@${AMS.sip.domain}>`, "the phone's own identity, not 1001's")
})

t.test('ring-both: the seated desk and the home device, locally or over the trunk', async (t) => {
  // u1001's home device is ams-2 (here); u1002's is ber-1 (Berlin); u1003 has one but does not ring it.
  const users = [
    User.fromPartial({ ...user('1001'), homeDeviceId: 'ams-2', ringHomeDevice: true }),
    User.fromPartial({ ...user('1002'), homeDeviceId: 'ber-1', ringHomeDevice: true }),
    User.fromPartial({ ...user('1003'), homeDeviceId: 'ams-2', ringHomeDevice: false }),
    User.fromPartial({ ...user('1004', '2001'), homeDeviceId: 'ams-2', ringHomeDevice: true }),
    User.fromPartial({ ...user('1005'), homeDeviceId: 'ams-3', ringHomeDevice: true }),
  ]
  const devices = [device('ams-1', 'amsterdam', '2001', true), device('ams-2', 'amsterdam', '2002', false), device('ams-3', 'amsterdam', '2003', true), device('ams-4', 'amsterdam', '2004', false), device('ber-1', 'berlin', '3001', true)]
  const bindings = { 'ams-1': 'sip:ams-1@127.0.0.1:7001', 'ams-2': 'sip:ams-2@127.0.0.1:7002', 'ams-3': 'sip:ams-3@127.0.0.1:7003' }
  const w = world({ users, devices, bindings, seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50'), seat('u1002', '1002', 'ams-3', 'amsterdam', '60'), seat('u1003', '1003', 'ams-3x', 'amsterdam', '70', true)] })

  // Guard tried: the ringHomeDevice check removed (1003's home device rings too).
  const both = await phone(w, 'ams-4', '1001', 'c-1')
  t.match(both, { kind: 'fork', call: { callee: { userId: 'u1001' }, called: { number: '1001' } } }, 'both ring')
  const legs = both.kind === 'fork' ? both.legs : []
  t.match(legs, [
    { target: 'phone', destination: 'sip:ams-1@127.0.0.1:7001', seat: w.seats[0], desk: { siteId: 'amsterdam', deviceId: 'ams-1' } },
    { target: 'home', destination: 'sip:ams-2@127.0.0.1:7002', desk: { siteId: 'amsterdam', deviceId: 'ams-2' } },
  ])
  t.equal(legs[1]?.seat, undefined, 'the home device rings for nobody\'s seat: a revocation leaves it alone')
  for (const leg of legs) t.equal(leg.headers['P-Asserted-Identity'], '<sip:2004@amsterdam.flexseat.test>', `${leg.target}: the caller's identity`)

  const away = await phone(w, 'ams-4', '1002', 'c-2')
  const awayLegs = away.kind === 'fork' ? away.legs : []
  t.match(awayLegs, [{ target: 'phone', destination: 'sip:ams-3@127.0.0.1:7003' }, { target: 'home', destination: 'sip:3001@127.0.0.1:5062', callId: 'home-c-2', headers: { 'X-Flexseat-Epoch': '', 'X-Flexseat-Hops': '0' }, desk: { siteId: 'berlin', deviceId: 'ber-1' } }], 'a home device at another branch: over the trunk, by its extension')
  t.same(verifyTrunk(SECRET, awayLegs[1]?.headers['X-Flexseat-Trunk'], { toSite: 'berlin', callId: 'home-c-2', user: '3001', epoch: '', hops: 0, identity: '<sip:2004@amsterdam.flexseat.test>' }, NOW), { ok: true, fromSite: 'amsterdam' }, "signed for the leg's own Call-ID (a branch takes a signed Call-ID once)")

  t.match(await phone(w, 'ams-4', '1003'), { kind: 'proxy', target: 'home' }, 'pending (not seated): the home device, whatever ring_home_device says')
  w.seats[2] = seat('u1003', '1003', 'ams-3', 'amsterdam', '71')
  t.match(await phone(w, 'ams-4', '1003'), { kind: 'proxy', target: 'phone', destinations: ['sip:ams-3@127.0.0.1:7003'] }, 'seated, without ring_home_device: the desk alone')
  w.seats[2] = seat('u1003', '1003', 'ams-2', 'amsterdam', '72')
  t.match(await phone(w, 'ams-4', '1001'), { kind: 'fork' })
  t.match(await phone(w, 'ams-4', '1005'), { kind: 'proxy', target: 'home', destinations: ['sip:ams-3@127.0.0.1:7003'] }, 'not seated: the home device (even a flex desk)')

  // Guard tried: home.id !== seat.deviceId removed (two legs to one phone).
  w.seats.push(seat('u1005', '1005', 'ams-3', 'amsterdam', '80'))
  t.match(await phone(w, 'ams-4', '1005'), { kind: 'proxy', target: 'phone', destinations: ['sip:ams-3@127.0.0.1:7003'], seat: w.seats[3] }, 'seated at the home device itself: one leg, as a seat')

  // Guard tried: the fallback checked after the home device (1004 rings ams-2).
  t.match(await phone(w, 'ams-4', '1004'), { kind: 'proxy', target: 'phone', destinations: ['sip:ams-1@127.0.0.1:7001'] }, 'not seated, a fallback and a home device: the fallback wins')

  w.lease.active = false
  t.match(await phone(w, 'ams-4', '1001'), { kind: 'proxy', target: 'home', destinations: ['sip:ams-2@127.0.0.1:7002'], call: { desk: { deviceId: 'ams-2' } } }, 'this branch offline: its flex seat counts as not seated, the home device rings')
  w.lease.active = true
  delete (bindings as Record<string, string>)['ams-1']
  t.match(await phone(w, 'ams-4', '1001'), { kind: 'proxy', target: 'home', call: { desk: { deviceId: 'ams-2' } } }, 'the seated desk is not registered: the home device alone')
})

t.test('emergency calls carry the desk\'s location (RFC 6442) and a call-back number', async (t) => {
  const withAddress: SiteConfig = { ...AMS, emergency: { securityDesk: '2002', callbackNumber: '+31201234567', civicAddress: { country: 'NL', city: 'Amsterdam', street: 'Herengracht', houseNumber: '182' } } }
  const users = [User.fromPartial({ ...user('1001'), did: '+31209876543' }), user('1002')]
  const devices = [{ ...device('ams-1', 'amsterdam', '2001', true), floor: '4', room: '4.12' }, device('ams-2', 'amsterdam', '2002', false)]
  const w = world({ site: withAddress, users, devices, seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')] })
  const d = await phone(w, 'ams-1', '112')
  t.match(d, { kind: 'proxy', target: 'carrier', headers: { 'P-Asserted-Identity': '"Worker 1001" <sip:1001@amsterdam.flexseat.test>, <tel:+31209876543>', 'Geolocation-Routing': 'yes' } }, "the worker's identity and their DID to call back")
  if (d.kind !== 'proxy') return
  t.notOk('X-Flexseat-Location' in d.headers, 'instead of the text header')
  const location = d.emergency?.location
  t.ok(location, 'a location part')
  t.equal(d.headers['Geolocation'], `<cid:${location?.contentId}>`, 'the header names the part')
  t.match(location?.contentId, /^[0-9a-f]{16}@amsterdam\.flexseat\.test$/)
  const civic = civicOf(location!.pidf)
  t.same(civic.elements, [['country', 'NL'], ['A3', 'Amsterdam'], ['RD', 'Herengracht'], ['HNO', '182'], ['FLR', '4'], ['ROOM', '4.12'], ['SEAT', 'label ams-1']], "the site's address, the desk's floor, room and label")
  t.equal(civic.entity, 'pres:1001@amsterdam.flexseat.test', 'the worker is the presentity')
  t.equal(d.emergency?.alert, 'EMERGENCY call to 112 from label ams-1 (ams-1, 2001), Amsterdam: 182 Herengracht, Amsterdam, NL, floor 4, room 4.12; 1001 Worker 1001; call back +31209876543', 'what the security desk reads')

  // Guard tried: the site's callback_number left out (the idle desk's PAI has no tel URI).
  const idle = await phone(w, 'ams-2', '112')
  t.match(idle, { kind: 'proxy', headers: { 'P-Asserted-Identity': '<sip:2002@amsterdam.flexseat.test>, <tel:+31201234567>' } }, "an idle desk: its own extension and the site's number")
  t.equal(idle.kind === 'proxy' ? civicOf(idle.emergency!.location!.pidf).elements.find(([name]) => name === 'FLR') : 'x', undefined, 'a desk without a floor has none in its location')
})

t.test('toll classes: a seated desk and a fixed phone call what dial_plan.allow lets them, refused naming the class', async (t) => {
  const classes = {
    patterns: { premium: '^0{1,2}90[069][0-9]*$', international: '^00[1-9][0-9]*$', mobile: '^06[0-9]{8}$', national: '^0[1-9][0-9]{8}$' },
    seated: ['emergency' as const, 'internal' as const, 'national' as const, 'mobile' as const, 'international' as const],
    fixed: ['internal' as const, 'national' as const],
  }
  const classed: SiteConfig = { ...AMS, dialPlan: { ...AMS.dialPlan, classes } }
  const w = world({ site: classed, seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')] })
  const refused = (status: number, reason: string) => ({ kind: 'reject', status, reason })
  t.match(await phone(w, 'ams-1', '0201234567'), { kind: 'proxy', target: 'carrier' }, 'seated: national')
  t.match(await phone(w, 'ams-1', '0612345678'), { kind: 'proxy', target: 'carrier' }, 'seated: mobile')
  t.match(await phone(w, 'ams-1', '0049301234567'), { kind: 'proxy', target: 'carrier' }, 'seated: international')
  t.match(await phone(w, 'ams-1', '0900123456'), refused(403, 'Premium calls not allowed'), 'seated: no premium number')
  t.match(await phone(w, 'ams-1', '00900123456'), refused(403, 'Premium calls not allowed'), 'premium before international: 00900 is premium')
  t.match(await phone(w, 'ams-1', '2002'), { kind: 'proxy', target: 'phone' }, 'seated: internal')
  t.match(await phone(w, 'ams-2', '0201234567'), { kind: 'proxy', target: 'carrier' }, 'fixed: national')
  t.match(await phone(w, 'ams-2', '0612345678'), refused(403, 'Mobile calls not allowed'), 'fixed: no mobile')
  t.match(await phone(w, 'ams-2', '0049301234567'), refused(403, 'International calls not allowed'), 'fixed: nothing abroad')
  t.match(await phone(w, 'ams-2', '0123456'), refused(403, 'International calls not allowed'), 'a number of no class counts as international')
  t.match(await phone(w, 'ams-2', '112'), { kind: 'proxy', target: 'carrier' }, 'emergency always, listed or not')
  const noInternal = world({ site: { ...classed, dialPlan: { ...classed.dialPlan, classes: { ...classes, fixed: ['national' as const] } } } })
  t.match(await phone(noInternal, 'ams-2', '2001'), refused(403, 'Internal calls not allowed'), 'internal is a class too')
  t.match(await phone(world({ site: classed }), 'ams-1', '0201234567'), refused(403, 'Sign in with *51 to call'), 'an idle flex desk: emergency only, as before')
  // Guard tried: the worker looked up by extension alone: the stranger below calls abroad.
  const stranger = world({ site: classed, seats: [seat('u7777', '1001', 'ams-1', 'amsterdam', '50')] })
  t.match(await phone(stranger, 'ams-1', '0201234567'), refused(403, 'Call classes unknown'), 'a seated worker the directory does not show under that extension: refused, no other worker\'s classes')
  t.match(await phone(stranger, 'ams-1', '112'), { kind: 'proxy', target: 'carrier' }, 'emergency still')
  const unclassed = world({ seats: [seat('u1001', '1001', 'ams-1', 'amsterdam', '50')] })
  t.match(await phone(unclassed, 'ams-1', '0900123456'), { kind: 'proxy', target: 'carrier' }, 'without dial_plan.classes nothing is classed (as before)')
})
