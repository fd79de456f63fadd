import t from 'tap'
import { Metadata, status } from '@grpc/grpc-js'
import { resumingWatch } from '@flexseat/cli'
import { type SeatEvent, SeatEventType, SeatVia, type Seat, type WatchSeatsResponse } from '@flexseat/proto'

// The reconnection logic alone, against scripted streams (the real stream is exercised by
// test/integration/cli-watch.test.ts against a registry cluster).

function seat(userId: string, deviceId: string, epoch: string): Seat {
  return { userId, extension: userId, displayName: '', deviceId, siteId: 's', since: new Date(0), expiresAt: undefined, via: SeatVia.SEAT_VIA_ADMIN, epoch, pending: [], dailySignOutAt: undefined, idleSeconds: 0, dailySignOut: '', warnSeconds: 0, renewedAt: undefined, profileChangedAt: undefined }
}
function event(type: SeatEventType, s: Seat, revision: string): SeatEvent {
  return { type, seat: s, reason: 0, revision }
}
function changes(revision: string, ...events: SeatEvent[]): WatchSeatsResponse {
  return { message: { $case: 'changes', value: { revision, events } } }
}
const unavailable = Object.assign(new Error('14 UNAVAILABLE: gone'), { code: status.UNAVAILABLE, details: 'gone', metadata: new Metadata() })

t.test('resumes after a break right after a multi-event revision with no gap and no duplicate', async (t) => {
  // Revision 10: a login that moves 1001 and bumps 1002 (three events, one message); the stream
  // breaks right after it.
  const moved = event(SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat('1001', 'a', '5'), '10')
  const seated = event(SeatEventType.SEAT_EVENT_TYPE_SEATED, seat('1001', 'b', '10'), '10')
  const bumped = event(SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat('1002', 'b', '7'), '10')
  const ten = changes('10', moved, seated, bumped)
  const eleven = changes('11', event(SeatEventType.SEAT_EVENT_TYPE_SEATED, seat('1002', 'c', '11'), '11'))
  const twelve = changes('12', event(SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat('1002', 'c', '11'), '12'))
  const snapshot: WatchSeatsResponse = { message: { $case: 'snapshot', value: { reason: 1, seats: [], revision: '9' } } }
  const opened: string[] = []
  const controller = new AbortController()
  const streams = [
    async function* (after: string) {
      opened.push(after)
      yield snapshot
      yield ten
      throw unavailable
    },
    async function* (after: string) {
      opened.push(after)
      // A misbehaving registry replays revision 10: it must not be delivered twice.
      yield ten
      yield eleven
      throw unavailable
    },
    async function* (after: string) {
      opened.push(after)
      yield twelve
      // The registry ends the stream (shutting down): reopened after 12.
    },
    async function* (after: string) {
      opened.push(after)
      controller.abort()
      yield* []
    },
  ]
  const reconnects: string[] = []
  const got: WatchSeatsResponse[] = []
  let n = 0
  for await (const message of resumingWatch((after) => streams[n++]!(after), {
    signal: controller.signal,
    backoff: { baseDelayMs: 1, maxDelayMs: 2 },
    onReconnect: (_error, _delay, after) => reconnects.push(after),
  })) {
    got.push(message)
  }
  t.same(opened, ['0', '10', '11', '12'], 'first with a snapshot, then each time after the revision of the last message')
  t.same(got, [snapshot, ten, eleven, twelve], 'every revision once, whole, in order')
  t.same(reconnects, ['10', '11', '12'])
})

t.test('a refusal ends the watch with the error; --from is where the first stream starts', async (t) => {
  const refused = Object.assign(new Error('16 UNAUTHENTICATED'), { code: status.UNAUTHENTICATED, details: 'no token', metadata: new Metadata() })
  const opened: string[] = []
  const watch = resumingWatch(
    (after) =>
      (async function* () {
        opened.push(after)
        yield* [] as WatchSeatsResponse[]
        throw refused
      })(),
    { signal: new AbortController().signal, fromRevision: '123' },
  )
  await t.rejects(async () => {
    for await (const _ of watch) void _
  }, refused)
  t.same(opened, ['123'])
})
