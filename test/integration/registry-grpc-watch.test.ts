import type { User } from '@flexseat/proto'
// A WatchSeats stream resumed across registry restarts (to another instance, then to the restarted
// one) with after_revision = the revision of the last message received: no gap and no duplicate,
// compared with a reference stream on an instance that never restarts. Every message holds all the
// changes of one revision, so a stream cut right after a login that moved a worker and bumped an
// occupant (several events, one revision) resumes exactly.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { ReleaseReason, type SeatChanges, type SeatEvent, SeatEventType, serverStream, unary, type WatchSeatsRequest, type WatchSeatsResponse } from '@flexseat/proto'
import { eventually, RegistryCluster, worker } from '../helpers/registry-cluster'

t.setTimeout(90_000)

const user = (extension: string): User => worker(extension)

const eventKey = (event: SeatEvent) => `${event.revision}:${event.type}:${event.seat?.userId}:${event.seat?.deviceId}:${event.reason}`
/** One message as text: its revision and every event of it, in order. */
const key = (changes: SeatChanges) => `${changes.revision}[${changes.events.map(eventKey).join(' ')}]`
const describe = (e: SeatEvent) => `${e.type === SeatEventType.SEAT_EVENT_TYPE_SEATED ? 'seated' : 'released'} ${e.seat?.extension}@${e.seat?.deviceId}${e.reason ? ` ${ReleaseReason[e.reason]}` : ''}`

/** Collects the changes messages of one WatchSeats stream into `into`; resolves when the stream ends (any way). */
async function collect(cluster: RegistryCluster, index: number, afterRevision: string, into: SeatChanges[], signal: AbortSignal): Promise<{ snapshotRevision?: string; error?: unknown }> {
  const { seat } = cluster.clients(index)
  let snapshotRevision: string | undefined
  try {
    for await (const message of serverStream<WatchSeatsRequest, WatchSeatsResponse>(seat.watchSeats.bind(seat), { afterRevision, siteId: '' }, { metadata: cluster.metadata('sip-node'), signal })) {
      if (message.message?.$case === 'snapshot') snapshotRevision = message.message.value.revision
      else if (message.message?.$case === 'changes') into.push(message.message.value)
    }
    return snapshotRevision === undefined ? {} : { snapshotRevision }
  } catch (error) {
    return { ...(snapshotRevision === undefined ? {} : { snapshotRevision }), error }
  }
}

