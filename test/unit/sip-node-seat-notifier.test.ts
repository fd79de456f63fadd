// Seat changes → revocation acks and display texts for this branch's phones, driven through the
// real SeatView with WatchSeats messages; the lease, the directory and the messenger are stubs.
import t from 'tap'
import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import type { SiteConfig } from '@flexseat/config'
import { type AckRevocationsRequest, ReleaseReason, type Seat, SeatEventType, type WatchSeatsResponse } from '@flexseat/proto'
import { MAX_ACKS } from '@flexseat/proto'
import { DeskAnswers, SeatNotifier, SeatView } from '@flexseat/sip-node'

const site = (id: string, name: string) => ({ id, name }) as SiteConfig
const AMS = site('amsterdam', 'Amsterdam')
const SITES = new Map([AMS, site('berlin', 'Berlin')].map((s) => [s.id, s] as const))

function seat(userId: string, extension: string, deviceId: string, siteId: string, epoch: string, pending = false): Seat {
  return { userId, extension, displayName: `Name ${extension}`, deviceId, siteId, since: undefined, expiresAt: undefined, via: 1, epoch, pending: pending ? [{ siteId: 'berlin', deviceId: 'b', epoch: '1', since: undefined, traceParent: '' }] : [], dailySignOutAt: undefined, idleSeconds: 0, dailySignOut: '', warnSeconds: 0, renewedAt: undefined, profileChangedAt: undefined }
}
const snapshot = (revision: string, seats: Seat[]): WatchSeatsResponse => ({ message: { $case: 'snapshot', value: { reason: 1, seats, revision } } })
const changes = (revision: string, events: Array<{ type: SeatEventType; seat: Seat; reason?: ReleaseReason }>): WatchSeatsResponse => ({
  message: { $case: 'changes', value: { revision, events: events.map((e) => ({ type: e.type, seat: e.seat, reason: e.reason ?? ReleaseReason.RELEASE_REASON_UNSPECIFIED, revision })) } },
})
const SEATED = SeatEventType.SEAT_EVENT_TYPE_SEATED
const RELEASED = SeatEventType.SEAT_EVENT_TYPE_RELEASED

type NotifierOptions = Parameters<typeof SeatNotifier.start>[0]

/** A notifier over a real SeatView; `messenger`, `client` and `answers` replace the recording stubs. */
function setup(options: { leaseActive?: boolean; ackFails?: boolean } & Partial<Pick<NotifierOptions, 'messenger' | 'client' | 'answers'>> = {}) {
  const view = new SeatView()
  const lease = Object.assign(new EventEmitter(), { active: options.leaseActive ?? true })
  const sent: Array<[string, string]> = []
  const acks: AckRevocationsRequest[] = []
  const logs: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) })
  const notifier = SeatNotifier.start({
    site: AMS,
    sites: SITES,
    nodeId: 'amsterdam-node',
    view,
    lease,
    directory: { device: async (id) => (id === 'ber-3' ? { id, siteId: 'berlin', extension: '3003', label: 'desk-3', model: '', flexHost: true, revision: '1' } : undefined) },
    messenger: options.messenger ?? { send: async (deviceId, text) => void sent.push([deviceId, text]) },
    client: options.client ?? {
      ackRevocations: async (request) => {
        acks.push(request)
        if (options.ackFails) throw new Error('registry down')
      },
    },
    ...(options.answers === undefined ? {} : { answers: options.answers }),
    logger,
  })
  t.teardown(() => notifier.stop())
  return { view, lease, sent, acks, logs, notifier }
}

t.test('the initial snapshot announces nothing; later seats here do', async (t) => {
  const { view, sent, acks, logs, notifier } = setup()
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '9')]))
  await notifier.idle()
  t.same(sent, [], 'no texts for seats that were there before the node started')
  view.apply(changes('11', [{ type: SEATED, seat: seat('alan', '1002', 'ams-2', 'amsterdam', '11') }]))
  view.apply(changes('12', [{ type: SEATED, seat: seat('edsger', '1004', 'ber-9', 'berlin', '12') }]))
  await notifier.idle()
  t.same(sent, [['ams-2', 'Signed in as 1002 (Name 1002)']], 'a new seat here; none for a seat elsewhere')
  t.same(acks, [])
  t.match(logs.find((l) => l['msg'] === 'seat active'), { user: 'alan', device: 'ams-2', epoch: '11', lease: true })
})

t.test('an empty initial snapshot still primes (it emits no batch)', async (t) => {
  const { view, sent, notifier } = setup()
  view.apply(snapshot('10', []))
  await new Promise((resolve) => setTimeout(resolve, 120))
  view.apply(changes('11', [{ type: SEATED, seat: seat('ada', '1001', 'ams-1', 'amsterdam', '11') }]))
  await notifier.idle()
  t.same(sent, [['ams-1', 'Signed in as 1001 (Name 1001)']])
})

