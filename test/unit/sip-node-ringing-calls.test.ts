// The ringing-call registry and its place in the revocation order (invariant 4): a seat change
// stops the calls ringing for that worker on any other phone before the revocation is
// acknowledged and before any display text; a lost lease stops them all. Real SeatView fed with
// WatchSeats messages; the lease, directory, messenger and registry client are stubs.
import t from 'tap'
import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import type { SiteConfig } from '@flexseat/config'
import { ReleaseReason, type Seat, SeatEventType, type WatchSeatsResponse } from '@flexseat/proto'
import { RingingCalls, ringingStopResponse, SeatNotifier, SeatView } from '@flexseat/sip-node'

const AMS = { id: 'amsterdam', name: 'Amsterdam' } as SiteConfig
const SITES = new Map([AMS, { id: 'berlin', name: 'Berlin' } as SiteConfig].map((s) => [s.id, s] as const))

function seat(userId: string, extension: string, deviceId: string, siteId: string, epoch: string, pending = false): Seat {
  return { userId, extension, displayName: '', deviceId, siteId, since: undefined, expiresAt: undefined, via: 1, epoch, pending: pending ? [{ siteId: 'amsterdam', deviceId: 'ams-1', epoch: '9', since: undefined, traceParent: '' }] : [], dailySignOutAt: undefined, idleSeconds: 0, dailySignOut: '', warnSeconds: 0, renewedAt: undefined, profileChangedAt: undefined }
}
const snapshot = (revision: string, seats: Seat[]): WatchSeatsResponse => ({ message: { $case: 'snapshot', value: { reason: 1, seats, revision } } })
const changes = (revision: string, events: Array<{ type: SeatEventType; seat: Seat; reason?: ReleaseReason }>): WatchSeatsResponse => ({
  message: { $case: 'changes', value: { revision, events: events.map((e) => ({ type: e.type, seat: e.seat, reason: e.reason ?? ReleaseReason.RELEASE_REASON_UNSPECIFIED, revision })) } },
})

function setup() {
  const view = new SeatView()
  const lease = Object.assign(new EventEmitter(), { active: true })
  const ringing = new RingingCalls()
  const events: string[] = []
  const notifier = SeatNotifier.start({
    site: AMS,
    sites: SITES,
    nodeId: 'amsterdam-node',
    view,
    lease,
    directory: { device: async () => undefined },
    messenger: { send: async (deviceId, text) => void events.push(`message ${deviceId}: ${text}`) },
    client: { ackRevocations: async (request) => void events.push(`ack ${request.revocations.map((r) => r.userId).join(',')}`) },
    ringing,
    logger: pino({ level: 'silent' }),
  })
  t.teardown(() => notifier.stop())
  const ring = (userId: string, extension: string, deviceId: string): void => {
    ringing.add({ userId, extension, deviceId, callId: `${userId}@${deviceId}`, stop: async (status, reason) => void events.push(`stop ${deviceId}: ${status} ${reason}`) })
  }
  return { view, lease, ringing, events, notifier, ring }
}

t.test('final responses by why the ringing stops', async (t) => {
  t.same(ringingStopResponse('1001', 'moved'), { status: 480, reason: '1001 signed in elsewhere' })
  t.same(ringingStopResponse('1001', 'signed-out'), { status: 480, reason: '1001 is not signed in' })
  t.same(ringingStopResponse('1001', 'offline'), { status: 480, reason: '1001 is unreachable (branch offline)' })
  t.same(ringingStopResponse('1001', 'timeout'), { status: 408, reason: 'Request Timeout' })
})

t.test('the registry: add, remove, stop once', async (t) => {
  const ringing = new RingingCalls()
  let stops = 0
  const remove = ringing.add({ userId: 'ada', extension: '1001', deviceId: 'ams-1', callId: 'c1', stop: async () => void (stops += 1) })
  ringing.add({ userId: 'alan', extension: '1002', deviceId: 'ams-2', callId: 'c2', stop: async () => void (stops += 1) })
  t.equal(ringing.forUser('ada').length, 1)
  await ringing.stopUser('ada', () => 'moved', 'ams-1')
  t.equal(stops, 0, 'not on the phone where the worker still sits')
  await ringing.stopUser('ada', () => 'moved')
  await ringing.stopUser('ada', () => 'moved')
  t.equal(stops, 1, 'stopped once, then gone from the registry')
  remove()
  t.equal(ringing.size, 1)
  await ringing.stopAll('offline')
  t.equal(ringing.size, 0)
  t.equal(stops, 2)
})

t.test('moved to another branch: the ringing stops before the ack, which comes before the text', async (t) => {
  const { view, events, notifier, ring } = setup()
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '9'), seat('alan', '1002', 'ams-2', 'amsterdam', '8')]))
  ring('ada', '1001', 'ams-1')
  ring('alan', '1002', 'ams-2')
  view.apply(changes('20', [{ type: SeatEventType.SEAT_EVENT_TYPE_SEATED, seat: seat('ada', '1001', 'ber-3', 'berlin', '20', true) }]))
  await notifier.idle()
  t.same(events, ['stop ams-1: 480 1001 signed in elsewhere', 'ack ada', 'message ams-1: 1001 signed out: signed in at Berlin, ber-3'], 'stop, ack, text; the other worker rings on')
})

t.test('signed out (or bumped): "is not signed in"; a lost lease stops every call', async (t) => {
  const { view, lease, ringing, events, notifier, ring } = setup()
  view.apply(snapshot('10', [seat('ada', '1001', 'ams-1', 'amsterdam', '9'), seat('alan', '1002', 'ams-2', 'amsterdam', '8')]))
  ring('ada', '1001', 'ams-1')
  view.apply(changes('20', [{ type: SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat: seat('ada', '1001', 'ams-1', 'amsterdam', '9'), reason: ReleaseReason.RELEASE_REASON_LOGOUT }]))
  await notifier.idle()
  t.same(events.slice(0, 2), ['stop ams-1: 480 1001 is not signed in', 'ack ada'])
  events.length = 0
  ring('alan', '1002', 'ams-2')
  lease.active = false
  lease.emit('suspended', 'lease expired')
  await notifier.idle()
  t.same(events, ['stop ams-2: 480 1002 is unreachable (branch offline)', 'message ams-2: Flex sign-in suspended: branch offline'])
  t.equal(ringing.size, 0)
})