t.test('a seat stream resumed across restarts has no gap and no duplicate', async (t) => {
  const cluster = await RegistryCluster.start({ instances: 3, etcdMembers: 1 })
  t.teardown(() => cluster.stop())
  const admin = cluster.metadata('admin')
  const leader = await cluster.leader()
  // The resumed stream starts on a follower A, moves to follower B when A is killed, and back to
  // A once it has restarted. The reference stream runs on the leader, which never restarts.
  const [a, b] = [0, 1, 2].filter((i) => i !== leader) as [number, number]
  const { directory } = cluster.clients(leader)
  await eventually('the sites exist', async () => (await unary(directory.listSites.bind(directory), { pageSize: 0, pageToken: '' }, { metadata: admin })).sites.length === 3)
  const extensions = ['7301', '7302', '7303', '7304']
  for (const extension of extensions) {
    await unary(directory.createUser.bind(directory), { requestId: randomUUID(), user: user(extension), pin: '1234' }, { metadata: admin })
  }
  const desks = ['w1', 'w2', 'w3']
  for (let n = 0; n < desks.length; n += 1) {
    await unary(directory.createDevice.bind(directory), { requestId: randomUUID(), device: { id: desks[n]!, siteId: 'chicago', extension: `97${n}0`, label: '', model: '', flexHost: true, revision: '0' } }, { metadata: admin })
  }

  // Start: a snapshot on A (after_revision 0) gives the revision both streams continue from.
  const stop = new AbortController()
  t.teardown(() => stop.abort())
  const resumed: SeatChanges[] = []
  const firstRun = collect(cluster, a, '0', resumed, stop.signal)
  const { seat: aSeat } = cluster.clients(a)
  const start = await eventually('a snapshot from A', async () => {
    // The snapshot arrives first; take its revision from a separate short stream on A.
    for await (const message of serverStream(aSeat.watchSeats.bind(aSeat), { afterRevision: '0', siteId: '' }, { metadata: cluster.metadata('sip-node'), timeoutMs: 5_000 })) {
      return message.message?.$case === 'snapshot' ? message.message.value.revision : undefined
    }
    return undefined
  })
  const reference: SeatChanges[] = []
  const referenceRun = collect(cluster, leader, start, reference, stop.signal)
  const endTraffic = new AbortController()

  // Seat traffic through the leader runs throughout: logins moving workers between desks, logouts.
  let writes = 0
  let lastRevision = '0'
  const traffic = (async () => {
    for (let n = 0; !endTraffic.signal.aborted && n < 400; n += 1) {
      const extension = extensions[n % extensions.length]!
      const { seat } = cluster.clients(leader)
      const response =
        n % 5 === 4
          ? (await unary(seat.logout.bind(seat), { requestId: randomUUID(), target: { $case: 'extension', value: extension }, reason: 0 }, { metadata: admin })).released
          : (await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId: desks[n % desks.length]!, extension, pin: '', durationHours: 0 }, { metadata: admin })).seat
      writes += 1
      if (response !== undefined && BigInt(response.epoch) > BigInt(lastRevision)) lastRevision = response.epoch
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()

  await eventually('events on the first stream', () => resumed.length >= 5, 10_000)
  await cluster.kill(a)
  await firstRun
  const lastBeforeKill = resumed.at(-1)!.revision
  // Seat changes happen while no stream is open: the resumed stream must replay them.
  const missed = (after: string) => reference.filter((changes) => BigInt(changes.revision) > BigInt(after)).length
  await eventually('changes while disconnected', () => missed(lastBeforeKill) >= 3, 10_000)

  const second = new AbortController()
  const secondRun = collect(cluster, b, lastBeforeKill, resumed, second.signal)
  await cluster.restart(a)
  await eventually('events on the second stream', () => resumed.length > 0 && BigInt(resumed.at(-1)!.revision) > BigInt(lastBeforeKill), 10_000)
  second.abort()
  await secondRun
  const lastOnB = resumed.at(-1)!.revision
  await eventually('changes while disconnected', () => missed(lastOnB) >= 3, 10_000)

  const third = new AbortController()
  const thirdRun = collect(cluster, a, lastOnB, resumed, third.signal)
  await eventually('events on the restarted instance', () => BigInt(resumed.at(-1)!.revision) > BigInt(lastOnB), 10_000)

  endTraffic.abort()
  await traffic
  t.ok(writes > 20, `seat traffic ran throughout (${writes} writes)`)
  // Both streams must reach the last write before they are compared.
  const progress = () => `resumed at ${resumed.at(-1)?.revision}, reference at ${reference.at(-1)?.revision}, last write ${lastRevision}`
  await eventually(() => `both streams saw the last write (${progress()})`, () => BigInt(resumed.at(-1)!.revision) >= BigInt(lastRevision) && BigInt(reference.at(-1)?.revision ?? '0') >= BigInt(lastRevision), 10_000)
  stop.abort()
  third.abort()
  await thirdRun
  await referenceRun

  const events = resumed.flatMap((changes) => changes.events.map(eventKey))
  t.equal(new Set(events).size, events.length, 'no duplicate event')
  for (let i = 1; i < resumed.length; i += 1) {
    if (BigInt(resumed[i]!.revision) <= BigInt(resumed[i - 1]!.revision)) {
      t.fail(`not one message per revision in order at ${i}: ${resumed[i - 1]!.revision} then ${resumed[i]!.revision}`)
      break
    }
  }
  t.ok(resumed.some((changes) => changes.events.length > 1), 'the traffic had revisions with several events (moves that bump)')
  const firstResumed = BigInt(resumed[0]!.revision)
  const expected = reference.filter((changes) => BigInt(changes.revision) >= firstResumed && BigInt(changes.revision) <= BigInt(lastRevision)).map(key)
  const got = resumed.filter((changes) => BigInt(changes.revision) <= BigInt(lastRevision)).map(key)
  t.same(got, expected, 'the resumed stream equals the reference stream: no gap, no duplicate')

  // One login that moves a worker and bumps the occupant: one message, several events. The stream
  // is cut right after it; resuming after its revision gives exactly what followed.
  const { seat } = cluster.clients(leader)
  const login = async (extension: string, deviceId: string) =>
    (await unary(seat.login.bind(seat), { requestId: randomUUID(), deviceId, extension, pin: '', durationHours: 0 }, { metadata: admin })).seat!.epoch
  // A known state: 7301 at w1, 7302 at w2, nobody else seated (logout is idempotent).
  for (const extension of ['7303', '7304']) {
    await unary(seat.logout.bind(seat), { requestId: randomUUID(), target: { $case: 'extension', value: extension }, reason: 0 }, { metadata: admin })
  }
  await login('7301', 'w1')
  const before = await login('7302', 'w2')
  const { seat: bSeat } = cluster.clients(b)
  const cut = new AbortController()
  const moveRevision = login('7301', 'w2') // moves 7301 from w1 and bumps 7302
  let cutAt: SeatChanges | undefined
  for await (const message of serverStream(bSeat.watchSeats.bind(bSeat), { afterRevision: before, siteId: '' }, { metadata: cluster.metadata('sip-node'), signal: cut.signal })) {
    if (message.message?.$case === 'changes') {
      cutAt = message.message.value
      break // the stream is cut right after the message
    }
  }
  t.equal(cutAt?.revision, await moveRevision, 'the first message is the move')
  t.same(cutAt?.events.map(describe), ['released 7302@w2 RELEASE_REASON_BUMPED', 'seated 7301@w2'], 'it holds every event of the revision')
  // Changes while disconnected; the last one is the marker the resumed stream is read up to.
  await unary(seat.logout.bind(seat), { requestId: randomUUID(), target: { $case: 'extension', value: '7301' }, reason: 0 }, { metadata: admin })
  const marker = await login('7302', 'w3')
  const after: SeatChanges[] = []
  const resume = new AbortController()
  const resumeRun = collect(cluster, a, cutAt!.revision, after, resume.signal)
  await eventually('the resumed stream reaches the marker', () => BigInt(after.at(-1)?.revision ?? '0') >= BigInt(marker), 10_000)
  resume.abort()
  await resumeRun
  t.same(after.map((changes) => changes.events.map(describe)), [['released 7301@w2 RELEASE_REASON_LOGOUT'], ['seated 7302@w3']], 'the resumed stream: no gap, no duplicate')
  t.equal(after.at(-1)?.revision, marker)
  // Resuming one revision earlier gives the whole move again, not a part of it.
  const again: SeatChanges[] = []
  const againStop = new AbortController()
  const againRun = collect(cluster, a, (BigInt(cutAt!.revision) - 1n).toString(), again, againStop.signal)
  await eventually('the earlier resume reaches the marker', () => BigInt(again.at(-1)?.revision ?? '0') >= BigInt(marker), 10_000)
  againStop.abort()
  await againRun
  t.same(again.map(key), [cutAt!, ...after].map(key), 'a resume before the move replays it whole')
})
