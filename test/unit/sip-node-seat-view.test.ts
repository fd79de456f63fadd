import t from 'tap'
import { type PendingRevocation, ReleaseReason, type Seat, type SeatEvent, SeatEventType, SeatVia, SnapshotReason, type WatchSeatsResponse } from '@flexseat/proto'
import { isActive, type SeatChange, SeatView } from '@flexseat/sip-node'

// The seat view alone, against scripted WatchSeats messages (the real stream is exercised by
// test/integration/sip-node-cluster-stream.test.ts).

function seat(userId: string, deviceId: string, epoch: string, overrides: Partial<Seat> = {}): Seat {
  return {
    userId,
    extension: userId.replace(/^u/, ''),
    displayName: `Worker ${userId}`,
    deviceId,
    siteId: deviceId.split('-')[0] ?? 'ams',
    since: new Date(0),
    expiresAt: undefined,
    via: SeatVia.SEAT_VIA_PHONE,
    epoch,
    pending: [],
    dailySignOutAt: undefined,
    idleSeconds: 0,
    dailySignOut: '',
    warnSeconds: 0, renewedAt: undefined, profileChangedAt: undefined,
    ...overrides,
  }
}
const pending = (siteId: string, epoch: string): PendingRevocation => ({ siteId, deviceId: `${siteId}-old`, epoch, since: new Date(0), traceParent: '' })
const seated = (s: Seat, revision = s.epoch): SeatEvent => ({ type: SeatEventType.SEAT_EVENT_TYPE_SEATED, seat: s, reason: ReleaseReason.RELEASE_REASON_UNSPECIFIED, revision })
const released = (s: Seat, revision: string, reason = ReleaseReason.RELEASE_REASON_LOGOUT): SeatEvent => ({ type: SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat: s, reason, revision })
const changes = (revision: string, ...events: SeatEvent[]): WatchSeatsResponse => ({ message: { $case: 'changes', value: { revision, events } } })
const snapshot = (revision: string, seats: Seat[], reason = SnapshotReason.SNAPSHOT_REASON_INITIAL): WatchSeatsResponse => ({ message: { $case: 'snapshot', value: { reason, seats, revision } } })

const kinds = (list: SeatChange[]): string[] => list.map((c) => (c.kind === 'seated' ? `seated ${c.seat.userId}@${c.seat.deviceId}#${c.seat.epoch}` : `released ${c.seat.userId}@${c.seat.deviceId}/${ReleaseReason[c.reason]}`))

t.test('before the first snapshot the view is empty, at revision 0, and ignores changes', async (t) => {
  const view = new SeatView()
  t.equal(view.revision, '0')
  t.equal(view.ready, false)
  t.same(view.apply(changes('5', seated(seat('u1001', 'ams-1', '5')))), [], 'changes before a snapshot are not applied')
  t.equal(view.byUser('u1001'), undefined)
  t.equal(view.revision, '0')
})

t.test('an initial snapshot fills the view and reports every seat as seated', async (t) => {
  const view = new SeatView()
  const emitted: [SeatChange[], string][] = []
  view.on('changes', (list, revision) => emitted.push([list, revision]))
  const list = view.apply(snapshot('10', [seat('u1001', 'ams-1', '4'), seat('u1002', 'ber-1', '9')]))
  t.same(kinds(list), ['seated u1001@ams-1#4', 'seated u1002@ber-1#9'])
  t.equal(view.ready, true)
  t.equal(view.revision, '10')
  t.equal(view.byUser('u1001')?.deviceId, 'ams-1')
  t.equal(view.byExtension('1002')?.userId, 'u1002')
  t.equal(view.byDevice('ber-1')?.userId, 'u1002')
  t.same(view.atSite('ams').map((s) => s.userId), ['u1001'])
  t.equal(emitted.length, 1, "one 'changes' event")
  t.equal(emitted[0]?.[1], '10', 'with the revision')
})

t.test('an empty snapshot makes the view ready without a changes event', async (t) => {
  const view = new SeatView()
  let events = 0
  view.on('changes', () => events++)
  t.same(view.apply(snapshot('3', [])), [])
  t.equal(view.ready, true)
  t.equal(view.revision, '3')
  t.equal(events, 0)
})