t.test('moved away to another branch: text with site and label, ack with the old epoch', async (t) => {
  const { view, sent, acks, logs, notifier } = setup()
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '9')]))
  view.apply(changes('20', [{ type: SEATED, seat: seat('ada', '1001', 'ber-3', 'berlin', '20', true) }]))
  await notifier.idle()
  t.same(acks, [{ siteId: 'amsterdam', nodeId: 'amsterdam-node', revocations: [{ userId: 'ada', epoch: '9' }] }])
  t.same(sent, [['ams-1', '1001 signed out: signed in at Berlin, desk-3']])
  t.match(logs.find((l) => l['msg'] === 'seat revoked'), { user: 'ada', device: 'ams-1', epoch: '9', reason: 'moved' })
})

// Guard tried: the NOTIFY and the text queued without waiting for the next check phase (as
// before): both go out in the acknowledgement's own turn, ahead of the write that grpc-js does
// in the next check phase (here: the stub's setImmediate), and the order below fails.
t.test('the phones are told only after the acknowledgement has had its turn to leave', async (t) => {
  const order: string[] = []
  const { view, notifier } = setup({
    messenger: {
      send: async (deviceId) => void order.push(`MESSAGE ${deviceId}`),
      checkSync: async (deviceId) => void order.push(`NOTIFY ${deviceId}`),
    },
    client: {
      ackRevocations: async () => {
        order.push('ack called')
        // Where grpc-js's http2 session writes what the call queued: a native immediate of the next check phase.
        setImmediate(() => order.push('ack written'))
      },
    },
  })
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '9')]))
  view.apply(changes('20', [{ type: SEATED, seat: seat('ada', '1001', 'ber-3', 'berlin', '20', true) }]))
  await notifier.idle()
  t.same(order.slice(0, 2), ['ack called', 'ack written'], 'the acknowledgement is called and written before any request to a phone')
  t.same(order.slice(2).sort(), ['MESSAGE ams-1', 'NOTIFY ams-1'], 'then the old desk is told')
})

// Guard tried: the notifier without the desk's answers (the option ignored): the text and the
// NOTIFY go to the desk while its *51 still waits for its final response.
t.test('a desk signing in is told only once its *51 is answered', async (t) => {
  const answers = new DeskAnswers()
  const sent: string[] = []
  const { view, notifier } = setup({
    messenger: { send: async (deviceId, text) => void sent.push(`MESSAGE ${deviceId} ${text}`), checkSync: async (deviceId) => void sent.push(`NOTIFY ${deviceId}`) },
    answers,
  })
  view.apply(snapshot('10', []))
  await new Promise((resolve) => setTimeout(resolve, 120))
  const answered = answers.begin('ams-2')
  view.apply(changes('11', [{ type: SEATED, seat: seat('alan', '1002', 'ams-2', 'amsterdam', '11') }]))
  view.apply(changes('12', [{ type: SEATED, seat: seat('ada', '1001', 'ams-1', 'amsterdam', '12') }]))
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
  t.same(sent.filter((s) => s.includes('ams-2')), [], 'nothing to the desk while its sign-in waits for its answer')
  answered()
  await notifier.idle()
  t.same(sent.filter((s) => s.includes('ams-2')).sort(), ['MESSAGE ams-2 Signed in as 1002 (Name 1002)', 'NOTIFY ams-2'], 'then its NOTIFY and text')
  t.ok(sent.includes('NOTIFY ams-1'), 'another desk\'s NOTIFY did not wait for it')
})

t.test('DeskAnswers: settled once every feature code of the desk is answered', async (t) => {
  const answers = new DeskAnswers()
  await answers.settled('free-desk')
  const first = answers.begin('d')
  const second = answers.begin('d')
  let settled = false
  const waiting = answers.settled('d').then(() => (settled = true))
  first()
  first()
  await new Promise((resolve) => setImmediate(resolve))
  t.notOk(settled, 'one still in flight (and ending one twice counts once)')
  second()
  await waiting
  t.ok(settled)
  const stuck = answers.begin('e')
  // The bound's timer is unref'd: something else keeps the test's event loop alive meanwhile.
  const hold = setInterval(() => undefined, 1_000)
  await answers.settled('e', 10)
  clearInterval(hold)
  t.pass('a desk never answered holds nothing past the bound')
  stuck()
})

t.test('the phone itself moved to another site: acknowledged like a move (not left to the next renewal)', async (t) => {
  const { view, acks, notifier } = setup()
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '9')]))
  view.apply(changes('21', [{ type: SEATED, seat: seat('ada', '1001', 'ams-1', 'berlin', '21', true) }]))
  await notifier.idle()
  t.same(acks, [{ siteId: 'amsterdam', nodeId: 'amsterdam-node', revocations: [{ userId: 'ada', epoch: '9' }] }])
})

