import t from 'tap'
import { ReleaseReason, type SeatChanges, type SeatEvent, SeatEventType, SnapshotReason, type WatchSeatsResponse } from '@flexseat/proto'
import type { RegistryCore } from '@flexseat/registry'
import { ADMIN, freshPrefix, leaderOf, revisionOf, rid, seed, startCore, startEtcd, waitFor } from '../helpers/registry-core-harness'

t.setTimeout(25_000)

/** Collects a watch into an array until stopped. */
function collect(core: RegistryCore, afterRevision: string, siteId = '') {
  const controller = new AbortController()
  const got: WatchSeatsResponse[] = []
  const done = (async () => {
    for await (const message of core.watchSeats({ afterRevision, siteId }, controller.signal)) got.push(message)
  })()
  return { got, stop: async () => { controller.abort(); await done } }
}

const changesOf = (got: WatchSeatsResponse[]): SeatChanges[] => got.flatMap((m) => (m.message?.$case === 'changes' ? [m.message.value] : []))
const events = (got: WatchSeatsResponse[]): SeatEvent[] => changesOf(got).flatMap((c) => c.events)
/** The revision of the last message (snapshot or changes), 0 before any. */
const lastRevision = (got: WatchSeatsResponse[]) => {
  const last = got[got.length - 1]?.message
  return last ? BigInt(last.value.revision) : 0n
}
const describe = (e: SeatEvent) => `${e.type === SeatEventType.SEAT_EVENT_TYPE_SEATED ? 'seated' : 'released'} ${e.seat?.userId}@${e.seat?.deviceId}${e.reason ? ` ${ReleaseReason[e.reason]}` : ''}`