t.test('a move reports seated with the previous seat; lookups follow the move', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', [seat('u1001', 'ams-1', '4')]))
  const list = view.apply(changes('11', seated(seat('u1001', 'ber-2', '11'))))
  t.equal(list.length, 1)
  const change = list[0]!
  t.equal(change.kind, 'seated')
  if (change.kind === 'seated') {
    t.equal(change.seat.deviceId, 'ber-2')
    t.equal(change.previous?.deviceId, 'ams-1', 'previous is the seat the user left')
  }
  t.equal(view.byDevice('ams-1'), undefined, 'the old phone hosts nobody')
  t.equal(view.byDevice('ber-2')?.userId, 'u1001')
  t.equal(view.byExtension('1001')?.deviceId, 'ber-2', 'the extension now leads to the new phone')
  t.same(view.atSite('ams'), [])
  t.same(view.atSite('ber').map((s) => s.userId), ['u1001'])
})

t.test('a move sent as release + seated in one revision gives released then seated with previous', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', [seat('u1001', 'ams-1', '4')]))
  const list = view.apply(changes('11', released(seat('u1001', 'ams-1', '4'), '11', ReleaseReason.RELEASE_REASON_MOVED), seated(seat('u1001', 'ber-2', '11'))))
  t.same(kinds(list), ['released u1001@ams-1/RELEASE_REASON_MOVED', 'seated u1001@ber-2#11'])
  const second = list[1]!
  t.equal(second.kind === 'seated' ? second.previous?.deviceId : undefined, 'ams-1')
  t.equal(view.byExtension('1001')?.deviceId, 'ber-2')
})

t.test('a bump in one revision: the new occupant and the old one released, in either order', async (t) => {
  for (const order of ['seated first', 'released first'] as const) {
    const view = new SeatView()
    view.apply(snapshot('10', [seat('u1001', 'ams-1', '4')]))
    const events = [seated(seat('u1002', 'ams-1', '11')), released(seat('u1001', 'ams-1', '4'), '11', ReleaseReason.RELEASE_REASON_BUMPED)]
    if (order === 'released first') events.reverse()
    const list = view.apply(changes('11', ...events))
    t.equal(list.length, 2, order)
    t.equal(view.byDevice('ams-1')?.userId, 'u1002', `${order}: the phone hosts the new worker`)
    t.equal(view.byUser('u1001'), undefined, `${order}: the old worker is gone`)
    t.equal(view.byExtension('1001'), undefined)
    const release = list.find((c) => c.kind === 'released')
    t.equal(release?.kind === 'released' ? release.reason : undefined, ReleaseReason.RELEASE_REASON_BUMPED)
  }
})

t.test('a pending seat becomes active at a new epoch: seated with the pending one as previous', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', []))
  view.apply(changes('11', seated(seat('u1001', 'ber-2', '11', { pending: [pending('ams', '4')] }))))
  t.equal(isActive(view.byUser('u1001')!), false, 'pending: not active')
  const list = view.apply(changes('12', seated(seat('u1001', 'ber-2', '12'))))
  const change = list[0]!
  t.equal(change.kind, 'seated')
  if (change.kind === 'seated') {
    t.equal(isActive(change.seat), true, 'now active')
    t.equal(change.previous !== undefined && isActive(change.previous), false, 'previous was pending')
    t.equal(change.previous?.deviceId, 'ber-2', 'same phone')
  }
})

t.test('release reports the seat the view held, with the reason', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', [seat('u1001', 'ams-1', '4')]))
  const list = view.apply(changes('12', released(seat('u1001', 'ams-1', '4'), '12', ReleaseReason.RELEASE_REASON_EXPIRED)))
  t.same(kinds(list), ['released u1001@ams-1/RELEASE_REASON_EXPIRED'])
  t.equal(view.byUser('u1001'), undefined)
  t.equal(view.byDevice('ams-1'), undefined)
  t.equal(view.revision, '12')
})