t.test('bumped: the old worker is told who took the phone, then the newcomer is greeted', async (t) => {
  const { view, sent, acks, notifier } = setup()
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '9')]))
  view.apply(
    changes('21', [
      { type: SEATED, seat: seat('alan', '1002', 'ams-1', 'amsterdam', '21') },
      { type: RELEASED, seat: seat('ada', '1001', 'ams-1', 'amsterdam', '9'), reason: ReleaseReason.RELEASE_REASON_BUMPED },
    ]),
  )
  await notifier.idle()
  t.same(sent, [
    ['ams-1', '1001 signed out: 1002 signed in at this phone'],
    ['ams-1', 'Signed in as 1002 (Name 1002)'],
  ])
  t.same(acks[0]?.revocations, [{ userId: 'ada', epoch: '9' }])
})

t.test('released: the reason in the text; pending seats wait until active', async (t) => {
  const { view, sent, acks, notifier } = setup()
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '5'), seat('alan', '1002', 'ams-2', 'amsterdam', '6'), seat('grace', '1003', 'ams-3', 'amsterdam', '7')]))
  view.apply(changes('30', [{ type: RELEASED, seat: seat('ada', '1001', 'ams-1', 'amsterdam', '5'), reason: ReleaseReason.RELEASE_REASON_LOGOUT }]))
  view.apply(changes('31', [{ type: RELEASED, seat: seat('alan', '1002', 'ams-2', 'amsterdam', '6'), reason: ReleaseReason.RELEASE_REASON_ADMIN }]))
  view.apply(changes('32', [{ type: RELEASED, seat: seat('grace', '1003', 'ams-3', 'amsterdam', '7'), reason: ReleaseReason.RELEASE_REASON_EXPIRED }]))
  view.apply(changes('33', [{ type: SEATED, seat: seat('edsger', '1004', 'ams-4', 'amsterdam', '33', true) }]))
  await notifier.idle()
  t.same(sent, [
    ['ams-1', '1001 signed out'],
    ['ams-2', '1002 signed out by an administrator'],
    ['ams-3', '1003 signed out: time limit reached'],
  ], 'a pending seat is not announced')
  t.same(acks.map((a) => a.revocations), [[{ userId: 'ada', epoch: '5' }], [{ userId: 'alan', epoch: '6' }], [{ userId: 'grace', epoch: '7' }]])
  view.apply(changes('34', [{ type: SEATED, seat: seat('edsger', '1004', 'ams-4', 'amsterdam', '34') }]))
  await notifier.idle()
  t.same(sent[3], ['ams-4', 'Signed in as 1004 (Name 1004)'], 'announced once active')
})

t.test('sign-out policies: the desk is told which rule ended the seat', async (t) => {
  const { view, sent, acks, notifier } = setup()
  const since = new Date('2026-12-07T09:00:00Z')
  const limited = { ...seat('ada', '1001', 'ams-1', 'amsterdam', '5'), since, expiresAt: new Date(since.getTime() + 8 * 3_600_000) }
  const daily = { ...seat('alan', '1002', 'ams-2', 'amsterdam', '6'), since, dailySignOutAt: new Date('2026-12-07T18:00:00Z'), dailySignOut: '19:00' }
  const idle = { ...seat('grace', '1003', 'ams-3', 'amsterdam', '7'), since, idleSeconds: 1_800 }
  const quick = { ...seat('edsger', '1004', 'ams-4', 'amsterdam', '8'), since, expiresAt: new Date(since.getTime() + 3_000) }
  view.apply(snapshot('10', [limited, daily, idle, quick]))
  view.apply(changes('30', [{ type: RELEASED, seat: limited, reason: ReleaseReason.RELEASE_REASON_TIME_LIMIT }]))
  view.apply(changes('31', [{ type: RELEASED, seat: daily, reason: ReleaseReason.RELEASE_REASON_DAILY }]))
  view.apply(changes('32', [{ type: RELEASED, seat: idle, reason: ReleaseReason.RELEASE_REASON_IDLE }]))
  view.apply(changes('33', [{ type: RELEASED, seat: quick, reason: ReleaseReason.RELEASE_REASON_TIME_LIMIT }]))
  await notifier.idle()
  t.same(sent, [
    ['ams-1', '1001 signed out: time limit 8 h'],
    ['ams-2', '1002 signed out: daily sign-out 19:00'],
    ['ams-3', '1003 signed out: idle 30 min'],
    ['ams-4', '1004 signed out: time limit 3 s'],
  ])
  t.equal(acks.length, 4, 'each acknowledged like any release')
})

