import t from 'tap'
import { Metadata, status } from '@grpc/grpc-js'
import { resumingWatch } from '@flexseat/cli'
import { SeatEventType, SeatVia, type Seat, type WatchSeatsResponse } from '@flexseat/proto'

// The reconnection logic alone, against scripted streams (the real stream is exercised by
// test/integration/cli-watch.test.ts against a registry cluster).

function seat(userId: string, deviceId: string, epoch: string): Seat {
  return { userId, extension: userId, displayName: '', deviceId, siteId: 's', since: new Date(0), expiresAt: undefined, via: SeatVia.SEAT_VIA_ADMIN, epoch }
}
function event(type: SeatEventType, s: Seat, revision: string): WatchSeatsResponse {
  return { message: { $case: 'event', value: { type, seat: s, reason: 0, revision } } }
}
const unavailable = Object.assign(new Error('14 UNAVAILABLE: gone'), { code: status.UNAVAILABLE, details: 'gone', metadata: new Metadata() })

t.test('resumes after a break with no gap and no duplicate, even inside one revision', async (t) => {
  // Revision 10: a login that moves 1001 and bumps 1002 (three events); the stream breaks after two.
  const moved = event(SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat('1001', 'a', '5'), '10')
  const seated = event(SeatEventType.SEAT_EVENT_TYPE_SEATED, seat('1001', 'b', '10'), '10')
  const bumped = event(SeatEventType.SEAT_EVENT_TYPE_RELEASED, seat('1002', 'b', '7'), '10')
  const later = event(SeatEventType.SEAT_EVENT_TYPE_SEATED, seat('1002', 'c', '11'), '11')
  const snapshot: WatchSeatsResponse = { message: { $case: 'snapshot', value: { reason: 1, seats: [], revision: '9' } } }
  const opened: string[] = []
  const controller = new AbortController()
  const streams = [
    async function* (after: string) {
      opened.push(after)
      yield snapshot
      yield moved
      yield seated
      throw unavailable
    },
    async function* (after: string) {
      opened.push(after)
      // The registry replays everything after revision 9: all of revision 10, then 11.
      yield moved
      yield seated
      yield bumped
      yield later
      throw unavailable
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
  t.same(opened, ['0', '9', '10'], 'first with a snapshot, then after revision 9 (10 was partly seen), then after 11-1')
  t.same(got, [snapshot, moved, seated, bumped, later], 'every message once, in order')
  t.same(reconnects, ['10', '11'])
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