t.test('messages at or below the current revision are ignored (duplicates after a resume)', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', [seat('u1001', 'ams-1', '4')]))
  t.same(view.apply(changes('10', seated(seat('u1001', 'ber-2', '10')))), [], 'at the revision: ignored')
  t.same(view.apply(changes('9', released(seat('u1001', 'ams-1', '4'), '9'))), [], 'below: ignored')
  t.equal(view.byUser('u1001')?.deviceId, 'ams-1')
  t.equal(view.revision, '10')
  view.apply(changes('11', seated(seat('u1001', 'ber-2', '11'))))
  t.same(view.apply(changes('11', seated(seat('u1001', 'ams-1', '11')))), [], 'the same revision twice: the second is ignored')
  t.equal(view.byUser('u1001')?.deviceId, 'ber-2')
  t.same(view.apply(snapshot('11', [])), [], 'a snapshot not newer than the view is ignored')
  t.equal(view.byUser('u1001')?.deviceId, 'ber-2')
})

t.test('per user, an event whose epoch is not newer than the view holds is ignored (epoch order)', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', [seat('u1001', 'ams-1', '8')]))
  // A newer message carrying an older seat of u1001 (epoch 6) must not undo epoch 8.
  t.same(view.apply(changes('12', seated(seat('u1001', 'chi-1', '6')))), [], 'older epoch ignored')
  t.equal(view.byUser('u1001')?.deviceId, 'ams-1')
  t.equal(view.revision, '12', 'the revision still advances')
  view.apply(changes('13', seated(seat('u1001', 'ber-2', '13'))))
  t.same(view.apply(changes('14', seated(seat('u1001', 'ams-1', '13')))), [], 'same epoch again: ignored')
  t.equal(view.byUser('u1001')?.deviceId, 'ber-2')
  // Released at 15: a seated event with an older epoch must not bring the seat back.
  view.apply(changes('15', released(seat('u1001', 'ber-2', '13'), '15')))
  t.same(view.apply(changes('16', seated(seat('u1001', 'ber-2', '14')))), [], 'older than the release: ignored')
  t.equal(view.byUser('u1001'), undefined)
  t.same(kinds(view.apply(changes('17', seated(seat('u1001', 'ams-3', '17'))))), ['seated u1001@ams-3#17'], 'a newer seat applies')
})

t.test('a release of a user the view does not seat changes nothing but fences older seats', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', []))
  t.same(view.apply(changes('12', released(seat('u1001', 'ams-1', '11'), '12'))), [])
  t.same(view.apply(changes('13', seated(seat('u1001', 'ams-1', '11')))), [], 'a seat older than the release stays out')
})

t.test('a snapshot replaces the view and reports the difference', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', [seat('u1001', 'ams-1', '4'), seat('u1002', 'ams-2', '5'), seat('u1003', 'ber-1', '6')]))
  const emitted: SeatChange[][] = []
  view.on('changes', (list) => emitted.push(list))
  // Compacted: u1001 gone, u1002 moved, u1003 unchanged, u1004 new.
  const list = view.apply(snapshot('20', [seat('u1002', 'ber-3', '18'), seat('u1003', 'ber-1', '6'), seat('u1004', 'chi-1', '19')], SnapshotReason.SNAPSHOT_REASON_COMPACTED))
  t.same(kinds(list), ['released u1001@ams-1/RELEASE_REASON_UNSPECIFIED', 'seated u1002@ber-3#18', 'seated u1004@chi-1#19'])
  const moved = list[1]!
  t.equal(moved.kind === 'seated' ? moved.previous?.deviceId : undefined, 'ams-2')
  const fresh = list[2]!
  t.equal(fresh.kind === 'seated' ? fresh.previous : 'x', undefined)
  t.equal(view.byDevice('ams-2'), undefined, 'old index entries are gone')
  t.equal(view.byExtension('1001'), undefined)
  t.equal(view.byExtension('1002')?.deviceId, 'ber-3')
  t.equal(view.revision, '20')
  t.equal(emitted.length, 1)
  // After the snapshot, an event at or below its revision is covered by it.
  t.same(view.apply(changes('21', seated(seat('u1001', 'ams-1', '15')))), [], 'epoch below the snapshot: ignored')
})