t.test('the directory: a removed or disabled worker is told so and acknowledged; a renumbered one sees the new number', async (t) => {
  const { view, sent, acks, logs, notifier } = setup()
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '5'), seat('alan', '1002', 'ams-2', 'amsterdam', '6')]))
  view.apply(changes('40', [{ type: RELEASED, seat: seat('ada', '1001', 'ams-1', 'amsterdam', '5'), reason: ReleaseReason.RELEASE_REASON_DIRECTORY }]))
  // The directory changed alan's ipPhone while he sits at ams-2: the seat stays, at a new epoch.
  view.apply(changes('41', [{ type: SEATED, seat: { ...seat('alan', '1009', 'ams-2', 'amsterdam', '41'), displayName: 'Name 1002' } }]))
  await notifier.idle()
  t.same(sent, [
    ['ams-1', '1001 signed out by the directory'],
    ['ams-2', 'Signed in as 1009 (Name 1002)'],
  ])
  t.same(acks.map((a) => a.revocations), [[{ userId: 'ada', epoch: '5' }]], 'only the release is a revocation: the renumbered seat stays')
  t.match(logs.find((l) => l['msg'] === 'seat revoked'), { user: 'ada', reason: 'directory' })
  t.match(logs.find((l) => l['msg'] === 'seated worker renumbered'), { user: 'alan', extension: '1009' })
})

t.test('lease lost and back', async (t) => {
  const { view, lease, sent, notifier } = setup()
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '9'), seat('alan', '1002', 'ber-1', 'berlin', '8')]))
  lease.emit('active')
  await notifier.idle()
  t.same(sent, [], 'the first grant is not news')
  lease.active = false
  lease.emit('suspended', 'renewal failed')
  await notifier.idle()
  t.same(sent, [['ams-1', 'Flex sign-in suspended: branch offline']])
  view.apply(changes('11', [{ type: SEATED, seat: seat('grace', '1003', 'ams-3', 'amsterdam', '11') }]))
  await notifier.idle()
  t.equal(sent.length, 1, 'no greeting while the lease is not valid')
  lease.active = true
  lease.emit('active')
  await notifier.idle()
  t.same(sent.slice(1), [
    ['ams-1', 'Signed in as 1001 again'],
    ['ams-3', 'Signed in as 1003 again'],
  ])
})

t.test('a failed ack is logged, not thrown', async (t) => {
  const { view, acks, logs, notifier } = setup({ ackFails: true })
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '9')]))
  view.apply(changes('20', [{ type: RELEASED, seat: seat('ada', '1001', 'ams-1', 'amsterdam', '9'), reason: ReleaseReason.RELEASE_REASON_LOGOUT }]))
  await notifier.idle()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(acks.length, 1)
  t.ok(logs.some((l) => l['msg'] === 'revocation ack failed; the next lease renewal acknowledges it'))
})

// Guard tried: one AckRevocations for the whole batch: the registry's limit refuses it (the stub
// below refuses what the registry would), every ack fails, and the moves wait for the next renewal.
t.test('a batch of more revocations than one AckRevocations may carry is acknowledged in several calls', async (t) => {
  const view = new SeatView()
  const acks: AckRevocationsRequest[] = []
  const logs: Array<Record<string, unknown>> = []
  const notifier = SeatNotifier.start({
    site: AMS,
    sites: SITES,
    nodeId: 'amsterdam-node',
    view,
    lease: Object.assign(new EventEmitter(), { active: true }),
    directory: { device: async () => undefined },
    messenger: { send: async () => undefined },
    client: {
      ackRevocations: async (request) => {
        if (request.revocations.length > MAX_ACKS) throw new Error(`revocations: at most ${MAX_ACKS} per call`)
        acks.push(request)
      },
    },
    logger: pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) }),
  })
  t.teardown(() => notifier.stop())
  const count = 2 * MAX_ACKS + 500
  const users = Array.from({ length: count }, (_, i) => String(10_000 + i))
  view.apply(snapshot('10', users.map((u) => seat(`u${u}`, u, `ams-${u}`, 'amsterdam', '9'))))
  view.apply(changes('20', users.map((u) => ({ type: SEATED, seat: seat(`u${u}`, u, `ber-${u}`, 'berlin', '20', true) }))))
  await notifier.idle()
  await new Promise((resolve) => setImmediate(resolve))
  t.same(logs.filter((l) => l['msg'] === 'revocation ack failed; the next lease renewal acknowledges it'), [], 'no ack refused')
  t.same(acks.map((a) => a.revocations.length), [MAX_ACKS, MAX_ACKS, 500], 'three calls, none over the limit')
  t.same(acks.flatMap((a) => a.revocations.map((r) => r.userId)), users.map((u) => `u${u}`), 'every revocation acknowledged once, in order')
  t.ok(acks.every((a) => a.siteId === 'amsterdam' && a.nodeId === 'amsterdam-node'), 'each call names the site and the node')
})
