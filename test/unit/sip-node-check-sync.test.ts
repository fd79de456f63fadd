// Seat changes → a check-sync NOTIFY to every phone of this branch whose seat changed (the
// arriving and the leaving desk, bumped or released), in its vendor's variant; none for seats
// elsewhere or for the initial snapshot. Driven through the real SeatView and SeatNotifier.
import t from 'tap'
import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import type { SiteConfig } from '@flexseat/config'
import { Device, PhoneVendor, ReleaseReason, type Seat, SeatEventType, type WatchSeatsResponse } from '@flexseat/proto'
import { checkSyncEvent, SeatNotifier, SeatView } from '@flexseat/sip-node'

const AMS = { id: 'amsterdam', name: 'Amsterdam' } as SiteConfig
const SITES = new Map([[AMS.id, AMS], ['berlin', { id: 'berlin', name: 'Berlin' } as SiteConfig]])
const VENDORS: Record<string, PhoneVendor> = { 'ams-1': PhoneVendor.PHONE_VENDOR_YEALINK, 'ams-2': PhoneVendor.PHONE_VENDOR_POLY }

function seat(userId: string, extension: string, deviceId: string, siteId: string, epoch: string): Seat {
  return { userId, extension, displayName: `Name ${extension}`, deviceId, siteId, since: undefined, expiresAt: undefined, via: 1, epoch, pending: [], dailySignOutAt: undefined, idleSeconds: 0, dailySignOut: '', warnSeconds: 0, renewedAt: undefined, profileChangedAt: undefined }
}
const changes = (revision: string, events: Array<{ type: SeatEventType; seat: Seat; reason?: ReleaseReason }>): WatchSeatsResponse => ({
  message: { $case: 'changes', value: { revision, events: events.map((e) => ({ type: e.type, seat: e.seat, reason: e.reason ?? ReleaseReason.RELEASE_REASON_UNSPECIFIED, revision })) } },
})
const SEATED = SeatEventType.SEAT_EVENT_TYPE_SEATED
const RELEASED = SeatEventType.SEAT_EVENT_TYPE_RELEASED

function setup() {
  const view = new SeatView()
  const syncs: Array<[string, PhoneVendor | undefined]> = []
  const texts: string[] = []
  const notifier = SeatNotifier.start({
    site: AMS,
    sites: SITES,
    nodeId: 'amsterdam-node',
    view,
    lease: Object.assign(new EventEmitter(), { active: true }),
    directory: { device: async (id) => Device.fromPartial({ id, siteId: id.startsWith('ams') ? 'amsterdam' : 'berlin', vendor: VENDORS[id] }) },
    messenger: { send: async (_deviceId, text) => void texts.push(text), checkSync: async (deviceId, vendor) => void syncs.push([deviceId, vendor]) },
    client: { ackRevocations: async () => undefined },
    logger: pino({ level: 'silent' }),
  })
  t.teardown(() => notifier.stop())
  return { view, syncs, texts, notifier }
}

t.test('the variants: Poly plain check-sync, every other family without a reboot', async (t) => {
  t.equal(checkSyncEvent(PhoneVendor.PHONE_VENDOR_YEALINK), 'check-sync;reboot=false')
  t.equal(checkSyncEvent(PhoneVendor.PHONE_VENDOR_SNOM), 'check-sync;reboot=false')
  t.equal(checkSyncEvent(PhoneVendor.PHONE_VENDOR_POLY), 'check-sync')
  t.equal(checkSyncEvent(undefined), 'check-sync;reboot=false')
})

t.test('sign-in, move away, release: each desk of this branch whose seat changed', async (t) => {
  const { view, syncs, notifier } = setup()
  view.apply({ message: { $case: 'snapshot', value: { reason: 1, seats: [seat('ada', '1001', 'ams-1', 'amsterdam', '9')], revision: '10' } } })
  await notifier.idle()
  t.same(syncs, [], 'nothing for the initial snapshot')

  view.apply(changes('11', [{ type: SEATED, seat: seat('alan', '1002', 'ams-2', 'amsterdam', '11') }]))
  await notifier.idle()
  t.same(syncs, [['ams-2', PhoneVendor.PHONE_VENDOR_POLY]], 'the desk a worker sat down at, with its vendor')

  syncs.length = 0
  view.apply(changes('12', [{ type: SEATED, seat: seat('ada', '1001', 'ber-3', 'berlin', '12') }]))
  await notifier.idle()
  t.same(syncs, [['ams-1', PhoneVendor.PHONE_VENDOR_YEALINK]], 'the desk a worker left for another branch; none for the Berlin desk')

  syncs.length = 0
  view.apply(changes('13', [{ type: SEATED, seat: seat('grace', '1003', 'ams-2', 'amsterdam', '13') }, { type: RELEASED, seat: seat('alan', '1002', 'ams-2', 'amsterdam', '11'), reason: ReleaseReason.RELEASE_REASON_BUMPED }]))
  await notifier.idle()
  t.same(syncs, [['ams-2', PhoneVendor.PHONE_VENDOR_POLY]], 'one NOTIFY for a desk whose occupant was bumped by another')

  syncs.length = 0
  view.apply(changes('14', [{ type: SEATED, seat: seat('edsger', '1004', 'ber-9', 'berlin', '14') }]))
  view.apply(changes('15', [{ type: RELEASED, seat: seat('grace', '1003', 'ams-2', 'amsterdam', '13'), reason: ReleaseReason.RELEASE_REASON_LOGOUT }]))
  await notifier.idle()
  t.same(syncs, [['ams-2', PhoneVendor.PHONE_VENDOR_POLY]], 'a sign-out here; nothing for a seat at another branch')
})

t.test('the desk profile of a seated worker changed: a check-sync to that desk, no text', async (t) => {
  const { view, syncs, texts, notifier } = setup()
  view.apply({ message: { $case: 'snapshot', value: { reason: 1, seats: [seat('ada', '1001', 'ams-1', 'amsterdam', '9'), seat('alan', '1002', 'ber-3', 'berlin', '9')], revision: '10' } } })
  await notifier.idle()
  const stamped = (s: Seat): Seat => ({ ...s, profileChangedAt: new Date(1_700_000_000_000) })
  view.apply(changes('11', [{ type: SEATED, seat: stamped(seat('ada', '1001', 'ams-1', 'amsterdam', '11')) }, { type: SEATED, seat: stamped(seat('alan', '1002', 'ber-3', 'berlin', '11')) }]))
  await notifier.idle()
  t.same(syncs, [['ams-1', PhoneVendor.PHONE_VENDOR_YEALINK]], 'the desk of this branch only')
  t.same(texts, [], 'nothing on its display')

  syncs.length = 0
  view.apply(changes('12', [{ type: SEATED, seat: stamped(seat('ada', '1001', 'ams-1', 'amsterdam', '12')) }]))
  await notifier.idle()
  t.same(syncs, [], 'a rewrite of the seat with the same stamp (a renewal): no check-sync')
})