t.test('apply with replace: a snapshot at the same revision corrects a suspect view', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', [seat('u1001', 'ams-1', '4')]))
  const list = view.apply(snapshot('10', []), { replace: true })
  t.same(kinds(list), ['released u1001@ams-1/RELEASE_REASON_UNSPECIFIED'])
  t.equal(view.byUser('u1001'), undefined)
})

t.test('reset forgets everything', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', [seat('u1001', 'ams-1', '4')]))
  view.reset()
  t.equal(view.ready, false)
  t.equal(view.revision, '0')
  t.equal(view.byUser('u1001'), undefined)
  t.equal(view.byDevice('ams-1'), undefined)
  t.same(kinds(view.apply(snapshot('5', [seat('u1001', 'ams-1', '4')]))), ['seated u1001@ams-1#4'], 'any snapshot applies after a reset')
})

t.test('revisions and epochs beyond 2^53 compare exactly (BigInt)', async (t) => {
  const base = 2n ** 53n // 9007199254740992: base + 1 is not representable as a double
  const r = (n: bigint): string => (base + n).toString()
  t.equal(Number(r(1n)), Number(r(0n)), 'sanity: as Numbers these two would compare equal')
  const view = new SeatView()
  view.apply(snapshot(r(0n), [seat('u1001', 'ams-1', r(0n))]))
  const list = view.apply(changes(r(1n), seated(seat('u1001', 'ber-2', r(1n)))))
  t.same(kinds(list), [`seated u1001@ber-2#${r(1n)}`], 'one past 2^53 is newer')
  t.equal(view.revision, r(1n))
  t.same(view.apply(changes(r(1n), seated(seat('u1001', 'ams-1', r(1n))))), [], 'the same big revision again is ignored')
  t.same(view.apply(changes(r(3n), seated(seat('u1001', 'ams-1', r(1n))))), [], 'the same big epoch in a newer message is ignored')
  t.same(kinds(view.apply(changes(r(4n), seated(seat('u1001', 'ams-1', r(4n)))))), [`seated u1001@ams-1#${r(4n)}`])
  t.equal(await view.waitForRevision(r(4n), 0), true)
  t.equal(await view.waitForRevision(r(5n), 1), false)
  const big = '18446744073709551615' // beyond int64 even: still ordered
  t.equal(view.apply(changes(big, released(seat('u1001', 'ams-1', r(4n)), big))).length, 1)
  t.equal(view.revision, big)
})

t.test('waitForRevision resolves when the revision is reached, false on timeout', async (t) => {
  const view = new SeatView()
  const early = view.waitForRevision('12', 5_000)
  const late = view.waitForRevision('100', 20)
  view.apply(snapshot('10', []))
  view.apply(changes('12', seated(seat('u1001', 'ams-1', '12'))))
  t.equal(await early, true)
  t.equal(await late, false)
  t.equal(await view.waitForRevision('11', 0), true, 'already past: true at once')
})

t.test('an empty message changes nothing', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('10', []))
  t.same(view.apply({ message: undefined }), [])
  t.equal(view.revision, '10')
})

// Guard tried: the `ahead` exception removed from apply(): the lower snapshot is then ignored
// and the view keeps the seats of the old history.
t.test('a snapshot with reason AHEAD replaces the view though its revision is lower (etcd restored)', async (t) => {
  const view = new SeatView()
  view.apply(snapshot('900', [seat('u1001', 'ams-1', '850'), seat('u1002', 'ber-1', '880')]))
  t.same(view.apply(snapshot('40', [seat('u1002', 'ber-2', '30')])), [], 'an older INITIAL snapshot is ignored')
  const list = view.apply(snapshot('40', [seat('u1002', 'ber-2', '30')], SnapshotReason.SNAPSHOT_REASON_AHEAD))
  t.same(kinds(list), ['released u1001@ams-1/RELEASE_REASON_UNSPECIFIED', 'seated u1002@ber-2#30'], 'the difference is reported')
  t.equal(view.revision, '40', 'the view continues from the cluster\'s revision')
  t.same(kinds(view.apply(changes('41', seated(seat('u1003', 'chi-1', '41'))))), ['seated u1003@chi-1#41'], 'and applies what follows it')
})
