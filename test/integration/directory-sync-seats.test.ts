// The directory sync and seats, end to end (real slapd, etcd, a registry process, gRPC), with the
// leader's own schedule running an incremental sync every second:
// - the directory renumbers a seated worker: the seat stays at the desk and follows the new
//   extension (a new epoch; the old number reaches nobody);
// - the directory disables a seated worker: the seat is released at once (reason DIRECTORY, as
//   the branches see it on their seat stream) and the user can no longer be seated;
// - the directory removes a seated worker: an incremental sync cannot see a deletion, the next
//   full sync removes the user and releases the seat (reason DIRECTORY).
import t from 'tap'
import { randomUUID } from 'node:crypto'
import {
  DirectorySyncMode,
  DirectorySyncState,
  ErrorCode,
  errorDetailOf,
  ReleaseReason,
  type SeatEvent,
  SeatEventType,
  serverStream,
  unary,
  type WatchSeatsRequest,
  type WatchSeatsResponse,
} from '@flexseat/proto'
import { listAllUsers, startSyncCluster } from '../helpers/directory-sync'
import { Slapd } from '../helpers/ldap'
import { callError, eventually } from '../helpers/registry-cluster'

t.test('renumbered, disabled, removed while seated', async (t) => {
  const slapd = await Slapd.start({ people: [{ username: 'ada', ipPhone: '1001', department: 'Sales' }, { username: 'alan', ipPhone: '1002' }, { username: 'grace', ipPhone: '1003' }] })
  t.teardown(() => slapd.stop())
  const { cluster, sync } = await startSyncCluster(slapd, { instances: 1, schedule: 'full_every: 1h\nincremental_every: 1s' })
  t.teardown(async () => {
    sync.close()
    await cluster.stop()
  })
  const { directory, seat } = cluster.clients(0)
  const admin = { metadata: cluster.metadata('admin') }
  // Sales sit at berlin: its site did not exist for the first sync (a conflict, as was every
  // entry if the instance's own site was not created yet), so a full sync once it does.
  await unary(directory.createSite.bind(directory), { requestId: randomUUID(), site: { id: 'berlin', name: 'Berlin', timezone: 'Europe/Berlin', emergencyNumbers: ['112'], dispatchableLocation: '', sipTrunkUri: '', revision: '0', sipDomain: '' } }, admin)
  for (const [id, siteId, extension] of [['ber-desk-1', 'berlin', '2021'], ['ams-desk-1', 'amsterdam', '2011'], ['ams-desk-2', 'amsterdam', '2012']] as const) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id, siteId, extension, label: id, model: '', flexHost: true, revision: '0' } }, admin)
  }
  const full = await sync.syncToEnd(0)
  t.match(full.run, { mode: DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL, conflictCount: 0 })
  t.same((await listAllUsers(cluster, 0)).map((u) => u.id).sort(), ['ada', 'alan', 'grace'])

  const seated = async (extension: string, deviceId: string) =>
    (await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId, extension, pin: '', durationHours: 0 }, admin)).seat!
  const adaSeat = await seated('1001', 'ber-desk-1')
  await seated('1002', 'ams-desk-1')
  await seated('1003', 'ams-desk-2')
  const { revision } = await unary(seat.listSeats.bind(seat), { siteId: '', pageSize: 10, pageToken: '' }, admin)
  const events: SeatEvent[] = []
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  void (async () => {
    for await (const message of serverStream<WatchSeatsRequest, WatchSeatsResponse>(seat.watchSeats.bind(seat), { afterRevision: revision, siteId: '' }, { metadata: cluster.metadata('sip-node'), signal: stop.signal })) {
      if (message.message?.$case === 'changes') events.push(...message.message.value.events)
    }
  })().catch(() => undefined)
  const seatOf = async (extension: string) => (await unary(seat.getSeat.bind(seat), { target: { $case: 'extension', value: extension } }, admin)).seat

  // Renumbered while seated: the seat stays and follows.
  await slapd.modify('ada', { ipPhone: '1011' })
  const moved = await eventually('the seat follows 1011', async () => {
    const now = await seatOf('1011').catch(() => undefined)
    return now?.deviceId === 'ber-desk-1' ? now : undefined
  })
  t.ok(BigInt(moved.epoch) > BigInt(adaSeat.epoch), 'at a new epoch, so every branch applies it in order')
  t.equal(moved.since?.toISOString(), adaSeat.since?.toISOString(), 'the same seat: not a new sign-in')
  t.equal(errorDetailOf(await callError(seatOf('1001')))?.code, ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, 'the old number reaches nobody')
  t.ok(events.some((e) => e.type === SeatEventType.SEAT_EVENT_TYPE_SEATED && e.seat?.userId === 'ada' && e.seat.extension === '1011' && e.seat.deviceId === 'ber-desk-1'), 'the branches see the seat with the new number')
  const status = await sync.status(0)
  t.equal(status.last?.mode, DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL, 'the leader\'s incremental sync found the change')

  // Disabled while seated: the seat goes at once, and the user cannot be seated again.
  await slapd.setDisabled('alan', true)
  const released = await eventually('alan\'s seat released', () => events.find((e) => e.type === SeatEventType.SEAT_EVENT_TYPE_RELEASED && e.seat?.userId === 'alan'))
  t.equal(released.reason, ReleaseReason.RELEASE_REASON_DIRECTORY, 'released for the directory, as the desk is told')
  t.equal(released.seat?.deviceId, 'ams-desk-1')
  t.match((await unary(directory.getUser.bind(directory), { key: { $case: 'userId', value: 'alan' } }, admin)).user, { disabled: true, extension: '1002' })
  t.equal(errorDetailOf(await callError(seated('1002', 'ams-desk-1')))?.code, ErrorCode.ERROR_CODE_USER_DISABLED, 'not even an administrator seats a disabled worker')
  await slapd.setDisabled('alan', false)
  await eventually('alan enabled again', async () => (await unary(directory.getUser.bind(directory), { key: { $case: 'userId', value: 'alan' } }, admin)).user?.disabled === false)

  // Removed while seated: incremental syncs do not see it; the next full sync does.
  await slapd.remove('grace')
  const removedAt = Date.now()
  await eventually('an incremental sync after the removal', async () => {
    const last = (await sync.status(0)).last
    return last?.mode === DirectorySyncMode.DIRECTORY_SYNC_MODE_INCREMENTAL && last.startedAt !== undefined && last.startedAt.getTime() > removedAt + 1_000
  })
  t.equal((await seatOf('1003'))?.deviceId, 'ams-desk-2', 'still seated after incremental syncs')
  const { run } = await sync.syncToEnd(0)
  t.match(run, { state: DirectorySyncState.DIRECTORY_SYNC_STATE_SUCCEEDED, mode: DirectorySyncMode.DIRECTORY_SYNC_MODE_FULL, deleted: 1, seatsReleased: 1 })
  const gone = await eventually('grace\'s seat released', () => events.find((e) => e.type === SeatEventType.SEAT_EVENT_TYPE_RELEASED && e.seat?.userId === 'grace'))
  t.equal(gone.reason, ReleaseReason.RELEASE_REASON_DIRECTORY)
  t.equal(errorDetailOf(await callError(unary(directory.getUser.bind(directory), { key: { $case: 'userId', value: 'grace' } }, admin)))?.code, ErrorCode.ERROR_CODE_USER_NOT_FOUND)
  t.equal(errorDetailOf(await callError(seatOf('1003')))?.code, ErrorCode.ERROR_CODE_UNKNOWN_EXTENSION, 'her extension is free again')
})