t.test('seat watches: snapshot, ordered events with reasons, resume, site filter, compaction', async (t) => {
  const etcd = await startEtcd(t, 1)
  const prefix = freshPrefix()
  const a = await startCore(t, etcd.endpoints, { prefix, site: 'amsterdam' })
  const b = await startCore(t, etcd.endpoints, { prefix, site: 'berlin' })
  const leader = await leaderOf([a, b])
  const follower = leader === a ? b : a
  const { core } = leader
  await seed(core, {
    sites: ['amsterdam', 'berlin'],
    devices: [{ id: 'ams-1', site: 'amsterdam' }, { id: 'ams-2', site: 'amsterdam' }, { id: 'ber-1', site: 'berlin' }],
    users: [
      { id: 'alice', extension: '1001', site: 'amsterdam', pin: '1234' },
      { id: 'bob', extension: '1002', site: 'amsterdam', pin: '1234' },
      { id: 'carol', extension: '1003', site: 'berlin', pin: '1234' },
    ],
  })
  const login = (extension: string, deviceId: string) => core.login({ requestId: rid(), deviceId, extension, pin: '', durationHours: 0 }, ADMIN)
  await login('1003', 'ber-1')

  // Watches on the follower: every instance serves them from its own etcd watch.
  const all = collect(follower.core, '0')
  const ams = collect(follower.core, '0', 'amsterdam')
  await waitFor(() => all.got.length >= 1 && ams.got.length >= 1, 5_000, 'snapshots')
  const snapshot = all.got[0]!.message
  t.equal(snapshot?.$case, 'snapshot')
  if (snapshot?.$case !== 'snapshot') return
  t.equal(snapshot.value.reason, SnapshotReason.SNAPSHOT_REASON_INITIAL)
  t.same(snapshot.value.seats.map((s) => s.userId), ['carol'], 'the snapshot holds every seat')
  const amsSnapshot = ams.got[0]!.message
  t.same(amsSnapshot?.$case === 'snapshot' ? amsSnapshot.value.seats : undefined, [], 'the Amsterdam snapshot holds only Amsterdam seats')

  const r1 = await login('1001', 'ams-1') // alice sits at ams-1
  await login('1002', 'ams-2') // bob at ams-2
  const move = await login('1001', 'ber-1') // alice moves to Berlin and bumps carol: one revision
  await core.logout({ requestId: rid(), target: { $case: 'userId', value: 'bob' }, reason: 0 }, ADMIN)
  await core.deleteUser({ requestId: rid(), userId: 'alice' }, ADMIN)
  // The last write, a marker: a stream that delivered its event has delivered everything before.
  const marker = await login('1003', 'ber-1')
  const end = BigInt(marker.seat!.epoch)
  await waitFor(() => lastRevision(all.got) >= end, 5_000, 'all events up to the marker')

  const ev = events(all.got)
  t.same(ev.map(describe), [
    'seated alice@ams-1',
    'seated bob@ams-2',
    'released carol@ber-1 RELEASE_REASON_BUMPED',
    'seated alice@ber-1',
    'released bob@ams-2 RELEASE_REASON_LOGOUT',
    'released alice@ber-1 RELEASE_REASON_DELETED',
    'seated carol@ber-1',
  ], 'every change, with the reason of every release')
  const changes = changesOf(all.got)
  const revisions = changes.map((c) => BigInt(c.revision))
  t.ok(revisions.every((r, i) => i === 0 || r > revisions[i - 1]!), 'one message per revision, in revision order')
  t.ok(revisions[0]! > BigInt(snapshot.value.revision), 'changes follow the snapshot revision')
  t.ok(changes.every((c) => c.events.length > 0 && c.events.every((e) => e.revision === c.revision)), 'every event carries the revision of its message')
  t.equal(ev[0]!.seat?.epoch, r1.seat?.epoch, 'a seat event carries the epoch')
  t.equal(ev[0]!.revision, r1.seat?.epoch)
  const moveChanges = changes.find((c) => c.revision === move.seat!.epoch)
  t.same(moveChanges?.events.map(describe), ['released carol@ber-1 RELEASE_REASON_BUMPED', 'seated alice@ber-1'], 'a login that bumps and moves is one message with both events')

  await waitFor(() => events(ams.got).length >= 4, 5_000, 'Amsterdam events')
  t.same(events(ams.got).map(describe), [
    'seated alice@ams-1',
    'seated bob@ams-2',
    'released alice@ams-1 RELEASE_REASON_MOVED',
    'released bob@ams-2 RELEASE_REASON_LOGOUT',
  ], 'the site filter delivers a seat moving away as RELEASED (MOVED), and nothing of other sites')

  // Resume after each message of the stream (the snapshot, then every revision, the bump-and-move
  // one included): exactly the rest, whole revisions, no gap, no duplicate. Each resumed stream is
  // read up to the marker's event, so a duplicate or a stray message before it would show.
  for (const from of [snapshot.value.revision, ...changes.slice(0, -1).map((c) => c.revision)]) {
    const resumed = collect(a.core, from)
    await waitFor(() => lastRevision(resumed.got) >= end, 5_000, `resume after ${from} reaches the marker`)
    t.same(changesOf(resumed.got), changes.filter((c) => BigInt(c.revision) > BigInt(from)), `resuming after ${from} gives the rest exactly`)
    t.notOk(resumed.got.some((m) => m.message?.$case === 'snapshot'), 'and no snapshot')
    await resumed.stop()
  }

  // A live watch sees changes after the resume point, too.
  const live = collect(b.core, end.toString())
  await login('1002', 'ams-1')
  await waitFor(() => events(live.got).length >= 1, 5_000, 'a live event')
  t.equal(events(live.got)[0]!.seat?.userId, 'bob')
  await live.stop()
  await all.stop()
  await ams.stop()

  // Compaction: a resume from a compacted revision gets a COMPACTED snapshot, then the changes.
  const head = await revisionOf(leader.etcd)
  await leader.etcd.kv.compact({ revision: head.toString(), physical: true })
  const stale = collect(follower.core, snapshot.value.revision)
  await waitFor(() => stale.got.length >= 1, 5_000, 'the compacted snapshot')
  const first = stale.got[0]!.message
  t.equal(first?.$case, 'snapshot')
  if (first?.$case === 'snapshot') {
    t.equal(first.value.reason, SnapshotReason.SNAPSHOT_REASON_COMPACTED, 'reason COMPACTED')
    t.ok(BigInt(first.value.revision) >= head, 'at the current revision')
    t.same(first.value.seats.map((s) => `${s.userId}@${s.deviceId}`), ['bob@ams-1', 'carol@ber-1'], 'with the current seats')
  }
  await login('1003', 'ams-2')
  await waitFor(() => events(stale.got).length >= 1, 5_000, 'an event after the compacted snapshot')
  t.equal(events(stale.got)[0]!.seat?.userId, 'carol')
  await stale.stop()
})
