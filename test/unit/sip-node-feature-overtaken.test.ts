// A *51 sign-in whose answer from the registry comes back after the node's seat view has already
// seen a later change take the worker away from that desk (a move to another branch, a
// sign-out), and told the desk so: the phone gets no "Signed in" (no MESSAGE, a 480 saying where
// the worker went), so a desk never shows a worker the registry has elsewhere. Found by the
// chaos runner's phone checker (issue 13): under an etcd leader's loss a Login answered 0.7 s
// after the move that overtook it. Driven through the real SeatView and FeatureHandler; the
// registry is a stub answering as the real one did in that run.
import t from 'tap'
import { pino } from 'pino'
import type { SiteConfig } from '@flexseat/config'
import { Device, type LoginResponse, ReleaseReason, Seat, SeatEventType, type WatchSeatsResponse } from '@flexseat/proto'
import { FeatureHandler, SeatView } from '@flexseat/sip-node'

const AMS = { id: 'amsterdam', name: 'Amsterdam', featureCodes: { login: '*51', changePin: '*52' }, timezone: 'Europe/Amsterdam' } as SiteConfig
const DESK = Device.fromPartial({ id: 'ams-1', siteId: 'amsterdam', flexHost: true })
const INVITE = { callId: 'c1', cseq: '1', fromTag: 'f1' }
const seat = (deviceId: string, siteId: string, epoch: string): Seat => Seat.fromPartial({ userId: 'u1002', extension: '1002', displayName: 'Alan Turing', deviceId, siteId, epoch })
const changes = (revision: string, s: Seat): WatchSeatsResponse => ({
  message: { $case: 'changes', value: { revision, events: [{ type: SeatEventType.SEAT_EVENT_TYPE_SEATED, seat: s, reason: ReleaseReason.RELEASE_REASON_UNSPECIFIED, revision }] } },
})

function handler(view: SeatView, answer: () => Promise<LoginResponse>): FeatureHandler {
  const refuse = async (): Promise<never> => {
    throw new Error('not called')
  }
  return new FeatureHandler({ site: AMS, seats: view, logger: pino({ level: 'silent' }), client: { login: answer, logout: refuse, changePin: refuse, renewSeat: refuse } })
}

t.test('the view already moved the worker on: no "Signed in" at the desk', async (t) => {
  const view = new SeatView()
  view.apply({ message: { $case: 'snapshot', value: { reason: 1, seats: [], revision: '10' } } })
  // The Login commits at 11; its answer is late: by then the view has applied 11 and a move at 12.
  const features = handler(view, async () => {
    view.apply(changes('11', seat('ams-1', 'amsterdam', '11')))
    view.apply(changes('12', seat('ber-3', 'berlin', '12')))
    return { seat: seat('ams-1', 'amsterdam', '11'), revoked: undefined, bumped: undefined }
  })
  const reply = await features.run({ kind: 'login', extension: '1002', pin: '2468' }, DESK, INVITE)
  // Guard tried: #overtaken answering false: "Signed in as 1002", with its MESSAGE.
  t.same(reply, { status: 480, reason: '1002 signed in elsewhere', headers: {}, message: undefined })
})

t.test('the view not there yet, or there with the worker still here: "Signed in"', async (t) => {
  const behind = new SeatView()
  behind.apply({ message: { $case: 'snapshot', value: { reason: 1, seats: [], revision: '10' } } })
  const early = await handler(behind, async () => ({ seat: seat('ams-1', 'amsterdam', '11'), revoked: undefined, bumped: undefined })).run({ kind: 'login', extension: '1002', pin: '2468' }, DESK, INVITE)
  t.equal(early.reason, 'Signed in as 1002', 'the view has not seen the sign-in yet: confirmed (a later move is told after it)')

  const current = new SeatView()
  current.apply({ message: { $case: 'snapshot', value: { reason: 1, seats: [], revision: '10' } } })
  const seen = await handler(current, async () => {
    current.apply(changes('11', seat('ams-1', 'amsterdam', '11')))
    return { seat: seat('ams-1', 'amsterdam', '11'), revoked: undefined, bumped: undefined }
  }).run({ kind: 'login', extension: '1002', pin: '2468' }, DESK, INVITE)
  t.equal(seen.message, 'Signed in as 1002 (Alan Turing)', 'the view has the seat here: confirmed')
})
